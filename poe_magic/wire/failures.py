"""What went wrong on the wire, as one actionable line: the mapping behind ``transport``.

:func:`map_error` turns whatever fastapi_poe / httpx raised (plus what the response hook saw:
HTTP status, ``Retry-After``, error body) into a :mod:`poe_magic._errors` class with a
message that says what happened, which model, and what to do; :func:`upload_error` does the
same for file uploads. :func:`retry_delay` is the retry policy. The table of causes is
documented in :mod:`poe_magic._errors`.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from typing import Any

from poe_magic.base import errors as E
from poe_magic.base.text import plural

#: the longest ``Retry-After`` (seconds) we wait for; a longer one is reported, not retried
MAX_RETRY_AFTER = 60.0
#: cap on the exponential backoff between retries (seconds)
MAX_BACKOFF = 30.0

# status -> (class, what happened, what to do); {model} is filled in
_STATUS: dict[int, tuple[type[E.PoeMagicError], str, str]] = {
    401: (E.AuthError, "the server rejected the API key (401) asking {model}",
          "check POE_API_KEY or run %poe login"),
    402: (E.InsufficientPointsError, "not enough points to ask {model} (402)",
          "top up at poe.com/api_key or pick a cheaper model"),
    403: (E.ForbiddenError, "this API key may not use {model} (403)",
          "check the model's access on poe.com or pick another model"),
    404: (E.UnknownModelError, "unknown model '{model}' (404)",
          "check the spelling (names are case-sensitive); %poe models lists them"),
    408: (E.PoeTimeoutError, "the server timed out answering {model} (408)",
          "try again, or shorten the prompt"),
    413: (E.RequestTooLargeError, "the request to {model} is too large (413)",
          "shorten the prompt or the attachments"),
    429: (E.RateLimitError, "rate limited (429) asking {model}",
          "wait a minute, or raise PoeMagics.max_retries"),
}
_SERVER_TROUBLE = {502: "the server's gateway failed", 503: "the server is unavailable",
                   504: "the server's gateway timed out", 529: "the server is overloaded"}

# error_type of a bot's error event -> (class, what happened, what to do)
_ERROR_TYPES: dict[str, tuple[type[E.PoeMagicError], str, str]] = {
    "insufficient_fund": (E.InsufficientPointsError, "not enough points to ask {model}",
                          "top up at poe.com/api_key or pick a cheaper model"),
    "user_message_too_long": (E.RequestTooLargeError, "the message is too long for {model}",
                              "shorten the prompt or the attachments"),
    "privacy_authorization_error": (E.ForbiddenError, "{model} needs a privacy authorization",
                                    "accept the model's terms on poe.com"),
    "user_caused_error": (E.PoeAPIError, "{model} rejected the request",
                          "change the prompt or the options"),
}

# words that carry no information of their own in a server's error text (incl. HTTP reason phrases)
_FILLER = set("the a an is was are not no found error errors exceeded invalid request requests failed failure "
              "http status code bot model please has have been for of to with too many insufficient internal "
              "unauthorized forbidden payload entity large timeout service unavailable bad gateway "
              "overloaded server temporarily".split())


def map_error(exc: BaseException, info: dict[str, Any], model: str, root: str,
              connect_timeout: float | None = None) -> E.PoeMagicError:
    """Turn whatever fastapi_poe/httpx raised into one of our one-line errors.

    ``info`` is what the response hook recorded: ``status``, ``retry_after``, ``body``, and
    ``no_done`` (the stream ended without its ``done`` event)."""
    if isinstance(exc, E.PoeMagicError):
        return exc
    status = info.get("status")
    if isinstance(status, int) and status >= 400:
        return _status_error(status, info, model)
    cause = _network_cause(exc)
    if cause is not None:
        return _network_error(cause, model, root, connect_timeout)
    if type(exc).__name__ in ("BotError", "BotErrorNoRetry"):
        return _bot_error(str(exc), type(exc).__name__ == "BotError", model)
    if type(exc).__name__ == "SSEError":  # a 2xx answer that is not an event stream
        return E.PoeConnectionError(f"{root} answered {model} with something that is not a Poe stream",
                                    hint="check POE_BASE_URL", model=model, retryable=False)
    return E.ServerError(f"{model} failed: {exc or type(exc).__name__}", model=model, retryable=False)


def ended_early(model: str) -> E.PoeConnectionError:
    """The stream ended cleanly but without the protocol's ``done`` event: the answer was cut."""
    return E.PoeConnectionError(f"the answer from {model} was cut short (the stream ended without its "
                                "end marker)", hint="try again", model=model)


