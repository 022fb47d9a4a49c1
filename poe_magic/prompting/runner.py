"""The one runner every request goes through: build -> check -> reserve -> send -> settle.

Every feature (``ask``/``send``, ``stream``/``astream``, ``%%poe``, ``compare``, ``batch``,
``grade``, the chat panel, tool rounds, schema repairs, ``%poe doctor``'s test call) makes a
:class:`Call` and drives it through these steps; none re-implements one:

- **check**: the model's catalogue entry (:func:`~poe_magic.catalog.checks.check_request`:
  its parameters' schemas, features, context window), the key guard and the encoding check (:func:`~poe_magic.wire.request.check_sendable`),
  then confirmation above ``settings.confirm_above`` (asked on the kernel's thread, refused in one
  line where no one can answer: another thread, no stdin);
- **reserve**: the call is booked at its estimate against the session budget, under the
  ledger's lock (:func:`~poe_magic.spending.ledger.reserve`): concurrent calls cannot all pass
  on the same spend;
- **send**: one :class:`~poe_magic.core.live.LiveStream` on the private loop (the one transport,
  the one retry policy);
- **settle**, exactly once however the call ends (done, error, Ctrl-C, Stop, a ``for`` loop left
  with ``break``, a stream closed or garbage-collected, kernel shutdown): the files the model
  returned listed, the reservation replaced by the call in the ledger (a stopped call counts at
  its estimate until billed), the call-log row written *with its request*.

A call with tool rounds reserves once per round (:meth:`Call.reserve` again) and settles once.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from typing import Any

from poe_magic.base import errors as E
from poe_magic.base.config import Settings
from poe_magic.base.config import settings as default_settings
from poe_magic.catalog import checks as catalog_checks
from poe_magic.core.live import LiveStream
from poe_magic.core.reply import Reply
from poe_magic.prompting import confirm, media
from poe_magic.prompting import lifecycle as lifecycle  # for its atexit hook: threads stopped, the log written at exit
from poe_magic.spending import calllog, estimator, ledger
from poe_magic.spending.calls import Reservation
from poe_magic.spending.history import BALANCE_PATH
from poe_magic.wire.http import get_json
from poe_magic.wire.request import PoeRequest, check_sendable


class Call:
    """One request's lifecycle. ``reply`` is set once it was sent; ``settled`` once it ended."""

    def __init__(self, request: PoeRequest, *, prompt: str, settings: Settings = default_settings,
                 timeout: float | None = None) -> None:
        self.request, self.prompt, self.settings, self.timeout = request, prompt, settings, timeout
        self.reply: Reply | None = None
        self.settled = False
        self._booked: list[Reservation] = []
        self._lock = threading.Lock()  # settle() may be reached from two places at once (an end and a GC)

    def __repr__(self) -> str:
        state = "settled" if self.settled else f"{len(self._booked)} reserved" if self._booked else "built"
        return f"<Call {self.request.model} {state}>"

    # -- the steps -------------------------------------------------------------------------------
    def check(self, request: PoeRequest | None = None) -> None:
        """Refuse (one line, nothing sent) what must not be sent, and ask above ``confirm_above``."""
        request = request or self.request
        catalog_checks.check_request(request, self.settings)  # the model's own parameters, features, size
        check_sendable(request)
        confirm.check_request(request, self.settings)

    def reserve(self, request: PoeRequest | None = None) -> None:
        """Check and book ``request`` (default: this call's; a tool round passes its own)."""
        request = request or self.request
        self.check(request)
        prompt = "\n".join(m.content for m in request.messages)
        self._booked.append(ledger.reserve(request.model, prompt))

    def send(self, reply: Reply, *, events: Any = None, tag: Hashable = 0, request: PoeRequest | None = None,
             timeout: float | None = None) -> LiveStream:
        """Start streaming (reserve first) into ``reply``; events go to ``events`` tagged ``tag``
        (``request``: this call's with its uploads, or a tool round's; ``timeout``: what is left)."""
        assert self._booked, "reserve() before send()"
        self.reply = reply
        return LiveStream(request or self.request, settings=self.settings, events=events, tag=tag,
                          timeout=timeout if timeout is not None else self.timeout)

    def release(self) -> None:
        """The call was reserved but never sent (a later check refused it, a batch stopped)."""
        with self._lock:
            for booked in self._booked:
                ledger.release(booked)
            self._booked.clear()

    def settle(self, reply: Reply | None = None) -> None:
        """Record how the call ended, once: files listed, the ledger (in place of the
        reservations), the call log with the request. A Ctrl-C while the files are listed marks
        the Reply interrupted rather than escaping as a traceback."""
        with self._lock:
            if self.settled:
                return
            self.settled = True
        reply = reply or self.reply
        if reply is None:  # never sent: nothing to record
            self.release()
            return
        booked = _merged(self._booked)
        try:  # whatever fails here, the finally still books the call: the budget and the log see it
            _say_balance(reply, self.settings)
            answered = reply.error is None or bool(reply.text)  # a refused call is not charged
            if answered and reply.points is None and not reply.cached and reply.estimated_points is None:
                estimator.estimate_answer(reply, self.request)  # footer "≈ N points" at once, billed later
            media.collect_files(reply)
        except KeyboardInterrupt:
            reply.interrupted = True
        finally:
            ledger.record(reply, booked)
            for extra in self._booked:  # a tool loop's later rounds: counted in the merged estimate
                if extra is not booked:
                    ledger.release(extra)
            calllog.record(reply, self.request)  # queued: written by the log's own thread


def _say_balance(reply: Reply, settings: Settings) -> None:
    """A 402 says the points ran out: its line gains the balance now (one quick GET, no retry;
    left as it is when the balance cannot be had at once)."""
    error = reply.error
    if not isinstance(error, E.InsufficientPointsError) or "balance" in error.what:
        return
    try:
        body = get_json(BALANCE_PATH, what="the points balance", timeout=2.0, retry=False, settings=settings)
        balance = int(body["current_point_balance"])
    except (E.PoeMagicError, KeyError, TypeError, ValueError, OverflowError):
        return
    error.amend(f"balance {balance:,} points")


def _merged(booked: list[Reservation]) -> Reservation | None:
    """One reservation standing for all of a call's rounds (their estimates added up)."""
    if len(booked) <= 1:
        return booked[0] if booked else None
    known = [b.estimate for b in booked if b.estimate is not None]
    first = booked[0]
    first.estimate = sum(known) if len(known) == len(booked) else None
    return first


def settle_unsent(reply: Reply, request: PoeRequest) -> None:
    """Settle a reply that needed no request (served from the answer cache): the ledger notes a
    call at 0 points, the files are listed, the log gets its row."""
    call = Call(request, prompt=reply.prompt or "")
    call.settle(reply)


__all__ = ["Call", "settle_unsent"]
