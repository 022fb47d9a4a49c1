"""The local Poe-compatible server over real HTTP: auth, errors, bots, faults."""

from __future__ import annotations

import json

import httpx
import pytest

from poe_magic.testing import LocalServer


def post_query(server: LocalServer, bot: str, text: str, key: str | None = None) -> httpx.Response:
    body = {"version": "1.2", "type": "query", "user_id": "", "conversation_id": "", "message_id": "",
            "query": [{"role": "user", "content": text}]}
    headers = {"Authorization": f"Bearer {key if key is not None else server.key}"}
    return httpx.post(f"{server.url}/bot/{bot}", json=body, headers=headers, timeout=30)


def test_wrong_key_gets_real_error_shape(server: LocalServer) -> None:
    response = post_query(server, "EchoBot", "hi", key="nope")
    assert response.status_code == 401
    assert response.json() == {"error": {"code": 401, "type": "authentication_error", "message": "Invalid API key"}}


def test_unknown_bot_is_404_with_error_shape(server: LocalServer) -> None:
    response = post_query(server, "No-Such-Model", "hi")
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found_error"


def test_echo_bot_streams_sse_and_reports_what_it_received(server: LocalServer) -> None:
    response = post_query(server, "EchoBot", "hello there")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    texts = [json.loads(line[len("data: "):])["text"] for line in response.text.splitlines()
             if line.startswith("data: ") and '"text"' in line]
    body = "".join(texts)
    received = json.loads(body.split("```json\n")[1].split("\n```")[0])
    assert received["turns"] == [{"role": "user", "content": "hello there"}]
    assert "event: done" in response.text


def test_request_log_and_planned_faults(server: LocalServer) -> None:
    server.reset()
    server.fail_next("/bot/EchoBot", 503, count=2, headers={"Retry-After": "1"})
    statuses = [post_query(server, "EchoBot", "x").status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    seen = server.requests("/bot/EchoBot")
    assert [r["status"] for r in seen] == [503, 503, 200]
    assert all(r["authorized"] for r in seen)
