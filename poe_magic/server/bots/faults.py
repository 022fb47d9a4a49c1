"""Bots that fail on purpose, so the client's error handling can be proven end to end.

Each one reproduces a failure the real service (or the network in front of it) produces:

- ``DropBot``: streams ``words`` words, then the TCP connection is cut mid-answer (no
  closing chunk, no ``done`` event), as when a proxy or the network drops it.
- ``TruncateBot``: streams ``words`` words, then ends the HTTP response cleanly but without
  the protocol's ``done`` event (a truncated answer that looks complete to a naive client).
- ``StallBot``: streams ``words`` words (0: none), then goes silent for ``stall`` seconds.
- ``FlakyBot``: sends an ``error`` event before any text (``allow_retry`` true unless
  ``retry=0``) for the first ``fails`` requests carrying the same ``id=...`` word, then
  answers; ``error_type=...`` and ``text=...`` pick the error; without ``fails`` it always fails.
- ``HeaderEchoBot``: fails with an error text that echoes the request's Authorization header
  and a URL carrying the key (as careless upstream proxies do), after ``words`` words; the
  client must scrub it.

Knobs are ``key=value`` words in the prompt or ``--param`` values (see :func:`bots.knobs`).
The HTTP-status faults (401, 402, 429 with Retry-After, 5xx, ...) are planned per path with
``LocalServer.fail_next`` instead (see :class:`~poe_magic.server.app.PoeGate`).
"""

from __future__ import annotations

import asyncio
import builtins
import logging
from collections import Counter
from collections.abc import AsyncIterable
from typing import Any

import fastapi_poe as fp

from poe_magic.server.bots.base import LocalBot, knobs
from poe_magic.server.state import ServerState


class DropConnection(BaseException):
    """Raised inside a bot to make uvicorn cut the TCP connection mid-response.

    A BaseException on purpose: fastapi_poe turns every ``Exception`` a bot raises into a
    polite ``error`` event, which is not what a dropped connection looks like.
    """


class _QuietDrops(logging.Filter):
    """Keep uvicorn's 'Exception in ASGI application' traceback for planned drops out of the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not _is_drop(exc)


_GROUP: Any = getattr(builtins, "BaseExceptionGroup", ())  # Python 3.11+; anyio may wrap the drop in one


def _is_drop(exc: Any) -> bool:
    if isinstance(exc, DropConnection):
        return True
    return isinstance(exc, _GROUP) and any(_is_drop(e) for e in exc.exceptions)


logging.getLogger("uvicorn.error").addFilter(_QuietDrops())


async def _words(count: int, delay: float = 0.005, prefix: str = "partial") -> AsyncIterable[fp.PartialResponse]:
    for i in range(count):
        yield fp.PartialResponse(text=f"{prefix}{i} ")
        await asyncio.sleep(delay)


class DropBot(LocalBot):
    description = "Test fault: streams a few words, then the connection is cut (knob: words)."

    async def answer(self, request: fp.QueryRequest) -> AsyncIterable[fp.PartialResponse]:
        async for part in _words(int(knobs(request).get("words", 3))):
            yield part
        await asyncio.sleep(0.05)  # let the words leave the server before the cut
        raise DropConnection()


class TruncateBot(LocalBot):
    description = "Test fault: streams a few words, then ends without the 'done' event (knob: words)."

    async def handle_query(self, request: fp.QueryRequest, context: Any) -> AsyncIterable[Any]:
        # fastapi_poe's own handle_query always ends with 'done'; this one just stops.
        async for part in _words(int(knobs(request).get("words", 3))):
            yield self.text_event(part.text)


class StallBot(LocalBot):
    description = "Test fault: streams a few words, then goes silent (knobs, as --param K=V or K=V in the prompt: words, stall seconds)."

    async def answer(self, request: fp.QueryRequest) -> AsyncIterable[fp.PartialResponse]:
        k = knobs(request)
        async for part in _words(int(k.get("words", 3))):
            yield part
        await asyncio.sleep(float(k.get("stall", 3600)))
        yield fp.PartialResponse(text="(woke up)")


class FlakyBot(LocalBot):
    description = "Test fault: an error event before any text for the first N tries (knobs, as --param K=V or K=V in the prompt: fails, id, retry)."

    def __init__(self, name: str, state: ServerState, **kwargs: Any) -> None:
        super().__init__(name, state, **kwargs)
        self.tries: Counter[str] = Counter()

    async def answer(self, request: fp.QueryRequest) -> AsyncIterable[fp.PartialResponse]:
        k = knobs(request)
        run_id = str(k.get("id", ""))
        self.tries[run_id] += 1
        fails = k.get("fails")
        if fails is None or self.tries[run_id] <= int(fails):
            yield fp.ErrorResponse(
                text=str(k.get("text", "the model is temporarily overloaded")).replace("_", " "),
                allow_retry=bool(int(k.get("retry", 1))),
                error_type=k.get("error_type"),
            )
            return
        yield fp.PartialResponse(text=f"recovered after {self.tries[run_id] - 1} failed tries")


class HeaderEchoBot(LocalBot):
    description = "Test fault: fails with an error text that echoes the Authorization header (knob: words)."

    async def get_response_with_context(self, request: fp.QueryRequest, context: Any) -> AsyncIterable[Any]:
        auth = context.http_request.headers.get("authorization", "")
        token = auth.partition(" ")[2]
        async for part in _words(int(knobs(request).get("words", 0))):
            yield part
        yield fp.ErrorResponse(
            text=f"upstream refused request with headers {{'Authorization': '{auth}'}} "
                 f"to https://upstream.example/v1/chat?api_key={token}&x=1 (raw key {token})",
            allow_retry=False,
        )


FAULT_BOTS = {
    "DropBot": DropBot,
    "TruncateBot": TruncateBot,
    "StallBot": StallBot,
    "FlakyBot": FlakyBot,
    "HeaderEchoBot": HeaderEchoBot,
}


def make_fault_bots(state: ServerState) -> list[LocalBot]:
    """One instance of each fault bot (registered by :func:`bots.make_bots`)."""
    return [cls(name, state) for name, cls in FAULT_BOTS.items()]