def upload_error(exc: Exception, name: str, url: str) -> E.PoeMagicError:
    """A failed ``upload_file`` as one line; fastapi_poe reports a refused upload as
    ``AttachmentUploadError("401 Unauthorized: body")``, a network failure as httpx's error."""
    import httpx

    status_text, _, detail = str(exc).partition(": ")
    status = int(status_text[:3]) if status_text[:3].isdigit() else None
    if status == 401:
        return E.AuthError(f"the server rejected the API key (401) while uploading {name!r}",
                           hint="check POE_API_KEY or run %poe login", status=401)
    if status == 413:
        return E.RequestTooLargeError(f"{name!r} is too large to upload (413)", hint="attach a smaller file",
                                      status=413)
    if status is not None:
        detail = server_message(detail.strip().removeprefix("b'").removesuffix("'"))
        cls = E.RateLimitError if status == 429 else E.ServerError if status >= 500 else E.PoeAPIError
        return cls(f"uploading {name!r} failed (HTTP {status}): {detail}", status=status,
                   hint="" if cls is E.PoeAPIError else "try again in a moment")
    if isinstance(exc, httpx.TimeoutException):
        return E.PoeTimeoutError(f"timed out uploading {name!r} to {url}", hint="try again", retryable=True)
    if isinstance(exc, httpx.ConnectError):
        return E.PoeConnectionError(f"cannot connect to {url} to upload {name!r}",
                                    hint="check your network and POE_BASE_URL")
    if isinstance(exc, httpx.TransportError):
        return E.PoeConnectionError(f"the connection dropped while uploading {name!r}", hint="try again")
    return E.ServerError(f"uploading {name!r} failed: {exc or type(exc).__name__}", retryable=False)


def _status_error(status: int, info: dict[str, Any], model: str) -> E.PoeMagicError:
    retry_after = parse_retry_after(info.get("retry_after"))
    detail = server_message(info.get("body") or "")
    if status in _STATUS:
        cls, what, todo = _STATUS[status]
    elif status >= 500:
        trouble = _SERVER_TROUBLE.get(status, "the server failed")
        cls, what, todo = E.ServerError, f"{trouble} (HTTP {status}) answering {{model}}", "try again in a moment"
    else:
        cls, what, todo = E.PoeAPIError, f"the server refused the request to {{model}} (HTTP {status})", \
            "check the options and --param values"
    what = what.format(model=model)
    if status != 401 and _adds_information(detail, what):  # a 401 body can only echo what we sent
        what += f": {detail}"
    if cls is E.PoeTimeoutError:
        return E.PoeTimeoutError(what, hint=todo, model=model, retryable=True)
    error = cls(what, hint=todo, model=model, status=status, retry_after=retry_after)  # type: ignore[call-arg]
    if status == 501:
        error.retryable = False  # "not implemented" will not change on a retry
    return error


def _bot_error(text: str, allow_retry: bool, model: str) -> E.PoeMagicError:
    """An ``error`` event inside the stream: JSON with text, error_type, allow_retry."""
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict):  # fastapi_poe's own words, e.g. "Bot X sent no response"
        return E.ServerError(f"{model} failed: {text or 'no details'}", hint="try again", model=model,
                             retryable=allow_retry)
    message = " ".join(str(data.get("text") or "").split())[:300]
    allow_retry = bool(data.get("allow_retry", allow_retry))
    kind = data.get("error_type")
    if kind in _ERROR_TYPES:
        cls, what, todo = _ERROR_TYPES[kind]
        what = what.format(model=model)
        return cls(f"{what}: {message}" if message else what, hint=todo, model=model)
    if "rate limit" in message.lower():
        return E.RateLimitError(f"rate limited asking {model}: {message}", hint="wait a minute", model=model)
    todo = "try again" if allow_retry else "the bot says a retry will not help; change the prompt or model"
    return E.ServerError(f"{model} reported an error: {message or 'no details'}", hint=todo, model=model,
                         retryable=allow_retry)


def _network_cause(exc: BaseException) -> BaseException | None:
    """The httpx transport error somewhere in the ``__cause__``/``__context__`` chain."""
    import httpx

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, httpx.TransportError) and type(current).__name__ != "SSEError":
            return current
        current = current.__cause__ or current.__context__
    return None


def _network_error(cause: BaseException, model: str, root: str,
                   connect_timeout: float | None) -> E.PoeMagicError:
    import httpx

    if isinstance(cause, httpx.ConnectTimeout):
        limit = f" within {connect_timeout:g} s" if connect_timeout else ""
        return E.PoeTimeoutError(f"could not connect to {root}{limit} to ask {model} (connect timeout)",
                                 hint="check your network, or raise PoeMagics.connect_timeout",
                                 model=model, retryable=True)
    if isinstance(cause, httpx.TimeoutException):
        return E.PoeTimeoutError(f"timed out talking to {root} while asking {model}", hint="try again",
                                 model=model, retryable=True)
    if isinstance(cause, httpx.ConnectError):
        return E.PoeConnectionError(f"cannot connect to {root} to ask {model}",
                                    hint="check your network and POE_BASE_URL", model=model)
    return E.PoeConnectionError(f"the connection dropped while {model} was answering", hint="try again",
                                model=model)


def server_message(body: str) -> str:
    """The human part of an error body (real API JSON, FastAPI's, or plain text), one line."""
    text = body
    try:
        data = json.loads(body)
    except (ValueError, TypeError):
        data = None
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict) and err.get("message"):
            text = str(err["message"])
        elif isinstance(err, str):
            text = err
        else:
            text = next((str(data[k]) for k in ("detail", "message", "text") if data.get(k)), body)
    text = " ".join(text.split())
    return text[:200] + ("…" if len(text) > 200 else "")


def _adds_information(detail: str, said: str) -> bool:
    """Whether the server's text says something our message does not already say."""
    said = said.lower()
    words = {w for w in re.findall(r"[a-z0-9_.-]+", detail.lower()) if w not in _FILLER and not w.isdigit()}
    return any(w.strip("'\".") not in said for w in words)


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds: a number, or an HTTP date (RFC 9110); None when absent/garbled."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


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
