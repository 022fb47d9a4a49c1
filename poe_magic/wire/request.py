"""What is sent: a conversation (Message) to one model (PoeRequest), checked before it goes out."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from poe_magic.base import errors as E
from poe_magic.base.secrets import contains_key


@dataclass
class Message:
    """One turn of a conversation as poe_magic sends it."""

    role: str  # "system" | "user" | "bot" | "tool"
    content: str
    attachments: list[Any] = field(default_factory=list)  # fastapi_poe Attachment objects
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass
class PoeRequest:
    """Everything needed to query one model once."""

    model: str
    messages: list[Message]
    temperature: float | None = None
    stop: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)  # the bot's custom parameters
    # Tool calling, as plain OpenAI-shaped dicts (converted to fastapi_poe models when sent):
    tools: list[dict[str, Any]] | None = None  # {"type": "function", "function": {name, description, parameters}}
    tool_calls: list[dict[str, Any]] | None = None  # earlier rounds' calls: {id, type, function: {name, arguments}}
    tool_results: list[dict[str, Any]] | None = None  # their results: {role: "tool", name, tool_call_id, content}

    @property
    def system(self) -> str | None:
        """The system prompt sent, or None."""
        return next((m.content for m in self.messages if m.role == "system"), None)


_MODEL_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}")


def check_model_name(name: str) -> None:
    """Refuse a name that would make a malformed URL (spaces, slashes, ``?``, ``..``)."""
    if not _MODEL_NAME.fullmatch(name or ""):
        raise E.PoeUsageError(
            f"invalid model name {name!r}: model names are letters, digits, '-', '_' and '.' "
            "(no spaces or slashes), e.g. Claude-Sonnet-4; nothing was sent")


def build_request(prompt: str, model: str, *, system: str | None = None,
                  history: Iterable[Message] = (), temperature: float | None = None,
                  stop: list[str] | None = None, params: dict[str, Any] | None = None,
                  attachments: list[Any] | None = None) -> PoeRequest:
    """A request from its parts; validates what the server would reject anyway."""
    if not prompt or not prompt.strip():
        raise E.PoeUsageError("the prompt is empty; write a question in the cell (nothing was sent)")
    if temperature is not None and not 0 <= temperature <= 2:
        raise E.PoeUsageError(f"--temperature must be between 0 and 2, got {temperature:g}")
    messages: list[Message] = []
    if system:
        messages.append(Message("system", system))
    messages.extend(history)
    messages.append(Message("user", prompt, attachments=list(attachments or [])))
    return PoeRequest(model=model, messages=messages, temperature=temperature,
                      stop=list(stop or []), params=dict(params or {}))


KEY_REFUSAL = "the prompt contains your Poe API key; nothing was sent"


def check_sendable(request: PoeRequest) -> None:
    """The one guard before anything is sent: refuse (one line, nothing sent) a request that
    holds the API key (or a long piece of it) anywhere (prompt, system prompt, history,
    parameters, tool calls and results, attachment names), or that cannot be encoded (a lone
    surrogate, a parameter JSON cannot write): those would fail the same way on every retry."""
    parts: list[Any] = [request.params, request.tools, request.tool_calls, request.tool_results, request.stop]
    for m in request.messages:
        parts += [m.content, m.parameters, [getattr(a, "name", "") or "" for a in m.attachments],
                  [getattr(a, "url", "") or "" for a in m.attachments]]
    try:
        blob = json.dumps(parts, ensure_ascii=False, allow_nan=False)
        blob.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise E.PoeUsageError(f"the prompt has a character that cannot be sent (a lone surrogate "
                              f"{exc.object[exc.start:exc.end]!r}); nothing was sent") from None
    except (TypeError, ValueError) as exc:
        raise E.PoeUsageError(f"a parameter cannot be sent as JSON ({str(exc)[:120]}); nothing was sent") from None
    found = contains_key(blob)
    del blob, parts  # no frame of a refusal keeps a copy of the key in a local
    if found:
        raise E.PoeUsageError(KEY_REFUSAL)
