"""Client-side rate limiting: a sliding one-minute window shared by everything using one API key.

The Poe API allows about 500 requests per minute per key and answers 429 (with
``Retry-After``) beyond that, and in practice sends no rate-limit headers to steer by. So the
client keeps count itself: one :class:`RateLimiter` per (server, key) that every streamed
request books a start on (``settings.max_rpm``, default 500/min: :func:`shared`, used by the
transport before each try) and that batches drive themselves at their own ``max_rpm``
(:func:`limiter_for`), so two batches and the cells run beside them share one window. A 429
pauses every sender, not only the one that was refused.

The limit is a per-minute allowance, not a pace: at most ``rpm`` requests start in any 60 s
window, so a batch smaller than the allowance runs at full concurrency (16 one-second requests
at concurrency 8 take 2 s, not the 3 s a 7.5/s pace would), while a long batch still holds
``rpm`` per minute. Each request books the first start time at which the window has room, on
one timeline, so a late wake-up of the event loop never adds up to a faster rate.

When responses carry ``x-ratelimit-limit-requests`` / ``-remaining-requests`` /
``-reset-requests`` (the real API sends them; :mod:`poe_magic.wire.observed` records the
latest), each booking of a limiter with a set rate takes them in (:meth:`RateLimiter.follow`): a
lower server limit caps the allowance, and once the server says nothing remains, nobody sends
(and a 429's retry waits) until its reset.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import math
import re
import time
from collections.abc import Callable, Mapping

from poe_magic.base.config import Settings
from poe_magic.base.errors import ConfigError, PoeUsageError
from poe_magic.wire import observed

#: requests per minute batches use unless told otherwise: under the API's ~500/min
DEFAULT_MAX_RPM = 450.0

#: after a 429 the rate drops to this fraction of what it was (never below MIN_FRACTION of the set rate)
BACKOFF_FACTOR = 0.8
MIN_FRACTION = 0.1

WINDOW = 60.0  # seconds: the allowance is per minute
#: seconds added to the window when booking: the server counts arrivals, and a request booked
#: for t may reach it later than one booked for t + window (a burst's first requests open
#: connections); without it a window's start and the next window's end overlapped at the server
MARGIN = 0.25
MAX_RESET = 3600.0  # a reset further off than this is not believed (a broken header)


class RateLimiter:
    """At most ``rpm`` request starts in any ``window`` seconds (``rpm`` may be ``math.inf``:
    no limit, but a 429 still pauses everyone).

    Use from one event loop: :meth:`acquire` books a start time synchronously, then sleeps
    until it, so concurrent callers need no lock.
    """

    def __init__(self, rpm: float, *, window: float = WINDOW, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.window = window
        self._starts: collections.deque[float] = collections.deque()  # booked starts, oldest first
        self._paused_until = 0.0
        self.throttled = 0  # 429s reported through pause()
        self.server_limit: int | None = None  # x-ratelimit-limit-requests
        self._server_left: int | None = None  # x-ratelimit-remaining-requests, minus what we sent since
        self._server_reset = 0.0  # clock time the server's window resets
        self._followed_at: float | None = None  # when the headers last followed were seen
        self.set_rate(rpm)

    def set_rate(self, rpm: float) -> None:
        """Change the configured rate (requests per minute, > 0)."""
        if not rpm or rpm <= 0 or math.isnan(rpm):
            raise PoeUsageError(f"a rate limit must be a positive number of requests per minute, got {rpm!r}")
        self.configured_rpm = float(rpm)
        self.rpm = float(rpm)

    @property
    def allowance(self) -> float:
        """Requests that may start in one window now (the rate, capped by the server's limit)."""
        allowed = self.rpm * self.window / 60.0
        if self.server_limit is not None:
            allowed = min(allowed, self.server_limit * self.window / 60.0)
        return max(1.0, math.floor(allowed)) if math.isfinite(allowed) else allowed

    def reserve(self) -> float:
        """Book the next start; return how many seconds to wait for it (0 when free now)."""
        # max_rpm=0 (no limit): only a 429 pauses; a test's fake clock cannot place real headers
        if math.isfinite(self.rpm) and self.clock is time.monotonic:
            self._take_observed()
        now = self.clock()
        start = max(now, self._paused_until, self._starts[-1] if self._starts else now)
        if self._server_left is not None:
            if start >= self._server_reset:
                self._server_left = None  # the server's window has turned over
            elif self._server_left <= 0:
                start = max(start, self._server_reset)
                self._server_left = None
            else:
                self._server_left -= 1
        allowance = self.allowance
        if math.isfinite(allowance):
            while self._starts and self._starts[0] <= start - self.window - MARGIN:
                self._starts.popleft()
            if len(self._starts) >= allowance:  # the window is full: wait for its oldest start to leave it
                start = max(start, self._starts[-int(allowance)] + self.window + MARGIN)
            self._starts.append(start)
        return start - now

    async def acquire(self) -> None:
        """Wait for a slot (returns at once while the window has room)."""
        delay = self.reserve()
        if delay > 0:
            await asyncio.sleep(delay)

    def pause(self, seconds: float) -> None:
        """The server said 429: nobody sends for ``seconds`` (longer if the server's rate-limit
        headers said its window resets later), then at a lower rate."""
        now = self.clock()
        if now >= self._paused_until:  # one slow-down per 429 episode, not per refused request
            self.rpm = max(self.rpm * BACKOFF_FACTOR, self.configured_rpm * MIN_FRACTION)
        self.throttled += 1
        until = now + max(0.0, seconds)
        if self._server_left is not None and self._server_left <= 0 and now < self._server_reset:
            until = max(until, self._server_reset)
        self._paused_until = max(self._paused_until, until)

    def follow(self, headers: Mapping[str, str], age: float = 0.0) -> None:
        """Take in a response's ``x-ratelimit-*`` headers (seen ``age`` seconds ago); values
        that do not parse, or are absurd, are ignored."""
        limit = _count(headers.get("x-ratelimit-limit-requests"))
        if limit is not None and limit > 0:
            self.server_limit = limit
        left = _count(headers.get("x-ratelimit-remaining-requests"))
        reset = _seconds(headers.get("x-ratelimit-reset-requests"))
        if left is not None and reset is not None:
            self._server_left, self._server_reset = left, self.clock() - max(0.0, age) + reset

    def _take_observed(self) -> None:
        """Follow the rate-limit headers the transport saw since the last booking."""
        seen = observed.observed.rate_limit_at
        if seen is not None and seen != self._followed_at:
            self._followed_at = seen
            self.follow(observed.rate_limit_headers(), age=max(0.0, time.time() - seen))

    def __repr__(self) -> str:
        server = f", server limit {self.server_limit}/min" if self.server_limit is not None else ""
        return f"<RateLimiter {self.rpm:g}/min (set {self.configured_rpm:g}/min){server}>"


def _count(value: str | None) -> int | None:
    if value is None or not str(value).strip().isdigit():
        return None
    number = int(str(value).strip())
    return number if number < 10**9 else None


_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def _seconds(value: str | None) -> float | None:
    """``"20"``, ``"1.5"``, ``"6m0s"``, ``"250ms"`` (the forms APIs send) as seconds."""
    if value is None:
        return None
    text = str(value).strip().lower()[:40]
    try:
        seconds = float(text)
    except ValueError:
        parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text)
        if not parts or "".join(n + u for n, u in parts) != text:
            return None
        seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    return seconds if 0.0 <= seconds <= MAX_RESET else None


