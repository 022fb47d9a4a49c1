"""The OpenAI-compatible protocol: one try of a request over ``POST {root}/v1/chat/completions``.

Used by :func:`poe_magic.wire.transport.stream` when ``settings.protocol == "openai"``; the
transport keeps everything the two protocols share (the key guard, the one retry policy, the
shared ``httpx.AsyncClient`` and its response hook, the error table). This module only

- builds the body (:func:`chat_body`): the conversation as ``messages`` (``bot`` turns are
  ``assistant``; image attachments ``image_url`` parts with their uploaded URL, other files a
  link in the text), earlier tool rounds as one ``assistant`` turn with ``tool_calls`` and a
  ``tool`` message per result, ``temperature``/``stop``/``tools``, and the model's own
  parameters (``--param``, ``reasoning_effort`` among them) as extra top-level fields, the way
  OpenAI's SDKs send ``extra_body``;
- reads the SSE answer (:func:`answer`): ``chat.completion.chunk`` lines become the same events
  the bot protocol yields (text as :class:`Chunk`, tool-call deltas as a Chunk whose ``data`` is
  the chunk itself, which the accumulator already folds), the final usage chunk a
  :class:`Usage`, and ``data: [DONE]`` the end; an ``{"error": ...}`` line after output is read
  like the bot protocol's error event, and a stream that ends without ``[DONE]`` was cut short.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any

import httpx

from poe_magic.base import errors as E
from poe_magic.base import notices
from poe_magic.base.config import Settings
from poe_magic.wire.failures import chunk_error
from poe_magic.wire.request import Message, PoeRequest
from poe_magic.wire.stream_events import check_event

CHAT_PATH = "/v1/chat/completions"
MAX_BODY = 256 * 2**20  # bytes of one answer's stream (a long answer is a few MB with its JSON framing)
MAX_LINE = 16 * 2**20  # bytes of one SSE line (one chunk)
#: fields of the body itself: a --param by one of these names would overwrite the request
RESERVED = frozenset({"model", "messages", "stream", "stream_options", "tools", "tool_choice", "n"})


@dataclass(slots=True)
class Chunk:
    """A piece of an answer, with the attributes of fastapi_poe's ``PartialResponse`` that the
    live stream and the accumulator read (so both protocols fold the same way)."""

    text: str = ""
    data: dict[str, Any] | None = None  # a chunk carrying tool-call deltas, folded as the bot protocol's json event
    is_replace_response: bool = False
    is_suggested_reply: bool = False
    attachment: Any = None
    tool_calls: list[Any] = field(default_factory=list)


@dataclass(slots=True)
class Usage:
    """The token counts of the final chunk (``stream_options.include_usage``), flattened:
    ``prompt_tokens``, ``completion_tokens``, ``total_tokens``, ``cached_tokens``, ``reasoning_tokens``."""

    usage: dict[str, int]


def chat_body(request: PoeRequest) -> dict[str, Any]:
    """The JSON body for ``request``; a one-line PoeUsageError (nothing sent) for what this
    protocol cannot carry."""
    params = dict(request.messages[-1].parameters) if request.messages else {}
    params.update(request.params)
    clash = sorted(RESERVED & set(params))
    if clash:
        raise E.PoeUsageError(f"--param {clash[0]} cannot be sent over the openai protocol (it is a field of the "
                              "request itself); use PoeMagics.protocol = 'poe' (nothing was sent)")
    body: dict[str, Any] = {**params, "model": request.model, "messages": _messages(request), "stream": True,
                            "stream_options": {"include_usage": True}}
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.stop:
        body["stop"] = list(request.stop)
    if request.tools:
        body["tools"] = request.tools
    return body


def _messages(request: PoeRequest) -> list[dict[str, Any]]:
    out = [_message(m) for m in request.messages]
    if request.tool_calls:  # the rounds so far: the calls the model made, then each result
        out.append({"role": "assistant", "content": None, "tool_calls": request.tool_calls})
        out += [{"role": "tool", "tool_call_id": r.get("tool_call_id"), "content": r.get("content") or ""}
                for r in request.tool_results or []]
    return out


def _message(message: Message) -> dict[str, Any]:
    role = {"bot": "assistant"}.get(message.role, message.role)
    if not message.attachments:
        return {"role": role, "content": message.content}
    parts: list[dict[str, Any]] = [{"type": "text", "text": message.content}]
    for attachment in message.attachments:
        url, name = getattr(attachment, "url", ""), getattr(attachment, "name", "") or "file"
        if str(getattr(attachment, "content_type", "") or "").startswith("image/"):
            parts.append({"type": "image_url", "image_url": {"url": url}})
        else:  # Chat Completions takes images only (as the real API documents): the model gets the link
            notices.warn(f"note: the openai protocol sends images only; {name} goes as a link in the text "
                         "(PoeMagics.protocol = 'poe' attaches it)")
            parts.append({"type": "text", "text": f"[{name}]({url})"})
    return {"role": role, "content": parts}


async def answer(body: dict[str, Any], model: str, settings: Settings, client: httpx.AsyncClient,
                 info: dict[str, Any], auth: httpx.Auth) -> AsyncGenerator[Any, None]:
    """One try: POST ``body`` and yield :class:`Chunk` / :class:`Usage` events. An HTTP error
    status raises (the response hook put its status and body in ``info`` for the error table);
    ``info["no_done"]`` is set when the stream ended without ``[DONE]``."""
    url = settings.root + CHAT_PATH
    headers = {"Accept": "text/event-stream"}
    async with client.stream("POST", url, json=body, headers=headers, auth=auth) as response:
        status = response.status_code
        if 300 <= status < 400:  # never followed: the key would go along
            where = response.headers.get("location", "nowhere")[:200]
            raise E.PoeAPIError(f"{url} answered with a redirect ({status}) to {where}; not followed",
                                hint="check POE_BASE_URL", model=model, status=status, retryable=False)
        if status >= 400:
            raise httpx.HTTPStatusError(f"HTTP {status}", request=response.request, response=response)
        kind = response.headers.get("content-type", "")
        if kind.startswith("application/json"):  # a server that answered as if stream were false
            async for event in _whole(b"".join([piece async for piece in _bounded(response, model)]), model):
                yield event
            return
        if not kind.startswith("text/event-stream"):
            raise E.PoeAPIError(f"not an OpenAI-compatible stream at {url} (the server sent {kind.split(';')[0][:60]})",
                                hint="check POE_BASE_URL", model=model, retryable=False)
        async for line in _lines(response, model):
            if not line.startswith("data:"):
                continue  # blank lines, ": keep-alive" comments, event names
            payload = line[5:].strip()
            if payload == "[DONE]":
                return
            for event in _events(_parse(payload, model), model):
                yield event
    info["no_done"] = True  # the body ended without [DONE]: the answer was cut short


async def _bounded(response: httpx.Response, model: str) -> AsyncGenerator[bytes, None]:
    """The body's bytes, refused past :data:`MAX_BODY` in all (a server's size is untrusted)."""
    total = 0
    async for piece in response.aiter_bytes():
        total += len(piece)
        if total > MAX_BODY:
            raise E.ServerError(f"{model} sent more than {MAX_BODY // 2**20} MB in one answer; the stream was stopped",
                                model=model, retryable=False)
        yield piece


async def _lines(response: httpx.Response, model: str) -> AsyncGenerator[str, None]:
    """The stream's lines, a line past :data:`MAX_LINE` refused before it is held whole."""
    pending = b""
    async for piece in _bounded(response, model):
        *done, pending = (pending + piece).split(b"\n")
        for line in done:
            yield line.rstrip(b"\r").decode("utf-8", "replace")
        if len(pending) > MAX_LINE:
            raise E.ServerError(f"{model} sent a chunk over {MAX_LINE // 2**20} MB; the stream was stopped",
                                model=model, retryable=False)
    if pending:
        yield pending.rstrip(b"\r").decode("utf-8", "replace")


