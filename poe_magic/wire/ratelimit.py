"""Client-side rate limiting: an async token bucket shared by everything using one API key.

The Poe API allows about 500 requests per minute per key and answers 429 (with
``Retry-After``) beyond that. Batch runs pace their requests below the limit with a
:class:`RateLimiter`, one per (server, key) so two batches running at once share it, and
react to a 429 by pausing every sender, not only the one that was refused.

The bucket is implemented as GCRA (the "virtual scheduling" form of a token bucket): each
request reserves the next free slot on an absolute timeline, so a late wake-up of the event
loop never accumulates into a slower (or, after catching up, faster) long-run rate.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable

from poe_magic.base.config import Settings
from poe_magic.base.errors import PoeUsageError

#: requests per minute batches use unless told otherwise: under the API's ~500/min
DEFAULT_MAX_RPM = 450.0

#: after a 429 the rate drops to this fraction of what it was (never below MIN_FRACTION of the set rate)
BACKOFF_FACTOR = 0.8
MIN_FRACTION = 0.1


class RateLimiter:
    """At most ``rpm`` acquisitions per minute, ``burst`` of them back to back.

    Use from one event loop: :meth:`acquire` reserves a slot synchronously, then sleeps
    until it, so concurrent callers need no lock.
    """

    def __init__(self, rpm: float, burst: int = 1, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.burst = max(1, int(burst))
        self._tat = 0.0  # theoretical arrival time of the next request (GCRA)
        self._paused_until = 0.0
        self.throttled = 0  # 429s reported through pause()
        self.set_rate(rpm)

    def set_rate(self, rpm: float) -> None:
        """Change the configured rate (requests per minute, > 0)."""
        if not rpm or rpm <= 0:
            raise PoeUsageError(f"a rate limit must be a positive number of requests per minute, got {rpm!r}")
        self.configured_rpm = float(rpm)
        self.rpm = float(rpm)

    @property
    def interval(self) -> float:
        """Seconds between two requests at the current rate."""
        return 60.0 / self.rpm

    def reserve(self) -> float:
        """Book the next slot; return how many seconds to wait for it (0 when free now)."""
        now = self.clock()
        interval = self.interval
        tolerance = interval * (self.burst - 1)
        start = max(now, self._tat - tolerance, self._paused_until)
        self._tat = max(self._tat, start) + interval
        return start - now

    async def acquire(self) -> None:
        """Wait for a slot (returns at once while the bucket has room)."""
        delay = self.reserve()
        if delay > 0:
            await asyncio.sleep(delay)

    def pause(self, seconds: float) -> None:
        """The server said 429: nobody sends for ``seconds``, then at a lower rate."""
        now = self.clock()
        if now >= self._paused_until:  # one slow-down per 429 episode, not per refused request
            self.rpm = max(self.rpm * BACKOFF_FACTOR, self.configured_rpm * MIN_FRACTION)
        self.throttled += 1
        self._paused_until = max(self._paused_until, now + max(0.0, seconds))
        self._tat = max(self._tat, self._paused_until)

    def __repr__(self) -> str:
        return f"<RateLimiter {self.rpm:g}/min (set {self.configured_rpm:g}/min) burst={self.burst}>"


_limiters: dict[tuple[str, str], RateLimiter] = {}


def _account(settings: Settings) -> tuple[str, str]:
    """(server, key digest): the key itself is never kept."""
    key = settings.api_key()
    return settings.root, hashlib.sha256(key.encode()).hexdigest()[:16]


def limiter_for(settings: Settings, rpm: float | None) -> RateLimiter | None:
    """The shared limiter of this server and key, set to ``rpm`` (None: the default,
    0: no limit, in which case None is returned)."""
    if rpm is None:
        rpm = DEFAULT_MAX_RPM
    if rpm < 0:
        raise PoeUsageError(f"max_rpm must be 0 (no limit) or a positive number, got {rpm!r}")
    if rpm == 0:
        return None
    account = _account(settings)
    limiter = _limiters.get(account)
    if limiter is None:
        limiter = _limiters[account] = RateLimiter(rpm)
    else:
        limiter.set_rate(rpm)  # a new batch starts from the set rate, not an old back-off
    return limiter
