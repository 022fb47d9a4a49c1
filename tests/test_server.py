"""The local Poe-compatible server over real HTTP: auth, errors, bots, faults."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys

import httpx
import pytest
from protocols import both_protocols

from poe_magic.server.launch import READY_PREFIX, LocalServer


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


def test_bad_bodies_and_unknown_routes_get_the_error_shape(server: LocalServer) -> None:
    auth = {"Authorization": f"Bearer {server.key}"}
    for raw in (b"not json", b'{"version": "1.2", "type": "query", "query": []}'):
        response = httpx.post(f"{server.url}/bot/EchoBot", content=raw, headers=auth)
        assert response.status_code == 400, raw  # fastapi_poe alone answers a plain-text 500
        assert response.json()["error"]["type"] == "invalid_request_error"
    missing = httpx.post(f"{server.url}/bot/EchoBot", json={"version": "1.2", "type": "query", "query": []},
                         headers=auth).json()["error"]["message"]
    assert "user_id: Field required" in missing
    nowhere = httpx.get(f"{server.url}/v2/nothing", headers=auth)
    assert nowhere.status_code == 404 and nowhere.json() == {
        "error": {"code": 404, "type": "not_found_error", "message": "no route GET /v2/nothing"}}


def test_catalogue_and_balance_payloads_match_the_api(server: LocalServer) -> None:
    models = httpx.get(f"{server.url}/v1/models")  # no key needed, as on the real API
    assert models.status_code == 200
    body = models.json()
    assert set(body) == {"object", "data"} and body["object"] == "list"
    served = httpx.get(f"{server.url}/_local/health").json()["bots"]
    # every listed model answers; ids are lowercase, the bot's name is the display name (real shape)
    assert sorted(m["id"] for m in body["data"]) == sorted(name.lower() for name in served)
    assert {m["metadata"].get("display_name", m["id"]) for m in body["data"]} == set(served) - {"Veo-3"} | {"veo-3"}
    for model in body["data"]:
        assert model["id"] == model["id"].lower() == model["root"]
        assert set(model["reasoning"]) == {"budget", "required", "supports_reasoning_effort"}
        assert isinstance(model["parameters"], list) and isinstance(model["supported_endpoints"], list)
        prices = model["pricing"]
        assert prices is None or all(v is None or (isinstance(v, str) and float(v) >= 0) for v in prices.values())
        assert model["object"] == "model" and isinstance(model["owned_by"], str)
        arch = model["architecture"]
        assert arch["input_modalities"] and arch["output_modalities"]
        assert model["created"] is None or model["created"] > 1_600_000_000_000  # milliseconds
    auth = {"Authorization": f"Bearer {server.key}"}
    balance = httpx.get(f"{server.url}/usage/current_balance", headers=auth).json()
    assert list(balance) == ["current_point_balance"] and isinstance(balance["current_point_balance"], int)
    assert httpx.get(f"{server.url}/usage/current_balance").status_code == 401


def _start_cli(*args: str, key: str) -> tuple[subprocess.Popen[str], str]:
    env = dict(os.environ, POE_LOCAL_SERVER_KEY=key)
    process = subprocess.Popen([sys.executable, "-m", "poe_magic.server", "--history-entries", "0", *args],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               text=True, env=env)
    assert process.stdout is not None
    return process, process.stdout.readline()


@pytest.mark.http
def test_cli_rate_limit_answers_429_and_never_prints_the_key() -> None:
    key = "local-" + secrets.token_hex(12)
    process, ready = _start_cli("--port", "0", "--rate-limit", "60", "--rate-burst", "1", key=key)
    output = ready
    try:
        assert ready.startswith(READY_PREFIX), ready
        url = ready[len(READY_PREFIX):].strip()
        auth = {"Authorization": f"Bearer {key}"}
        chat = {"model": "EchoBot", "messages": [{"role": "user", "content": "hi"}]}
        assert httpx.post(url + "/v1/chat/completions", json=chat, headers=auth).status_code == 200
        for refused in (httpx.post(url + "/v1/chat/completions", json=chat, headers=auth),
                        post_query(LocalServer(process, url, key, ""), "EchoBot", "hi")):
            assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
            error = refused.json()["error"]
            assert error["code"] == 429 and error["type"] == "rate_limit_error" and "per minute" in error["message"]
        # reads are not limited (clients poll them)
        assert httpx.get(url + "/usage/current_balance", headers=auth).status_code == 200
        assert httpx.get(url + "/v1/models").status_code == 200
        # a port in use: one line, no traceback
        port = url.rsplit(":", 1)[1]
        second, said = _start_cli("--port", port, key=key)
        said += second.communicate(timeout=30)[0]
        assert second.returncode == 1 and "Traceback" not in said and f"cannot listen on 127.0.0.1:{port}" in said
        output += said
    finally:
        process.terminate()
        output += process.communicate(timeout=30)[0]
    assert key not in output


def test_cli_help_names_the_routes_and_how_to_connect() -> None:
    text = subprocess.run([sys.executable, "-m", "poe_magic.server", "--help"], capture_output=True, text=True,
                          timeout=60, check=True).stdout
    for route in ("/bot/{name}", "/v1/chat/completions", "/v1/models", "/usage/current_balance",
                  "/usage/points_history", "POE_BASE_URL", "--rate-limit", "--key"):
        assert route in text


@both_protocols
def test_model_stand_ins_call_offered_tools(activated: LocalServer) -> None:
    import poe_magic

    calls: list[tuple[int, int]] = []

    def add(a: int, b: int) -> int:
        """Add two numbers."""
        calls.append((a, b))
        return a + b

    reply = poe_magic.ask("What is a=2 b=3 added up?", "GPT-5", tools=[add], stream=False)
    assert calls == [(2, 3)] and "Answer: 5" in reply.text
    untouched = poe_magic.ask("What is two plus three?", "GPT-5", tools=[add], stream=False)
    assert calls == [(2, 3)] and "tools offered (add) but not called" in untouched.text


def test_bot_route_only_takes_post(server: LocalServer) -> None:
    response = httpx.get(f"{server.url}/bot/EchoBot", headers={"Authorization": f"Bearer {server.key}"}, timeout=30)
    assert response.status_code == 405 and response.headers["allow"] == "POST"
    assert response.json()["error"]["type"] == "invalid_request_error"
