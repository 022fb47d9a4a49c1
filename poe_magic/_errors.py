"""Every error poe_magic raises on purpose, in one hierarchy.

    PoeMagicError                 base; one actionable line, never a key
    ├── PoeUsageError             bad input: unknown option, empty cell, bad --param, ...
    ├── ConfigError               missing API key, bad setting
    ├── BudgetExceededError       the session budget is spent (override with --force)
    ├── PoeAPIError               the server said no
    │   ├── AuthError             401: the key was rejected
    │   ├── InsufficientPointsError  402: the account has too few points
    │   ├── ForbiddenError        403
    │   ├── UnknownModelError     404: no such model / bot
    │   ├── RequestTooLargeError  413: prompt or attachment too large
    │   ├── RateLimitError        429: slow down (retried automatically before the first token)
    │   └── ServerError           5xx, a bot failing, a dropped connection (retried before text)
    ├── PoeTimeoutError           connect / first-token / stall timeout
    └── StreamInterrupted         Ctrl-C / kernel interrupt; the partial answer is kept

In IPython these show as a single line (``_render_traceback_``), without a traceback:
they are expected failures the user can fix. Any other exception is a bug and keeps its
traceback. Messages pass through :func:`poe_magic.config.scrub`, so a key that leaks into
a server's error text is masked before anyone sees it.
"""

from __future__ import annotations

from typing import Optional


class PoeMagicError(Exception):
    """Base class: a one-line, actionable message."""

    #: whether retrying the same request later may succeed
    retryable: bool = False

    def __init__(self, message: str, *, model: Optional[str] = None) -> None:
        from .config import scrub  # late: config imports nothing from here at import time

        one_line = " ".join(scrub(str(message)).split())
        super().__init__(one_line)
        self.message = one_line
        self.model = model

    def _render_traceback_(self) -> list[str]:
        # IPython calls this instead of formatting a traceback.
        return [f"\x1b[31m{type(self).__name__}\x1b[0m: {self.message}"]

    def __str__(self) -> str:
        return self.message


class PoeUsageError(PoeMagicError):
    """The input was wrong (an option, a model name, the cell body); nothing was sent."""


class ConfigError(PoeMagicError):
    """A setting is missing or wrong (most often: no API key)."""


class BudgetExceededError(PoeMagicError):
    """The session's points budget is spent; the request was not sent."""


class PoeAPIError(PoeMagicError):
    """The server (or a bot behind it) refused or failed the request."""

    status: Optional[int] = None

    def __init__(
        self,
        message: str,
        *,
        model: Optional[str] = None,
        status: Optional[int] = None,
        retry_after: Optional[float] = None,
    ) -> None:
        super().__init__(message, model=model)
        if status is not None:
            self.status = status
        self.retry_after = retry_after


class AuthError(PoeAPIError):
    status = 401


class InsufficientPointsError(PoeAPIError):
    status = 402


class ForbiddenError(PoeAPIError):
    status = 403


class UnknownModelError(PoeAPIError):
    status = 404


class RequestTooLargeError(PoeAPIError):
    status = 413


class RateLimitError(PoeAPIError):
    status = 429
    retryable = True


class ServerError(PoeAPIError):
    status = 500
    retryable = True


class PoeTimeoutError(PoeMagicError):
    """Connecting, waiting for the first token, or waiting between chunks took too long."""

    retryable = True


class StreamInterrupted(PoeMagicError):
    """The user interrupted a stream; the partial answer is kept on the Reply."""


__all__ = [
    "PoeMagicError",
    "PoeUsageError",
    "ConfigError",
    "BudgetExceededError",
    "PoeAPIError",
    "AuthError",
    "InsufficientPointsError",
    "ForbiddenError",
    "UnknownModelError",
    "RequestTooLargeError",
    "RateLimitError",
    "ServerError",
    "PoeTimeoutError",
    "StreamInterrupted",
]
