"""A bot whose price depends on the request, as real models' prices depend on the prompt.

``PricedBot`` answers with one short line after ``delay`` seconds and charges the points
its ``cost=`` knob names (default 10): batch budget tests use it to make a batch cost more
than its estimate said, as a long document would with a real model.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable

import fastapi_poe as fp

from poe_magic.server.bots.base import LocalBot, knobs


class PricedBot(LocalBot):
    """Charges ``cost`` points (knob), answers after ``delay`` seconds (knob)."""

    description = "Answers in one line and charges the points its cost= knob names (knobs, as --param K=V or K=V in the prompt: cost, delay)."

    async def get_response(self, request: fp.QueryRequest) -> AsyncIterable[fp.PartialResponse]:
        k = knobs(request)
        cost, delay = int(k.get("cost", self.cost_points)), float(k.get("delay", 0.0))
        await asyncio.sleep(delay)
        prompt = request.query[-1].content if request.query else ""
        yield fp.PartialResponse(text=f"{self.name} answered {prompt!r} for {cost} points")
        self.state.charge(self.name, cost)
