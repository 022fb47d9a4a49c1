"""Headers the real API puts on every response: ``Date`` (this server's clock, skew included)
and ``x-ratelimit-limit/remaining/reset-requests``.

A plain ASGI middleware (no per-chunk cost on streams). The rate-limit figures count this
server's own sliding minute of key-checked requests against its limit (``--rate-limit``), so a
client that follows them sees them fall. A server without a limit (``--rate-limit 0``) sends no
rate-limit headers at all: made-up figures shared by every client of the key would only slow
them down for nothing.
"""

from __future__ import annotations

import collections
import threading
import time
from email.utils import formatdate
from typing import Any

from poe_magic.server.ratelimit import limited
from poe_magic.server.state import ServerState

WINDOW = 60.0  # seconds: the limit is per minute


class ApiHeaders:
    """ASGI middleware adding ``Date`` and ``x-ratelimit-*`` to every HTTP response."""

    def __init__(self, app: Any, state: ServerState) -> None:
        self.app, self.state = app, state
        self.recent: collections.deque[float] = collections.deque()
        self._lock = threading.Lock()

    def _figures(self, counted: bool) -> tuple[int, int, int] | None:
        """(limit, remaining, seconds until the oldest counted request leaves the window);
        None when this server has no rate limit."""
        limiter = self.state.rate_limiter
        if limiter is None:
            return None
        limit = int(limiter.rpm)
        now = time.monotonic()
        with self._lock:
            while self.recent and now - self.recent[0] >= WINDOW:
                self.recent.popleft()
            if counted:
                self.recent.append(now)
            used = len(self.recent)
            reset = WINDOW - (now - self.recent[0]) if self.recent else 0.0
        return limit, max(0, limit - used), int(reset + 0.999)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        figures = self._figures(limited(scope["path"]))

        async def with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"date"]
                headers.append((b"date", formatdate(self.state.modes.now(), usegmt=True).encode()))
                if figures is not None:
                    limit, remaining, reset = figures
                    headers += [
                        (b"x-ratelimit-limit-requests", str(limit).encode()),
                        (b"x-ratelimit-remaining-requests", str(remaining).encode()),
                        (b"x-ratelimit-reset-requests", f"{reset}s".encode()),
                    ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
