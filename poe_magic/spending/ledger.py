"""The session ledger and the budget guard: what each call of this kernel cost, and a cap.

Called by :mod:`poe_magic.prompting.pipeline` for every request, from the kernel's first one. It hooks
into the client twice:

- a *reply finisher* (before the answer's final display) finds the points the call spent by
  matching new points-history entries (same bot, inside the call's time window, not claimed by
  an earlier call) with ONE small request, sets ``Reply.points`` (the footer shows it) and
  records the call;
- a *preflight check* refuses a call once the session's spend has reached the budget
  (:class:`~poe_magic.BudgetExceededError`, one line) unless forced.

A cost the history did not show yet (the real API may list an entry late) stays unknown and
is filled in later by :func:`reconcile`. A batch records its calls inside
:func:`deferred_lookups` and prices them in bulk with :func:`price` (one page of 100 entries
for many calls), so the lookups do not double its requests against the API's rate limit.
Light on purpose: no pandas until a table is asked for.
"""

from __future__ import annotations

import contextvars
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from poe_magic.base import errors as E
from poe_magic.base.text import plural
from poe_magic.core.reply import Reply
from poe_magic.core.session import current
from poe_magic.spending.history import PAGE_SIZE, history_page

if TYPE_CHECKING:
    import pandas as pd

LOOKUP_LIMIT = 20  # newest history entries read after each call: one small request
LOOKUP_TIMEOUT = 5.0  # seconds; a slow lookup leaves the cost unknown, never blocks the answer
# An entry is stamped while its request runs; the slack absorbs clock differences. It stays
# small so a quick call of the same model right after this one is not mistaken for it.
EARLY_SLACK_US = 2_000_000
LATE_SLACK_US = 500_000
WARN_AT = (0.8, 1.0)  # budget shares that print a one-line warning (once each)


@dataclass
class Call:
    """One finished call of this kernel."""

    time: datetime  # when it started (UTC)
    model: str
    points: int | None  # None: not found in the history (yet)
    chars: int
    elapsed: float | None
    status: str
    ended_us: int  # Unix µs when it finished (end of its matching window)
    requests: str = "one"  # "several" when the reply took several requests (tool rounds)
    query_ids: list[str] = field(default_factory=list)
    deferred: bool = False  # recorded inside deferred_lookups(): its owner will price() it

    @property
    def started_us(self) -> int:
        return int(self.time.timestamp() * 1_000_000)


class Ledger:
    """This session's calls, the history entries they claimed, and the budget."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.claimed: set[str] = set()  # history entries already matched to a call
        self.claiming = threading.Lock()  # a batch's helper thread and the kernel thread may match at once
        self.budget: int | None = None
        self.warned: set[float] = set()  # budget shares already warned about


def _ledger() -> Ledger:
    return current().state(Ledger)
_force: contextvars.ContextVar[bool] = contextvars.ContextVar("poe_magic_budget_force", default=False)
_deferring: contextvars.ContextVar[list[Call] | None] = contextvars.ContextVar("poe_magic_deferred_lookups",
                                                                                 default=None)


# -- budget ----------------------------------------------------------------------------
def set_budget(points: int | None) -> None:
    """Cap this session's spend at ``points`` (None: no cap). Calls made before count too."""
    if points is not None and (isinstance(points, bool) or not isinstance(points, int) or points < 0):
        raise E.PoeUsageError(f"the budget must be a whole number of points >= 0, got {points!r}")
    _ledger().budget = points
    _ledger().warned.clear()


def budget() -> int | None:
    """The session budget in points, or None."""
    return _ledger().budget


def session_spend() -> int:
    """Points spent by this kernel's calls so far (calls whose cost is unknown count 0)."""
    return sum(call.points or 0 for call in _ledger().calls)


def budget_status() -> str:
    """One line: spend, calls, and the budget with its share used (and, once it is spent,
    that the next call will be refused)."""
    spent = session_spend()
    book = _ledger()
    text = f"{spent:,} points spent by {plural(len(book.calls), 'call')} this session"
    unknown = sum(1 for call in book.calls if call.points is None)
    if unknown:
        text += f" ({unknown} not yet in the points history)"
    if book.budget is not None:
        text += f"; budget {book.budget:,} points, {_share_used():,.0%} used"
        if spent >= book.budget:
            text += (f": already {'exceeded' if spent > book.budget else 'reached'}, the next call will be refused "
                     "unless forced (--force, force=True in Python)")
    return text


