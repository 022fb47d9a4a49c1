"""The streaming transport: the only module that talks to fastapi_poe (plain GETs are
:mod:`poe_magic.wire.http`'s).

It speaks one of two protocols, as ``settings.protocol`` says: fastapi_poe's bot protocol
(a :class:`PoeRequest` as a ``QueryRequest`` to ``{root}/bot/{model}``), or the OpenAI-compatible
``{root}/v1/chat/completions`` (:mod:`poe_magic.wire.openai_stream`, which yields the same kinds
of events). Around one try of either, it streams the messages, maps every failure onto :mod:`poe_magic.base.errors` (the mapping itself lives in
:mod:`poe_magic.wire.failures`), and retries what is safe to retry, as the one
:class:`~poe_magic.wire.retry.RetryPolicy` decides, *before the first token only*: after text
has streamed a retry would repeat it. Between tries it yields :class:`Retrying` so the display
can say "retrying in 2 s". Only :class:`poe_magic.core.live.LiveStream` calls :func:`stream`,
and only the request runner (:mod:`poe_magic.prompting.runner`) makes a LiveStream.

fastapi_poe hides the HTTP status of a failure (401, 402, 404 and 429 all become
``BotError``). A response event hook on our own ``httpx.AsyncClient`` records the status,
``Retry-After`` and error body into a per-task context variable, so the mapping sees the real
cause without an extra request. The same hook notices fastapi_poe's "no 'done' event" report,
which it otherwise swallows (a cut-short answer would pass for a complete one). One client
per event loop also reuses connections across requests (:class:`_KeepAliveTransport` makes
that true of streamed answers too).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from poe_magic.base import errors as E
from poe_magic.base.config import Settings
from poe_magic.base.secrets import contains_key
from poe_magic.wire import observed, openai_stream, ratelimit
from poe_magic.wire.failures import ended_early, map_error, upload_error
from poe_magic.wire.http import KeyAuth
from poe_magic.wire.request import KEY_REFUSAL, PoeRequest, check_model_name, check_sendable
from poe_magic.wire.retry import RetryPolicy
from poe_magic.wire.stream_events import check_event

# fastapi_poe is imported lazily (~0.4 s: FastAPI, pydantic), never at %load_ext.


@dataclass
class Retrying:
    """Yielded between attempts so the display can say "retrying in Ns"."""

    attempt: int  # 1 for the first retry
    delay: float  # seconds until it starts
    error: E.PoeMagicError | None  # what failed (None: nothing failed, the rate limit holds it back)
    limit: int = 0  # settings.max_retries when it was sent
    held: str = ""  # why it waits when nothing failed

    def notice(self) -> str:
        """The status line shown while waiting: what failed (or holds it back) and when it starts."""
        if self.error is None:
            return f"{self.held} · sending in {round(self.delay, 1):g} s"
        of = f" of {self.limit}" if self.limit else ""
        return f"{self.error.what} · retrying in {round(self.delay, 1):g} s (retry {self.attempt}{of})"


#: a wait for the rate limit longer than this is said in the footer (a shorter one is not worth a flicker)
HELD_NOTICE_S = 1.0


_response_info: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("poe_response_info")
# keyed by the loop itself, not id(loop): a new loop may reuse a dead one's id, and that
# client's pooled connections belong to the dead loop
_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = weakref.WeakKeyDictionary()


async def _record_response(response: httpx.Response) -> None:
    observed.record(response)  # the server's clock (Date) and rate-limit headers
    info = _response_info.get(None)
    if info is None:
        return
    if _is_error_report(response.request, info):
        return
    info["status"] = response.status_code
    info["retry_after"] = response.headers.get("retry-after")
    info["content_type"] = response.headers.get("content-type", "")
    info["location"] = response.headers.get("location")
    if response.status_code >= 400:
        try:
            await response.aread()
            info["body"] = response.text[:4000]
        except Exception:  # a body we cannot read still leaves the status
            info["body"] = ""


def _is_error_report(request: httpx.Request, info: dict[str, Any]) -> bool:
    """fastapi_poe POSTs ``report_error`` to the bot when the protocol goes wrong; note the one
    that means the stream ended without its ``done`` event (the answer was cut short)."""
    try:
        body = request.content
    except httpx.RequestNotRead:
        return False
    if b'"report_error"' not in body[:200]:
        return False
    if b"without sending 'done'" in body:  # fastapi_poe 0.0.83's wording
        info["no_done"] = True
    return True


def http_client(settings: Settings) -> httpx.AsyncClient:
    """The shared client of the running loop (created on first use on that loop)."""
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    # no read timeout: the client's watchdog applies first-token and stall timeouts instead
    timeout = httpx.Timeout(connect=settings.connect_timeout, read=None, write=60.0, pool=settings.connect_timeout)
    if client is not None and not client.is_closed:
        if client.timeout != timeout:
            client.timeout = timeout  # the user changed a timeout setting since the client was made
    else:
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=32)
        client = httpx.AsyncClient(
            timeout=timeout,
            event_hooks={"response": [_record_response]},
            transport=_KeepAliveTransport(limits=limits),
        )
        _clients[loop] = client
    return client


class _KeepAliveTransport(httpx.AsyncHTTPTransport):
    """fastapi_poe closes the SSE response as soon as it reads the ``done`` event, one read
    before the end of the HTTP body: httpcore then drops the connection instead of pooling it,
    so every request opened a new one. This transport finishes reading a stream that ended with
    ``done`` before closing it, which keeps the connection alive for the next request."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        if response.headers.get("content-type", "").startswith("text/event-stream"):
            assert isinstance(response.stream, httpx.AsyncByteStream)
            response.stream = _DrainAfterDone(response.stream)
        return response


