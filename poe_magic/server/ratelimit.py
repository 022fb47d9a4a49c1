"""The local server's per-key rate limit, as the real API has one (about 500 requests/min).

A token bucket per API key: it holds ``burst`` requests and refills at ``rpm / 60`` per
second. A query that finds it empty is answered ``429`` with the real error shape and a
``Retry-After`` header (whole seconds, as HTTP says), before any bot runs.

Only model queries count (``/bot/{name}`` and ``/v1/chat/completions``): usage and catalogue
reads are cheap and are what clients poll, so they are not limited here.

``python -m poe_magic.server`` limits at 500/min by default (``--rate-limit 0`` turns it
off); servers started with :func:`poe_magic.server.launch.start_local_server` have it off unless asked for.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any

#: the real API's documented limit, requests per minute per key
DEFAULT_RPM = 500.0

LIMITED_PREFIXES = ("/bot/", "/v1/chat/completions")


class KeyRateLimiter:
    """Token buckets per key; :meth:`check` spends one token or says how long to wait."""

    def __init__(self, rpm: float, burst: int | None = None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if rpm <= 0:
            raise ValueError(f"rpm must be positive, got {rpm}")
        self.rpm = float(rpm)
        self.burst = int(burst) if burst else max(1, int(rpm // 10))  # ~6 s of traffic by default
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, updated at)
        self._lock = threading.Lock()

    @property
    def per_second(self) -> float:
        return self.rpm / 60.0

    def check(self, key: str) -> float | None:
        """Spend a token for ``key``: None when allowed, else the seconds until one is free."""
        now = self.clock()
        with self._lock:
            tokens, updated = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - updated) * self.per_second)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return None
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.per_second

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()


def limited(path: str) -> bool:
    """Whether requests to ``path`` count against the rate limit."""
    return path.startswith(LIMITED_PREFIXES)


def refusal(state: Any, path: str) -> tuple[str, dict[str, str]] | None:
    """For an authorized request: None when it may go on, else the real API's 429 message
    and headers. ``state.rate_limiter`` is None when the server has no limit."""
    limiter: KeyRateLimiter | None = getattr(state, "rate_limiter", None)
    if limiter is None or not limited(path):
        return None
    wait = limiter.check(state.api_key)
    if wait is None:
        return None
    seconds = max(1, math.ceil(wait))
    message = (f"Rate limit exceeded: at most {limiter.rpm:g} requests per minute per API key; "
               f"retry after {seconds} s")
    return message, {"Retry-After": str(seconds)}
