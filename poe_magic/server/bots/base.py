"""What every local bot builds on: LocalBot (name, price, the server state it charges) and request knobs."""

from __future__ import annotations

import re
from collections.abc import AsyncIterable
from typing import Any

import fastapi_poe as fp

from poe_magic.server.state import ServerState

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
        try:
            async for part in self.answer(request):
                streamed = True
                yield part
        finally:  # as the real API does, an answer stopped part-way (Ctrl-C, a dropped client) is charged too
            if streamed:
                self.state.charge(self.name, self.cost_points)

    async def answer(self, request: fp.QueryRequest) -> AsyncIterable[fp.PartialResponse]:
        raise NotImplementedError
        yield  # pragma: no cover


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