class _DrainAfterDone(httpx.AsyncByteStream):
    """Passes an SSE body through; closed after a ``done`` event, reads the (tiny) rest first.
    Closed mid-answer (Ctrl-C, an error event, a timeout) it closes at once, as before."""

    _DRAIN_SECONDS = 0.5  # a server that keeps sending after 'done' just loses the connection

    def __init__(self, stream: httpx.AsyncByteStream) -> None:
        self._stream = stream
        self._chunks: AsyncIterator[bytes] | None = None
        self._tail = b"\n"  # the end of what was read so far: enough to spot the done event

    def __aiter__(self) -> _DrainAfterDone:
        self._chunks = self._stream.__aiter__()
        return self

    async def __anext__(self) -> bytes:
        assert self._chunks is not None
        chunk = await self._chunks.__anext__()
        self._tail = self._tail[-32:] + chunk
        return chunk

    async def aclose(self) -> None:
        try:
            if self._chunks is not None and (b"\nevent: done" in self._tail or b"\ndata: [DONE]" in self._tail):
                await asyncio.wait_for(self._drain(self._chunks), self._DRAIN_SECONDS)
        except Exception:  # noqa: BLE001 - draining is an optimisation: any trouble, just close
            pass
        finally:
            await self._stream.aclose()

    @staticmethod
    async def _drain(chunks: AsyncIterator[bytes]) -> None:
        # the same iterator, run to its end: a second one over the connection would race
        # the first one's finalizer, which closes the socket when it is garbage-collected
        async for _ in chunks:
            pass


def _quiet_on_error(exc: Exception, message: str) -> None:
    """Replaces fastapi_poe's handler, which prints 'Error in Poe bot:' on every failed try."""


def build_query(request: PoeRequest) -> Any:
    """The fastapi_poe ``QueryRequest`` for ``request`` (custom parameters on the last message)."""
    import fastapi_poe as fp

    messages = []
    for i, m in enumerate(request.messages):
        params = dict(m.parameters)
        if i == len(request.messages) - 1 and request.params:
            params.update(request.params)  # custom bot parameters ride on the last message
        messages.append(
            fp.ProtocolMessage(role=m.role, content=m.content,  # type: ignore[arg-type]  # checked when built
                               attachments=m.attachments, parameters=params)
        )
    extra: dict[str, Any] = {}
    if request.temperature is not None:
        extra["temperature"] = request.temperature
    if request.stop:
        extra["stop_sequences"] = list(request.stop)
    return _short_repr_query()(
        query=messages,
        user_id="",
        conversation_id="",
        message_id="",
        version="1.2",
        type="query",
        **extra,
    )


_ShortReprQuery: Any = None


def _short_repr_query() -> Any:
    """fastapi_poe sets ``full_prompt=repr(request)`` on *every* streamed chunk: with a 5 MB
    prompt that cost ~15 ms per chunk (seconds per answer). A QueryRequest whose repr is short
    makes it free; nothing reads ``full_prompt``."""
    global _ShortReprQuery
    if _ShortReprQuery is None:
        import fastapi_poe as fp

        class QueryRequest(fp.QueryRequest):
            def __repr__(self) -> str:
                return f"QueryRequest({len(self.query)} messages)"

        _ShortReprQuery = QueryRequest
    return _ShortReprQuery


