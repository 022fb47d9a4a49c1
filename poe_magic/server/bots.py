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
from typing import Any, AsyncIterable, Callable

import fastapi_poe as fp

from .state import ServerState

_KNOB = re.compile(r"\b([a-z_]+)=([^\s,;]+)")


def knobs(request: fp.QueryRequest) -> dict[str, Any]:
    """``key=value`` words of the last user message, overridden by its parameters."""
    last = request.query[-1] if request.query else None
    found: dict[str, Any] = {}
    if last is not None:
        for key, value in _KNOB.findall(last.content):
            found[key] = _number(value)
        found.update(last.parameters or {})
    return found


def _number(value: str) -> Any:
    try:
        return int(value)
    except ValueError:
        try:
            return float(value)
        except ValueError:
            return value


class LocalBot(fp.PoeBot):
    """A bot that knows its name, its price and the server state it charges."""

    cost_points = 10
    description = ""
    owned_by = "poe_magic"
    input_modalities: tuple[str, ...] = ("text",)
    output_modalities: tuple[str, ...] = ("text",)

    def __init__(self, name: str, state: ServerState, **kwargs: Any) -> None:
        super().__init__(path=f"/bot/{name}", **kwargs)
        self.name = name
        self.state = state

    async def get_response(self, request: fp.QueryRequest) -> AsyncIterable[fp.PartialResponse]:
        streamed = False
        async for part in self.answer(request):
            streamed = True
            yield part
        if streamed:
            self.state.charge(self.name, self.cost_points)

    async def answer(self, request: fp.QueryRequest) -> AsyncIterable[fp.PartialResponse]:
        raise NotImplementedError
        yield  # pragma: no cover


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


def received_summary(name: str, request: fp.QueryRequest) -> dict[str, Any]:
    """What a request carried, as EchoBot reports it: system prompt, temperature, stop sequences,
    parameters of the last message, attachments and the other turns."""
    system = [m.content for m in request.query if m.role == "system"]
    turns = [{"role": m.role, "content": m.content} for m in request.query if m.role != "system"]
    last = request.query[-1] if request.query else None
    return {
        "bot": name,
        "system": system[0] if system else None,
        "temperature": request.temperature,
        "stop_sequences": list(request.stop_sequences or []),
        "parameters": dict(last.parameters) if last is not None else {},
        "attachments": [
            {"name": a.name, "content_type": a.content_type, "url": a.url}
            for m in request.query for a in m.attachments
        ],
        "turns": turns,
    }


class SlowBot(LocalBot):
    """Streams numbered words slowly: ``chunks`` words, ``delay`` seconds apart."""

    description = "Streams slowly (knobs: chunks, delay) for interrupt and timeout tests."

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

    description = "Streams many small chunks fast (knobs: chunks, size)."
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
            from .tool_bot import ToolBot, plan_calls

            tool_bot = ToolBot(self.name, self.state)
            if request.tool_results or plan_calls(prompt, request.tools or []):
                async for event in tool_bot.answer(request):
                    yield event
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


def make_bots(state: ServerState) -> list[LocalBot]:
    """Every bot the server serves, in catalogue order (each module adds its own here)."""
    bots: list[LocalBot] = [cls(name, state) for name, cls in LOCAL_BOTS.items()]
    for name, owner, cost, delay, description in SIMULATED_MODELS:
        bots.append(SimulatedModel(name, state, owner=owner, cost=cost, delay=delay, description=description))
    from .fault_bots import make_fault_bots  # late: it builds on LocalBot above
    bots.extend(make_fault_bots(state))
    from .paced_bots import make_paced_bots  # SlowBot-1..8 for comparisons
    bots.extend(make_paced_bots(state))
    from .catalog import stand_in_bots  # Imagen-4, Veo-3, ...: image/video/audio models in /v1/models
    bots.extend(stand_in_bots(state))
    from .media_bots import make_media_bots  # ImageBot, FileReaderBot (attachments both ways)
    bots.extend(make_media_bots(state))
    from .tool_bot import ToolBot  # calls the tools it is offered (tool-calling tests)
    bots.append(ToolBot("ToolBot", state))
    from .batch_bots import PricedBot  # cost= knob: a batch costing more than estimated
    bots.append(PricedBot("PricedBot", state))
    return bots
