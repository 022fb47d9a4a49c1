"""``POST /v1/chat/completions`` on the local server, over real HTTP: the same bots in OpenAI's format."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import httpx
import pytest

from poe_magic.server.errors import error_body
from poe_magic.server.launch import LocalServer

CHAT = "/v1/chat/completions"
ADD_TOOL = {"type": "function", "function": {"name": "add", "parameters": {
    "type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}, "required": ["a", "b"]}}}


def chat(server: LocalServer, body: Any, key: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key if key is not None else server.key}"}
    if isinstance(body, bytes):
        return httpx.post(server.url + CHAT, content=body, headers=headers, timeout=30)
    return httpx.post(server.url + CHAT, json=body, headers=headers, timeout=30)


def ask(model: str, text: str, **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": text}], **extra}


def stream_lines(server: LocalServer, body: dict[str, Any]) -> list[str]:
    """The ``data:`` payloads of a streamed answer, read line by line as they arrive."""
    headers = {"Authorization": f"Bearer {server.key}"}
    with httpx.stream("POST", server.url + CHAT, json={**body, "stream": True}, headers=headers, timeout=30) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in r.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines), lines
    return [line[len("data: "):] for line in lines]


def chunks_of(payloads: list[str]) -> list[dict[str, Any]]:
    return [json.loads(p) for p in payloads if p != "[DONE]"]


def content_of(chunks: list[dict[str, Any]]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c.get("choices"))


def balance(server: LocalServer) -> int:
    response = httpx.get(server.url + "/usage/current_balance", headers={"Authorization": f"Bearer {server.key}"})
    return response.json()["current_point_balance"]


def echo_received(content: str) -> dict[str, Any]:
    return json.loads(content.split("```json\n")[1].split("\n```")[0])


def test_completion_maps_roles_temperature_and_stop_and_charges_like_the_bot_route(server: LocalServer) -> None:
    before = balance(server)
    response = chat(server, {"model": "EchoBot", "temperature": 0.3, "stop": "END", "messages": [
        {"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"}, {"role": "user", "content": [{"type": "text", "text": "again"}]}]})
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-") and body["model"] == "EchoBot"
    (choice,) = body["choices"]
    assert choice["finish_reason"] == "stop" and choice["message"]["role"] == "assistant"
    received = echo_received(choice["message"]["content"])
    assert received["system"] == "be brief" and received["temperature"] == 0.3
    assert received["stop_sequences"] == ["END"]
    assert received["turns"] == [{"role": "user", "content": "hi"}, {"role": "bot", "content": "hello"},
                                 {"role": "user", "content": "again"}]
    usage = body["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert balance(server) == before - 10  # EchoBot's price, as on /bot/EchoBot


def test_stream_gives_the_same_answer_in_chunks_ending_with_done(server: LocalServer) -> None:
    whole = chat(server, ask("GPT-4o-mini", "why is the sky blue?")).json()
    before = balance(server)
    payloads = stream_lines(server, ask("GPT-4o-mini", "why is the sky blue?",
                                        stream_options={"include_usage": True}))
    assert payloads[-1] == "[DONE]"
    chunks = chunks_of(payloads)
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"} and len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert len(chunks) > 5  # streamed word by word, not in one piece
    assert content_of(chunks) == whole["choices"][0]["message"]["content"]
    finish, usage_chunk = chunks[-2], chunks[-1]
    assert finish["choices"][0] == {"index": 0, "delta": {}, "finish_reason": "stop"}
    assert usage_chunk["choices"] == [] and usage_chunk["usage"] == whole["usage"]
    assert balance(server) == before - 15  # GPT-4o-mini's local price
    without_usage = chunks_of(stream_lines(server, ask("GPT-4o-mini", "hi")))
    assert "usage" not in without_usage[-1] and without_usage[-1]["choices"][0]["finish_reason"] == "stop"


def test_auth_unknown_model_and_bad_bodies_use_the_real_error_shape(server: LocalServer) -> None:
    before = balance(server)
    wrong = chat(server, ask("EchoBot", "hi"), key="nope")
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
    assert wrong.json() == error_body(401, "Invalid API key")
    assert server.key not in wrong.text
    unknown = chat(server, ask("No-Such-Model", "hi"))
    assert unknown.status_code == 404 and unknown.json() == error_body(404, "Model 'No-Such-Model' not found")
    bad_bodies = {
        b"not json": "not valid JSON",
        b"[1, 2]": "JSON object",
        json.dumps({"messages": [{"role": "user", "content": "x"}]}).encode(): "'model'",
        json.dumps({"model": "EchoBot", "messages": []}).encode(): "'messages'",
        json.dumps(ask("EchoBot", "x") | {"messages": [{"role": "robot", "content": "x"}]}).encode(): "role",
        json.dumps(ask("EchoBot", "x", temperature=5)).encode(): "temperature",
        json.dumps(ask("EchoBot", "x", stop=3)).encode(): "stop",
        json.dumps(ask("EchoBot", "x", stream="yes")).encode(): "stream",
        json.dumps(ask("EchoBot", "x") | {"messages": [{"role": "user", "content": [{"type": "audio"}]}]}).encode():
            "unsupported part",
        json.dumps(ask("EchoBot", "x", tools=[{"type": "function"}])).encode(): "tools",
    }
    for raw, says in bad_bodies.items():
        response = chat(server, raw)
        assert response.status_code == 400, raw
        error = response.json()["error"]
        assert error["code"] == 400 and error["type"] == "invalid_request_error" and says in error["message"], raw
    assert balance(server) == before  # nothing reached a bot


def test_planned_fault_and_request_log(server: LocalServer) -> None:
    server.reset()
    server.fail_next(CHAT, 503, headers={"Retry-After": "1"})
    first, second = chat(server, ask("EchoBot", "x")), chat(server, ask("EchoBot", "x"))
    assert (first.status_code, first.headers["retry-after"], second.status_code) == (503, "1", 200)
    assert first.json()["error"]["code"] == 503
    assert [(r["status"], r["bot"]) for r in server.requests(CHAT)] == [(503, None), (200, "EchoBot")]


@pytest.mark.parametrize("prompt, status, kind", [
    ("fails", 502, "upstream_error"),  # retry may help
    ("retry=0", 500, "server_error"),
    ("error_type=insufficient_fund", 402, "insufficient_points"),
    ("error_type=user_message_too_long", 413, "request_too_large"),
    ("text=rate_limit_reached", 429, "rate_limit_error"),
])
def test_bot_error_before_any_output_gets_its_status(server: LocalServer, prompt: str, status: int,
                                                      kind: str) -> None:
    for stream in (False, True):
        response = chat(server, ask("FlakyBot", prompt, stream=stream))
        assert response.status_code == status and response.json()["error"]["type"] == kind


def test_errors_after_output_and_answers_cut_short(server: LocalServer) -> None:
    failing = chunks_of(stream_lines(server, ask("FailingBot", "words=3")))
    assert content_of(failing) == "partial0 partial1 partial2 "  # the partial answer arrives
    assert failing[-1] == error_body(500, "simulated failure mid-stream")  # then the error, and no [DONE]
    whole = chat(server, ask("FailingBot", "words=3"))
    assert whole.status_code == 500 and whole.json() == error_body(500, "simulated failure mid-stream")
    cut = stream_lines(server, ask("TruncateBot", "words=2"))
    assert "[DONE]" not in cut and content_of(chunks_of(cut)) == "partial0 partial1 "
    assert not [c for c in chunks_of(cut) if c["choices"][0]["finish_reason"]]
    assert chat(server, ask("TruncateBot", "words=2")).status_code == 502


def test_tool_calls_round_trip(server: LocalServer) -> None:
    first = chat(server, ask("ToolBot", "call add a=2 b=3", tools=[ADD_TOOL])).json()
    (choice,) = first["choices"]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
    (call,) = choice["message"]["tool_calls"]
    assert call["type"] == "function" and call["function"]["name"] == "add"
    assert json.loads(call["function"]["arguments"]) == {"a": 2, "b": 3}
    streamed = chunks_of(stream_lines(server, ask("ToolBot", "call add a=2 b=3", tools=[ADD_TOOL])))
    pieces = [d for c in streamed for d in c["choices"][0]["delta"].get("tool_calls", [])]
    assert pieces[0]["id"] == call["id"] and "".join(p["function"]["arguments"] for p in pieces) == \
        call["function"]["arguments"]
    assert streamed[-1]["choices"][0]["finish_reason"] == "tool_calls"
    second = chat(server, {"model": "ToolBot", "tools": [ADD_TOOL], "messages": [
        {"role": "user", "content": "call add a=2 b=3"}, choice["message"],
        {"role": "tool", "tool_call_id": call["id"], "content": "5"}]}).json()
    answer = second["choices"][0]
    assert answer["finish_reason"] == "stop" and f"add ({call['id']}) returned: 5" in answer["message"]["content"]


def test_images_both_ways(server: LocalServer) -> None:
    png = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
    sent = chat(server, {"model": "FileReaderBot", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64," + base64.b64encode(png).decode()}}]}]})
    (found,) = echo_received(sent.json()["choices"][0]["message"]["content"])["files"]
    assert found["content_type"] == "image/png" and found["sha256"] == hashlib.sha256(png).hexdigest()
    answer = chat(server, ask("ImageBot", "a red square mode=file")).json()["choices"][0]["message"]["content"]
    link = answer.split("![image1.png](")[1].split(")")[0]
    assert link.startswith(server.url) and httpx.get(link).content.startswith(b"\x89PNG")


def test_server_log_never_holds_the_key(server: LocalServer) -> None:
    chat(server, ask("FailingBot", "words=1"))
    chat(server, ask("EchoBot", "hi"), key="nope")
    assert server.key not in server.log()


def test_models_answer_by_their_lowercase_catalogue_id(server: LocalServer) -> None:
    """The real catalogue's ids are lowercase (``claude-opus-4.6`` for the bot ``Claude-Opus-4.6``):
    both forms answer, on this endpoint and on the bot route."""
    response = chat(server, ask("echobot", "hi"))
    assert response.status_code == 200 and echo_received(response.json()["choices"][0]["message"]["content"])["bot"] \
        == "EchoBot"
    server.reset()
    import fastapi_poe as fp

    messages = [fp.ProtocolMessage(role="user", content="hi")]
    text = "".join(p.text for p in fp.get_bot_response_sync(messages, bot_name="echobot", api_key=server.key,
                                                             base_url=f"{server.url}/bot/"))
    assert "EchoBot received" in text
    assert [r["path"] for r in server.requests("/bot/")] == ["/bot/EchoBot"]  # logged under the served name
