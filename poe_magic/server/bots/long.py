"""``LongBot`` and ``LongBot-B``: long Markdown answers streamed slowly, as reasoning models do.

Knobs (words of the prompt like ``kb=30``, or ``--param``): ``kb`` (answer size in KB, default
30), ``seconds`` (how long it streams, default 10) or ``tps`` (tokens per second instead, a
token being a word with its leading whitespace), ``seed``, ``replace=1`` (halfway, replace the
answer so far with :data:`REPLACED` and go on: ``is_replace_response``), ``pause`` (seconds
to stop for, halfway). The answer, :func:`long_markdown`,
is deterministic and has every kind of block a live view must not break: headings, paragraphs,
tight and loose lists, tables, code fences with blank lines inside, quotes. For issue 19's
traffic tests and ``benchmarks/bench_traffic.py``.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections.abc import AsyncIterable

import fastapi_poe as fp

from poe_magic.server.bots.base import LocalBot, knobs
from poe_magic.server.state import ServerState

_WORDS = ("the model streams text while the notebook shows it live and a reader follows each "
          "block as it lands frozen blocks are sent once only the open tail changes so long "
          "answers stay light for the kernel the browser and the person waiting").split()
TICK = 0.02  # seconds between chunks: a chunk carries the tokens due by then
REPLACED = "# The answer, replaced\n\n"  # what ``replace=1`` starts over with, halfway


def _sentence(rng: random.Random) -> str:
    words = rng.choices(_WORDS, k=rng.randint(8, 18))
    return " ".join(words).capitalize() + rng.choice([".", ".", ".", "!", "?"])


def _section(rng: random.Random, n: int) -> str:
    kind = n % 6
    head = f"## Part {n + 1}: {' '.join(rng.choices(_WORDS, k=3))}\n\n"
    para = " ".join(_sentence(rng) for _ in range(rng.randint(3, 6))) + "\n\n"
    if kind == 0:
        body = "".join(f"- **{rng.choice(_WORDS)}**: {_sentence(rng)}\n" for _ in range(rng.randint(3, 6)))
    elif kind == 1:
        body = "".join(f"{i}. {_sentence(rng)}\n\n   {_sentence(rng)}\n\n" for i in range(1, 4))
    elif kind == 2:
        rows = "".join(f"| {rng.choice(_WORDS)} | {rng.randint(1, 999)} | `{rng.choice(_WORDS)}` |\n"
                       for _ in range(rng.randint(3, 7)))
        body = "| name | value | code |\n|---|---:|---|\n" + rows
    elif kind == 3:
        lines = [f"def step_{n}(x: int) -> int:", f'    """{_sentence(rng)}"""', "",
                 "    # a blank line above: the fence must not be cut there", "", f"    return x * {n + 2}"]
        body = "```python\n" + "\n".join(lines) + "\n```\n"
    elif kind == 4:
        body = "> " + _sentence(rng) + "\n> " + _sentence(rng) + "\n"
    else:
        body = f"### Detail {n + 1}\n\n" + " ".join(_sentence(rng) for _ in range(2)) + "\n"
    return head + para + body + "\n"


def long_markdown(size: int, seed: int = 19) -> str:
    """A deterministic Markdown answer of about ``size`` characters (whole sections)."""
    rng, parts, total, n = random.Random(seed), ["# A long answer\n\n"], 0, 0
    while total < size:
        parts.append(_section(rng, n))
        total, n = total + len(parts[-1]), n + 1
    return "".join(parts).rstrip("\n") + "\n"


def tokens(text: str) -> list[str]:
    """``text`` as tokens: each word with the whitespace before it."""
    trailing = re.search(r"\s+$", text)
    return re.findall(r"\s*\S+", text) + ([trailing.group()] if trailing else [])


class LongBot(LocalBot):
    """Streams :func:`long_markdown` at a steady pace (see the module docstring)."""

    description = "Streams a long Markdown answer slowly (knobs, as --param K=V or K=V in the prompt: kb, seconds or tps, seed)."

    def __init__(self, name: str, state: ServerState, *, seed: int = 19) -> None:
        super().__init__(name, state)
        self.seed = seed

    async def answer(self, request: fp.QueryRequest) -> AsyncIterable[fp.PartialResponse]:
        k = knobs(request)
        size = int(_clamp(k.get("kb", 30), 0.1, 2000) * 1024)
        pieces = tokens(long_markdown(size, int(_clamp(k.get("seed", self.seed), 0, 2**31))))
        rate = _clamp(k["tps"], 1, 100_000) if "tps" in k else len(pieces) / _clamp(k.get("seconds", 10), 0.1, 3600)
        replace_at = len(pieces) // 2 if k.get("replace") else -1  # replace=1: start over halfway
        pause_at, pause = (len(pieces) // 2, _clamp(k["pause"], 0, 600)) if "pause" in k else (-1, 0.0)
        start, sent = time.monotonic(), 0
        while sent < len(pieces):
            await asyncio.sleep(TICK)
            if sent == pause_at:  # pause=S: a model thinking mid-answer
                await asyncio.sleep(pause)
                start, pause_at = start + pause, -1
            due = min(len(pieces), max(sent + 1, int((time.monotonic() - start) * rate)))
            if sent < pause_at < due:
                due = pause_at  # (the pause starts exactly halfway)
            if sent <= replace_at < due:
                yield fp.PartialResponse(text="".join(pieces[sent:replace_at]))
                yield fp.PartialResponse(text=REPLACED, is_replace_response=True)
                sent = replace_at
            yield fp.PartialResponse(text="".join(pieces[sent:due]))
            sent = due


def _clamp(value: object, low: float, high: float) -> float:
    """A knob as a number within [low, high] (anything else typed: the low end)."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return low
    return low if number != number else min(max(number, low), high)  # (nan -> low)


def make_long_bots(state: ServerState) -> list[LocalBot]:
    return [LongBot("LongBot", state), LongBot("LongBot-B", state, seed=20)]
