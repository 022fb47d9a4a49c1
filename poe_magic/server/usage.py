"""The local server's usage API: ``/usage/current_balance`` and ``/usage/points_history``.

Same routes, payload shapes, pagination and errors as the real API (``shared/POE_API.md``):
the history is newest first, ``limit`` is 1..100 (default 20) and ``starting_after`` is the
``query_id`` of the last entry of the previous page. ``seed_history`` fills the account with a
deterministic, plausible month of spending so notebooks have something to analyse offline;
every bot call then appends its own entry through :meth:`ServerState.charge`.

:class:`~poe_magic.server.state.UsageModes` make the history behave as the real one may
(``shared/POE_API.md``, last section): entries listed late, a provisional ``cost_points: 0``
first, lower-cased names, a skewed clock, extra cost fields, a slow endpoint. They are applied
when a page is served, so they can be changed while the server runs (``/_local/usage_modes``).
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from typing import Any

from fastapi import FastAPI, Request, Response

from poe_magic.server.errors import code_style, error_response
from poe_magic.server.model_facts import POINT_USD
from poe_magic.server.state import ServerState, UsageModes

DEFAULT_LIMIT, MAX_LIMIT = 20, 100
HISTORY_DAYS = 30

#: (bot, typical points per call, relative frequency) for the seeded history
SEED_BOTS = [
    ("Claude-Sonnet-4", 260, 30), ("GPT-5", 300, 18), ("GPT-4o-mini", 15, 22),
    ("Gemini-2.5-Pro", 240, 10), ("Claude-Haiku-3.5", 60, 9), ("Grok-4", 280, 4),
    ("Llama-3.1-405B", 120, 3), ("FLUX-pro-1.1", 750, 2), ("Assistant", 20, 2),
]
#: (usage type, relative frequency): most spending through the API, some in chats and apps
SEED_TYPES = [("API", 80), ("Chat", 15), ("Canvas App", 5)]


class HistoryIndex:
    """``query_id`` -> position in ``state.history`` (oldest first, append-only), kept up to
    date incrementally so a page costs O(limit), not O(history)."""

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.positions: dict[str, int] = {}
        self._lock = threading.Lock()

    def position(self, query_id: str) -> int | None:
        history = self.state.history
        with self._lock:
            if len(self.positions) > len(history):  # history was replaced: start over
                self.positions.clear()
            for i in range(len(self.positions), len(history)):
                self.positions[history[i]["query_id"]] = i
            found = self.positions.get(query_id)
        if found is not None and (found >= len(history) or history[found]["query_id"] != query_id):
            with self._lock:
                self.positions.clear()
            return self.position(query_id)
        return found


def page(state: ServerState, index: HistoryIndex, limit: int, starting_after: str | None) -> dict[str, Any] | None:
    """One page, newest first; None when ``starting_after`` names no entry."""
    modes = state.modes
    now = modes.now()
    with state.lock:
        history = state.history
        end = len(history)
        if modes.history_lag > 0:  # entries are stamped in order: the unlisted ones are the newest
            while end and history[end - 1]["creation_time"] / 1e6 + modes.history_lag > now:
                end -= 1
        if starting_after is not None:
            position = index.position(starting_after)
            if position is None or position >= end:
                return None
            end = position
        start = max(0, end - limit)
        data = history[start:end][::-1]
    if modes.provisional_zero > 0 or modes.history_names != "display" or modes.cost_fields:
        data = [shown(entry, modes, now) for entry in data]
    return {"has_more": start > 0, "length": len(data), "data": data}


def shown(entry: dict[str, Any], modes: UsageModes, now: float) -> dict[str, Any]:
    """An entry as the modes show it: provisional zero while young, names, cost fields."""
    entry = dict(entry)
    provisional = now - entry["creation_time"] / 1e6 < modes.history_lag + modes.provisional_zero  # once listed
    if provisional:
        entry["cost_points"] = 0
    if modes.history_names == "lower":
        entry["bot_name"] = str(entry["bot_name"]).lower()
    if modes.cost_fields or modes.provisional_zero > 0:
        cost = int(entry["cost_points"])
        entry["cost_usd"] = f"{cost * POINT_USD:.6f}"
        entry["cost_breakdown_in_points"] = {} if provisional else {"base": cost}
    return entry


def parse_limit(raw: str | None) -> int | None:
    if raw is None:
        return DEFAULT_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        return None
    return limit if 1 <= limit <= MAX_LIMIT else None


def add_routes(app: FastAPI, state: ServerState) -> None:
    """Register the usage routes on ``app`` (PoeGate in front checks the key)."""
    index = HistoryIndex(state)

    @app.get("/usage/current_balance")
    async def current_balance() -> Response:
        if state.modes.usage_latency > 0:
            await asyncio.sleep(state.modes.usage_latency)
        return Response(json.dumps({"current_point_balance": state.balance}), media_type="application/json")

    @app.get("/usage/points_history")
    async def points_history(request: Request) -> Response:
        # Validated here: make_app would turn a validation error into a 500.
        if state.modes.usage_latency > 0:
            await asyncio.sleep(state.modes.usage_latency)
        limit = parse_limit(request.query_params.get("limit"))
        if limit is None:
            return error_response(400, f"limit must be an integer from 1 to {MAX_LIMIT}, "
                               f"got {request.query_params.get('limit')!r}")
        starting_after = request.query_params.get("starting_after") or None
        # A planned fault can target one page: path "/usage/points_history?starting_after=ID".
        fault = state.take_fault(f"/usage/points_history?starting_after={starting_after}") if starting_after else None
        if fault is not None:
            return error_response(fault.status, f"simulated error {fault.status}", fault.headers)
        body = page(state, index, limit, starting_after)
        if body is None:
            return error_response(400, f"starting_after: no points history entry with query_id {starting_after!r}")
        return Response(json.dumps(body, separators=(",", ":")), media_type="application/json")

    @app.post("/_local/usage_modes")
    async def usage_modes(request: Request) -> Response:
        """Change the usage modes while the server runs (tests); answers the modes now in force."""
        try:
            changes = await request.json()
            if not isinstance(changes, dict):
                raise ValueError("send a JSON object of modes")
            state.modes.update(changes)
        except ValueError as exc:
            return error_response(400, f"bad usage modes: {exc}")
        code_style["codes"] = state.modes.error_codes
        return Response(json.dumps(vars(state.modes)), media_type="application/json")


def seed_history(state: ServerState, entries: int, *, days: float = HISTORY_DAYS, seed: int = 7,
                 now: float | None = None) -> None:
    """Prepend ``entries`` deterministic past calls spread over the last ``days`` days
    (busier in working hours, a few bots dominating, costs varying around each bot's price)."""
    if entries <= 0:
        return
    rng = random.Random(seed)
    end = (now or time.time()) - 60.0
    span = days * 86_400.0
    bots, bot_weights = zip(*[(b[:2], b[2]) for b in SEED_BOTS])
    types, type_weights = zip(*SEED_TYPES)
    times: list[int] = []
    while len(times) < entries:
        t = end - rng.random() * span
        hour = (t % 86_400) / 3600
        if rng.random() < (0.25 if hour < 7 or hour >= 22 else 1.0):  # quieter at night (UTC)
            times.append(int(t * 1_000_000))
    times.sort()
    seeded = []
    for i, created in enumerate(times):
        bot, price = rng.choices(bots, bot_weights)[0]
        usage_type = rng.choices(types, type_weights)[0]
        entry: dict[str, Any] = {
            "creation_time": created, "bot_name": bot, "query_id": f"q_seed{seed}_{i:07d}_{rng.getrandbits(24):06x}",
            "usage_type": usage_type, "cost_points": max(1, int(price * rng.uniform(0.4, 1.8))),
        }
        if usage_type == "API":
            entry["api_key_name"] = "default"  # the real API adds fields like this one: clients keep them
        else:
            entry["chat_name"] = f"chat {i % 37}"
        seeded.append(entry)
    with state.lock:
        state.history[:0] = seeded
