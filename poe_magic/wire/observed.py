"""What the server's responses said about itself: its clock (``Date``) and its rate limit
(``x-ratelimit-*``).

:func:`record` is called for every response (plain HTTP and the streaming transport). The
clock skew is bounded from each ``Date`` header: the server's clock read some time between the
request leaving and the answer arriving, rounded down to the second, so each response gives an
interval for (server time - local time); the intersection of recent intervals is the estimate.
Nothing a server sends is trusted beyond parsing: bad or absurd values are ignored.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

RATE_HEADERS = ("x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests")
MAX_SKEW = 86_400.0  # a Date further off than a day is ignored (a broken proxy, not a clock)
KEEP = 20  # recent intervals intersected


@dataclass
class Observed:
    """The latest figures seen, readable from any thread."""

    skew_bounds: list[tuple[float, float]] = field(default_factory=list)  # (low, high) per response
    rate_limit: dict[str, str] = field(default_factory=dict)  # header -> value, latest response that had them
    rate_limit_at: float | None = None  # time.time() when they were seen
    responses: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def skew(self) -> tuple[float, float] | None:
        """(estimate, uncertainty) in seconds of server clock minus ours, or None when unknown."""
        with self.lock:
            bounds = list(self.skew_bounds)
        if not bounds:
            return None
        while True:  # the newest intervals that agree (a clock that jumped drops the older ones)
            low, high = max(b[0] for b in bounds), min(b[1] for b in bounds)
            if low <= high or len(bounds) == 1:
                return (low + high) / 2, abs(high - low) / 2
            bounds = bounds[1:]


observed = Observed()


def record(response: Any, sent_at: float | None = None) -> None:
    """Note what ``response`` (an httpx response) says; ``sent_at`` is ``time.time()`` when the
    request left (None: its ``Date`` is not used, only its rate-limit headers). Never raises."""
    try:
        received = time.time()
        headers = response.headers
        date = headers.get("date")
        found = {name: str(headers[name])[:40] for name in RATE_HEADERS if name in headers}
        with observed.lock:
            observed.responses += 1
            if found:
                observed.rate_limit, observed.rate_limit_at = found, received
        if date and sent_at is not None:  # without the send time the interval is unknown
            server = parsedate_to_datetime(date).timestamp()
            start = sent_at
            low, high = server - received, server + 1.0 - start
            if abs(low) < MAX_SKEW and abs(high) < MAX_SKEW:
                with observed.lock:
                    observed.skew_bounds = [*observed.skew_bounds[-(KEEP - 1):], (low, high)]
    except (TypeError, ValueError, AttributeError, OverflowError, IndexError):
        pass


def clock_skew() -> tuple[float, float] | None:
    """(server minus local seconds, uncertainty), or None before any ``Date`` was seen."""
    return observed.skew()


def rate_limit_headers() -> dict[str, str]:
    """The ``x-ratelimit-*`` headers of the latest response that had them."""
    with observed.lock:
        return dict(observed.rate_limit)
