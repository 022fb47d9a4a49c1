"""The background reconciler: finds what finished calls cost, off every critical path.

A cell, ``ask``, ``compare`` or a chat turn ends as soon as its answer ends; its cost is
found afterwards. The reconciler runs on an event loop thread of its own (so the request
loop stays idle between calls) and, while some call's cost is pending, reads the NEWEST page
of the points history (one request for all pending calls) at each call's backoff steps:
about 1, 2, 4, 8, 16, 30 s after the call ended, then every 60 s, for up to 10 minutes per
call, never more often than every :data:`MIN_GAP_S`. It stops when nothing is pending.

Entries are matched by :mod:`~poe_magic.spending.matching`; a provisional 0 is claimed (so
no other call takes it) but not believed until it changes or ages out. A cost that arrives
fills the call's ledger row and ``Reply.points`` (``reply.set_points``: the footer of the
output that showed the answer updates in place). A failed read changes nothing and is
never reported: the next step tries again.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from poe_magic.base import errors as E
from poe_magic.base import notices
from poe_magic.spending.calls import Call, Ledger, release_settled, saw
from poe_magic.spending.history import PAGE_SIZE, history_page
from poe_magic.spending.history_cache import account_id
from poe_magic.spending.matching import WINDOW_BACK_US, assign, is_provisional
from poe_magic.wire.loop import LoopThread
from poe_magic.wire.observed import clock_skew

BACKOFF_S = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0)  # then every LATER_S
LATER_S = 60.0
GIVE_UP_S = 600.0  # per call, from its end
GIVE_UP_UNFINISHED_S = 120.0  # a call stopped or failed part-way may never be listed
MIN_GAP_S = 2.0  # between two reads of the history (many quick calls share one read)
READ_TIMEOUT_S = 10.0
MAX_PAGES = 3  # per read, when a pending call is older than the newest page

_costs_loop = LoopThread("poe_magic-costs")


def due_at(call: Call) -> float:
    """When ``call`` wants its next read (Unix seconds, our clock)."""
    steps = call.polls + 1
    offset = sum(BACKOFF_S[:steps]) + max(0, steps - len(BACKOFF_S)) * LATER_S
    return call.ended_us / 1e6 + offset


class Reconciler:
    """Keeps looking for the pending costs of one ledger's calls."""

    def __init__(self, book: Ledger) -> None:
        self.book = book
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self.last_read = 0.0  # time.time() of the last read of the history
        self.failures = 0  # reads that failed (kept quiet; doctor and tests read this)

    def kick(self) -> None:
        """Make sure the reconciler runs (a call was recorded or became due)."""
        _costs_loop.call_soon(self._ensure)

    def close(self) -> None:
        """Stop looking (its session ended): the task is cancelled on its loop."""
        task = self._task
        if task is not None and not task.done() and _costs_loop.running:
            _costs_loop.call_soon(task.cancel)

    def _ensure(self) -> None:
        if self._task is None or self._task.done():
            self._wake = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run())
        elif self._wake is not None:
            self._wake.set()

    def waiting(self) -> list[Call]:
        """Calls whose cost it is looking for (a batch prices its deferred calls itself)."""
        now, account = time.time(), current_account()
        for call in self.book.calls:
            horizon = GIVE_UP_S if call.status == "ok" else GIVE_UP_UNFINISHED_S
            if call.pending and (now - call.ended_us / 1e6 > horizon or call.account != account):
                call.gave_up = True  # 10 minutes without a final cost, or another server now: unknown for good
        release_settled(self.book.calls)
        return [c for c in self.book.calls if c.pending and not c.deferred]

    async def _run(self) -> None:
        while True:
            pending = self.waiting()
            if not pending:
                return
            due = max(min(due_at(c) for c in pending), self.last_read + MIN_GAP_S)
            delay = due - time.time()
            if delay > 0:
                assert self._wake is not None
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), delay)
                except asyncio.TimeoutError:
                    pass
                continue
            now = time.time()
            for call in pending:
                if due_at(call) <= now:
                    call.polls += 1
            # read on this loop's own thread: it only reconciles, so a blocking read holds up
            # nothing, and no executor thread is left behind in the kernel
            self.read_quietly()

    def read_quietly(self) -> int:
        """One read; a failure is counted, never raised or shown."""
        try:
            return read_once(self.book)
        except Exception:  # noqa: BLE001 - a background failure must never reach a later cell
            self.failures += 1
            return 0
        finally:
            self.last_read = time.time()


