"""Folding one stream's events into its Reply: text, files, tool-call deltas, retry notices, the end."""

from __future__ import annotations

import time
from typing import Any, Protocol

from poe_magic.base import errors as E
from poe_magic.base.secrets import mask_known
from poe_magic.base.text import plural
from poe_magic.core.reply import Reply
from poe_magic.wire.transport import Retrying


class Done:
    """The last event of a stream: it ended, with its error if any."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


class Sink(Protocol):
    """Where a live answer goes: a notebook display, a terminal, or nowhere."""

    def start(self, reply: Reply) -> None: ...
    def update(self, reply: Reply) -> None: ...
    def status(self, reply: Reply, text: str) -> None: ...
    def finish(self, reply: Reply) -> None: ...


class Accumulator:
    """Folds one stream's events into its Reply."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.parts: list[str] = []
        self.fresh: list[str] = []  # text added since the last take_fresh(): what a reader has not seen
        self.replaced = False  # the bot replaced its answer since the last take_fresh()
        self.done = False
        self.notice = ""  # e.g. "retrying in 2 s"
        self.tool_requests: dict[int, dict[str, Any]] = {}  # index -> tool call being streamed

    def apply(self, event: Any) -> bool:
        """Apply one event; return True when the visible text changed."""
        kind = type(event)
        if kind is str:  # plain appended text, see _plain_text
            return self._append(event)
        if kind is Done:
            self.finish(event.error)
            return True
        if kind is Retrying:
            self.reply.retries = event.attempt
            self.notice = event.notice()
            return True
        usage = getattr(event, "usage", None)
        if usage is not None:  # the openai protocol's token counts (a Usage event)
            self.reply.add_usage(usage)
            return False
        text = getattr(event, "text", "")
        if not text and getattr(event, "data", None) is not None:
            text = self._apply_chunk(event.data)
        if getattr(event, "attachment", None) is not None:
            self.reply.attachments.append(event.attachment)
        if getattr(event, "is_suggested_reply", False) or not (text or getattr(event, "is_replace_response", False)):
            return getattr(event, "attachment", None) is not None
        if event.is_replace_response:
            self.parts, self.fresh, self.replaced = [], [], True
        return self._append(text)

    def _first_token(self) -> None:
        if self.reply.time_to_first_token is None:
            self.reply.time_to_first_token = time.perf_counter() - self.reply._t0

    def _append(self, text: str) -> bool:
        self._first_token()
        if self.notice:
            self.notice = ""
        text = mask_known(text)  # a server echoing the key back (a key split across chunks: see finish)
        self.parts.append(text)
        self.fresh.append(text)
        return True

    def take_fresh(self) -> tuple[str, bool]:
        """(text added since the last call, whether the answer was replaced meanwhile: then the
        text is the whole new answer so far). O(new text), not O(answer)."""
        piece, replaced = "".join(self.fresh), self.replaced
        self.fresh, self.replaced = [], False
        return piece, replaced

    def _apply_chunk(self, data: Any) -> str:
        """An OpenAI-style chunk in a ``json`` event (how models stream when sent tools):
        fold its tool-call deltas into ``tool_requests``; return its text content."""
        choices = data.get("choices") if isinstance(data, dict) else None
        if not choices or not isinstance(choices, list) or not isinstance(choices[0], dict):
            return ""
        delta = choices[0].get("delta") or {}
        if not isinstance(delta, dict):  # the transport refuses these; never a crash here
            return ""
        calls = delta.get("tool_calls") or []
        for piece in calls if isinstance(calls, list) else []:
            if not isinstance(piece, dict):
                continue
            index, function = piece.get("index", 0), piece.get("function") or {}
            if not isinstance(function, dict) or not isinstance(index, int):
                continue
            call = self.tool_requests.get(index)
            if call is None:
                if not function.get("name"):
                    continue  # like fastapi_poe: a call's first chunk must name the function
                call = self.tool_requests[index] = {
                    "id": piece.get("id") or f"call_{index}", "type": piece.get("type") or "function",
                    "function": {"name": function["name"], "arguments": ""}}
                self._first_token()
            call["function"]["arguments"] += function.get("arguments") or ""
        content = delta.get("content")
        return content if isinstance(content, str) else ""

    def requested_tool_calls(self) -> list[dict[str, Any]]:
        """The complete tool calls the model asked for, OpenAI-shaped, in call order."""
        return [self.tool_requests[i] for i in sorted(self.tool_requests)]

    def text(self) -> str:
        if len(self.parts) > 1:
            self.parts = ["".join(self.parts)]
        return self.parts[0] if self.parts else ""

    def finish(self, error: BaseException | None) -> None:
        self.done = True
        self.reply.text = mask_known(self.text())
        self.reply.elapsed = time.perf_counter() - self.reply._t0
        self.notice = ""
        if isinstance(error, E.StreamInterrupted):
            self.reply.interrupted = True
        elif isinstance(error, E.PoeMagicError):
            self.reply.error = error.detach()  # kept on the Reply: no frames, no chain to httpx objects
            if self.reply.text:
                error.amend(f"partial answer kept ({plural(len(self.reply.text), 'char')})")
        elif error is not None:
            raise error  # a bug: surface it with its traceback
