"""The one retry policy, used by every request: streaming (bots), plain HTTP (history, catalogue,
media), uploads and batch rows alike.

A :class:`RetryPolicy` is made per request (:meth:`RetryPolicy.of` a Settings) and asked after
each failure how long to wait before trying again (None: give up, the message then says after
how many retries):

- a 429 is waited out: the server's ``Retry-After`` (a wait over
  :data:`MAX_RETRY_AFTER` is a quota, not a burst: not retried), else
  the backoff; ``settings.max_retries`` times for a single answer (the cell says "retry 1 of
  3"), up to :data:`MAX_RATE_LIMITED` times for a request of a bulk job (``bulk=True``: a batch
  row, a history page), which meets 429s as a matter of course;
- other retryable failures (5xx, connection errors, connect timeouts) are retried
  ``settings.max_retries`` times, waiting ``retry_backoff`` doubled each time (capped);
- 401/402/403/404/413 and the rest are never retried, and nothing is retried once an answer's
  content has reached the caller (``may_retry=False``): a retry would repeat it, and charge twice.

A batch asks the same policy, and pauses *every* worker for a 429's wait (its rate limiter).
"""

from __future__ import annotations

import email.utils
import math
import time
from dataclasses import dataclass

from poe_magic.base import errors as E
from poe_magic.base.config import Settings
from poe_magic.base.text import plural

#: the longest ``Retry-After`` (seconds) we wait for; a longer one is reported, not retried
MAX_RETRY_AFTER = 60.0
#: cap on the exponential backoff between retries (seconds)
MAX_BACKOFF = 30.0
#: a longer Retry-After (1e308, inf) is read as this many seconds (a week), so messages stay sane
MAX_SHOWN_WAIT = 7 * 86_400.0
#: 429s one request may meet before it is given up (each waits Retry-After or the backoff)
MAX_RATE_LIMITED = 20


@dataclass
class RetryPolicy:
    """How one request is retried; counts its own retries."""

    max_retries: int
    backoff: float
    max_rate_limited: int
    failed: int = 0  # retryable failures met (not 429)
    throttled: int = 0  # 429s met

    @classmethod
    def of(cls, settings: Settings, *, retry: bool = True, bulk: bool = False) -> RetryPolicy:
        """The policy for one request under ``settings`` (``retry=False``: tried once; ``bulk``:
        part of a batch or a paging, more patient with 429s)."""
        if not retry:
            return cls(0, settings.retry_backoff, max_rate_limited=0)
        waits = max(MAX_RATE_LIMITED, settings.max_retries) if bulk else settings.max_retries
        return cls(settings.max_retries, settings.retry_backoff, max_rate_limited=waits)

    @property
    def retries(self) -> int:
        """Retries so far (429 waits included)."""
        return self.failed + self.throttled

    def next_delay(self, error: E.PoeMagicError, *, may_retry: bool = True) -> float | None:
        """Seconds to wait before trying again after ``error``, or None: give up."""
        if isinstance(error, E.RateLimitError):
            delay = next_retry(error, self.throttled, self.max_rate_limited if may_retry else 0, self.backoff)
            self.throttled += 1
        else:
            delay = next_retry(error, self.failed, self.max_retries if may_retry else 0, self.backoff)
            self.failed += 1
        return delay


__all__ = ["MAX_RATE_LIMITED", "RetryPolicy"]


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds: a number, or an HTTP date (RFC 9110); None when absent/garbled."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError, OverflowError):
            return None
    if math.isnan(seconds):
        return None
    return min(max(0.0, seconds), MAX_SHOWN_WAIT)  # 1e308 or inf: "a week", not 1e308 s


def retry_delay(error: E.PoeMagicError, attempt: int, backoff: float) -> float | None:
    """Seconds to wait before retry number ``attempt`` (1-based), or None: do not retry.

    ``Retry-After`` wins when the server sent it; a wait longer than :data:`MAX_RETRY_AFTER`
    is not retried (the message says how long the server asked to wait)."""
    retry_after = getattr(error, "retry_after", None)
    if retry_after is not None:
        if retry_after > MAX_RETRY_AFTER:
            error.amend(f"the server asks to wait {retry_after:.0f} s", hint="try again after that")
            return None
        return float(retry_after)
    return min(backoff * (2 ** (attempt - 1)), MAX_BACKOFF)


def next_retry(error: E.PoeMagicError, retries: int, max_retries: int, backoff: float) -> float | None:
    """Seconds to wait before retry ``retries + 1`` of a failed call, or None: give up (the
    message then says after how many retries)."""
    delay = None
    if error.retryable and retries < max_retries:
        delay = retry_delay(error, retries + 1, backoff)
    if delay is None and retries:
        error.amend(f"gave up after {plural(retries, 'retry', 'retries')}")
    return delay
