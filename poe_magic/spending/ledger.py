"""The session ledger and the budget guard: what each call of this kernel cost, and a cap.

Called by :mod:`poe_magic.prompting.pipeline` for every request, from the kernel's first one:

- :func:`record` (a reply finisher) lists the call and hands its cost to the background
  reconciler (:mod:`~poe_magic.spending.reconciler`): nothing here waits for the points
  history, so a cell ends as soon as its answer ends and the footer says "points pending"
  until the cost arrives (it then updates in place);
- :func:`reserve` (the runner's *reserve* step, before a call is sent) books the call at its
  estimate (:mod:`~poe_magic.spending.estimator`) under one lock, and refuses it once the
  session's spend, with every pending call and every reservation counted at its estimate, has
  reached the budget (:class:`~poe_magic.BudgetExceededError`, one line) unless forced. When
  an earlier call's estimate is unknown it waits a few seconds for the real cost, then refuses:
  with a budget set the session never overspends by more than one call's cost;
- :func:`record` (the *settle* step) replaces the reservation with the call.

A batch records its calls inside :func:`deferred_lookups` and prices them in bulk with
:func:`price`; what that does not find, the reconciler keeps looking for.
Light on purpose: no pandas until a table is asked for.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timezone
from typing import TYPE_CHECKING, Any

from poe_magic.base import errors as E
from poe_magic.base import notices
from poe_magic.base.config import check_points
from poe_magic.base.text import plural
from poe_magic.core.reply import Reply
from poe_magic.spending.calls import Call as Call  # re-exported: batches name it here
from poe_magic.spending.calls import Ledger, Reservation, book, newest_before, release_settled, saw
from poe_magic.spending.calls import calls as calls
from poe_magic.spending.estimator import per_call
from poe_magic.spending.history import PAGE_SIZE, history_page
from poe_magic.spending.matching import WINDOW_BACK_US
from poe_magic.spending.reconciler import current_account, far_enough, read_now, reconciler_of, settle

if TYPE_CHECKING:
    import pandas as pd

WARN_AT = (0.8, 1.0)  # budget shares that print a one-line warning (once each)
BUDGET_WAIT_S = 8.0  # longest wait for pending costs whose estimate is unknown
BUDGET_READ_EVERY_S = 2.0  # history reads during that wait
PRICE_TIMEOUT_S = 5.0


def _ledger() -> Ledger:
    return book()


_force: contextvars.ContextVar[bool] = contextvars.ContextVar("poe_magic_budget_force", default=False)
_deferring: contextvars.ContextVar[list[Call] | None] = contextvars.ContextVar("poe_magic_deferred_lookups",
                                                                                 default=None)


# -- budget ----------------------------------------------------------------------------
def set_budget(points: int | None) -> None:
    """Cap this session's spend at ``points`` (None: no cap). Calls made before count too."""
    if points is not None and (isinstance(points, bool) or not isinstance(points, int) or points < 0):
        raise E.PoeUsageError(f"the budget must be a whole number of points >= 0, got {points!r}")
    if points is not None:
        check_points("the budget", points)  # 10**30 is a typo, not a budget
    _ledger().budget = points
    _ledger().warned.clear()


def budget() -> int | None:
    """The session budget in points, or None."""
    return _ledger().budget


def session_spend() -> int:
    """Points spent by this kernel's calls whose cost is known (pending calls count 0 here;
    the budget counts them at their estimate)."""
    return sum(call.points or 0 for call in _ledger().calls)


