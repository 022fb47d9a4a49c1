"""The only module that talks to fastapi_poe and HTTP.

It turns a :class:`PoeRequest` into fastapi_poe's ``QueryRequest``, streams the bot's
messages, maps every failure onto :mod:`poe_magic._errors`, and retries what is safe to
retry (429, 5xx, connection errors) *before the first token only*: after text has streamed a
retry would repeat it.

fastapi_poe hides the HTTP status of a failure (401, 402, 404 and 429 all become
``BotError``). A response event hook on our own ``httpx.AsyncClient`` records the status and
error body into a per-task context variable, so the mapping sees the real cause without an
extra request. One client per event loop also reuses connections across requests.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Optional, Union

import httpx

from . import _errors as E
from .config import Settings

# fastapi_poe is imported lazily (~0.4 s: FastAPI, pydantic), never at %load_ext.


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
    temperature: Optional[float] = None
    stop: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)  # the bot's custom parameters
    # Tool calling, as plain OpenAI-shaped dicts (converted to fastapi_poe models when sent):
    tools: Optional[list[dict[str, Any]]] = None  # {"type": "function", "function": {name, description, parameters}}
    tool_calls: Optional[list[dict[str, Any]]] = None  # earlier rounds' calls: {id, type, function: {name, arguments}}
    tool_results: Optional[list[dict[str, Any]]] = None  # their results: {role: "tool", name, tool_call_id, content}


@dataclass
class Retrying:
    """Yielded between attempts so the display can say "retrying in Ns"."""

    attempt: int
    delay: float
    error: E.PoeMagicError


_response_info: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("poe_response_info")
_clients: dict[int, httpx.AsyncClient] = {}


async def _record_response(response: httpx.Response) -> None:
    info = _response_info.get(None)
    if info is None:
        return
    info["status"] = response.status_code
    info["retry_after"] = response.headers.get("retry-after")
    if response.status_code >= 400:
        try:
            await response.aread()
            info["body"] = response.text[:4000]
        except Exception:  # a body we cannot read still leaves the status
            info["body"] = ""


def http_client(settings: Settings) -> httpx.AsyncClient:
    """The shared client of the running loop (created on first use on that loop)."""
    loop_id = id(asyncio.get_running_loop())
    client = _clients.get(loop_id)
    if client is None or client.is_closed:
        timeout = httpx.Timeout(
            connect=settings.connect_timeout, read=None, write=60.0, pool=settings.connect_timeout
        )
        client = httpx.AsyncClient(
            timeout=timeout,
            event_hooks={"response": [_record_response]},
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
        )
        _clients[loop_id] = client
    return client


def _quiet_on_error(exc: Exception, message: str) -> None:
    """Replaces fastapi_poe's handler, which prints 'Error in Poe bot:' on every failed try."""


def build_query(request: PoeRequest) -> Any:
    import fastapi_poe as fp

    messages = []
    for i, m in enumerate(request.messages):
        params = dict(m.parameters)
        if i == len(request.messages) - 1 and request.params:
            params.update(request.params)  # custom bot parameters ride on the last message
        messages.append(
            fp.ProtocolMessage(role=m.role, content=m.content, attachments=m.attachments, parameters=params)
        )
    extra: dict[str, Any] = {}
    if request.temperature is not None:
        extra["temperature"] = request.temperature
    if request.stop:
        extra["stop_sequences"] = list(request.stop)
    return fp.QueryRequest(
        query=messages,
        user_id="",
        conversation_id="",
        message_id="",
        version="1.2",
        type="query",
        **extra,
    )


async def stream(request: PoeRequest, settings: Settings) -> AsyncIterator[Union[Any, Retrying]]:
    """Yield fastapi_poe messages (``.text``, ``.is_replace_response``, ``.attachment``, ...)
    and :class:`Retrying` notices; raise a :class:`~poe_magic._errors.PoeMagicError`."""
    import fastapi_poe as fp
    from fastapi_poe.client import stream_request_base

    key = settings.api_key()
    query = build_query(request)
    client = http_client(settings)
    attempt = 0
    while True:
        info: dict[str, Any] = {}
        _response_info.set(info)
        streamed = False
        try:
            async for message in stream_request_base(
                request=query,
                bot_name=request.model,
                api_key=key,
                tools=_as_models(fp.ToolDefinition, request.tools),
                tool_calls=_as_models(fp.ToolCallDefinition, request.tool_calls),
                tool_results=_as_models(fp.ToolResultDefinition, request.tool_results),
                session=client,
                on_error=_quiet_on_error,
                num_tries=1,  # we retry ourselves, and only before the first token
                base_url=settings.bot_url,
            ):
                streamed = True
                yield message
            return
        except (asyncio.CancelledError, GeneratorExit):
            raise
        except Exception as exc:  # noqa: BLE001 - every failure is mapped below
            error = map_error(exc, info, request.model, settings.root)
            if streamed or not error.retryable or attempt >= settings.max_retries:
                raise error from None
            attempt += 1
            delay = _retry_delay(error, attempt, settings)
            yield Retrying(attempt, delay, error)
            await asyncio.sleep(delay)