async def stream(request: PoeRequest, settings: Settings) -> AsyncGenerator[Any | Retrying, None]:
    """Yield the answer's messages (``.text``, ``.is_replace_response``, ``.attachment``, ...; on
    the openai protocol also :class:`~poe_magic.wire.openai_stream.Usage`) and :class:`Retrying`
    notices; raise a :class:`~poe_magic.base.errors.PoeMagicError`. ``settings.protocol`` picks
    the protocol; everything around one try (checks, retries, errors) is the same for both."""
    check_model_name(request.model)
    check_sendable(request)  # the key, lone surrogates, unserialisable parameters: nothing sent
    settings.api_key()  # no key: one line now (the key itself is never kept in a local)
    one_try, url = _protocol(request, settings)  # built once: a request it cannot carry is refused here
    client = http_client(settings)
    policy = RetryPolicy.of(settings)
    gate = ratelimit.shared(settings)  # this server and key's window, shared with batches (None: max_rpm 0)
    while True:
        wait = gate.reserve() if gate is not None else 0.0  # 0 while the minute has room
        if gate is not None and wait > HELD_NOTICE_S:
            yield Retrying(policy.retries, wait, None, settings.max_retries,
                           held=f"{gate.rpm:g} requests a minute on this key reached (PoeMagics.max_rpm)")
        if wait > 0:
            await asyncio.sleep(wait)
        info: dict[str, Any] = {}
        _response_info.set(info)
        streamed = False  # content reached the caller: from now on a retry would repeat it
        messages = one_try(client, info)
        try:
            async with contextlib.aclosing(messages):  # closes the HTTP response at once on cancel
                async for message in messages:
                    check_event(message, request.model)
                    streamed = streamed or is_content(message)
                    yield message
            if not info.get("no_done"):
                return
            error: E.PoeMagicError = ended_early(request.model)
        except (asyncio.CancelledError, GeneratorExit):
            raise
        except Exception as exc:  # noqa: BLE001 - every failure is mapped
            error = map_error(exc, info, request.model, settings.root, settings.connect_timeout, url=url)
        delay = policy.next_delay(error, may_retry=not streamed)
        if delay is None:
            raise error  # outside the except block: no chain back to httpx objects (and the key)
        if gate is not None and isinstance(error, E.RateLimitError):
            gate.pause(delay)  # the calls streaming beside this one (a comparison's columns) wait too
        yield Retrying(policy.retries, delay, error, settings.max_retries)
        await asyncio.sleep(delay)


OneTry = Callable[[httpx.AsyncClient, dict[str, Any]], AsyncGenerator[Any, None]]


def _protocol(request: PoeRequest, settings: Settings) -> tuple[OneTry, str]:
    """(a function starting one try of ``request``, the URL it goes to) for ``settings.protocol``."""
    if settings.protocol == "openai":
        body = openai_stream.chat_body(request)
        auth = KeyAuth(settings)  # the key is added as the request leaves, never held in a local here
        return (lambda client, info: openai_stream.answer(body, request.model, settings, client, info, auth),
                settings.root + openai_stream.CHAT_PATH)
    import fastapi_poe as fp
    from fastapi_poe.client import stream_request_base

    query = build_query(request)
    tools = _as_models(fp.ToolDefinition, request.tools)
    calls = _as_models(fp.ToolCallDefinition, request.tool_calls)
    results = _as_models(fp.ToolResultDefinition, request.tool_results)

    def bot_try(client: httpx.AsyncClient, info: dict[str, Any]) -> AsyncGenerator[Any, None]:
        return stream_request_base(
            request=query, bot_name=request.model, api_key=settings.api_key(), tools=tools, tool_calls=calls,
            tool_results=results, session=client, on_error=_quiet_on_error,
            num_tries=1,  # we retry ourselves, and only before the first token
            base_url=settings.bot_url)

    return bot_try, settings.bot_url + request.model


def is_content(message: Any) -> bool:
    """Whether a streamed message carries answer content (text, data, a file, tool calls),
    as opposed to metadata: once content has reached the caller, a retry would repeat it."""
    return bool(getattr(message, "text", "") or getattr(message, "is_replace_response", False)
                or getattr(message, "attachment", None) is not None or getattr(message, "data", None)
                or getattr(message, "tool_calls", None))


def _as_models(model: Any, items: list[Any] | None) -> list[Any] | None:
    """Plain dicts -> fastapi_poe pydantic models (which ``stream_request_base`` dumps)."""
    if items is None:
        return None
    return [model.model_validate(item) if isinstance(item, dict) else item for item in items]


async def upload(data: bytes, name: str, settings: Settings) -> Any:
    """Upload one file with fastapi_poe's ``upload_file``; return its ``Attachment``
    (``url``, ``content_type``, ``name``), ready to ride on a message. Transient failures
    (429, 5xx, connection errors) are retried like queries: nothing has been asked yet."""
    import fastapi_poe as fp

    if contains_key(name):
        raise E.PoeUsageError(KEY_REFUSAL)
    policy = RetryPolicy.of(settings)
    while True:
        try:
            # no session=: upload_file closes the client it is given, so it must not be the shared one
            return await fp.upload_file(file=data, file_name=name, api_key=settings.api_key(),
                                        on_error=_quiet_on_error, num_tries=1, base_url=settings.upload_url)
        except Exception as exc:  # noqa: BLE001 - every failure is mapped below
            error = upload_error(exc, name, settings.upload_url)
        delay = policy.next_delay(error)
        if delay is None:
            raise error  # outside the except block: no chain back to httpx objects
        await asyncio.sleep(delay)