_limiters: dict[tuple[str, str], RateLimiter] = {}


def _account(settings: Settings) -> tuple[str, str]:
    """(server, key digest): the key itself is never kept."""
    key = settings.api_key()
    return settings.root, hashlib.sha256(key.encode()).hexdigest()[:16]


def shared(settings: Settings) -> RateLimiter | None:
    """The limiter every streamed request books a start on (:func:`poe_magic.wire.transport.stream`,
    before each try): this server and key's, the very one batches use, so a batch and the calls
    made beside it share one window. Made at ``settings.max_rpm`` when no batch made it first;
    None when ``max_rpm`` is 0 or there is no key (the transport says so in one line)."""
    if not settings.max_rpm:
        return None
    try:
        account = _account(settings)
    except ConfigError:
        return None
    return _limiter_of(account, settings.max_rpm)[0]


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
    limiter, made = _limiter_of(account, rpm)
    if not made:
        limiter.set_rate(rpm)  # a new batch starts from the set rate, not an old back-off
    return limiter


def _limiter_of(account: tuple[str, str], rpm: float) -> tuple[RateLimiter, bool]:
    """This account's limiter, and whether it was made now (at ``rpm``)."""
    limiter = _limiters.get(account)
    if limiter is not None:
        return limiter, False
    limiter = _limiters[account] = RateLimiter(rpm)
    return limiter, True
