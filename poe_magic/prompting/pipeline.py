"""One answer through the runner: cache -> upload -> check/reserve -> stream (or the tool loop) -> settle -> save.

``ask``/``send``, ``stream``/``astream``, ``%%poe`` and the chat panel use :class:`AnswerStream`;
each request is a :class:`~poe_magic.prompting.runner.Call` (check, reserve, send, settle: the
one lifecycle every feature's requests go through, compare and batch included).

With ``schema=`` (:mod:`poe_magic.prompting.schemas`) the answer is parsed and validated before
it is finished; one repair round goes back to the model in the same conversation when it
does not fit (:func:`structure`).

:class:`AnswerStream` runs one request through them, as it happens: iterate it for the text
pieces (``poe_magic.stream``), or :meth:`~AnswerStream.run` it with a display sink (``ask`` and
the magics).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterator
from typing import Any

from poe_magic.base import errors as E
from poe_magic.base.config import Settings
from poe_magic.base.config import settings as default_settings
from poe_magic.base.text import plural
from poe_magic.core.accumulator import Accumulator, Sink
from poe_magic.core.display import SilentSink
from poe_magic.core.live import LiveStream, SinkFeed, drain, new_reply, stop
from poe_magic.core.reply import Reply
from poe_magic.prompting import answer_cache, attachments, confirm
from poe_magic.prompting.runner import Call, settle_unsent
from poe_magic.prompting.schemas import Schema, repair_prompt, schema_error
from poe_magic.spending import ledger
from poe_magic.tools.functions import ToolSet
from poe_magic.tools.loop import Confirm, run_with_tools
from poe_magic.wire.request import Message, PoeRequest


def structure(reply: Reply, request: PoeRequest, schema: Schema, *, settings: Settings = default_settings,
              timeout: float | None = None) -> Reply | None:
    """Parse ``reply``'s answer with ``schema`` into ``reply.data``. When it does not fit, one
    repair round sends the problem back in the same conversation (silently, through this
    pipeline); a fitting repair replaces the text. Still no fit: ``reply.error`` is a one-line
    SchemaError and the text is kept. Returns the repair's Reply (None when none was sent)."""
    if not reply.ok or reply.data is not None:
        return None
    data, problem = schema.parse(reply.text)
    repair: Reply | None = None
    if problem is not None:
        history = [*request.messages, Message("bot", reply.text), Message("user", repair_prompt(problem))]
        again = PoeRequest(model=request.model, messages=history, temperature=request.temperature,
                           stop=list(request.stop), params=dict(request.params))
        try:
            with confirm.approved():  # the call itself was approved: its repair is part of it
                repair = run(again, SilentSink(), prompt=again.messages[-1].content, settings=settings,
                             timeout=timeout)  # a call of its own through the runner: reserved, settled, logged
        except E.PoeMagicError as refused:  # e.g. the budget: the first answer's problem stands
            problem = f"{problem} (repair not sent: {refused})"
        if repair is not None and repair.ok:
            fixed, still = schema.parse(repair.text)
            if still is None:
                reply.text, data, problem = repair.text, fixed, None
            else:
                problem = still
    if problem is None:
        reply.data = data
    else:
        reply.error = schema_error(problem)
    return repair


def add_repair_points(reply: Reply, repair: Reply | None) -> None:
    """The answer's points include its repair round's, once both are known."""
    if repair is None:
        return

    def total(_: Reply) -> None:
        if reply.points is not None and repair.points is not None and not getattr(reply, "_repair_added", False):
            reply._repair_added = True  # type: ignore[attr-defined]
            reply.set_points(reply.points + repair.points)

    repair.watch_points(total)
    reply.watch_points(total)


def raise_for(reply: Reply, kept_in: str = "poe_magic.last_reply()") -> None:
    """Raise the reply's failure, if any, with the Reply attached as ``.reply``. A stop
    (Ctrl-C) is raised too, as one calm line saying where the partial answer is (``kept_in``:
    ``_poe`` for the magics), so that Run All stops there."""
    if reply.interrupted:
        kept = (f"partial answer ({plural(len(reply.text), 'char')}) kept in {kept_in}"
                if reply.text else "no answer had arrived yet")
        error: E.PoeMagicError = E.StreamInterrupted(f"stopped by you after {reply.elapsed or 0:.1f} s; {kept}")
    elif reply.error is not None:
        error = reply.error
    else:
        return
    error.reply = reply  # type: ignore[attr-defined]
    raise error


