"""Eight paced bots, ``SlowBot-1`` ... ``SlowBot-8``, for side-by-side comparisons.

A comparison needs several *different* model names that behave predictably. Each lane is a
:class:`~poe_magic.server.bots.SlowBot` (knobs ``chunks``, ``delay``, ``first_delay``) whose
delays are stretched by ``1 + spread * (lane - 1)``: with the default ``spread=0.5``,
``SlowBot-3`` is twice as slow as ``SlowBot-1``; ``--param spread=0`` makes all lanes equal.
``style=markdown`` streams rich Markdown (headings, lists, tables, code) word by word instead
of numbered words, for rendering benchmarks.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterable
from typing import Any

import fastapi_poe as fp

from poe_magic.server.bots.base import LocalBot, knobs
from poe_magic.server.bots.demo import MARKDOWN_SAMPLE, SlowBot
from poe_magic.server.state import ServerState

LANES = 8
_MARKDOWN_WORDS = re.findall(r"\s*\S+", "\n" + MARKDOWN_SAMPLE + "\n")  # whitespace first: blocks stay intact


class PacedBot(SlowBot):
    """A SlowBot whose pace depends on its lane number (see the module docstring)."""

    def __init__(self, name: str, state: ServerState, *, lane: int, **kwargs: Any) -> None:
        super().__init__(name, state, **kwargs)
        self.lane = lane
        self.description = (f"Streams numbered words, lane {lane} of {LANES}: slower by 'spread' per lane "
                            "(knobs, as --param K=V or K=V in the prompt: chunks, delay, first_delay, spread, style=words|markdown).")

    async def answer(self, request: fp.QueryRequest) -> AsyncIterable[fp.PartialResponse]:
        k = knobs(request)
        stretch = 1 + float(k.get("spread", 0.5)) * (self.lane - 1)
        chunks, delay = int(k.get("chunks", 20)), float(k.get("delay", 0.25)) * stretch
        words = _MARKDOWN_WORDS if k.get("style") == "markdown" else None
        await asyncio.sleep(float(k.get("first_delay", delay / stretch)) * stretch)
        for i in range(chunks):
            if i:
                await asyncio.sleep(delay)
            yield fp.PartialResponse(text=words[i % len(words)] if words else f"word{i} ")


def make_paced_bots(state: ServerState) -> list[LocalBot]:
    return [PacedBot(f"SlowBot-{lane}", state, lane=lane) for lane in range(1, LANES + 1)]
