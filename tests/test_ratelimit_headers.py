"""Issue 26 row 5: the bundled server sends ``x-ratelimit-*`` headers only when it has a
rate limit; started with ``--rate-limit 0`` it sends none (made-up figures shared by every
client of the key would slow them all down for nothing)."""

from __future__ import annotations

import httpx
import pytest

from poe_magic.server.launch import LocalServer, local_server

NAMES = ("x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests")


def ask(srv: LocalServer) -> httpx.Response:
    body = {"version": "1.2", "type": "query", "user_id": "", "conversation_id": "", "message_id": "",
            "query": [{"role": "user", "content": "hi"}]}
    answered = httpx.post(srv.url + "/bot/EchoBot", json=body, timeout=30,
                          headers={"Authorization": f"Bearer {srv.key}"})
    assert answered.status_code == 200
    return answered


def rate_headers(response: httpx.Response) -> dict[str, str]:
    return {k.lower(): v for k, v in response.headers.items() if k.lower().startswith("x-ratelimit")}


def test_a_server_without_a_rate_limit_sends_no_rate_limit_headers(server: LocalServer) -> None:
    """The suites' server is started with ``--rate-limit 0``: a query, a catalogue read and a
    404 carry a Date and no x-ratelimit-* header."""
    assert rate_headers(ask(server)) == {}
    for response in (httpx.get(server.url + "/v1/models", timeout=30),
                     httpx.get(server.url + "/no/such/path", timeout=30)):
        assert "date" in response.headers
        assert rate_headers(response) == {}


@pytest.mark.http
def test_a_server_with_a_rate_limit_sends_its_own_figures() -> None:
    """With ``--rate-limit 120`` the headers say 120 and the remaining count falls per query."""
    with local_server(args=["--rate-limit", "120", "--rate-burst", "120"]) as srv:
        first, second = rate_headers(ask(srv)), rate_headers(ask(srv))
    assert set(first) == set(NAMES)
    assert first["x-ratelimit-limit-requests"] == "120"
    assert int(second["x-ratelimit-remaining-requests"]) == int(first["x-ratelimit-remaining-requests"]) - 1
    assert second["x-ratelimit-reset-requests"].endswith("s")
