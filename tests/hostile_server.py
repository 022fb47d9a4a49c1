"""A hostile Poe-compatible server for the hardening tests: a small ASGI app served by uvicorn
on 127.0.0.1 in a thread of the test process.

The bot named in ``POST /bot/NAME`` decides what it does wrong:

- ``Traversal``: answers with a file whose name is ``../../../../tmp/<marker>.png``
- ``BadDelta`` / ``BadToolCalls``: some text, then an OpenAI-style ``json`` event whose
  ``delta`` is a string / whose ``tool_calls`` is ``[5]``, then keeps talking for a long time
- ``Html`` / ``Json``: a 200 that is not an event stream
- ``Redirect``: a 302 to another loopback address (never contacted: nothing listens there)
- ``EchoKey``: echoes the Authorization header it got as the answer's text
- anything else: "ok"

``GET /usage/current_balance`` answers the raw JSON bodies queued in ``balances``;
``GET /usage/points_history`` always says ``has_more`` and sends the same page (a cycle), or,
with ``history_costs`` set, one page listing an ``Echo`` call made just now for each cost;
``GET /v1/models`` lists the bots above, or trickles a byte a second when ``trickle`` is set; ``GET /files/NAME`` serves a small PNG.
Every request is recorded in ``HostileServer.seen`` (method, path, body).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15"
       b"\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")


def sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


class HostileServer:
    """The app and what it saw; ``url`` once started."""

    def __init__(self) -> None:
        self.url = ""
        self.seen: list[dict[str, Any]] = []
        self.balances: list[str] = []  # raw JSON bodies for /usage/current_balance, in turn
        self.marker = f"hostile-{time.time_ns()}"
        self.talking = 0  # endless streams still being written (0 once the client hung up)
        self.trickle = False  # True: the catalogue comes a byte a second
        self.history_costs: list[Any] | None = None  # set: one page listing an "Echo" call per cost, just now

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path = scope["path"]
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.seen.append({"method": scope["method"], "path": path, "body": body, "headers": headers})
        if path.startswith("/bot/"):
            await self._bot(path.removeprefix("/bot/"), headers, send, receive)
        elif path == "/usage/points_history" and self.history_costs is not None:
            now = time.time_ns() // 1000
            page = {"data": [{"query_id": f"c{i}-{now}", "creation_time": now - 1000 * i, "bot_name": "Echo",
                              "usage_type": "API", "cost_points": cost} for i, cost in enumerate(self.history_costs)],
                    "has_more": False}
            await _send(send, 200, "application/json", json.dumps(page).encode())  # (NaN written as JSON allows)
        elif path == "/usage/points_history":
            page = {"data": [{"query_id": f"q{i}", "creation_time": 1_700_000_000_000_000 - i,
                              "bot_name": "Loop", "usage_type": "API", "cost_points": 1} for i in range(3)],
                    "has_more": True}
            await _send(send, 200, "application/json", json.dumps(page).encode())
        elif path == "/v1/models" and not self.trickle:
            names = ["Traversal", "BadDelta", "BadToolCalls", "Html", "Json", "Redirect", "EchoKey", "Echo"]
            catalogue = {"object": "list", "data": [{"id": n, "object": "model"} for n in names]}
            await _send(send, 200, "application/json", json.dumps(catalogue).encode())
        elif path == "/v1/models":
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json")]})
            for byte in b'{"object": "list", "data": []}' * 10:
                await send({"type": "http.response.body", "body": bytes([byte]), "more_body": True})
                await asyncio.sleep(1.0)
            await send({"type": "http.response.body", "body": b""})
        elif path == "/usage/current_balance":  # absurd numbers: 1e308, then infinity written as JSON allows
            await _send(send, 200, "application/json", self.balances.pop(0).encode() if self.balances else b"{}")
        elif path.startswith("/files/"):
            await _send(send, 200, "image/png", PNG)
        else:
            await _send(send, 404, "text/plain", b"not here")

    async def _bot(self, name: str, headers: dict[str, str], send: Any, receive: Any) -> None:
        if name == "Html":
            return await _send(send, 200, "text/html", b"<html><body>Welcome to the captive portal</body></html>")
        if name == "Json":
            return await _send(send, 200, "application/json", b'{"hello": "world"}')
        if name == "Redirect":
            return await send_redirect(send, "http://127.0.0.9:9/steal")
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream")]})

        async def emit(chunk: bytes, more: bool = True) -> None:
            await send({"type": "http.response.body", "body": chunk, "more_body": more})

        if name == "Traversal":
            await emit(sse("text", {"text": "here is your file"}))
            await emit(sse("file", {"url": f"{self.url}/files/x.png", "content_type": "image/png",
                                    "name": f"../../../../tmp/{self.marker}.png", "inline_ref": None}))
        elif name in ("BadDelta", "BadToolCalls"):
            await emit(sse("text", {"text": "partial words "}))
            bad = {"choices": [{"delta": "oops"}]} if name == "BadDelta" else \
                {"choices": [{"delta": {"tool_calls": [5]}}]}
            await emit(sse("json", bad))
            self.talking += 1
            hung_up = asyncio.ensure_future(receive())  # http.disconnect when the client goes
            try:
                for _ in range(3000):  # ten minutes of chatter unless the client hangs up
                    await asyncio.sleep(0.2)
                    if hung_up.done():
                        break
                    await emit(sse("text", {"text": "more "}))
            except OSError:
                pass
            finally:
                self.talking -= 1
                hung_up.cancel()
            return
        elif name == "EchoKey":
            await emit(sse("text", {"text": "you sent: " + headers.get("authorization", "")}))
        else:
            await emit(sse("text", {"text": "ok"}))
        await emit(sse("done", {}), more=False)


async def _send(send: Any, status: int, content_type: str, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type.encode())]})
    await send({"type": "http.response.body", "body": body})


async def send_redirect(send: Any, where: str) -> None:
    await send({"type": "http.response.start", "status": 302,
                "headers": [(b"location", where.encode()), (b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"moved"})


@contextmanager
def hostile_server() -> Iterator[HostileServer]:
    """Serve a :class:`HostileServer` on 127.0.0.1 (a free port) for the block."""
    app = HostileServer()
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error", lifespan="off",
                            timeout_graceful_shutdown=1)  # endless streams must not hold the shutdown
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the hostile server did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    app.url = f"http://127.0.0.1:{port}"
    try:
        yield app
    finally:
        server.should_exit = server.force_exit = True
        thread.join(10)