def budget_status() -> str:
    """One line: spend, calls, and the budget with its share used (and, once it is spent,
    that the next call will be refused)."""
    spent = session_spend()
    led = _ledger()
    text = f"{spent:,} points spent by {plural(len(led.calls), 'call')} this session"
    pending = [c for c in led.calls if c.pending]
    if pending:
        text += f" ({plural(len(pending), 'cost')} pending: the points history lists calls late)"
    if led.reserved:
        text += f" ({plural(len(led.reserved), 'call')} in flight)"
    if led.budget is not None:
        text += f"; budget {led.budget:,} points, {_share_used():,.0%} used"
        if spent >= led.budget:
            text += (f": already {'exceeded' if spent > led.budget else 'reached'}, the next call will be refused "
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


def reserve(model: str, prompt: str = "") -> Reservation:
    """Book one call about to be sent (the runner's *reserve* step): the budget check and the
    booking are one step under the ledger's lock, so concurrent calls (8 columns, 20 batch
    rows) each see the others' reservations and cannot all pass on the same spend. The call
    counts at its estimate (the model's history median, its catalogue price, or the largest cost
    this session) until :func:`record` settles it, and after that until the history bills it.

    Refused (:class:`~poe_magic.BudgetExceededError`, one line, nothing sent) when the spend,
    pending calls and reservations counted, has reached the budget, or when an earlier call's
    cost can be neither estimated nor found within a few seconds. ``budget_override`` skips the
    check (the call is still booked and counted)."""
    led = _ledger()
    guess = per_call(model, prompt)
    checking = led.budget is not None and not _force.get()
    if checking and _unestimated(led):
        _wait_for_costs(led)
    with led.booking:
        if checking:
            _refuse_when_spent(led, model)
        booked = Reservation(model, guess.points, guess.basis, book=led)
        led.reserved.append(booked)
    return booked


def release(booked: Reservation) -> None:
    """Drop a reservation whose call was never sent (refused by a later check, stopped while
    waiting for the rate limit)."""
    led = booked.book or _ledger()
    with led.booking:
        if not booked.settled:
            booked.settled = True
            led.reserved.remove(booked)


def _refuse_when_spent(led: Ledger, model: str) -> None:
    """The budget check proper (under ``led.booking``)."""
    budget = led.budget
    assert budget is not None
    unknown = _unestimated(led) + [r for r in led.reserved if r.estimate is None]
    if unknown:
        raise E.BudgetExceededError(
            f"session budget of {budget:,} points: the cost of {plural(len(unknown), 'earlier call')} is not known "
            f"yet and cannot be estimated, so {model} was not asked. Try again in a few seconds, or add --force "
            "(force=True in Python)", model=model)
    spent, counted, pending = _counted(led)
    if counted >= budget:
        said = f"{spent:,} spent" + (f" + ~{counted - spent:,.0f} pending for {plural(pending, 'call')}"
                                    if pending else "")
        raise E.BudgetExceededError(
            f"session budget of {budget:,} points reached ({said}); {model} was not asked. "
            "Raise it with %poe budget N, or add --force (force=True in Python)", model=model)


def _counted(led: Ledger) -> tuple[int, float, int]:
    """(points billed, what the budget counts, how many calls are counted at an estimate): billed
    costs, plus pending calls and reservations at their estimates."""
    spent = session_spend()
    pending = [c.estimate or 0.0 for c in led.calls if c.pending] + [r.estimate or 0.0 for r in led.reserved]
    return spent, spent + sum(pending), len(pending)


def _unestimated(led: Ledger) -> list[Call]:
    """Pending calls the budget cannot count: no estimate from history, catalogue or session.
    A call that returned no text (a file, an image, a stop right after it started) is counted
    like any other: it may well have been charged."""
    unknown = []
    for call in led.calls:
        if call.pending and call.estimate is None:
            guess = per_call(call.model, "x" * call.prompt_chars)
            call.estimate, call.estimate_basis = guess.points, guess.basis
            if guess.points is None:
                unknown.append(call)
    return unknown


def _wait_for_costs(led: Ledger) -> None:
    """Wait (at most :data:`BUDGET_WAIT_S`) for the costs the budget cannot estimate."""
    notices.warn(f"poe_magic: waiting up to {BUDGET_WAIT_S:.0f} s for the cost of earlier calls (the budget needs it)")
    deadline = time.monotonic() + BUDGET_WAIT_S
    next_read = time.monotonic()
    while any(c.pending and c.estimate is None for c in led.calls) and time.monotonic() < deadline:
        if time.monotonic() >= next_read:
            read_now(led)
            next_read = time.monotonic() + BUDGET_READ_EVERY_S
            continue
        with led.changed:
            led.changed.wait(min(0.25, max(0.0, deadline - time.monotonic())))


def _warn_if_near() -> None:
    """Say once when the spend (pending calls at their estimate) crosses 80% and 100% of the
    budget: a warning (stderr) after an ordinary call, a plain note (stdout: not an error box in
    JupyterLab) after a forced one. Called on the kernel's thread only, never by the reconciler."""
    book = _ledger()
    if not book.budget:
        return
    _unestimated(book)  # fills in the estimates of pending calls
    _, counted, _ = _counted(book)
    share = counted / book.budget
    reached = [level for level in WARN_AT if share >= level and level not in book.warned]
    if not reached:
        return
    book.warned.update(level for level in WARN_AT if level <= reached[-1])
    what = "reached: further calls will be refused (--force overrides)" if reached[-1] >= 1 else "nearly spent"
    about = "~" if any(c.pending for c in book.calls) else ""
    line = f"poe_magic: session budget {what}: {about}{counted:,.0f} of {book.budget:,} points ({share:,.0%})"
    (notices.note if _force.get() else notices.warn)(line)


def wait_for_costs(timeout: float = 60.0) -> bool:
    """Block until no answered call of this session has a pending cost (True), or ``timeout``
    seconds have passed (False). Never needed for correctness: scripts and tests that want final costs."""
    led = _ledger()
    deadline = time.monotonic() + timeout

    def waiting() -> bool:  # a call stopped or failed part-way may never be charged: not waited for
        return any(c.pending and c.status == "ok" for c in led.calls)  # (answers with no text included)

    if any(c.pending and not c.deferred for c in led.calls):
        reconciler_of(led).kick()
    while waiting() and time.monotonic() < deadline:
        with led.changed:
            led.changed.wait(min(0.25, max(0.0, deadline - time.monotonic())))
    return not waiting()


# -- cost per call ----------------------------------------------------------------------
def record(reply: Reply, booked: Reservation | None = None) -> None:
    """Reply finisher (the runner's *settle* step): list the call in place of its reservation,
    in one step under the ledger's lock; its cost is found in the background (nothing waits).
    Until the history bills it, the call counts at its reservation's estimate, also when it was
    stopped or returned no text."""
    started = reply.started_at.astimezone(timezone.utc)
    ended = started.timestamp() + reply.elapsed if reply.elapsed is not None else time.time()
    led = booked.book if booked is not None and booked.book is not None else _ledger()
    call = Call(time=started, model=reply.model, points=None, chars=len(reply.text), elapsed=reply.elapsed,
                status=reply.status, ended_us=int(ended * 1_000_000), requests="several" if reply.tool_calls else "one",
                after_id=newest_before(led, started.timestamp()), prompt_chars=len(reply.prompt or ""),
                # the Reply is kept (to be told its cost) only for an answer that ended well: a stopped or
                # failed one may never be charged, and its display already says how it ended
                reply=reply if reply.status == "ok" else None, account=current_account(),
                estimated=reply.estimated_points)
    if booked is not None and booked.estimate is not None:
        call.estimate, call.estimate_basis = booked.estimate, booked.basis
    with led.booking:
        if booked is not None and not booked.settled:
            booked.settled = True
            led.reserved.remove(booked)
        led.calls.append(call)
    deferred = _deferring.get()
    if reply.cached or (reply.error is not None and not reply.text):
        call.points = 0  # served from cache, or failed before answering: nothing to charge
    elif deferred is not None:
        call.deferred = True
        deferred.append(call)  # priced later, with others, by whoever deferred the lookup
    else:
        reconciler_of(led).kick()  # also for a call stopped before its first token: a charge may appear
    if call.points is None and reply.status == "ok":
        reply.points_pending = True  # the footer says so until set_points() (or giving up) updates it
    release_settled([call])
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
    """Find the costs of ``pending`` calls in bulk: the newest history pages (100 entries
    each, a few at most), whatever their number. What is not listed yet stays None and the
    background reconciler keeps looking."""
    led = _ledger()
    try:
        entries: list[dict[str, Any]] = []
        after: str | None = None
        earliest = min((c.started_us for c in pending), default=0) - WINDOW_BACK_US
        for _ in range(5):
            page, has_more = history_page(after, limit=PAGE_SIZE, timeout=PRICE_TIMEOUT_S, retry=False)
            if after is None:
                saw(led, page, time.time())
            entries += [e for e in page if isinstance(e, dict) and isinstance(e.get("query_id"), str)
                        and isinstance(e.get("creation_time"), int)]
            if not has_more or not page or far_enough(entries, pending, earliest):
                break
            after = page[-1]["query_id"]
        settle(led, pending, entries)
    except E.PoeMagicError:  # no key, server down, rate limited: those costs stay pending
        pass
    finally:
        for call in pending:
            call.deferred = False  # from now on an unknown cost is the reconciler's to find
    release_settled(pending)
    if any(c.pending for c in pending):
        reconciler_of(led).kick()
    _warn_if_near()


def reconcile() -> int:
    """Read the newest history page now and settle the pending costs; returns how many were found."""
    return read_now(_ledger())


def session_ledger() -> pd.DataFrame:
    """This kernel's calls as a DataFrame, one row per call, for computing (``%poe session``
    shows it readably). Columns and dtypes: ``time`` (when it started, ``datetime64[us, UTC]``),
    ``model`` and ``status`` (``string``), ``points`` (``Int64``: <NA> while the cost is not in
    the points history), ``estimated`` (``Int64``: the immediate estimate the footer showed as
    "≈ N points", from the catalogue's price x tokens; <NA> without a price), ``chars``
    (``int64``), ``elapsed`` (seconds, ``Float64``, 3 decimals). ``attrs["summary"]`` holds
    :func:`budget_status`'s line."""
    import pandas as pd

    reconcile()
    frame = pd.DataFrame({
        "time": pd.to_datetime([c.time for c in _ledger().calls], utc=True).as_unit("us"),  # "s" when empty
        "model": pd.array([c.model for c in _ledger().calls], dtype="string"),
        "points": pd.array([c.points for c in _ledger().calls], dtype="Int64"),
        "estimated": pd.array([c.estimated for c in _ledger().calls], dtype="Int64"),
        "chars": pd.array([c.chars for c in _ledger().calls], dtype="int64"),
        "elapsed": pd.array([None if c.elapsed is None else round(c.elapsed, 3) for c in _ledger().calls], dtype="Float64"),
        "status": pd.array([c.status for c in _ledger().calls], dtype="string"),
    })
    frame.attrs["summary"] = budget_status()
    return frame
