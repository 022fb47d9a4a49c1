"""The openai protocol's wire, against answers the local server never gives: a small ASGI stub of
``/v1/chat/completions`` on 127.0.0.1 (real HTTP), driven through ``transport.stream``, the one
send path. Every field a server sends is untrusted; every failure is one line."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from poe_magic.base import errors as E
from poe_magic.base.config import Settings, settings
from poe_magic.wire import openai_stream, transport
from poe_magic.wire.failures import chunk_error
from poe_magic.wire.loop import shared_loop
from poe_magic.wire.request import Message, PoeRequest

pytestmark = pytest.mark.http  # a stub server on 127.0.0.1
KEY = "stub-key-0123456789abcdef"


def chunk(delta: dict[str, Any], **extra: Any) -> bytes:
    body = {"id": "c", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta}], **extra}
    return f"data: {json.dumps(body)}\n\n".encode()


DONE = b"data: [DONE]\n\n"
USAGE = b'data: {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}\n\n'
#: model name -> (status, content type, body parts)
ANSWERS: dict[str, tuple[int, str, list[bytes]]] = {
    "Chatty": (200, "text/event-stream", [b": keep-alive\n\n", b"event: message\n", chunk({"content": "he"}),
                                          chunk({"content": "llo"}), USAGE, DONE, b"data: {after done}\n\n"]),
    "Garbage": (200, "text/event-stream", [chunk({"content": "half"}), b"data: {not json\n\n"]),
    "BadDelta": (200, "text/event-stream", [chunk({"content": 5})]),
    "Html": (200, "text/html", [b"<html>hello</html>"]),
    "Whole": (200, "application/json", [json.dumps({
        "object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assistant", "content": "whole"}}],
        "usage": {"prompt_tokens": 4, "completion_tokens": 1, "total_tokens": 5}}).encode()]),
    "MidError": (200, "text/event-stream", [chunk({"content": "partial "}), b'data: {"error": {"message": '
                                            b'"overloaded now", "type": "overloaded_error", "code": "overloaded"}}\n\n']),
    "NoDone": (200, "text/event-stream", [chunk({"content": "cut "})]),
    "Redirect": (302, "text/plain", [b"moved"]),
    "Endless": (200, "text/event-stream", [chunk({"content": "kept "}), b"data: " + b"x" * 5000]),  # no newline
    "Huge": (200, "application/json", [b'{"choices": [], "pad": "' + b"y" * 5000 + b'"}']),
    "Tools": (200, "text/event-stream", [
        chunk({"tool_calls": [{"index": 0, "id": "t1", "type": "function", "function": {"name": "add", "arguments": ""}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"a": 1}'}}]}), DONE]),
}


class Stub:
    """Answers ``POST /v1/chat/completions`` as the model named in the body says; keeps the bodies."""

    def __init__(self) -> None:
        self.url = ""
        self.bodies: list[dict[str, Any]] = []
        self.auth: list[str] = []
        self.app = Starlette(routes=[Route("/v1/chat/completions", self.chat, methods=["POST"])])

    async def chat(self, request: Request) -> Response:
        body = await request.json()
        self.bodies.append(body)
        self.auth.append(request.headers.get("authorization", ""))
        status, kind, parts = ANSWERS[body["model"]]
        headers = {"location": "http://127.0.0.1:9/x"} if status == 302 else {}

        async def pieces() -> AsyncIterator[bytes]:
            for part in parts:
                yield part

        return StreamingResponse(pieces(), status_code=status, media_type=kind, headers=headers)


@pytest.fixture(scope="module")
def stub() -> Iterator[Stub]:
    app = Stub()
    server = uvicorn.Server(uvicorn.Config(app.app, host="127.0.0.1", port=0, log_level="error", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    app.url = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    yield app
    server.should_exit = True
    thread.join(10)


def run(stub: Stub, model: str) -> tuple[list[Any], E.PoeMagicError | None]:
    """Every event of one request to ``model`` on the stub, and the error it ended with."""
    own = Settings(base_url=stub.url, protocol="openai", max_retries=0)
    own.set_api_key(KEY)

    async def go() -> tuple[list[Any], E.PoeMagicError | None]:
        events: list[Any] = []
        try:
            async for event in transport.stream(PoeRequest(model, [Message("user", "hi")]), own):
                events.append(event)
        except E.PoeMagicError as error:
            return events, error
        return events, None

    return shared_loop().run(go())


def text_of(events: list[Any]) -> str:
    return "".join(getattr(e, "text", "") for e in events)


def test_a_stream_with_comments_usage_and_done_is_read_and_ends_at_done(stub: Stub) -> None:
    events, error = run(stub, "Chatty")
    assert error is None and text_of(events) == "hello"
    assert [e.usage for e in events if isinstance(e, openai_stream.Usage)] == [
        {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}]
    body = stub.bodies[-1]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert stub.auth[-1] == f"Bearer {KEY}"


@pytest.mark.parametrize("model, cls, says", [
    ("Garbage", E.ServerError, "Garbage sent a malformed chunk (not a JSON object); the stream was stopped"),
    ("BadDelta", E.ServerError, "BadDelta sent a malformed chunk (delta.content is not text)"),
    ("Html", E.PoeAPIError, "not an OpenAI-compatible stream at http://127.0.0.1:"),
    ("MidError", E.ServerError, "MidError reported an error: overloaded now"),
    ("NoDone", E.PoeConnectionError, "the answer from NoDone was cut short"),
    ("Redirect", E.PoeAPIError, "answered with a redirect (302) to http://127.0.0.1:9/x; not followed"),
])
def test_what_goes_wrong_is_one_line_and_keeps_what_came(stub: Stub, model: str, cls: type, says: str) -> None:
    events, error = run(stub, model)
    assert type(error) is cls and says in str(error) and "\n" not in str(error), error
    assert KEY not in str(error)
    if model in ("Garbage", "MidError", "NoDone"):
        assert text_of(events)  # the text before the failure reached the caller


def test_sizes_a_server_sends_are_bounded_before_they_are_held(stub: Stub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(openai_stream, "MAX_LINE", 4096)  # (16 MB in use: the same check, a smaller figure)
    events, error = run(stub, "Endless")
    assert isinstance(error, E.ServerError) and "sent a chunk over" in str(error) and text_of(events) == "kept "
    monkeypatch.setattr(openai_stream, "MAX_BODY", 4096)
    events, error = run(stub, "Huge")
    assert isinstance(error, E.ServerError) and "in one answer; the stream was stopped" in str(error)


def test_a_whole_completion_is_read_when_the_server_does_not_stream(stub: Stub) -> None:
    events, error = run(stub, "Whole")
    assert error is None and text_of(events) == "whole"
    assert [e.usage["prompt_tokens"] for e in events if isinstance(e, openai_stream.Usage)] == [4]


def test_tool_call_deltas_arrive_as_the_bot_protocols_json_events(stub: Stub) -> None:
    from poe_magic.core.accumulator import Accumulator
    from poe_magic.core.reply import Reply

    events, error = run(stub, "Tools")
    acc = Accumulator(Reply(model="Tools", prompt="hi"))
    for event in events:
        acc.apply(event)
    assert error is None and acc.requested_tool_calls() == [
        {"id": "t1", "type": "function", "function": {"name": "add", "arguments": '{"a": 1}'}}]


@pytest.mark.parametrize("err, cls, line, retryable", [
    ({"message": "slow down", "type": "rate_limit_error", "code": "rate_limit_exceeded"}, E.RateLimitError,
     "rate limited asking M: slow down", True),
    ({"message": "no points", "code": 402}, E.InsufficientPointsError, "not enough points to ask M: no points", False),
    ({"message": "boom", "type": "server_error"}, E.ServerError, "M reported an error: boom", False),  # a 500
    ("plain text", E.ServerError, "M reported an error: plain text", True),  # says nothing known: as a 502
])
def test_an_error_inside_a_stream_reads_as_the_bot_protocols_error_event(err: Any, cls: type, line: str,
                                                                          retryable: bool) -> None:
    error = chunk_error(err, "M")
    assert type(error) is cls and str(error).startswith(line) and error.retryable is retryable


def test_the_setting_reaches_a_copy_and_the_process_default_is_poe() -> None:
    assert settings.protocol == "poe" and Settings(protocol="openai").copy().protocol == "openai"
