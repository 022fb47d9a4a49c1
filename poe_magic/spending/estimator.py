"""What one call will probably cost, before its real cost is known: the one estimator.

:func:`per_call` answers from what is at hand without a request, in order:

1. ``history``: the median cost of that bot's newest calls in this account's points history
   (the on-disk history cache and this session's priced calls; names compared as the history
   lists them, see :mod:`~poe_magic.spending.matching`);
2. ``catalogue price``: the cached catalogue's per-request price plus its per-token prices for
   the prompt's size (about 4 characters a token) and :data:`ASSUMED_ANSWER_TOKENS` of answer;
3. ``largest this session``: the largest cost any call of this session had.

Else the estimate is unknown (``points`` None). The budget counts pending calls at this
estimate; batches and a confirm-before-expensive-call use it too.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

from poe_magic.base import errors as E
from poe_magic.catalog import store
from poe_magic.core.session import current
from poe_magic.spending.calls import calls
from poe_magic.spending.history_cache import HistoryCache, account_id
from poe_magic.spending.matching import names_of, squash

SAMPLE = 50  # newest priced calls of a bot the median looks at
CHARS_PER_TOKEN = 4
ASSUMED_ANSWER_TOKENS = 500
POINT_USD = 0.00003  # what one point costs (1,000,000 points = $30)


@dataclass(frozen=True)
class Estimate:
    """Points one call will probably cost, what the figure rests on, and on how many calls."""

    points: float | None
    basis: str  # "history", "catalogue price", "largest this session" or "unknown"
    based_on: int = 0  # calls behind the figure (0 for a catalogue price)

    def __str__(self) -> str:
        if self.points is None:
            return "cost unknown"
        return f"~{self.points:,.0f} points ({self.basis})"


def per_call(model: str, prompt: str = "") -> Estimate:
    """The estimated cost of one call of ``model`` with ``prompt``; never makes a request."""
    seen = _history_costs(model)
    if seen:
        return Estimate(float(statistics.median(seen)), "history", len(seen))
    priced = _catalogue_points(model, prompt)
    if priced is not None:
        return Estimate(priced, "catalogue price", 0)
    known = [c.points for c in calls() if c.points is not None and c.points > 0]
    if known:
        return Estimate(float(max(known)), "largest this session", len(known))
    return Estimate(None, "unknown", 0)


def _history_costs(model: str) -> list[int]:
    """Final costs of ``model``'s newest calls: this session's, then the history cache's."""
    names = names_of(model)
    costs = [c.points for c in reversed(calls()) if c.points is not None and c.points > 0
             and squash(c.model) in names][:SAMPLE]
    if len(costs) >= SAMPLE:
        return costs
    try:
        snapshot = HistoryCache(account_id()).load()
    except (E.PoeMagicError, OSError):  # no key yet, unreadable home: the session's figures only
        return costs
    columns = snapshot.columns
    for bot, cost in zip(columns["bot_name"], columns["cost_points"]):
        if isinstance(cost, int) and cost > 0 and squash(bot) in names:
            costs.append(cost)
            if len(costs) >= SAMPLE:
                break
    return costs


def _catalogue_points(model: str, prompt: str) -> float | None:
    """The catalogue's price of one call in points, or None when it lists no usable price."""
    snapshot = store.cached()
    if snapshot is None:
        return None
    names = names_of(model)
    record: dict[str, Any] | None = None
    for raw in snapshot.entries:
        parsed = store.parse_entry(raw)
        if parsed is not None and (parsed["id"] == model or squash(parsed["id"]) in names):
            record = parsed
            break
    if record is None:
        return None
    prices = [_price(record.get(k)) for k in ("request_price", "prompt_price", "completion_price")]
    if all(p is None for p in prices):
        return None
    per_request, per_prompt, per_answer = (p or 0.0 for p in prices)
    tokens = len(prompt) / CHARS_PER_TOKEN
    usd = per_request + per_prompt * tokens + per_answer * ASSUMED_ANSWER_TOKENS
    return usd / POINT_USD if usd > 0 else None


class Calibration:
    """(estimated, billed) points of this session's answers, as their costs land (a session state)."""

    def __init__(self) -> None:
        self.pairs: list[tuple[int, int]] = []