def _share_used() -> float:
    """The share of the budget spent (1.0 for a budget of 0)."""
    budget = _ledger().budget
    return session_spend() / budget if budget else 1.0


@contextmanager
def budget_override(force: bool = True) -> Iterator[None]:
    """Calls inside this block may start even when the budget is spent (``--force``).
    ``force=False`` changes nothing (an outer override stays in force)."""
    if not force:
        yield
        return
    token = _force.set(True)
    try:
        yield
    finally:
        _force.reset(token)


def check_budget(request: Any) -> None:
    """Preflight check: refuse the request when the session spend has reached the budget."""
    book = _ledger()
    budget = book.budget
    if budget is None or _force.get():
        return
    if session_spend() < budget and any(c.points is None and c.status == "ok" and not c.deferred for c in book.calls):
        reconcile()  # an unknown cost might be what reaches the budget (a batch prices its own calls)
    spent = session_spend()
    if spent >= budget:
        raise E.BudgetExceededError(
            f"session budget of {budget:,} points reached ({spent:,} spent); {request.model} was not asked. "
            "Raise it with %poe budget N, or add --force (force=True in Python)", model=request.model)


def _warn_if_near() -> None:
    """Say once when the spend crosses 80% and 100% of the budget: a warning (stderr) after
    an ordinary call, a plain note (stdout: not an error box in JupyterLab) after a forced one."""
    book = _ledger()
    if not book.budget:
        return
    share = _share_used()
    reached = [level for level in WARN_AT if share >= level and level not in book.warned]
    if not reached:
        return
    book.warned.update(level for level in WARN_AT if level <= reached[-1])
    what = "reached: further calls will be refused (--force overrides)" if reached[-1] >= 1 else "nearly spent"
    print(f"poe_magic: session budget {what}: {session_spend():,} of {book.budget:,} points ({share:,.0%})",
          file=sys.stdout if _force.get() else sys.stderr, flush=True)


# -- cost per call ----------------------------------------------------------------------
def _recent_entries(limit: int) -> list[dict[str, Any]]:

    entries, _ = history_page(limit=limit, timeout=LOOKUP_TIMEOUT, retry=False)
    return entries


