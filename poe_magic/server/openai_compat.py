"""``POST /v1/chat/completions``: the OpenAI-compatible face of the same bots.

The real API answers OpenAI's Chat Completions format for every model it serves; so does this
server, by running the very bot that ``/bot/{name}`` serves (its ``handle_query``: same
answers, same errors, same points charged) and translating:

- request: ``messages`` roles ``system``/``developer``, ``user``, ``assistant`` become the
  protocol's ``system``, ``user``, ``bot``; content is a string or a list of ``text`` and
  ``image_url`` parts (images become attachments; ``data:`` URLs are stored like uploads);
  ``temperature`` and ``stop`` pass through; ``reasoning_effort`` and every field OpenAI does not
  define (``extra_body``) become the last message's parameters; ``tools``, assistant ``tool_calls`` and ``tool``
  messages become the protocol's ``tools``, ``tool_calls`` and ``tool_results``.
- answer: ``text`` events are content; a ``file`` event becomes a Markdown link (Chat
  Completions has no attachments); ``json`` events (``chat.completion.chunk`` objects, as tool
  calling bots send) give their ``content``, ``tool_calls`` and ``finish_reason``.
  ``stream: true`` sends ``chat.completion.chunk`` SSE lines and ``data: [DONE]``; otherwise one
  ``chat.completion`` with a ``usage`` block in the real shape (tokens estimated at four
  characters each; ``stream_options.include_usage`` adds a final usage chunk, ``choices: []``).
- errors: the real ``{"error": {"code", "type", "message"}}`` shape; bad body 400, unknown model
  404 (auth, rate limit and planned faults are PoeGate's, as for the bot route). A bot error
  before any output gets its HTTP status (``insufficient_fund`` 402, ``user_message_too_long``
  413, "rate limit" 429, else 502 when a retry may help, 500 when not); after output, a stream
  sends an ``error`` chunk and no ``[DONE]``; an answer cut short (no ``done``) ends a stream
  without ``[DONE]`` and is a 502 otherwise.
"""

from __future__ import annotations

import base64
import json
import math
import mimetypes
import re
import secrets
import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import fastapi_poe as fp
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from poe_magic.server.catalog import model_entry, served_name
from poe_magic.server.errors import error_body, error_response, model_not_found, unsupported_feature
from poe_magic.server.state import ServerState
from poe_magic.server.uploads import store_file

CHAT_PATH = "/v1/chat/completions"
ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "bot"}
#: error_type of a bot's error event -> HTTP status (as the client maps them back)
ERROR_TYPE_STATUS = {"insufficient_fund": 402, "user_message_too_long": 413,
                     "privacy_authorization_error": 403, "user_caused_error": 400}


class BadRequest(ValueError):
    """A request body the real API would answer with 400."""


@dataclass
class Chat:
    """A parsed Chat Completions request, as the bot protocol's QueryRequest."""

    id: str
    model: str
    stream: bool
    include_usage: bool
    query: fp.QueryRequest
    prompt_chars: int


def parse_chat(body: Any, state: ServerState, base_url: str) -> Chat:
    """Validate a Chat Completions body and build the bot's request; :class:`BadRequest` if wrong."""
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    model, messages = body.get("model"), body.get("messages")
    if not isinstance(model, str) or not model:
        raise BadRequest("'model' is required and must be a string (a model name such as 'GPT-5')")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("'messages' is required and must be a non-empty list")
    temperature = body.get("temperature")
    if temperature is not None and (isinstance(temperature, bool) or not isinstance(temperature, (int, float))
                                    or not 0 <= temperature <= 2):
        raise BadRequest(f"'temperature' must be a number from 0 to 2, got {temperature!r}")
    stop = body.get("stop")
    stop = [stop] if isinstance(stop, str) else stop
    if stop is not None and not (isinstance(stop, list) and all(isinstance(s, str) for s in stop)):
        raise BadRequest("'stop' must be a string or a list of strings")
    stream, options = body.get("stream", False), body.get("stream_options") or {}
    if not isinstance(stream, bool) or not isinstance(options, dict):
        raise BadRequest("'stream' must be true or false and 'stream_options' an object")
    chat_id = "chatcmpl-" + secrets.token_hex(12)
    query, tool_calls, tool_results = _messages(messages, state, base_url)
    extra = bot_parameters(body)
    if extra and query:  # the bot protocol carries a model's own parameters on the last message
        query[-1] = query[-1].model_copy(update={"parameters": {**query[-1].parameters, **extra}})
    try:
        request = fp.QueryRequest(
            version="1.2", type="query", user_id="", conversation_id="", message_id=chat_id, query=query,
            temperature=temperature, stop_sequences=stop or [], tools=_tools(body.get("tools")),
            tool_calls=tool_calls or None, tool_results=tool_results or None)  # type: ignore[arg-type]  # pydantic validates the dicts
    except ValueError as exc:  # pydantic: malformed tools / tool_calls
        raise BadRequest(f"invalid tools or tool calls: {' '.join(str(exc).split())[:300]}") from None
    return Chat(chat_id, model, stream, bool(options.get("include_usage")), request,
                sum(len(m.content) for m in query))


