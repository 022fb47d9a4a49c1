"""Every error poe_magic raises on purpose, in one hierarchy.

    PoeMagicError                    base; one actionable line, never a key
    ├── PoeUsageError                bad input: unknown option, empty cell, bad --param, ...
    ├── ConfigError                  missing API key, bad setting
    ├── BudgetExceededError          the session budget is spent (override with --force)
    ├── PoeAPIError                  the server, or the bot behind it, said no
    │   ├── AuthError                401: the key was rejected
    │   ├── InsufficientPointsError  402 / error_type insufficient_fund
    │   ├── ForbiddenError           403 / error_type privacy_authorization_error
    │   ├── UnknownModelError        404: no such model / bot (400 code model_not_found)
    │   ├── UnsupportedFeatureError  400 code unsupported_feature_for_model: e.g. tools to a model without them
    │   ├── RequestTooLargeError     413 / error_type user_message_too_long
    │   ├── RateLimitError           429 / a "rate limit" error event          (retried)
    │   └── ServerError              5xx / a bot's error event                 (retried *)
    │       └── PoeConnectionError   cannot connect, connection dropped, answer cut short (retried)
    ├── PoeTimeoutError              connect timeout, 408 (retried); first-token, stall, --timeout
    ├── ToolRoundsExceeded           the model kept calling tools past max_tool_rounds; stopped
    ├── StreamInterrupted            Ctrl-C / kernel interrupt; the partial answer is kept
    └── SchemaError                  a structured answer did not match its schema (after one repair)

Where each comes from (mapping in :func:`poe_magic.wire.failures.map_error`, uploads in
:func:`~poe_magic.wire.failures.upload_error`):

- **HTTP status** of the bot request (seen by a response hook, since fastapi_poe hides it):
  401 AuthError, 402 InsufficientPointsError, 403 ForbiddenError, 404 UnknownModelError,
  408 PoeTimeoutError, 413 RequestTooLargeError, 429 RateLimitError (honouring
  ``Retry-After``), other 4xx PoeAPIError, 5xx ServerError. The server's own message is
  appended only when it says more than ours (no "unknown model 'X': Model 'X' not found").
- **The real API's string codes** come first (:func:`poe_magic.wire.codes.server_code`):
  ``unsupported_feature_for_model`` UnsupportedFeatureError ("GPT-X does not support tool
  calling"), ``model_not_found`` UnknownModelError whatever the status (the real API sends
  400), ``invalid_api_key`` AuthError; a 400 ``invalid_request_error`` shows the server's own
  sentence ("Unsupported value: ..."). A 402's line also shows the balance at that moment
  (one quick GET by the runner when the call settles).
- **Error events inside the stream** (fastapi_poe ``BotError`` JSON: ``text``,
  ``error_type``, ``allow_retry``): by ``error_type`` as above, "rate limit" texts as
  RateLimitError, anything else ServerError, retried only when ``allow_retry`` is true.
- **The network** (the httpx exception in the ``__cause__`` chain): connection refused or
  dropped, or an answer that ended without its ``done`` event: PoeConnectionError; connect
  timeout: PoeTimeoutError.
- **The client's watchdog** (:class:`poe_magic.core.live.LiveStream`): first-token timeout,
  stall timeout and the per-request ``--timeout``: PoeTimeoutError, never retried (a slow
  model asked again would be slow again, and charge twice).

(*) Retries happen only *before the first token* (text, data or an attachment): after that
a retry would repeat the answer, so the partial text is kept and the error shown under it.
At most ``settings.max_retries`` retries (default 3), waiting ``Retry-After`` when the
server sends it (up to :data:`poe_magic.wire.retry.MAX_RETRY_AFTER` = 60 s; longer waits
are not retried), else ``retry_backoff`` s doubled each time (1, 2, 4 s by default).
401, 402, 403, 404 and 413 are never retried. ``retryable`` on an instance says which.

Every message names what happened, the model, and what to do. In IPython they show as a
single line (``_render_traceback_``), without a traceback: they are expected failures the
user can fix. Any other exception is a bug and keeps its traceback. Messages pass through
:func:`poe_magic.base.secrets.scrub`, so a key that leaks into a server's error text (an echoed
``Authorization`` header, a URL with ``?api_key=``) is masked before anyone sees it.
"""

from __future__ import annotations

from poe_magic.base.secrets import scrub


def _one_line(text: object) -> str:

    return " ".join(scrub(str(text)).split())


