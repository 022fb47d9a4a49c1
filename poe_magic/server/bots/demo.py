"""The local server's bots: demo and test bots, and offline stand-ins for real models.

Every bot is a real ``fastapi_poe.PoeBot`` served at ``/bot/{name}``, exactly where the real
API serves models. Knobs come from the bot's custom parameters (``--param delay=0.1``) or from
``key=value`` words in the last user message (``chunks=2000``), parameters winning.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import AsyncIterable, Callable
from typing import Any

import fastapi_poe as fp

from poe_magic.server.bots.base import LocalBot, knobs, received_summary
from poe_magic.server.bots.structured import structured_answer
from poe_magic.server.bots.tools import ToolBot, plan_calls
from poe_magic.server.state import ServerState


class EchoBot(LocalBot):
    """Reports exactly what it received: system prompt, temperature, turns, parameters."""

    description = "Echoes back what it received (system prompt, temperature, history, parameters)."

    async def answer(self, request: fp.QueryRequest) -> AsyncIterable[fp.PartialResponse]:
        received = received_summary(self.name, request)
        last = received["turns"][-1]["content"] if received["turns"] else ""
        lines = [
            f"### {self.name} received {len(received['turns'])} message(s)",
            "",
            f"- **bot**: {self.name}",
            f"- **system**: {received['system']}",
            f"- **temperature**: {received['temperature']}",
            f"- **last message**: {last}",
            "",
            "```json",
            json.dumps(received, sort_keys=True),
            "```",
        ]
        for line in lines:
            yield fp.PartialResponse(text=line + "\n")


class SlowBot(LocalBot):
    """Streams numbered words slowly: ``chunks`` words, ``delay`` seconds apart."""

    description = "Streams slowly (knobs, as --param K=V or K=V in the prompt: chunks, delay) for interrupt and timeout tests."

    async def answer(self, request: fp.QueryRequest) -> AsyncIterable[fp.PartialResponse]:
        k = knobs(request)
        chunks, delay = int(k.get("chunks", 20)), float(k.get("delay", 0.25))
        first_delay = float(k.get("first_delay", delay))
        await asyncio.sleep(first_delay)
        for i in range(chunks):
            if i:
                await asyncio.sleep(delay)
            yield fp.PartialResponse(text=f"word{i} ")


class ChunkBot(LocalBot):
    """Streams ``chunks`` pieces of ``size`` characters as fast as it can (benchmarks)."""

    description = "Streams many small chunks fast (knobs, as --param K=V or K=V in the prompt: chunks, size)."
    cost_points = 5

    async def answer(self, request: fp.QueryRequest) -> AsyncIterable[fp.PartialResponse]:
        k = knobs(request)
        chunks, size = int(k.get("chunks", 2000)), int(k.get("size", 5))
        for i in range(chunks):
            yield fp.PartialResponse(text=f"{i % 10}" * (size - 1) + " ")


class FailingBot(LocalBot):
    """Streams a few words, then fails mid-stream with an error event."""

    description = "Streams some text, then fails mid-stream."

    async def answer(self, request: fp.QueryRequest) -> AsyncIterable[fp.PartialResponse]:
        k = knobs(request)
        for i in range(int(k.get("words", 5))):
            yield fp.PartialResponse(text=f"partial{i} ")
            await asyncio.sleep(0.01)
        yield fp.ErrorResponse(text="simulated failure mid-stream", allow_retry=False)


MARKDOWN_SAMPLE = """# A Markdown answer

Some **bold**, some *italic*, and `inline code`.

- first item
- second item

| model | speed |
|---|---|
| local | fast |