#: Chat Completions fields this server reads itself, or has no bot-protocol counterpart for (ignored)
OWN_FIELDS = frozenset({"model", "messages", "temperature", "stop", "stream", "stream_options", "tools",
                        "tool_choice", "parallel_tool_calls", "max_tokens", "max_completion_tokens", "top_p", "n",
                        "user", "logit_bias", "logprobs", "top_logprobs", "presence_penalty", "frequency_penalty",
                        "response_format", "metadata", "store", "modalities", "extra_body"})


def bot_parameters(body: dict[str, Any]) -> dict[str, Any]:
    """The model's own parameters in a Chat Completions body: ``reasoning_effort`` and every field
    OpenAI does not define (how OpenAI's SDKs send ``extra_body``; a literal ``extra_body`` object
    too), handed to the bot as the last message's parameters, as ``/bot/{name}`` receives them."""
    found = {k: v for k, v in body.items() if k not in OWN_FIELDS}
    if isinstance(body.get("extra_body"), dict):
        found.update(body["extra_body"])
    return found


def _messages(messages: list[Any], state: ServerState,
              base_url: str) -> tuple[list[fp.ProtocolMessage], list[dict[str, Any]], list[dict[str, Any]]]:
    """OpenAI messages as the protocol's query, tool calls and tool results."""
    query: list[fp.ProtocolMessage] = []
    tool_calls: list[dict[str, Any]] = []
    tool_results: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # tool call id -> function name, for results that do not say it
    for i, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role == "tool":
            call_id = message.get("tool_call_id")
            if not isinstance(call_id, str):
                raise BadRequest(f"messages[{i}]: a 'tool' message needs its 'tool_call_id'")
            text, _ = _content(message.get("content"), i, state, base_url)
            tool_results.append({"role": "tool", "name": message.get("name") or names.get(call_id, ""),
                                 "tool_call_id": call_id, "content": text})
            continue
        if role not in ROLES:
            raise BadRequest(f"messages[{i}].role must be one of {', '.join([*ROLES, 'tool'])}; got {role!r}")
        calls = (message.get("tool_calls") or []) if role == "assistant" else []
        if not isinstance(calls, list) or not all(isinstance(c, dict) for c in calls):
            raise BadRequest(f"messages[{i}].tool_calls must be a list of objects")
        for call in calls:
            names[str(call.get("id"))] = (call.get("function") or {}).get("name", "")
        tool_calls.extend(calls)
        text, attachments = _content(message.get("content"), i, state, base_url)
        if calls and not text and not attachments:
            continue  # a pure tool-call turn: the protocol carries it in tool_calls
        query.append(fp.ProtocolMessage(role=ROLES[role], content=text, attachments=attachments))  # type: ignore[arg-type]
    return query, tool_calls, tool_results


def _tools(tools: Any) -> Any:
    """OpenAI tools with the defaults OpenAI allows (no description, no parameters) filled in
    for the protocol's stricter ToolDefinition; anything else is left for pydantic to reject."""
    if not isinstance(tools, list):
        return tools
    defaults = {"description": "", "parameters": {"type": "object", "properties": {}}}
    return [{**tool, "function": {**defaults, **tool["function"]}}
            if isinstance(tool, dict) and isinstance(tool.get("function"), dict) else tool for tool in tools]


