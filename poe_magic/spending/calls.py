"""The session's calls and what is known of their cost: the ledger's state, shared by the
budget (:mod:`~poe_magic.spending.ledger`), the estimator (:mod:`~poe_magic.spending.estimator`)
and the background reconciler (:mod:`~poe_magic.spending.reconciler`).

A call's cost is *pending* until the points history lists its entry with a final cost;
``points`` stays None meanwhile (a provisional 0 is not a cost).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from poe_magic.core.reply import Reply
from poe_magic.core.session import current


@dataclass
class Call:
    """One finished call of this kernel."""

    time: datetime  # when it started (UTC)
    model: str
    points: int | None  # None: not found in the history (yet), or only provisionally
    chars: int
    elapsed: float | None
    status: str
    ended_us: int  # Unix µs when it finished (local clock)
    requests: str = "one"  # "several" when the reply took several requests (tool rounds)
    query_ids: list[str] = field(default_factory=list)  # the history entries it claimed
    stamps: list[int] = field(default_factory=list)  # their creation_time (server clock, µs)
    deferred: bool = False  # recorded inside deferred_lookups(): its owner will price() it
    after_id: str | None = None  # the newest history entry seen before it started
    prompt_chars: int = 0
    estimate: float | None = None  # points counted for it by the budget while pending
    estimate_basis: str = ""
    estimated: int | None = None  # the answer's immediate estimate (catalogue price x tokens, the footer's "≈")
    polls: int = 0  # history reads made for it (its backoff step)
    gave_up: bool = False  # not listed within the reconciler's time limit
    provisional: bool = False  # claimed entries showed a provisional 0 so far
    account: str | None = None  # server root + key it was sent with (hashed): its history to read
    reply: Reply | None = field(default=None, repr=False)  # gets set_points() when the cost is known

    @property
    def started_us(self) -> int:
        return int(self.time.timestamp() * 1_000_000)

    @property
    def pending(self) -> bool:
        """Waiting for its cost (not yet listed, or listed with a provisional 0)."""
        return self.points is None and not self.gave_up


def release_settled(calls: list[Call]) -> None:
    """Tell each settled call's Reply what it cost (or that the cost stays unknown), then let go
    of the Reply: the ledger keeps the numbers, not every answer's text (a long session, or a
    1,000-row batch, would otherwise keep them all alive)."""
    for call in calls:
        reply = call.reply
        if reply is None or call.pending or call.deferred:
            continue
        call.reply = None
        if call.points is not None:
            if reply.points is None:
                reply.set_points(call.points)
        elif reply.points_pending:  # given up: the footer stops saying "points pending"
            reply.points_pending = False
            reply.set_points(None)


@dataclass(eq=False)
class Reservation:
    """A call about to be sent, counted by the budget at its estimate until it is recorded
    (settled): concurrent calls each see the others' reservations, never the same spend."""

    model: str
    estimate: float | None  # None: no price, history or session cost to go by
    basis: str = ""
    settled: bool = False
    book: Any = field(default=None, repr=False)  # the Ledger it was booked in (a session may end meanwhile)


class Ledger:
    """This session's calls, the history entries they claimed, and the budget."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.reserved: list[Reservation] = []  # sent (or about to be), not recorded yet
        self.booking = threading.Lock()  # the budget check and the reservation are one step
        self.claimed: set[str] = set()  # history entries already matched to a call
        self.claiming = threading.Lock()  # the reconciler, a batch's helper and the kernel thread
        self.budget: int | None = None
        self.warned: set[float] = set()  # budget shares already warned about
        self.seen: list[tuple[float, str]] = []  # (time.time() a read's answer came, its newest entry)
        self.changed = threading.Condition()  # notified whenever a cost arrives
        self.history_reads = 0  # requests the reconciler made (benchmarks, doctor)
        self.reconciler: Any = None  # the reconciler serving this ledger (made on first use)

    def close(self) -> None:
        """The session ended: its reconciler stops looking."""
        if self.reconciler is not None:
            self.reconciler.close()


SEEN_KEPT = 500


def saw(led: Ledger, entries: list[dict[str, Any]], answered_at: float) -> None:
    """Note the newest entry a history read showed, and when its answer came."""
    if entries:
        led.seen = [*led.seen[-(SEEN_KEPT - 1):], (answered_at, entries[0]["query_id"])]


def newest_before(led: Ledger, started: float) -> str | None:
    """The newest history entry a read had shown before ``started`` (time.time()): entries
    listed above it appeared after the call started."""
    for answered_at, query_id in reversed(led.seen):
        if answered_at < started:
            return query_id
    return None


def book() -> Ledger:
    """This session's ledger."""
    return current().state(Ledger)


def calls() -> list[Call]:
    """This session's calls so far, oldest first (the ledger's own list: read, do not change)."""
    return book().calls