def run(request: PoeRequest, sink: Sink, *, prompt: str, settings: Settings = default_settings,
        timeout: float | None = None) -> Reply:
    """Stream one request into ``sink`` and return the finished Reply (never raises for
    API errors: they are on ``reply.error``)."""
    return AnswerStream(request, prompt=prompt, sink=sink, settings=settings, timeout=timeout).run()


class AnswerStream:
    """One request through the pipeline, as it happens.

    Iterate it for the answer's text as it arrives (each piece is the text added since the
    previous one; after the rare bot that replaces its answer, ``replaced`` is True and the
    piece is the whole new answer); a failure or a Ctrl-C is raised as one line once the
    pieces are out, the partial answer kept on ``.reply``. Or :meth:`run` it to the end with a
    display sink. ``.reply`` is the Reply, complete once the stream has ended; ``on_end`` is
    called with it then (threads, the last reply, ...)."""

    def __init__(self, request: PoeRequest, *, prompt: str, sink: Any = None, key: str | None = None,
                 toolset: ToolSet | None = None, confirm: Confirm = False, force: bool = False,
                 settings: Settings = default_settings, timeout: float | None = None,
                 on_end: Callable[[Reply], None] | None = None, interval: float | None = None,
                 schema: Schema | None = None, yes: bool = False) -> None:
        self.request, self.prompt, self.schema, self.yes = request, prompt, schema, yes
        self.sink = sink if sink is not None else SilentSink()
        self.key, self.toolset, self.confirm, self.force = key, toolset, confirm, force
        self.settings, self.timeout, self.on_end = settings, timeout, on_end
        self.interval = interval or settings.throttle_interval  # seconds between display updates
        self.reply: Reply | None = None
        self.replaced = False
        self._acc: Accumulator | None = None
        self._live: LiveStream | None = None
        self._steps: Iterator[set[Hashable]] | None = None
        self._feed: SinkFeed | None = None
        self._whole = ""  # an answer that came at once (the cache, the tool loop): its one piece
        self._started = self._ended = False
        self._call = Call(request, prompt=prompt, settings=settings, timeout=timeout)  # its lifecycle
        self._driver: threading.Thread | None = None  # the thread iterating or running it right now
        self.schema_repair: Reply | None = None  # the repair round's Reply, when one was sent

    # -- the steps ---------------------------------------------------------------------------
    def start(self) -> Reply:
        """Begin: answer from the cache when it holds this request, else upload files, check
        (a refusal raises here, nothing sent) and start streaming; returns the live Reply. With
        a toolset the whole tool loop runs here. Iterating or :meth:`run` start it if needed."""
        if not self._started:
            self._begin()
        assert self.reply is not None
        return self.reply

    def _begin(self) -> None:
        self._started = True
        with ledger.budget_override(self.force), confirm.approved(self.yes):
            cached = answer_cache.load(self.key, self.request, self.prompt)
            if cached is not None:
                self.reply = cached
                self.sink.start(cached)
                if self.schema is not None:
                    self.schema_repair = structure(cached, self.request, self.schema, settings=self.settings,
                                                   timeout=self.timeout)
                settle_unsent(cached, self.request)  # the ledger notes a call at 0 points, files are listed
                self.sink.finish(cached)
                return self._end(cached.text)
            request = attachments.with_uploads(self.request, self.settings)
            if self.toolset is not None:  # every round reserved, the whole loop settled once
                self.reply = run_with_tools(request, self.toolset, self.sink, prompt=self.prompt,
                                            rounds=self._call, confirm=self.confirm, settings=self.settings,
                                            timeout=self.timeout)
                return self._end(self.reply.text)
            self._call.reserve(request)  # check (key guard, confirmation) and the budget: a refusal sends nothing
        self.reply = reply = new_reply(request, self.prompt)
        self.sink.start(reply)
        self._acc = Accumulator(reply)
        self._live = self._call.send(reply, request=request)
        self._steps = drain({0: self._acc}, self._live.events)
        self._feed = SinkFeed(self._acc, self.sink, self.interval)

    def _advance(self) -> bool:
        """Fold the next batch of events into the Reply and (throttled) the sink; False once
        the stream has ended."""
        assert self._steps is not None and self._feed is not None
        try:
            changed = next(self._steps)
        except StopIteration:
            self._finish_live()
            return False
        self._feed(changed)
        return True

    def _interrupt(self) -> None:
        """Ctrl-C: stop the request, keep the text, end as interrupted."""
        if self._acc is None or self._live is None:
            raise KeyboardInterrupt  # before anything streamed: nothing to keep
        stop({0: self._acc}, self._live.cancel)
        self._finish_live()

    def _finish_live(self) -> None:
        assert self.reply is not None
        repair = None
        with ledger.budget_override(self.force):  # (a forced call's budget note is not a warning)
            if self.schema is not None:
                repair = self.schema_repair = structure(self.reply, self.request, self.schema,
                                                        settings=self.settings, timeout=self.timeout)
            self._call.settle(self.reply)
        add_repair_points(self.reply, repair)
        self.sink.finish(self.reply)
        answer_cache.save(self.key, self.reply)
        self._end()

    def _end(self, whole: str = "") -> None:
        if self._ended:
            return
        self._ended, self._whole = True, whole
        if self.on_end is not None and self.reply is not None:
            self.on_end(self.reply)

    # -- driving it ----------------------------------------------------------------------------
    def confirm_here(self) -> None:
        """Ask about this request now, on this thread (``astream`` asks on the caller's thread,
        then streams on an executor's, where no one could answer)."""
        if not self._started and not self.yes and self.toolset is None:
            with confirm.approved(False):
                confirm.check_request(self.request, self.settings)
            self.yes = True

    def run(self) -> Reply:
        """Stream to the end (Ctrl-C stops it, the text kept) and return the Reply; API errors
        stay on ``reply.error``."""
        self._driver = threading.current_thread()
        try:
            if not self._started:
                self._begin()
            while not self._ended and self._advance():
                pass
        except KeyboardInterrupt:
            self._interrupt()
        finally:
            self._driver = None
        assert self.reply is not None
        return self.reply

    def __iter__(self) -> AnswerStream:
        return self

    def __next__(self) -> str:
        self._driver = threading.current_thread()
        try:
            return self._next_piece()
        finally:
            self._driver = None

    def _next_piece(self) -> str:
        if not self._started:
            self._begin()
        while True:
            if self._whole:
                piece, self._whole = self._whole, ""
                return piece
            if self._acc is not None:
                piece, replaced = self._acc.take_fresh()
                if piece:
                    self.replaced = replaced
                    return piece
            if self._ended:
                assert self.reply is not None
                raise_for(self.reply)
                raise StopIteration
            try:
                self._advance()
            except KeyboardInterrupt:
                self._interrupt()

    def close(self) -> None:
        """Stop the request if it still runs; its partial text stays on ``.reply`` and the call
        is settled (counted, logged) now. From another thread than the one iterating it (the
        chat panel's Stop) it only stops the request: the iterating thread settles it."""
        if self._live is None or self._ended:
            return
        self._live.cancel(wait=0 if self._driver not in (None, threading.current_thread()) else 1.0)
        if self._driver in (None, threading.current_thread()):
            try:
                while not self._ended and self._advance():  # the cancelled stream's last events, at once
                    pass
            except KeyboardInterrupt:
                self._interrupt()

    def __enter__(self) -> AnswerStream:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        """An abandoned stream (``for piece in stream(...): break``, a dropped reference) is
        stopped and settled: nothing left running on the loop, the call counted and logged.
        The settling runs on the loop thread once the request has stopped: a finaliser may run
        at any point of another thread's work, so it only cancels and hands over."""
        live, call = getattr(self, "_live", None), getattr(self, "_call", None)
        if live is None or call is None or getattr(self, "_ended", True) or self.reply is None:
            return
        acc, reply = self._acc, self.reply

        def settle_abandoned() -> None:
            if acc is not None and not acc.done:
                acc.finish(E.StreamInterrupted("the stream was dropped before its end"))
                reply.text = acc.text()
            call.settle(reply)

        live.when_done(settle_abandoned)
        live.cancel(wait=0)

    def __repr__(self) -> str:
        state = "ended" if self._ended else "streaming" if self._started else "not started"
        return f"<AnswerStream {self.request.model} {state}>"


__all__ = ["AnswerStream", "raise_for", "run", "structure"]
