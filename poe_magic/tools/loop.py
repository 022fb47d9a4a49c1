"""The tool-calling loop: stream, run the calls the model asked for, send results, repeat.

fastapi_poe can run tool executables itself, but it would call them on the private loop
thread; the user's functions and objects belong to the kernel thread and are not
thread-safe. So each round streams on the loop thread as usual, the finished round's tool
calls run here on the caller's thread, and the next request carries every call and result so
far (``tool_calls`` + ``tool_results``, as fastapi_poe's own follow-up does). At most
``settings.max_tool_rounds`` rounds of calls run; a model that keeps asking is stopped with a
one-line :class:`~poe_magic.ToolRoundsExceeded`.

One display shows the whole exchange: each round's text, and a list of the calls as they
run (name, arguments, a short repr of the result or the exception).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Protocol

from poe_magic.base import errors as E
from poe_magic.base.config import Settings
from poe_magic.base.config import settings as default_settings
from poe_magic.core.accumulator import Accumulator, Sink
from poe_magic.core.live import LiveStream, new_reply, stream_into
from poe_magic.core.reply import Reply
from poe_magic.tools.functions import ToolCall, Tools, ToolSet
from poe_magic.wire.request import PoeRequest

Confirm = bool | Callable[[ToolCall], bool]


class _View:
    """The Reply as the display should see it: ``text`` is the transcript."""

    def __init__(self, reply: Reply, text: str) -> None:
        self._reply, self.text = reply, text

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reply, name)


class TranscriptSink:
    """Wraps a sink so it shows finished rounds and tool-call lists before the live text."""

    def __init__(self, inner: Sink) -> None:
        self.inner = inner
        self.parts: list[str] = []  # finished rounds' text and tool-call blocks
        self.live = True  # whether reply.text is the current round's streaming text

    def view(self, reply: Reply) -> Any:
        parts = self.parts + ([reply.text] if self.live else [])
        return _View(reply, "\n\n".join(p for p in parts if p))

    def start(self, reply: Reply) -> None:
        self.inner.start(reply)

    def update(self, reply: Reply) -> None:
        self.inner.update(self.view(reply))

    def status(self, reply: Reply, text: str) -> None:
        self.inner.status(self.view(reply), text)

    def finish(self, reply: Reply) -> None:
        self.inner.finish(self.view(reply))


def code_span(text: str) -> str:
    """Markdown inline code that survives backticks inside."""
    fence = "``" if "`" in text else "`"
    return f"{fence} {text} {fence}" if fence == "``" else f"`{text}`"


def call_line(call: ToolCall) -> str:
    """``- 🔧 `add(a=2, b=3)` → `5` · 0.00 s``: one finished call, as the transcript shows it."""
    line = f"- 🔧 {code_span(call.signature())}"
    if call.declined:
        return f"{line} → declined" + (f" ({call.error})" if call.error else "")
    if call.error is not None:
        return f"{line} → ⚠ {code_span(call.error[:200])}"
    timing = f" · {call.elapsed:.2f} s" if call.elapsed is not None else ""
    return f"{line} → {code_span(call.outcome())}{timing}"


def ask_user(call: ToolCall) -> bool | None:
    """Yes/No on stdin (the notebook's input box); None when this frontend cannot ask."""
    try:
        answer = input(f"poe_magic: run {call.signature()}? [y/N] ")
    except (EOFError, NotImplementedError):  # StdinNotImplementedError: no stdin in this frontend
        return None
    return answer.strip().lower() in ("y", "yes")


def tool_set(tools: Tools | None, confirm: Confirm = False) -> ToolSet | None:
    """The ToolSet for ``ask(tools=...)`` (None without tools); bad tools -> one-line error."""
    if tools is None:
        if confirm:
            raise E.PoeUsageError("--confirm only applies to tool calls; add --tools (nothing was sent)")
        return None
    return tools if isinstance(tools, ToolSet) else ToolSet(tools)


class Rounds(Protocol):
    """The request runner's steps the loop uses (``poe_magic.prompting.runner.Call``; this layer
    sits below it): every round is checked and reserved, sent, and the whole loop settled once."""

    def reserve(self, request: PoeRequest | None = None) -> None: ...

    def send(self, reply: Reply, *, request: PoeRequest | None = None,
             timeout: float | None = None) -> LiveStream: ...

    def settle(self, reply: Reply | None = None) -> None: ...


def run_with_tools(request: PoeRequest, toolset: ToolSet, sink: Sink, *, prompt: str, rounds: Rounds,
                   confirm: Confirm = False, settings: Settings = default_settings,
                   timeout: float | None = None) -> Reply:
    """Stream ``request`` offering ``toolset``; run the model's tool calls on this thread
    between rounds and return the finished Reply (API errors on ``reply.error``).

    Every round goes through ``rounds`` (the runner): reserved before it is sent (a budget
    refusal ends the loop with the error on the Reply), and the Reply settled once before its
    final display."""
    request = replace(request, tools=toolset.definitions)
    rounds.reserve(request)
    reply = new_reply(request, prompt)
    view = TranscriptSink(sink)
    view.start(reply)
    texts: list[str] = []
    calls_sent: list[dict[str, Any]] = []
    results_sent: list[dict[str, Any]] = []
    cap = max(settings.max_tool_rounds, 0)
    for round_no in range(cap + 1):
        if round_no:
            request = replace(request, tool_calls=list(calls_sent), tool_results=list(results_sent))
            if not _ready_for_round(request, reply, timeout, rounds):
                break
        acc = Accumulator(reply)
        view.live = True
        remaining = None if timeout is None else max(timeout - (time.perf_counter() - reply._t0), 0.001)
        stream_into(acc, view, rounds.send(reply, request=request, timeout=remaining), settings=settings)
        view.live = False
        texts.append(reply.text)
        view.parts.append(reply.text)
        asked = acc.requested_tool_calls()
        if not asked or not reply.ok:
            break
        if round_no == cap:
            names = ", ".join(sorted({c["function"]["name"] for c in asked}))
            reply.error = E.ToolRoundsExceeded(
                f"stopped after {cap} tool round(s): {request.model} still asks for {names}; raise "
                f"PoeMagics.max_tool_rounds (now {cap}) to allow more", model=request.model)
            break
        results = _run_round(asked, toolset, reply, view, confirm)
        calls_sent.extend(asked[: len(results)])
        results_sent.extend(results)
        if reply.interrupted:
            break
    reply.text = "\n\n".join(t for t in texts if t)
    reply.elapsed = time.perf_counter() - reply._t0  # the tool calls' time included
    rounds.settle(reply)
    view.finish(reply)
    return reply


def _ready_for_round(request: PoeRequest, reply: Reply, timeout: float | None, rounds: Rounds) -> bool:
    """Checks before a follow-up request: the overall timeout, and the runner's check and
    reserve (the budget may refuse a round); a refusal lands on ``reply.error``."""
    if timeout is not None and time.perf_counter() - reply._t0 >= timeout:
        reply.error = E.PoeTimeoutError(
            f"{request.model} did not finish within {timeout:g} s (tool calls included)", model=request.model)
        return False
    try:
        rounds.reserve(request)
    except E.PoeMagicError as error:
        reply.error = error
        return False
    return True


def _run_round(asked: list[dict[str, Any]], toolset: ToolSet, reply: Reply, view: TranscriptSink,
               confirm: Confirm) -> list[dict[str, Any]]:
    """Run one round's calls here, each line shown when its call is done (the footer says
    which one runs or waits for a Yes/No); return their results (fewer than asked only when
    the user interrupted, which sets ``reply.interrupted``)."""
    lines: list[str] = []
    view.parts.append("")
    results: list[dict[str, Any]] = []
    for call in [toolset.parse(a) for a in asked]:
        ask = confirm and toolset.problem(call) is None
        view.status(reply, f"{'asking before' if ask else 'running'} {call.signature()}…")
        try:
            if ask and not _allowed(call, confirm):
                toolset.finish(call)
            else:
                toolset.execute(call)
        except KeyboardInterrupt:
            call.error = "KeyboardInterrupt: interrupted by the user"
            reply.interrupted = True
        reply.tool_calls.append(call)
        lines.append(call_line(call))
        view.parts[-1] = "\n".join(lines)  # the transcript only grows: terminals print it as it comes
        view.update(reply)
        if reply.interrupted:
            break
        results.append({"role": "tool", "name": call.name, "tool_call_id": call.id, "content": call.content})
    return results


def _allowed(call: ToolCall, confirm: Confirm) -> bool:
    """Ask (stdin, or the caller's ``confirm`` function); mark the call declined on No."""
    answer = confirm(call) if callable(confirm) else ask_user(call)
    if answer is None:
        call.declined = True
        call.error = "could not ask for confirmation (this frontend has no input box), so it was not run"
        return False
    call.declined = not answer
    return bool(answer)
