"""The local Poe-compatible app: fastapi_poe bots behind the real API's auth and errors.

``build_app`` serves every bot at ``/bot/{name}`` with ``fastapi_poe.make_app`` and wraps it
in :class:`PoeGate`, a plain ASGI middleware (no per-chunk overhead on streams) that does
what the real service does in front of the bots: checks the Bearer key, answers unknown bots
with 404, replies with the real ``{"error": {"code", "type", "message"}}`` shape, and logs
every request so tests can count them. Planned faults (``/_local/faults``) let tests make
the next request to a path fail with a chosen status.

Routes under ``/_local/`` are this server's own (request log, faults, reset, restore); everything
else mirrors ``shared/POE_API.md``.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import fastapi_poe as fp
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from poe_magic.server import catalog as catalog_routes
from poe_magic.server import openai_compat, uploads
from poe_magic.server import usage as usage_routes
from poe_magic.server.bots import make_bots
from poe_magic.server.catalog import served_name
from poe_magic.server.catalog_bulk import bulk_bots
from poe_magic.server.errors import add_error_handlers, code_style, error_body, error_response, model_not_found
from poe_magic.server.headers import ApiHeaders
from poe_magic.server.ratelimit import refusal as rate_limit_refusal
from poe_magic.server.state import Fault, RequestRecord, ServerState

Scope = dict[str, Any]
ASGIApp = Callable[[Scope, Callable[..., Awaitable[Any]], Callable[..., Awaitable[Any]]], Awaitable[None]]

#: paths that need no key, as on the real API
PUBLIC_PATHS = ("/v1/models", "/_local/health", uploads.FILES_PREFIX)

async def _send_json(send: Callable[..., Awaitable[Any]], status: int, body: dict[str, Any],
                     headers: dict[str, str] | None = None) -> None:
    payload = json.dumps(body).encode()
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": payload})


class PoeGate:
    """ASGI middleware: auth, unknown bots, planned faults, request log."""

    def __init__(self, app: ASGIApp, state: ServerState) -> None:
        self.app, self.state = app, state

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        bot = path[len("/bot/"):] if path.startswith("/bot/") else None
        if bot is not None and bot not in self.state.bots:
            # the real API answers a bot by its lowercase catalogue id as well as by its name
            served = served_name(self.state, bot)
            if served is not None:
                bot, path = served, f"/bot/{served}"
                scope = {**scope, "path": path, "raw_path": path.encode()}
        client = scope.get("client") or (None, None)
        record = RequestRecord(time=time.time(), method=scope["method"], path=path, bot=bot, client_port=client[1])
        self.state.record(record)
        scope["poe_record"] = record  # routes that learn the model from the body fill in record.bot

        async def logged_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                record.status = message["status"]
            await send(message)

        if not path.startswith(PUBLIC_PATHS):
            if not self._authorized(scope):
                await _send_json(logged_send, 401, error_body(401, "Invalid API key"),
                                 {"WWW-Authenticate": "Bearer"})
                return
            record.authorized = True
        refused = rate_limit_refusal(self.state, path)  # per-key limit, as the real API's ~500/min
        if refused is not None:
            await _send_json(logged_send, 429, error_body(429, refused[0]), refused[1])
            return
        if bot is not None and bot not in self.state.bots:
            await _send_json(logged_send, 404, error_body(404, model_not_found(bot)))
            return
        if bot is not None and scope["method"] != "POST":  # not fastapi_poe's HTML welcome page
            await _send_json(logged_send, 405, error_body(405, f"use POST for /bot/{bot}"), {"Allow": "POST"})
            return
        fault = self.state.take_fault(path)
        if fault is not None:
            body = fault.body or error_body(fault.status, f"simulated error {fault.status}")
            await _send_json(logged_send, fault.status, body, fault.headers)
            return
        await self.app(scope, receive, logged_send)

    def _authorized(self, scope: Scope) -> bool:
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                scheme, _, token = value.decode("latin-1").partition(" ")
                if scope["path"] == uploads.UPLOAD_PATH and not token:  # fastapi_poe uploads send the bare key
                    return scheme.strip() == self.state.api_key
                return scheme.lower() == "bearer" and token.strip() == self.state.api_key
        return False


def build_app(state: ServerState) -> Any:
    """The ASGI app: bots, API routes and the local admin routes, behind PoeGate."""
    logging.getLogger("uvicorn.default").setLevel(logging.ERROR)  # fastapi_poe's logger: no "bot name not set" banners
    bots = make_bots(state)
    bots += bulk_bots(state, {bot.name: bot for bot in bots})  # POE_LOCAL_SERVER_CATALOG=real: 362 models
    state.bots = {bot.name: bot for bot in bots}
    app = FastAPI(title="poe_magic local Poe-compatible server")
    fp.make_app(bots, allow_without_key=True, app=app)  # PoeGate checks the key instead
    add_error_handlers(app)  # after make_app: its 500-for-bad-body handler is replaced
    _add_local_routes(app, state)
    # each API area adds its own routes here: add_routes(app, state)
    usage_routes.add_routes(app, state)
    catalog_routes.add_routes(app, state)  # GET /v1/models
    uploads.add_routes(app, state)  # POST /poe_api/file_upload_3RD_PARTY_POST, GET /poe_api/files/...
    openai_compat.add_routes(app, state)  # POST /v1/chat/completions (same bots, OpenAI format)
    return ApiHeaders(PoeGate(app, state), state)  # Date and x-ratelimit-* on every response


def _add_local_routes(app: FastAPI, state: ServerState) -> None:
    @app.get("/_local/health")
    async def health() -> dict[str, Any]:
        return {"ok": True, "bots": sorted(state.bots)}

    @app.get("/_local/requests")
    async def requests() -> list[dict[str, Any]]:
        with state.lock:
            return [vars(r).copy() for r in state.requests]

    @app.post("/_local/reset")
    async def reset() -> dict[str, Any]:
        with state.lock:
            state.requests.clear()
            state.faults.clear()
        return {"ok": True}

    @app.get("/_local/faults")
    async def pending_faults() -> list[dict[str, Any]]:
        return state.pending_faults()

    @app.post("/_local/restore")
    async def restore() -> dict[str, Any]:
        """Undo what tests changed (faults, usage modes, rate-limit counters); say what faults were left."""
        left = state.restore()
        code_style["codes"] = state.modes.error_codes
        return {"ok": True, "faults_left": left}

    @app.post("/_local/faults")
    async def add_fault(request: Request) -> JSONResponse:
        try:
            fault = _fault(await request.json())
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            return error_response(400, f"bad fault: {exc}")
        with state.lock:
            state.faults.append(fault)
        return JSONResponse({"ok": True})


_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an HTTP token (RFC 9110)


def _fault(data: Any) -> Fault:
    """A planned fault from its JSON, checked: a status from 100 to 599, a count from 1 up,
    header names that are HTTP tokens and values without line breaks (else ValueError)."""
    status, count = data["status"], data.get("count", 1)
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise ValueError(f"status must be a whole number from 100 to 599, got {status!r}")
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 10_000:
        raise ValueError(f"count must be a whole number from 1 to 10000, got {count!r}")
    headers = {str(k): str(v) for k, v in (data.get("headers") or {}).items()}
    for name, value in headers.items():
        if not _HEADER_NAME.fullmatch(name) or any(c in value for c in "\r\n\x00"):
            raise ValueError(f"bad header {name!r}")
    body = data.get("body")
    if body is not None and not isinstance(body, dict):
        raise ValueError("body must be a JSON object")
    return Fault(path=str(data["path"]), status=status, count=count, body=body, headers=headers)