def _content(content: Any, i: int, state: ServerState, base_url: str) -> tuple[str, list[fp.Attachment]]:
    """A message's content (string, null or list of parts) as text plus attachments."""
    if content is None or isinstance(content, str):
        return content or "", []
    if not isinstance(content, list):
        raise BadRequest(f"messages[{i}].content must be a string or a list of content parts")
    texts: list[str] = []
    attachments: list[Any] = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind == "image_url" and isinstance((part.get("image_url") or {}).get("url"), str):
            attachments.append(_image(part["image_url"]["url"], len(attachments), state, base_url))
        else:
            raise BadRequest(f"messages[{i}].content: unsupported part {str(part)[:80]} "
                             "(expected type 'text' with 'text', or 'image_url' with 'image_url.url')")
    return "\n".join(texts), attachments


def _image(url: str, n: int, state: ServerState, base_url: str) -> fp.Attachment:
    match = re.fullmatch(r"data:([\w.+-]+/[\w.+-]+);base64,(.*)", url, re.DOTALL)
    if match:  # an inline image: host it like an upload, so the bot can fetch it
        name = f"image{n + 1}{mimetypes.guess_extension(match.group(1)) or ''}"
        try:
            data = base64.b64decode(match.group(2), validate=True)
        except ValueError:
            raise BadRequest("an image_url data: URL is not valid base64") from None
        url, mime = store_file(state, base_url, data, name, match.group(1))
        return fp.Attachment(url=url, content_type=mime, name=name)
    name = url.rsplit("/", 1)[-1].split("?")[0] or f"image{n + 1}"
    return fp.Attachment(url=url, content_type=mimetypes.guess_type(name)[0] or "image/*", name=name)


@dataclass
class Answer:
    """The bot's protocol events folded into what Chat Completions reports."""

    text: str = ""
    tool_calls: dict[int, dict[str, Any]] = field(default_factory=dict)  # index -> merged call
    finish_reason: str | None = None
    error: tuple[int, str] | None = None  # (HTTP status, message)
    done: bool = False

    def feed(self, event: Any) -> list[dict[str, Any]]:
        """Take one ``ServerSentEvent`` of ``handle_query``; return the deltas it adds."""
        kind, data = event.event, json.loads(event.data or "{}")
        if kind == "text":
            return self._content(data["text"])
        if kind == "replace_response":  # a stream cannot unsend: extend when possible, else resend
            new, old = data["text"], self.text
            self.text = ""
            return self._content(new[len(old):] if new.startswith(old) else new, replaced=new)
        if kind == "file":
            link = f"[{data['name']}]({data['url']})"
            return self._content(("!" + link if data["content_type"].startswith("image/") else link) + "\n\n")
        if kind == "json":
            return self._chunk(data)
        if kind == "error":
            self.error = (_error_status(data), " ".join(str(data.get("text") or "the bot reported an error").split()))
        elif kind == "done":
            self.done = True
        return []  # meta, data, suggested replies: nothing in Chat Completions

    def _content(self, text: str, replaced: str | None = None) -> list[dict[str, Any]]:
        self.text = replaced if replaced is not None else self.text + text
        return [{"content": text}] if text else []

    def _chunk(self, chunk: dict[str, Any]) -> list[dict[str, Any]]:
        deltas: list[dict[str, Any]] = []
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            if isinstance(delta.get("content"), str):
                deltas += self._content(delta["content"])
            for call in delta.get("tool_calls") or []:
                merged = self.tool_calls.setdefault(call.get("index", 0), {
                    "id": None, "type": "function", "function": {"name": "", "arguments": ""}})
                merged["id"] = call.get("id") or merged["id"]
                merged["type"] = call.get("type") or merged["type"]
                function = call.get("function") or {}
                merged["function"]["name"] += function.get("name") or ""
                merged["function"]["arguments"] += function.get("arguments") or ""
            if delta.get("tool_calls"):
                deltas.append({"tool_calls": delta["tool_calls"]})
            self.finish_reason = choice.get("finish_reason") or self.finish_reason
        return deltas


def _error_status(data: dict[str, Any]) -> int:
    if data.get("error_type") in ERROR_TYPE_STATUS:
        return ERROR_TYPE_STATUS[data["error_type"]]
    if "rate limit" in str(data.get("text") or "").lower():
        return 429
    return 502 if data.get("allow_retry", True) else 500


