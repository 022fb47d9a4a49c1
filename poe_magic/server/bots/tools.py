"""ToolBot: a local model that really calls the tools it is offered.

It speaks tool calling the way OpenAI-backed models do through the Poe bot protocol: the
request carries ``tools`` (OpenAI function definitions); the bot answers with
``chat.completion.chunk`` objects in ``json`` events whose ``delta.tool_calls`` stream each
call (id, type and name first, the JSON arguments in pieces), then a ``finish_reason:
"tool_calls"`` chunk. The client runs the functions and asks again with the same query plus
``tool_calls`` and ``tool_results``; every result must answer one call (else an error event,
as the real API rejects unanswered calls), and the bot answers with text built from the results.

What it calls comes from the last user message:

- ``call add a=2 b=3`` (several ``call NAME ...`` parts make parallel calls); arguments are
  typed by the tool's JSON schema (``integer``, ``number``, ``boolean``, ``array``, ...);
- otherwise the first tool whose required arguments the ``key=value`` words fill;
- ``rounds=N`` keeps asking for the same calls until N rounds of results came back
  (tests of the round cap use a large N).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterable
from typing import Any

import fastapi_poe as fp
from sse_starlette.event import ServerSentEvent

from poe_magic.server.bots.base import LocalBot, knobs

_CALL = re.compile(r"\bcall\s+([A-Za-z0-9_-]+)")
_ARG = re.compile(r"""\b(\w+)=("[^"]*"|'[^']*'|\[[^\]]*\]|\{[^}]*\}|[^\s,;]+)""")


def chunk(model: str, delta: dict[str, Any], finish: str | None = None) -> ServerSentEvent:
    """One OpenAI ``chat.completion.chunk`` as the ``json`` event Poe forwards."""
    body = {"id": "chatcmpl-local", "object": "chat.completion.chunk", "created": int(time.time()),
            "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return ServerSentEvent(data=json.dumps(body), event="json")


def typed(value: str, schema: dict[str, Any]) -> Any:
    """A ``key=value`` word as the JSON type the tool's schema asks for."""
    value = value[1:-1] if value[:1] in "\"'" and value[-1:] == value[:1] and len(value) > 1 else value
    kind = schema.get("type")
    kind = next((k for k in kind if k != "null"), "string") if isinstance(kind, list) else kind
    try:
        if kind == "integer":
            return int(value)
        if kind == "number":
            return float(value)
        if kind == "boolean":
            return value.lower() in ("true", "1", "yes")
        if kind in ("array", "object"):
            return json.loads(value) if value[:1] in "[{" else value.split(",")
    except ValueError:
        pass  # a model sends what it sends; the client reports arguments that do not fit
    return value


def plan_calls(prompt: str, tools: list[fp.ToolDefinition]) -> list[tuple[str, dict[str, Any]]]:
    """``[(name, arguments)]`` the prompt asks for (see the module docstring)."""
    by_name = {t.function.name: t.function for t in tools}

    def arguments(text: str, name: str) -> dict[str, Any]:
        function = by_name.get(name)
        props = function.parameters.properties if function else {}
        found = dict(_ARG.findall(text))
        if function is None:  # a tool it was not offered: send the words as they are
            return {k: typed(v, {}) for k, v in found.items() if k != "rounds"}
        return {k: typed(found[k], spec if isinstance(spec := props[k], dict) else {}) for k in props if k in found}

    marks = list(_CALL.finditer(prompt))
    if marks:
        ends = [m.start() for m in marks[1:]] + [len(prompt)]
        return [(m.group(1), arguments(prompt[m.end():end], m.group(1))) for m, end in zip(marks, ends)]
    words = dict(_ARG.findall(prompt))
    for tool in tools:
        required = tool.function.parameters.required or []
        if all(r in words for r in required):
            return [(tool.function.name, arguments(prompt, tool.function.name))]
    return []


class ToolBot(LocalBot):
    """Asks for tool calls taken from the prompt, then answers from the tool results."""

    description = "Calls the tools it is offered ('call add a=2 b=3'), then answers from the results."
    cost_points = 20

    async def answer(self, request: fp.QueryRequest) -> AsyncIterable[Any]:
        tools, calls, results = request.tools or [], request.tool_calls or [], request.tool_results or []
        problem = _unanswered(calls, results)
        if problem:
            yield fp.ErrorResponse(text=problem, allow_retry=False)
            return
        if not tools and not results:
            yield fp.PartialResponse(text="ToolBot needs tools: send some (e.g. %%poe ToolBot --tools add).")
            return
        prompt = request.query[-1].content if request.query else ""
        rounds_done = len({c.id.rsplit("_", 1)[0] for c in calls})
        planned = plan_calls(prompt, tools) if tools else []
        if planned and rounds_done < int(knobs(request).get("rounds", 1)):
            for event in self._tool_calls(planned, rounds_done + 1):
                yield event
            return
        for event in self._answer(request, planned):
            yield event

    def _tool_calls(self, planned: list[tuple[str, dict[str, Any]]], round_no: int) -> list[ServerSentEvent]:
        events = [chunk(self.name, {"role": "assistant", "content": None})]
        for i, (name, arguments) in enumerate(planned):
            events.append(chunk(self.name, {"tool_calls": [{
                "index": i, "id": f"call_r{round_no}_{i}", "type": "function",
                "function": {"name": name, "arguments": ""}}]}))
            text = json.dumps(arguments)
            for piece in (text[: len(text) // 2], text[len(text) // 2:]):  # arguments arrive in pieces
                events.append(chunk(self.name, {"tool_calls": [{"index": i, "function": {"arguments": piece}}]}))
        events.append(chunk(self.name, {}, finish="tool_calls"))
        return events

    def _answer(self, request: fp.QueryRequest, planned: list[tuple[str, dict[str, Any]]]) -> list[Any]:
        results = request.tool_results or []
        turns = sum(1 for m in request.query if m.role != "system")
        if results:
            lines = [f"{self.name} got {len(results)} tool result(s) (saw {turns} message(s)):", ""]
            lines += [f"- {r.name} ({r.tool_call_id}) returned: {r.content}" for r in results]
            lines += ["", f"Answer: {results[-1].content}"]
        else:
            offered = ", ".join(f"{t.function.name}({', '.join(t.function.parameters.properties)})"
                                for t in request.tools or [])
            lines = [f"ToolBot found no tool call to make in the prompt; offered: {offered}. "
                     "Write e.g. 'call NAME a=1 b=2'."]
        text = "\n".join(lines)
        if not request.tools:
            return [fp.PartialResponse(text=text)]
        # offered tools, the answer streams as content deltas, as OpenAI-backed bots do
        words = re.findall(r"\S*\s*", text)
        return [chunk(self.name, {"content": w}) for w in words if w] + [chunk(self.name, {}, finish="stop")]


def _unanswered(calls: list[fp.ToolCallDefinition], results: list[fp.ToolResultDefinition]) -> str:
    """What the real API rejects: a call without a result, or a result for no call."""
    call_ids = {c.id for c in calls}
    result_ids = {r.tool_call_id for r in results}
    if call_ids - result_ids:
        return f"invalid request: tool call(s) without a result: {', '.join(sorted(call_ids - result_ids))}"
    if result_ids - call_ids:
        return f"invalid request: tool result(s) for unknown call id(s): {', '.join(sorted(result_ids - call_ids))}"
    return ""