def _match(call: Call, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The unclaimed entries of ``call``'s bot inside its time window: all of them when the
    reply took several requests (tool rounds), else the one stamped nearest its end."""
    start, end = call.started_us - EARLY_SLACK_US, call.ended_us + LATE_SLACK_US
    found = [e for e in entries if e.get("bot_name") == call.model and e.get("query_id") not in _ledger().claimed
             and isinstance(e.get("creation_time"), int) and start <= e["creation_time"] <= end]
    if call.requests == "one" and len(found) > 1:
        found = [min(found, key=lambda e: abs(e["creation_time"] - call.ended_us))]
    return found


def _match_and_claim(call: Call, entries: list[dict[str, Any]]) -> bool:
    """Give ``call`` its entries among ``entries``; False when none was found."""
    with _ledger().claiming:
        found = _match(call, entries) if call.points is None else []
        if found:
            _claim(call, found)
    return bool(found)


def _claim(call: Call, found: list[dict[str, Any]]) -> None:
    call.points = sum(int(e.get("cost_points") or 0) for e in found)
    call.query_ids = [e["query_id"] for e in found]
    _ledger().claimed.update(call.query_ids)


def record(reply: Reply) -> None:
    """Reply finisher: find what the call cost, set ``reply.points``, add it to the ledger."""
    started = reply.started_at.astimezone(timezone.utc)
    ended = started.timestamp() + reply.elapsed if reply.elapsed is not None else time.time()
    call = Call(time=started, model=reply.model, points=None, chars=len(reply.text), elapsed=reply.elapsed,
                status=reply.status, ended_us=int(ended * 1_000_000), requests="several" if reply.tool_calls else "one")
    _ledger().calls.append(call)  # first: a Ctrl-C during the lookup leaves the call listed, its cost found later
    deferred = _deferring.get()
    if reply.cached or (reply.error is not None and not reply.text):
        call.points = 0  # served from cache, or failed before answering: nothing to charge
    elif reply.interrupted and not reply.text:
        pass  # stopped before the first token: a charge may still appear; reconcile() looks later
    elif deferred is not None:
        call.deferred = True
        deferred.append(call)  # priced later, with others, by whoever deferred the lookup
    else:
        try:
            _match_and_claim(call, _recent_entries(LOOKUP_LIMIT))
        except E.PoeMagicError:  # no key, server down, rate limited: the cost stays unknown
            pass
    if call.points is not None and reply.points is None:
        reply.set_points(call.points)
    _warn_if_near()


@contextmanager
def deferred_lookups() -> Iterator[list[Call]]:
    """Calls recorded inside this block (on this thread) are listed without looking up their
    cost; the block yields a list that collects them, to be priced later with :func:`price`."""
    collected: list[Call] = []
    token = _deferring.set(collected)
    try:
        yield collected
    finally:
        _deferring.reset(token)


def price(pending: list[Call]) -> None:
    """Find the costs of ``pending`` calls in bulk: one history page of 100 entries, whatever
    their number (further pages only while they are still newer than the earliest call). A
    cost not found stays None (:func:`reconcile` looks again later)."""
    try:
        _find_costs(pending, max_pages=5)
    except E.PoeMagicError:  # no key, server down, rate limited: those costs stay unknown
        pass
    finally:
        for call in pending:
            call.deferred = False  # from now on an unknown cost is reconcile()'s to find
    _warn_if_near()


def reconcile() -> int:
    """Look for the costs still unknown in the newest history page; returns how many were found."""
    try:
        return _find_costs(_ledger().calls, max_pages=1)
    except E.PoeMagicError:
        return 0


def _find_costs(candidates: list[Call], max_pages: int) -> int:
    """Match the calls of ``candidates`` whose cost is unknown against the newest history
    pages; returns how many were found."""

    waiting = sorted((c for c in candidates if c.points is None), key=lambda c: c.ended_us)
    if not waiting:
        return 0
    earliest = min(c.started_us for c in waiting) - EARLY_SLACK_US
    after: str | None = None
    found_count = 0
    for _ in range(max_pages):
        entries, has_more = history_page(after, limit=PAGE_SIZE, timeout=LOOKUP_TIMEOUT, retry=False)
        found_count += sum(_match_and_claim(call, entries) for call in waiting)
        waiting = [c for c in waiting if c.points is None]
        if not waiting or not has_more or not entries or entries[-1]["creation_time"] < earliest:
            break
        after = entries[-1]["query_id"]
    return found_count


def session_ledger() -> pd.DataFrame:
    """This kernel's calls as a DataFrame, one row per call, for computing (``%poe session``
    shows it readably). Columns and dtypes: ``time`` (when it started, ``datetime64[us, UTC]``),
    ``model`` and ``status`` (``string``), ``points`` (``Int64``: <NA> while the cost is not in
    the points history), ``chars`` (``int64``), ``elapsed`` (seconds, ``Float64``, 3 decimals).
    ``attrs["summary"]`` holds :func:`budget_status`'s line."""
    import pandas as pd

    reconcile()
    frame = pd.DataFrame({
        "time": pd.to_datetime([c.time for c in _ledger().calls], utc=True).as_unit("us"),  # "s" when empty
        "model": pd.array([c.model for c in _ledger().calls], dtype="string"),
        "points": pd.array([c.points for c in _ledger().calls], dtype="Int64"),
        "chars": pd.array([c.chars for c in _ledger().calls], dtype="int64"),
        "elapsed": pd.array([None if c.elapsed is None else round(c.elapsed, 3) for c in _ledger().calls], dtype="Float64"),
        "status": pd.array([c.status for c in _ledger().calls], dtype="string"),
    })
    frame.attrs["summary"] = budget_status()
    return frame



def calls() -> list[Call]:
    """This session's calls so far, oldest first (the ledger's own list: read, do not change)."""
    return _ledger().calls
