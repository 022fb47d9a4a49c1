"""What went wrong on the wire, as one actionable line: the one status/event -> error table.

Both network paths use it: :func:`map_error` (the streaming ``transport``: whatever
fastapi_poe / httpx raised, plus what the response hook saw) and :func:`status_error` /
:func:`network_error` (plain HTTP, :mod:`poe_magic.wire.http`: points history, catalogue,
media files). The same status gives the same class and the same wording wherever it came
from: "rate limited (429) asking GPT-5" / "rate limited (429) reading the points history".
:func:`upload_error` does the same for file uploads. How long to wait before a retry is
:mod:`poe_magic.wire.retry`'s; the shape checks of streamed events are :mod:`poe_magic.wire.stream_events`.
The table of causes is documented in :mod:`poe_magic.base.errors`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from poe_magic.base import errors as E
from poe_magic.wire.codes import coded_error, stream_error_status  # the real API's string codes, read before the status
from poe_magic.wire.retry import parse_retry_after


@dataclass(frozen=True)
class Subject:
    """What a failed request was for, in each form the messages need."""

    doing: str  # "asking GPT-5" / "reading the points history"
    to_do: str  # "to ask GPT-5" / "to read the points history"
    do: str  # "use GPT-5" / "read the points history"
    answering: str  # the server's side: "answering GPT-5" / "reading the points history"
    request: str  # "the request to GPT-5" / "the request for the points history"
    dropped: str  # "while GPT-5 was answering" / "while reading the points history"
    model: str | None = None
    fix_404: str = "check POE_BASE_URL"


def asking(model: str) -> Subject:
    """A bot request (the streaming path)."""
    return Subject(f"asking {model}", f"to ask {model}", f"use {model}", f"answering {model}",
                   f"the request to {model}", f"while {model} was answering", model=model)


def reading(what: str, *, own: bool = True) -> Subject:
    """A plain GET of ``what`` ("the points history"); ``own``: a path of the server root
    (else e.g. a file's URL, where a 404 means the link expired)."""
    return Subject(f"reading {what}", f"to read {what}", f"read {what}", f"reading {what}",
                   f"the request for {what}", f"while reading {what}",
                   fix_404="check POE_BASE_URL" if own else "the link may have expired; ask again")


# status -> (class, what happened, what to do); {doing} etc. come from a Subject
_STATUS: dict[int, tuple[type[E.PoeMagicError], str, str]] = {
    401: (E.AuthError, "the server rejected the API key (401) {doing}", "check POE_API_KEY or run %poe login"),
    402: (E.InsufficientPointsError, "not enough points {to_do} (402)",
          "top up at poe.com/api_key or pick a cheaper model"),
    403: (E.ForbiddenError, "this API key may not {do} (403)",
          "check the model's access on poe.com or pick another model"),
    404: (E.UnknownModelError, "unknown model '{model}' (404)",  # without a model: see _status_parts
          "check the spelling (names are case-sensitive); %poe models lists them"),
    408: (E.PoeTimeoutError, "the server timed out {answering} (408)", "try again, or shorten the prompt"),
    413: (E.RequestTooLargeError, "{request} is too large (413)", "shorten the prompt or the attachments"),
    429: (E.RateLimitError, "rate limited (429) {doing}", "wait a minute, or raise PoeMagics.max_retries"),
}
_SERVER_TROUBLE = {502: "the server's gateway failed", 503: "the server is unavailable",
                   504: "the server's gateway timed out", 529: "the server is overloaded"}

# error_type of a bot's error event -> (the status it means, what happened, what to do if not the status's)
_ERROR_TYPES: dict[str, tuple[int, str, str | None]] = {
    "insufficient_fund": (402, "not enough points {to_do}", None),
    "user_message_too_long": (413, "the message is too long for {model}", None),
    "privacy_authorization_error": (403, "{model} needs a privacy authorization", "accept the model's terms on poe.com"),
    "user_caused_error": (400, "{model} rejected the request", "change the prompt or the options"),
}

# words that carry no information of their own in a server's error text (incl. HTTP reason phrases)
_FILLER = set("the a an is was are not no found error errors exceeded invalid request requests failed failure "
              "http status code bot model please has have been for of to with too many insufficient internal "
              "unauthorized forbidden payload entity large timeout service unavailable bad gateway "
              "overloaded server temporarily".split())


def map_error(exc: BaseException, info: dict[str, Any], model: str, root: str,
              connect_timeout: float | None = None, url: str | None = None) -> E.PoeMagicError:
    """Turn whatever fastapi_poe/httpx raised into one of our one-line errors.

    ``info`` is what the response hook recorded: ``status``, ``retry_after``, ``body``, and
    ``no_done`` (the stream ended without its ``done`` event); ``url`` is where the request went
    (default: the bot protocol's ``{root}/bot/{model}``)."""
    url = url or f"{root}/bot/{model}"
    if isinstance(exc, E.PoeMagicError):
        return exc
    status = info.get("status")
    if isinstance(status, int) and status >= 400:
        return status_error(status, model=model, body=info.get("body") or "",
                            retry_after=parse_retry_after(info.get("retry_after")))
    if isinstance(status, int) and 300 <= status < 400:  # never followed: the key would go along
        where = str(info.get("location") or "nowhere")[:200]
        return E.PoeAPIError(f"{url} answered with a redirect ({status}) to {where}; not followed",
                             hint="check POE_BASE_URL", model=model, status=status, retryable=False)
    cause = network_cause(exc)
    if cause is not None:
        return network_error(cause, asking(model), root, connect_timeout)
    kind = str(info.get("content_type") or "?").split(";")[0][:60]
    if type(exc).__name__ == "SSEError" or (status == 200 and "text/event-stream" not in kind):
        return E.PoeAPIError(f"not a Poe stream at {url} (the server sent {kind})",
                             hint="check POE_BASE_URL", model=model, retryable=False)
    if type(exc).__name__ in ("BotError", "BotErrorNoRetry"):
        return _bot_error(str(exc), type(exc).__name__ == "BotError", model)
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


def status_error(status: int, *, what: str = "", model: str | None = None, body: str = "",
                 retry_after: float | None = None, subject: Subject | None = None) -> E.PoeMagicError:
    """The error for an HTTP ``status`` >= 400, from the one table: asking ``model`` (the
    streaming path) or reading ``what`` (plain GETs); ``body`` is the server's error body."""
    subject = subject or (asking(model) if model else reading(what))
    detail = server_message(body)
    by_code = coded_error(status, body, detail, subject, _STATUS)
    if by_code is not None:
        return by_code
    cls, what_happened, todo = _status_parts(status, subject)
    if status != 401 and _adds_information(detail, what_happened):  # a 401 body can only echo what we sent
        what_happened += f": {detail}"
    if cls is E.PoeTimeoutError:
        return E.PoeTimeoutError(what_happened, hint=todo, model=subject.model, retryable=True)
    error = cls(what_happened, hint=todo, model=subject.model, status=status,  # type: ignore[call-arg]
                retry_after=retry_after)
    if status == 501:
        error.retryable = False  # "not implemented" will not change on a retry
    return error


def _status_parts(status: int, subject: Subject) -> tuple[type[E.PoeMagicError], str, str]:
    """(class, what happened, what to do) for ``status``, worded for ``subject``."""
    cls: type[E.PoeMagicError]
    if status == 404 and subject.model is None:  # not a model: a path or a file that is not there
        cls, what, todo = E.PoeAPIError, "not found (404) {doing}", subject.fix_404
    elif status in _STATUS:
        cls, what, todo = _STATUS[status]
    elif status >= 500:
        trouble = _SERVER_TROUBLE.get(status, "the server failed")
        cls, what, todo = E.ServerError, f"{trouble} (HTTP {status}) {{answering}}", "try again in a moment"
    else:
        cls, what, todo = E.PoeAPIError, f"the server refused {{request}} (HTTP {status})", \
            "check the options and --param values"
    return cls, what.format(**vars(subject)), todo


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
    if kind in _ERROR_TYPES:  # the class and advice of the status it stands for
        status, what, todo = _ERROR_TYPES[kind]
        cls, _, status_todo = _status_parts(status, asking(model))
        what = what.format(**vars(asking(model)))
        return cls(f"{what}: {message}" if message else what, hint=todo or status_todo, model=model)
    if "rate limit" in message.lower():
        return E.RateLimitError(f"rate limited asking {model}: {message}", hint="wait a minute", model=model)
    todo = "try again" if allow_retry else "the bot says a retry will not help; change the prompt or model"
    return E.ServerError(f"{model} reported an error: {message or 'no details'}", hint=todo, model=model,
                         retryable=allow_retry)


def chunk_error(error: Any, model: str) -> E.PoeMagicError:
    """An ``{"error": {...}}`` line inside an OpenAI-compatible stream (its HTTP status was 200):
    read as the bot protocol's error event of the same cause, so both protocols say the same line."""
    err = error if isinstance(error, dict) else {"message": str(error)}
    status = stream_error_status(err)
    allow_retry = status not in (500, 501) and not 400 <= status < 500
    kind = {402: "insufficient_fund", 413: "user_message_too_long", 403: "privacy_authorization_error",
            400: "user_caused_error"}.get(status)
    message = " ".join(str(err.get("message") or "").split())[:300]
    if status == 429:
        return E.RateLimitError(f"rate limited asking {model}: {message or 'no details'}", hint="wait a minute",
                                model=model)
    event = {"text": message, "allow_retry": allow_retry, "error_type": kind}
    return _bot_error(json.dumps(event), allow_retry, model)


def network_cause(exc: BaseException) -> BaseException | None:
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


def network_error(cause: BaseException, subject: Subject, root: str,
                  connect_timeout: float | None = None) -> E.PoeMagicError:
    """An httpx transport error (no HTTP status) as one line, for either path."""
    import httpx

    if isinstance(cause, httpx.ConnectTimeout):
        limit = f" within {connect_timeout:g} s" if connect_timeout else ""
        return E.PoeTimeoutError(f"could not connect to {root}{limit} {subject.to_do} (connect timeout)",
                                 hint="check your network, or raise PoeMagics.connect_timeout",
                                 model=subject.model, retryable=True)
    if isinstance(cause, httpx.TimeoutException):
        return E.PoeTimeoutError(f"timed out talking to {root} while {subject.doing}", hint="try again",
                                 model=subject.model, retryable=True)
    if isinstance(cause, httpx.ConnectError) and _is_loopback(root):  # refused at once: retrying cannot help
        return E.PoeConnectionError(f"cannot connect {subject.to_do}: the local server at {root} is not running", hint="start it with poe_magic.start_local_server() or "
                                    "python -m poe_magic.server", model=subject.model, retryable=False)
    if isinstance(cause, httpx.ConnectError):
        return E.PoeConnectionError(f"cannot connect to {root} {subject.to_do}",
                                    hint="check your network and POE_BASE_URL", model=subject.model)
    return E.PoeConnectionError(f"the connection dropped {subject.dropped}", hint="try again",
                                model=subject.model)


def _is_loopback(root: str) -> bool:
    """True for a URL on this machine (``http://127.0.0.1:8765/...``, ``localhost``, ``[::1]``)."""
    import ipaddress
    from urllib.parse import urlsplit

    host = urlsplit(root if "//" in root else f"//{root}").hostname or ""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name, not an address
        return False


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