def stop_costs_loop() -> None:
    """Stop the reconciler's loop thread (``%unload_ext``, interpreter exit); a later call starts it again."""
    _costs_loop.stop()


def current_account() -> str | None:
    """The account (server root and key, hashed) requests go to now; None without a key."""
    try:
        return account_id()
    except E.PoeMagicError:
        return None


def reconciler_of(book: Ledger) -> Reconciler:
    if book.reconciler is None:
        book.reconciler = Reconciler(book)
    found: Reconciler = book.reconciler
    return found


def read_once(book: Ledger, candidates: list[Call] | None = None, max_pages: int = MAX_PAGES) -> int:
    """Read the newest history page(s) once and settle what it shows for ``candidates``
    (default: every pending call); returns how many costs became known. Raises the read's
    one-line error."""
    waiting = [c for c in (candidates if candidates is not None else book.calls) if c.pending]
    if not waiting:
        return 0
    earliest_us = min(c.started_us for c in waiting) - WINDOW_BACK_US
    entries: list[dict[str, Any]] = []
    after: str | None = None
    for _ in range(max_pages):
        page, has_more = history_page(after, limit=PAGE_SIZE, timeout=READ_TIMEOUT_S, retry=False)
        if after is None:
            saw(book, page, time.time())
        book.history_reads += 1
        entries += [e for e in page if isinstance(e, dict) and isinstance(e.get("query_id"), str)
                    and isinstance(e.get("creation_time"), int)]  # a malformed entry is nobody's
        if not has_more or not page or far_enough(entries, waiting, earliest_us):
            break
        after = page[-1]["query_id"]
    return settle(book, waiting, entries)


def far_enough(entries: list[dict[str, Any]], waiting: list[Call], earliest_us: int) -> bool:
    """Whether older pages cannot hold an entry of ``waiting``: every call's bound (the newest
    entry seen before it started) is among ``entries``, or they reach back past ``earliest_us``."""
    if not entries:
        return False
    ids = {e["query_id"] for e in entries}
    if all(c.after_id is not None and c.after_id in ids for c in waiting):
        return True
    return entries[-1]["creation_time"] < earliest_us


def settle(book: Ledger, waiting: list[Call], entries: list[dict[str, Any]]) -> int:
    """Claim and price what ``entries`` show for the ``waiting`` calls."""
    skew = clock_skew()
    skew_s = skew[0] if skew is not None else 0.0
    by_id = {e["query_id"]: e for e in entries}
    now = time.time()
    done: list[Call] = []
    with book.claiming:
        fresh = [c for c in waiting if c.pending and not c.query_ids]
        for i, found in assign(fresh, entries, book.claimed, skew).items():
            call = fresh[i]
            call.query_ids = [e["query_id"] for e in found]
            call.stamps = [e["creation_time"] for e in found]
            book.claimed.update(call.query_ids)
        for call in waiting:
            if not call.pending or not call.query_ids:
                continue
            listed = [by_id.get(q) for q in call.query_ids]
            if any(e is None for e in listed):
                continue  # claimed earlier, off this page now: the next read may show it
            shown = [e for e in listed if e is not None]
            flagged = [e for e in shown if e.get("cost_flag")]
            for entry in flagged:  # kept pending (counted at its estimate), said once
                notices.warn(f"poe_magic: the points history lists an {entry['cost_flag']} for {call.model}; "
                             "ignored (the call stays pending)", once=("implausible cost", entry["query_id"]))
            call.provisional = bool(flagged) or any(is_provisional(e, skew_s, now) for e in shown)
            if not call.provisional:
                call.points = sum(_points(e) for e in shown)
                done.append(call)
    release_settled(done)
    if done:
        with book.changed:
            book.changed.notify_all()
    return len(done)


def _points(entry: dict[str, Any]) -> int:
    """An entry's points (negative: a refund, kept); 0 for a value that is not a number."""
    value = entry.get("cost_points")
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def read_now(book: Ledger) -> int:
    """One read on the calling thread (``%poe session``, the budget's wait); errors are swallowed."""
    try:
        return read_once(book)
    except E.PoeMagicError:
        return 0
