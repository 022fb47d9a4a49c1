"""What a batch will cost, and the guard that keeps it inside ``budget``.

Before a batch starts, each model's cost per call is estimated from, in order: the account's
points history (:func:`poe_magic.spending.history.points_history`, last 7 days, median of the newest
50 calls of that bot; only when a budget is set, since it may need a request), this session's
ledger (:mod:`poe_magic.spending.ledger`), the batch journal's earlier answers, and then
:func:`poe_magic.spending.estimator.per_call` (the catalogue's price, the session's largest cost).
A model with none of these has an unknown cost.

With a budget, :func:`check_estimate` refuses a batch whose estimate exceeds it before
anything is sent. While it runs, :class:`BudgetGuard` (used on the loop thread) reserves the
estimated cost of each request before sending it and settles it with the points the server
reported (``Reply.points``); when the next request would not fit, the batch stops, keeping
every answer so far. A model whose cost is unknown is probed: its first request runs alone,
and the points it reports become the estimate for the rest.
"""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from poe_magic.base import errors as E
from poe_magic.batches.journal import BatchStore
from poe_magic.spending import ledger
from poe_magic.spending.estimator import per_call
from poe_magic.spending.history import points_history

HISTORY_WINDOW = timedelta(days=7)
SAMPLE = 50  # newest calls per model the estimate looks at


@dataclass
class CostEstimate:
    """Points per call of one model, and where that figure comes from."""

    points: float | None
    source: str = ""


def estimate_costs(models: list[str], store: BatchStore, *, use_history: bool) -> tuple[dict[str, CostEstimate], str]:
    """Per-model cost estimates, and a note when the points history could not be read."""
    costs = {m: CostEstimate(None) for m in models}
    note = ""
    if use_history:
        try:
            frame = points_history(since=HISTORY_WINDOW)
            for model in models:
                recent = frame.loc[frame["bot_name"] == model, "cost_points"].head(SAMPLE)
                if len(recent):
                    costs[model] = CostEstimate(float(recent.median()), "points history")
        except E.PoeMagicError as exc:
            note = f"points history unavailable ({exc})"
    for model in models:
        if costs[model].points is None:
            seen = _session_points(model) or store.recent_points(model, SAMPLE)
            if seen:
                costs[model] = CostEstimate(float(statistics.median(seen)), "earlier calls")
            else:  # the one estimator's other sources: the catalogue's price, the session's largest cost
                guess = per_call(model)
                if guess.points is not None:
                    costs[model] = CostEstimate(guess.points, guess.basis)
    return costs, note


def _session_points(model: str) -> list[int]:
    return [c.points for c in ledger.calls() if c.model == model and c.points is not None][-SAMPLE:]


def _per_call(counts: dict[str, int], costs: dict[str, CostEstimate]) -> str:
    """``GPT-5 ~300/call, Grok-4 ~280/call`` for the models whose cost is known."""
    return ", ".join(f"{m} ~{costs[m].points:,.0f}/call" for m, n in counts.items()
                     if n and costs[m].points is not None)


def describe(counts: dict[str, int], costs: dict[str, CostEstimate]) -> tuple[float | None, str]:
    """(known part of the estimate or None, one line such as ``estimate ~2,400 points (GPT-5 ~300/call)``)."""
    used = [m for m, n in counts.items() if n]
    unknown = [m for m in used if costs[m].points is None]
    if not used:
        return 0.0, ""
    if len(unknown) == len(used):
        return None, "cost unknown (no earlier calls of " + ", ".join(unknown) + ")"
    known = sum(counts[m] * (costs[m].points or 0.0) for m in used)
    text = f"estimate ~{known:,.0f} points ({_per_call(counts, costs)})"
    if unknown:
        text += " + unknown for " + ", ".join(unknown)
    return known, text


def check_estimate(budget: float, counts: dict[str, int], costs: dict[str, CostEstimate]) -> str:
    """Refuse (BudgetExceededError) when the known part of the estimate exceeds ``budget``."""
    known, text = describe(counts, costs)
    if known is not None and known > budget:
        raise E.BudgetExceededError(
            f"this batch would cost about {known:,.0f} points ({sum(counts.values()):,} requests; "
            f"{_per_call(counts, costs)}) but budget={budget:,.0f}; raise the budget or run fewer rows "
            "(nothing was sent)")
    return text


class BudgetGuard:
    """Reserve-then-settle accounting of a running batch (loop thread only)."""

    def __init__(self, limit: float, costs: dict[str, CostEstimate]) -> None:
        self.limit = float(limit)
        self.prior = {m: c.points for m, c in costs.items()}
        self.observed: dict[str, list[int]] = {}
        self.spent = 0.0  # settled requests: reported points, else the estimate
        self.estimated = False  # whether ``spent`` includes estimates
        self.reserved: dict[Hashable, float] = {}
        self._probes: dict[str, asyncio.Event] = {}
        self._unmeasurable: set[str] = set()

    def cost(self, model: str) -> float | None:
        seen = self.observed.get(model)
        return statistics.fmean(seen) if seen else self.prior.get(model)

    @property
    def committed(self) -> float:
        return self.spent + sum(self.reserved.values())

    async def reserve(self, ident: Hashable, model: str) -> str | None:
        """Book the request's cost: None to go ahead, else why the batch must stop."""
        while self.cost(model) is None:
            if model in self._unmeasurable:
                return (f"the cost of {model} is unknown (the server reported no points), so the budget "
                        "cannot be enforced")
            probe = self._probes.get(model)
            if probe is None:  # nobody has measured this model yet: this request does
                self._probes[model] = asyncio.Event()
                self.reserved[ident] = 0.0
                return None
            await probe.wait()
        estimate = self.cost(model) or 0.0
        if self.committed + estimate > self.limit:
            return f"budget of {self.limit:,.0f} points reached (~{self.committed:,.0f} spent or committed)"
        self.reserved[ident] = estimate
        return None

    def settle(self, ident: Hashable, model: str, points: int | None, charged: bool = True) -> None:
        """The request ended: replace its reservation with what it cost."""
        self.reserved.pop(ident, None)
        if points is not None:
            self.observed.setdefault(model, []).append(int(points))
            self.spent += points
        elif charged:
            estimate = self.cost(model)
            if estimate is None:
                self._unmeasurable.add(model)
            else:
                self.spent += estimate
                self.estimated = True
        probe = self._probes.pop(model, None)
        if probe is not None:
            probe.set()

    def release(self, ident: Hashable, model: str) -> None:
        """The request was not sent after all."""
        self.reserved.pop(ident, None)
        probe = self._probes.pop(model, None)
        if probe is not None:
            probe.set()

    def __repr__(self) -> str:
        return f"<BudgetGuard {self.committed:,.0f} of {self.limit:,.0f} points>"


def counts_by_model(jobs: list[Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for job in jobs:
        counts[job.model] = counts.get(job.model, 0) + 1
    return counts