def estimate_answer(reply: Any, request: Any) -> None:
    """Give an answered call its immediate estimate (``reply.estimated_points``, the footer's
    "≈ N points"), and compare it with the billed cost when that lands (:class:`Calibration`)."""
    reply.estimated_points = from_answer(reply, request)
    if reply.estimated_points is None:
        return
    pairs = current().state(Calibration).pairs
    estimated: int = reply.estimated_points
    done: list[bool] = []

    def billed(answered: Any) -> None:
        if not done and isinstance(answered.points, int) and answered.points > 0:  # not a provisional 0
            done.append(True)
            pairs.append((estimated, answered.points))

    reply.watch_points(billed)


RATE_SAMPLE = 200  # newest history entries with cost_usd the points-per-USD rate looks at
RATE_MAX_AGE = 60.0  # seconds a learned rate is reused before the history cache is read again


def rate_from_columns(columns: dict[str, list[Any]]) -> float | None:
    """Points per USD learned from history entries that carry ``cost_usd`` (a string on the real
    API): the median of ``cost_points / cost_usd`` over the newest :data:`RATE_SAMPLE`; None
    without any."""
    ratios = []
    for points, usd in zip(columns.get("cost_points") or [], columns.get("cost_usd") or []):
        try:
            dollars = float(usd)
        except (TypeError, ValueError):
            continue
        if isinstance(points, int) and points > 0 and math.isfinite(dollars) and dollars > 0:
            ratios.append(points / dollars)
            if len(ratios) >= RATE_SAMPLE:
                break
    return float(statistics.median(ratios)) if ratios else None


class _Rate:
    """This session's learned points-per-USD rate and when it was read (a session state)."""

    def __init__(self) -> None:
        self.value: float | None = None
        self.read_at = -math.inf


def points_per_usd() -> tuple[float, str]:
    """(points per USD, ``"history"`` or ``"documented"``): learned from this account's own
    history entries that carry ``cost_usd``, else the documented 1,000,000 points = $30."""
    import time

    rate = current().state(_Rate)
    if time.monotonic() - rate.read_at > RATE_MAX_AGE:
        rate.read_at = time.monotonic()
        try:
            rate.value = rate_from_columns(HistoryCache(account_id()).load().columns)
        except (E.PoeMagicError, OSError, ValueError):
            rate.value = None
    return (rate.value, "history") if rate.value else (1 / POINT_USD, "documented")


def from_answer(reply: Any, request: Any) -> int | None:
    """Points an answered call probably cost, at once: the catalogue's prices for the model times
    its tokens (the protocol's ``usage`` when it reported one, as the openai protocol does: cached
    prompt tokens at the cache-read price; else about 4 characters a token of the messages sent
    and the answer), plus any per-request price; None without a price."""
    snapshot = store.cached()
    entry = snapshot.entry(reply.model) if snapshot is not None else None
    record = store.parse_entry(entry) if entry is not None else None
    if record is None:
        return None
    per_request, per_prompt, per_answer = (_price(record.get(k)) for k in ("request_price", "prompt_price",
                                                                         "completion_price"))
    if per_request is None and per_prompt is None and per_answer is None:
        return None
    usage = reply.usage if isinstance(reply.usage, dict) else {}
    prompt_tokens = usage.get("prompt_tokens")
    if not isinstance(prompt_tokens, int):
        prompt_tokens = sum(len(m.content or "") for m in request.messages) // CHARS_PER_TOKEN
    answer_tokens = usage.get("completion_tokens")
    if not isinstance(answer_tokens, int):
        answer_tokens = len(reply.text or "") // CHARS_PER_TOKEN
    usd = (per_request or 0.0) + (per_prompt or 0.0) * prompt_tokens + (per_answer or 0.0) * answer_tokens
    cached, per_cached = usage.get("cached_tokens"), _price(record.get("cache_read_price"))
    if isinstance(cached, int) and 0 < cached <= prompt_tokens and per_cached is not None:
        usd -= ((per_prompt or 0.0) - per_cached) * cached  # tokens read from the cache bill at its own price
    return max(1, round(usd * points_per_usd()[0])) if usd > 0 else 0


def _price(value: Any) -> float | None:
    """A catalogue price (USD) that can be used: a finite number >= 0 (a server may send anything)."""
    return float(value) if isinstance(value, float) and math.isfinite(value) and value >= 0 else None