def _tokens(chars: int) -> int:
    return math.ceil(chars / 4)


def usage(chat: Chat, answer: Answer) -> dict[str, Any]:
    """Estimated token counts (four characters a token: the local bots have no tokenizer)."""
    completion = _tokens(len(answer.text) + sum(len(c["function"]["arguments"]) for c in answer.tool_calls.values()))
    prompt = _tokens(chat.prompt_chars)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": 0}, "completion_tokens_details": {"reasoning_tokens": 0}}


def completion(chat: Chat, answer: Answer) -> dict[str, Any]:
    """The whole non-streaming ``chat.completion`` object."""
    calls = [answer.tool_calls[i] for i in sorted(answer.tool_calls)]
    message: dict[str, Any] = {"role": "assistant", "content": answer.text if answer.text or not calls else None}
    if calls:
        message["tool_calls"] = calls
    finish = answer.finish_reason or ("tool_calls" if calls else "stop")
    return {"id": chat.id, "object": "chat.completion", "created": int(time.time()), "model": chat.model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}], "usage": usage(chat, answer)}


def _sse(data: Any) -> str:
    return f"data: {json.dumps(data)}\n\n"


async def _stream(chat: Chat, answer: Answer, first: list[dict[str, Any]],
                  events: AsyncGenerator[Any, None]) -> AsyncIterator[str]:
    try:
        async for line in _chunks(chat, answer, first, events):
            yield line
    finally:
        await events.aclose()  # the client left, or the bot failed: stop the bot too


async def _chunks(chat: Chat, answer: Answer, first: list[dict[str, Any]],
                  events: AsyncGenerator[Any, None]) -> AsyncIterator[str]:
    head = {"id": chat.id, "object": "chat.completion.chunk", "created": int(time.time()), "model": chat.model}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        return _sse({**head, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})

    yield chunk({"role": "assistant", "content": ""})
    for delta in first:
        yield chunk(delta)
    async for event in events:
        for delta in answer.feed(event):
            yield chunk(delta)
        if answer.error is not None:
            yield _sse(error_body(*answer.error))
            return
    if not answer.done:
        return  # the bot's answer was cut short: no finish, no [DONE], as a dropped stream looks
    yield chunk({}, answer.finish_reason or ("tool_calls" if answer.tool_calls else "stop"))
    if chat.include_usage:
        yield _sse({**head, "choices": [], "usage": usage(chat, answer)})
    yield "data: [DONE]\n\n"


def add_routes(app: FastAPI, state: ServerState) -> None:
    """Register ``POST /v1/chat/completions`` (PoeGate in front checks key, rate limit, faults)."""

    @app.post(CHAT_PATH)
    async def chat_completions(request: Request) -> Response:
        try:
            chat = parse_chat(json.loads(await request.body() or b"null"), state, str(request.base_url))
        except ValueError as exc:  # BadRequest, or a body that is not JSON
            message = str(exc) if isinstance(exc, BadRequest) else f"the body is not valid JSON: {exc}"
            return error_response(400, message)
        record = request.scope.get("poe_record")
        if record is not None:
            record.bot = chat.model  # the request log names the model, as for /bot/{name}
        served = served_name(state, chat.model)
        bot = state.bots.get(served) if served is not None else None
        if bot is None:
            return error_response(404, model_not_found(chat.model))
        if chat.query.tools and "tools" not in model_entry(bot)["supported_features"]:
            return JSONResponse(unsupported_feature(chat.model.lower(), "tool calling"), status_code=400)
        answer = Answer()
        events = bot.handle_query(chat.query, fp.RequestContext(http_request=request))
        first: list[dict[str, Any]] = []
        async for event in events:  # up to the first output: an early error still gets its status
            first = answer.feed(event)
            if first or answer.error or answer.done:
                break
        if answer.error is not None:
            await events.aclose()
            return error_response(*answer.error)
        if chat.stream:
            return StreamingResponse(_stream(chat, answer, first, events), media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache"})
        async for event in events:
            answer.feed(event)
        if answer.error is not None:
            return error_response(*answer.error)
        if not answer.done:
            return error_response(502, f"{chat.model}'s answer ended before it was complete")
        return JSONResponse(completion(chat, answer))