def _parse(payload: str, model: str) -> dict[str, Any]:
    try:
        data = json.loads(payload)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise E.ServerError(f"{model} sent a malformed chunk (not a JSON object); the stream was stopped",
                            model=model, retryable=False)
    if "error" in data:
        raise chunk_error(data["error"], model)
    return data


def _events(chunk: dict[str, Any], model: str) -> list[Any]:
    """The events of one ``chat.completion.chunk`` (its shape checked like the bot protocol's json events)."""
    check_event(Chunk(data=chunk), model)
    events: list[Any] = []
    for choice in (chunk.get("choices") or [])[:1]:  # one answer asked for (n=1)
        delta = choice.get("delta") or {}
        if delta.get("tool_calls"):
            events.append(Chunk(data={"choices": [{"delta": delta}]}))
        elif delta.get("content"):
            events.append(Chunk(text=delta["content"]))
    usage = usage_of(chunk.get("usage"))
    if usage:
        events.append(Usage(usage))
    return events


async def _whole(raw: bytes, model: str) -> AsyncGenerator[Any, None]:
    """A whole ``chat.completion`` read as one chunk."""
    data = _parse(raw.decode("utf-8", "replace"), model)
    for choice in data.get("choices") or []:
        if isinstance(choice, dict) and isinstance(choice.get("message"), dict):
            choice["delta"] = choice.pop("message")
    for event in _events(data, model):
        yield event


def usage_of(raw: Any) -> dict[str, int]:
    """The token counts of a ``usage`` block (every field untrusted: only whole numbers >= 0 kept)."""
    if not isinstance(raw, dict):
        return {}
    def detail(block: str, name: str) -> Any:
        details = raw.get(block)
        return details.get(name) if isinstance(details, dict) else None

    found = {"prompt_tokens": raw.get("prompt_tokens"), "completion_tokens": raw.get("completion_tokens"),
             "total_tokens": raw.get("total_tokens"), "cached_tokens": detail("prompt_tokens_details", "cached_tokens"),
             "reasoning_tokens": detail("completion_tokens_details", "reasoning_tokens")}
    return {k: v for k, v in found.items() if isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 10**12}