class PoeMagicError(Exception):
    """Base class: a one-line, actionable message."""

    #: whether retrying the same request later may succeed (instances may override)
    retryable: bool = False

    def __init__(self, message: str, *, model: str | None = None, retryable: bool | None = None,
                 hint: str = "") -> None:
        # both parts scrubbed on the way in: nothing unscrubbed is kept, even in __dict__
        self._what, self.hint = _one_line(message), _one_line(hint)  # what happened; what to do
        super().__init__(self._compose())
        self.model = model
        if retryable is not None:
            self.retryable = retryable

    def _compose(self) -> str:
        return f"{self._what}; {self.hint}" if self.hint else self._what

    @property
    def message(self) -> str:
        """The whole line: what happened; what to do."""
        return str(self.args[0]) if self.args else ""

    @property
    def what(self) -> str:
        """What happened, without the advice (e.g. for a "retrying in 2 s" status)."""
        return self._what

    def amend(self, note: str, hint: str | None = None) -> PoeMagicError:
        """Add a clause to what happened (``"gave up after 3 retries"``), before the hint (or
        replace the hint); returns self."""
        self._what = _one_line(f"{self._what}; {note}")
        if hint is not None:
            self.hint = _one_line(hint)
        self.args = (self._compose(),)
        return self

    def detach(self) -> PoeMagicError:
        """Drop the traceback and the exception chain before the error is kept on a Reply: the
        frames they hold reference the HTTP client, the request (and its key) and much memory."""
        self.__traceback__ = None
        self.__cause__ = self.__context__ = None
        return self

    def _render_traceback_(self) -> list[str]:
        # IPython calls this instead of formatting a traceback.
        name = type(self).__name__
        return [f"\x1b[31m{name}\x1b[0m: {self.message}" if _colours() else f"{name}: {self.message}"]

    def __str__(self) -> str:
        return self.message


def _colours() -> bool:
    """False when IPython was told not to colour (``--colors=NoColor``, ``%colors nocolor``)."""
    import sys

    if "IPython" not in sys.modules:
        return False
    from IPython import get_ipython

    shell = get_ipython()
    return shell is not None and str(getattr(shell, "colors", "")).lower() != "nocolor"


class PoeUsageError(PoeMagicError):
    """The input was wrong (an option, a model name, the cell body); nothing was sent."""


class ConfigError(PoeMagicError):
    """A setting is missing or wrong (most often: no API key)."""


class BudgetExceededError(PoeMagicError):
    """The session's points budget is spent; the request was not sent."""


class PoeAPIError(PoeMagicError):
    """The server (or a bot behind it) refused or failed the request."""

    status: int | None = None

    def __init__(
        self,
        message: str,
        *,
        model: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
        retryable: bool | None = None,
        hint: str = "",
    ) -> None:
        super().__init__(message, model=model, retryable=retryable, hint=hint)
        if status is not None:
            self.status = status
        self.retry_after = retry_after  # seconds the server asked us to wait, if it said


class AuthError(PoeAPIError):
    """401: the API key was rejected."""

    status = 401


class InsufficientPointsError(PoeAPIError):
    """402: the account has too few points for this request."""

    status = 402


class ForbiddenError(PoeAPIError):
    """403: this key may not use this model."""

    status = 403


class UnknownModelError(PoeAPIError):
    """404: no model or bot by that name."""

    status = 404


class UnsupportedFeatureError(PoeAPIError):
    """The model does not take what the request asks for (tools, web search); said by the
    catalogue before sending, or by the server (400 ``unsupported_feature_for_model``)."""

    status = 400


class RequestTooLargeError(PoeAPIError):
    """413: the prompt or its attachments are too large for the model."""

    status = 413


class RateLimitError(PoeAPIError):
    """429: too many requests; retried automatically before the first token."""

    status = 429
    retryable = True


class ServerError(PoeAPIError):
    """5xx or a bot's error event; retried before the first token unless the bot said not to."""

    status = 500
    retryable = True


class PoeConnectionError(ServerError):
    """The connection could not be opened, dropped mid-answer, or the answer was cut short."""

    status = None  # type: ignore[assignment]  # no HTTP status: the connection itself failed


class PoeTimeoutError(PoeMagicError):
    """Connecting, waiting for the first token, or waiting between chunks took too long.
    Retryable, except the client watchdog's first-token/stall/--timeout ones (made with
    ``retryable=False``)."""

    retryable = True


class ToolRoundsExceeded(PoeMagicError):
    """The model kept asking for tools past ``settings.max_tool_rounds``; the loop was stopped."""


class StreamInterrupted(PoeMagicError):
    """The user interrupted a stream; the partial answer is kept on the Reply."""


class SchemaError(PoeMagicError):
    """A structured answer (``schema=``) did not match its schema, even after one repair
    round; the answer's text is kept on the Reply."""


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
    "PoeConnectionError",
    "PoeTimeoutError",
    "ToolRoundsExceeded",
    "StreamInterrupted",
    "SchemaError",
]
