"""The budget's one guarantee, as a property (issue 22): whatever the sequence of calls, how
they end and how late the points history bills them, a session never overspends its budget by
more than one call, and once every cost is billed the ledger holds exactly what was billed.

The fast, deterministic layer: the ledger's reserve/settle steps driven directly (no server,
no kernel: milliseconds per example). A call is reserved as the runner does before sending;
the "server" bills it (or not: a call that failed before answering is not charged) and the
history lists the bill ``lag`` steps later.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from poe_magic.base import errors as E
from poe_magic.core.reply import Reply
from poe_magic.core.session import new_session
from poe_magic.spending import ledger

COST = {"Cheap": 7, "Mid": 30, "Dear": 90}
ENDS = ["ok", "stopped", "no text", "failed before answering"]


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A key and a server root nothing listens on: the estimator never asks (it reads only
    what is at hand); every cost below is billed by the test itself."""
    monkeypatch.setenv("POE_API_KEY", "local-property-test-key")
    monkeypatch.setenv("POE_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("POE_MAGIC_HOME", str(tmp_path_factory.mktemp("property_home")))
    yield


def finished(model: str, end: str) -> Reply:
    reply = Reply(model=model, prompt="hello")
    reply.started_at = datetime.now(timezone.utc)
    reply.elapsed = 0.1
    if end == "ok":
        reply.text = "an answer"
    elif end == "stopped":
        reply.interrupted = True
    elif end == "failed before answering":
        reply.error = E.ServerError("simulated", model=model)
    return reply  # "no text": ok, and empty (a file, an image)


calls = st.lists(st.tuples(st.sampled_from(sorted(COST)), st.sampled_from(ENDS), st.integers(0, 4)),
                 min_size=1, max_size=30)


@settings(max_examples=150, deadline=None)
@given(budget=st.integers(0, 400), sequence=calls)
def test_overspend_is_at_most_one_call_and_the_ledger_ends_at_what_was_billed(
        budget: int, sequence: list[tuple[str, str, int]]) -> None:
    new_session()
    led = ledger.book()
    # one earlier billed call of each model: its history median is its estimate (as with a real
    # account's history or the catalogue's price; an estimate below the real cost is another matter)
    with ledger.deferred_lookups():
        for model in COST:
            ledger.record(finished(model, "ok"))
    billed = 0
    for call in led.calls:
        call.points = COST[call.model]
        billed += COST[call.model]
    budget += billed
    ledger.set_budget(budget)
    listing: list[tuple[int, object, int]] = []  # (step it is listed at, ledger call, points)
    worst = 0
    for step, (model, end, lag) in enumerate(sequence):
        for item in [x for x in listing if x[0] <= step]:  # the history lists what is due
            listing.remove(item)
            item[1].points = item[2]  # type: ignore[attr-defined]
        try:
            booked = ledger.reserve(model)
        except E.BudgetExceededError:
            continue
        charged = 0 if end == "failed before answering" else COST[model]
        billed += charged
        worst = max(worst, billed - budget - max(COST.values()))
        with ledger.deferred_lookups() as recorded:
            ledger.record(finished(model, end), booked)
        call = recorded[0] if recorded else led.calls[-1]
        call.deferred = False
        if charged and call.points is None:
            listing.append((step + lag, call, charged))
    assert worst <= 0, f"overspent by more than one call: billed {billed} against a budget of {budget}"
    for _, call, points in listing:
        call.points = points  # type: ignore[attr-defined]
    assert led.reserved == []
    assert ledger.session_spend() == billed
    new_session()