```python
def greet(name: str) -> str:
    return f"Hello, {name}!"
```
"""


class MarkdownBot(LocalBot):
    """Answers with a heading, a list, a table and a code block."""

    description = "Answers with rich Markdown: heading, list, table, code block."

    async def answer(self, request: fp.QueryRequest) -> AsyncIterable[fp.PartialResponse]:
        for line in MARKDOWN_SAMPLE.splitlines(keepends=True):
            yield fp.PartialResponse(text=line)
            await asyncio.sleep(0.005)


_PARAGRAPHS = [
    "The short answer: it depends on what you measure, so start by stating the goal precisely.",
    "Break the problem into parts, solve the smallest one first, and check each step.",
    "A good first move is to look at the data you already have before collecting more.",
    "There are three common approaches; the simplest one is usually the right place to start.",
]


class SimulatedModel(LocalBot):
    """An offline stand-in for a real model name: plausible, deterministic Markdown."""

    def __init__(self, name: str, state: ServerState, *, owner: str, cost: int,
                 delay: float, description: str, **kwargs: Any) -> None:
        super().__init__(name, state, **kwargs)
        self.owned_by, self.cost_points, self.delay = owner, cost, delay
        self.description = description + " (local stand-in: deterministic offline answers)"

    async def answer(self, request: fp.QueryRequest) -> AsyncIterable[Any]:
        prompt = request.query[-1].content if request.query else ""
        if request.tools or request.tool_results:
            # Offered tools, a stand-in calls them like ToolBot when the prompt names the
            # arguments ("a=2 b=3"), so `%%poe GPT-5 --tools add` shows a real round offline.

            tool_bot = ToolBot(self.name, self.state)
            if request.tool_results or plan_calls(prompt, request.tools or []):
                async for event in tool_bot.answer(request):
                    yield event
                return
        structured = structured_answer(request)
        if structured is not None:  # schema= and a judge's grading work offline too
            await asyncio.sleep(self.delay * 3)
            text = json.dumps(structured)
            for i in range(0, len(text), 16):
                yield fp.PartialResponse(text=text[i:i + 16])
            return
        digest = int(hashlib.sha256((self.name + prompt).encode()).hexdigest(), 16)
        topic = " ".join(prompt.split())[:80] or "your question"
        text = (
            f"**{self.name}** (local stand-in) on *{topic}*:\n\n"
            f"{_PARAGRAPHS[digest % len(_PARAGRAPHS)]}\n\n"
            f"- point one: {_PARAGRAPHS[(digest // 7) % len(_PARAGRAPHS)].lower()}\n"
            f"- point two: answers here are deterministic, so notebooks re-run identically.\n"
        )
        # Say what context arrived, so threads and system prompts are visible offline too.
        system = next((m.content for m in request.query if m.role == "system"), None)
        earlier = sum(1 for m in request.query[:-1] if m.role != "system")
        if system:
            text += f"- following your system prompt: *{' '.join(system.split())[:80]}*\n"
        if earlier:
            text += f"- context: {earlier} earlier message(s) of this conversation\n"
        if request.tools:
            names = ", ".join(t.function.name for t in request.tools)
            text += (f"- tools offered ({names}) but not called: this offline stand-in calls one when "
                     "the prompt gives its arguments, e.g. `a=2 b=3`\n")
        if re.search(r"\b(code|python|function)\b", prompt, re.IGNORECASE):
            text += "\n```python\ndef answer() -> int:\n    return 42\n```\n"
        await asyncio.sleep(self.delay * 3)  # time to first token
        for word in re.findall(r"\S+\s*", text):
            yield fp.PartialResponse(text=word)
            await asyncio.sleep(self.delay)


#: (name, owner, points per call, seconds per word, description)
SIMULATED_MODELS = [
    ("Claude-Sonnet-4", "Anthropic", 260, 0.004, "Anthropic's balanced model"),
    ("Claude-Haiku-3.5", "Anthropic", 60, 0.002, "Anthropic's fast, small model"),
    ("GPT-5", "OpenAI", 300, 0.005, "OpenAI's flagship model"),
    ("GPT-4o-mini", "OpenAI", 15, 0.002, "OpenAI's small, cheap model"),
    ("Gemini-2.5-Pro", "Google", 240, 0.004, "Google's reasoning model"),
    ("Grok-4", "xAI", 280, 0.005, "xAI's flagship model"),
    ("Llama-3.1-405B", "Meta", 120, 0.003, "Meta's largest open model"),
]

#: the test and demo bots: name -> class
LOCAL_BOTS: dict[str, Callable[..., LocalBot]] = {
    "EchoBot": EchoBot,
    "SlowBot": SlowBot,
    "ChunkBot": ChunkBot,
    "FailingBot": FailingBot,
    "MarkdownBot": MarkdownBot,
}