def _as_models(model: Any, items: Optional[list[Any]]) -> Optional[list[Any]]:
    """Plain dicts -> fastapi_poe pydantic models (which ``stream_request_base`` dumps)."""
    if items is None:
        return None
    return [model.model_validate(item) if isinstance(item, dict) else item for item in items]


def _retry_delay(error: E.PoeMagicError, attempt: int, settings: Settings) -> float:
    retry_after = getattr(error, "retry_after", None)
    if retry_after is not None:
        return max(0.0, min(float(retry_after), 120.0))
    return settings.retry_backoff * (2 ** (attempt - 1))


def _server_message(body: str) -> str:
    """The human part of an error body: real API JSON, FastAPI's, or plain text."""
    try:
        data = json.loads(body)
    except (ValueError, TypeError):
        return body.strip()[:300]
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
        if isinstance(err, str):
            return err
        for key in ("detail", "message", "text"):
            if data.get(key):
                return str(data[key])
    return body.strip()[:300]


def _parse_retry_after(value: Optional[str]) -> Optional[float]:
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        return None


_STATUS_ERRORS: dict[int, tuple[type, str]] = {
    401: (E.AuthError, "the server rejected the API key (401); check POE_API_KEY or run %poe login"),
    402: (E.InsufficientPointsError, "not enough points for {model} (402); top up or pick a cheaper model"),
    403: (E.ForbiddenError, "access to {model} is forbidden for this key (403)"),
    404: (E.UnknownModelError, "unknown model '{model}' (404); see %poe models"),
    408: (E.PoeTimeoutError, "the server timed out answering {model} (408); try again"),
    413: (E.RequestTooLargeError, "the request to {model} is too large (413); shorten the prompt or attachments"),
    429: (E.RateLimitError, "rate limited by the server (429) while asking {model}"),
}


def map_error(exc: BaseException, info: dict[str, Any], model: str, root: str) -> E.PoeMagicError:
    """Turn whatever fastapi_poe/httpx raised into one of our one-line errors."""
    if isinstance(exc, E.PoeMagicError):
        return exc
    status = info.get("status")
    retry_after = _parse_retry_after(info.get("retry_after"))
    detail = _server_message(info.get("body", "")) if info.get("body") else ""
    if status in _STATUS_ERRORS:
        cls, text = _STATUS_ERRORS[status]
        message = text.format(model=model)
        if detail and status not in (401,):
            message += f": {detail}"
        if cls is E.PoeTimeoutError:
            return E.PoeTimeoutError(message, model=model)
        return cls(message, model=model, status=status, retry_after=retry_after)
    if status is not None and status >= 500:
        return E.ServerError(
            f"server error {status} from {model}" + (f": {detail}" if detail else ""),
            model=model,
            status=status,
            retry_after=retry_after,
        )
    cause = exc.__cause__ or exc
    if isinstance(cause, httpx.ConnectError):
        return E.ServerError(f"cannot connect to {root} (is the server running?)", model=model, status=None)
    if isinstance(cause, httpx.TimeoutException):
        return E.PoeTimeoutError(f"timed out talking to {root} while asking {model}", model=model)
    if isinstance(cause, (httpx.RemoteProtocolError, httpx.ReadError)):
        return E.ServerError(f"the connection to {model} dropped mid-answer", model=model, status=None)
    return _bot_error(exc, model)


def _bot_error(exc: BaseException, model: str) -> E.PoeMagicError:
    """An ``error`` event sent inside the stream: JSON with text, error_type, allow_retry."""
    text = str(exc)
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return E.ServerError(f"{model} failed: {text or type(exc).__name__}", model=model, status=None)
    message = str(data.get("text") or "the bot reported an error")
    kind = data.get("error_type")
    if kind == "insufficient_fund":
        return E.InsufficientPointsError(f"not enough points for {model}: {message}", model=model)
    if kind == "user_message_too_long":
        return E.RequestTooLargeError(f"the message is too long for {model}: {message}", model=model)
    if kind == "rate_limit" or "rate limit" in message.lower():
        return E.RateLimitError(f"rate limited while asking {model}: {message}", model=model)
    error = E.ServerError(f"{model} failed: {message}", model=model, status=None)
    error.retryable = bool(data.get("allow_retry", True))
    return error


async def close_clients() -> None:
    """Close the shared client of the running loop (used at unload and in tests)."""
    client = _clients.pop(id(asyncio.get_running_loop()), None)
    if client is not None:
        await client.aclose()
