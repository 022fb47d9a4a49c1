"""Plain HTTP: the one sync client behind the points history, the model catalogue and media files.

Requests run on the calling thread (Ctrl-C lands at once) through one keep-alive
``httpx.Client`` per process; timeouts come from the settings at each call. Failures become
the same one-line errors as the streaming path's (:mod:`poe_magic.wire.failures`), and one
retry policy applies (:mod:`poe_magic.wire.retry`): 429s are waited out (``Retry-After``, up to :data:`~poe_magic.wire.retry.MAX_RATE_LIMITED`
times), 5xx, connection errors and timeouts retried ``settings.max_retries`` times with
``retry_backoff``; 401/402/403/404/413 never. The API key goes only to the server root.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from poe_magic.base import errors as E
from poe_magic.base.config import Settings
from poe_magic.base.config import settings as default_settings
from poe_magic.wire import observed
from poe_magic.wire.failures import (
    Subject,
    network_cause,
    network_error,
    reading,
    status_error,
)
from poe_magic.wire.retry import RetryPolicy, parse_retry_after

#: seconds to read an answer, and to send a request, unless the caller says otherwise
READ_TIMEOUT, WRITE_TIMEOUT = 60.0, 30.0
#: the largest JSON body read (a history page or the catalogue is far smaller)
MAX_JSON_BYTES = 64 * 2**20


@dataclass
class HttpStats:
    """Requests made and seconds spent inside httpx calls (benchmarks subtract this): wall
    time, and this process's CPU time (which a busy machine does not inflate)."""

    requests: int = 0
    wait: float = 0.0
    cpu: float = 0.0

    def reset(self) -> None:
        self.requests, self.wait, self.cpu = 0, 0.0, 0.0


http_stats = HttpStats()
_client: httpx.Client | None = None
_client_lock = threading.Lock()


def client() -> httpx.Client:
    """The process's shared client (keep-alive: a repeated GET skips the TCP handshake)."""
    global _client
    with _client_lock:
        if _client is None or _client.is_closed:
            _client = httpx.Client(limits=httpx.Limits(max_keepalive_connections=4),
                                   headers={"User-Agent": "poe_magic"})
        return _client


def _timeout(settings: Settings, timeout: float | None) -> httpx.Timeout:
    if timeout is not None:  # one bound for every phase (e.g. name resolution's short wait)
        return httpx.Timeout(timeout)
    return httpx.Timeout(connect=settings.connect_timeout, read=READ_TIMEOUT, write=WRITE_TIMEOUT,
                         pool=settings.connect_timeout)


def _origin(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


def get_json(path_or_url: str, params: dict[str, Any] | None = None, *, what: str, auth: bool = True,
             on_wait: Callable[[str], None] | None = None, timeout: float | None = None, retry: bool = True,
             settings: Settings = default_settings) -> Any:
    """GET ``{root}{path}`` (or a full URL under the root) and return its JSON; one-line errors.

    ``auth`` sends the key (only ever to the server root); ``on_wait`` hears "... · retrying in
    2.0 s" before each wait; ``retry=False`` tries once (a caller that must not wait)."""
    root = settings.root
    url = path_or_url if "://" in path_or_url else root + path_or_url
    headers = {"Accept": "application/json"}
    key_auth: httpx.Auth | None = None
    if auth:
        if not (url == root or url.startswith(root + "/")):
            raise E.PoeUsageError(f"refusing to send the API key to {_origin(url)}: it is not the server root")
        settings.api_key()  # no key: one line now
        key_auth = KeyAuth(settings)  # the key itself is in no local variable of any frame here

    def once() -> Any:
        deadline = time.monotonic() + _total(settings, timeout)
        with _request("GET", url, params=params, headers=headers, auth=key_auth,
                      timeout=_timeout(settings, timeout)) as response:
            body = _read(response, deadline, what, MAX_JSON_BYTES)
            _check(response, what, body=body.decode("utf-8", "replace"))
            try:
                return json.loads(body)
            except ValueError:
                raise E.ServerError(f"the server sent something that is not JSON for {what}",
                                    retryable=False) from None

    return with_retries(once, reading(what), root, settings=settings, on_wait=on_wait, retry=retry)


class KeyAuth(httpx.Auth):
    """Adds the key as the request goes out; its repr (a traceback's locals) shows no key."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = "Bearer " + self._settings.api_key()
        yield request

    def __repr__(self) -> str:
        return "<key auth>"


def _total(settings: Settings, timeout: float | None) -> float:
    """Seconds a whole request may take, however slowly the server trickles its bytes (each
    read's timeout alone restarts with every byte)."""
    return 2 * timeout if timeout is not None else settings.connect_timeout + READ_TIMEOUT


def _read(response: httpx.Response, deadline: float, what: str, max_bytes: int) -> bytes:
    """The whole body, or a one-line error past ``deadline`` (``time.monotonic()``) or
    ``max_bytes``."""
    allowed = deadline - time.monotonic()
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise E.RequestTooLargeError(f"{what} is over {_size(max_bytes)}")
        if time.monotonic() > deadline:
            raise E.PoeTimeoutError(f"reading {what} took over {allowed:.0f} s; the server is "
                                    "sending too slowly", hint="check POE_BASE_URL or try again later")
        chunks.append(chunk)
    return b"".join(chunks)


def get_bytes(url: str, *, what: str, max_bytes: int, timeout: float | None = None,
              settings: Settings = default_settings) -> tuple[bytes, str]:
    """GET a file's bytes and content type, never with the key (file URLs are public and may
    be on another host); more than ``max_bytes`` is refused with a RequestTooLargeError."""
    subject = reading(what, own=False)  # a missing file is an expired link, not a wrong POE_BASE_URL

    def once() -> tuple[bytes, str]:
        deadline = time.monotonic() + _total(settings, timeout)
        with _request("GET", url, timeout=_timeout(settings, timeout), follow_redirects=True) as response:
            if response.status_code >= 400:
                _check(response, what, body=_head(response), subject=subject)
            data = _read(response, deadline, what, max_bytes)
            return data, response.headers.get("content-type", "").split(";")[0]

    return with_retries(once, subject, _origin(url), settings=settings, on_wait=None, retry=True)


def _size(n: int) -> str:
    return f"{n // 2**20} MB" if n >= 2**20 else f"{n:,} bytes"


def _head(response: httpx.Response, limit: int = 2000) -> str:
    """The start of an error body (a failed file fetch may be answered with a whole page)."""
    data = b""
    for chunk in response.iter_bytes():
        data += chunk
        if len(data) >= limit:
            break
    return data[:limit].decode("utf-8", "replace")


def _check(response: httpx.Response, what: str, *, body: str, subject: Subject | None = None) -> None:
    status = response.status_code
    if 300 <= status < 400:  # never followed: the key would go along
        where = response.headers.get("location", "nowhere")[:200]
        raise E.PoeAPIError(f"the server answered {what} with a redirect ({status}) to {where}; not followed",
                            hint="check POE_BASE_URL", status=status, retryable=False)
    if status >= 400:
        raise status_error(status, what=what, body=body, subject=subject,
                           retry_after=parse_retry_after(response.headers.get("retry-after")))


@contextmanager
def _request(method: str, url: str, **kwargs: Any) -> Iterator[httpx.Response]:
    """One streamed request, timed into :data:`http_stats`."""
    started, cpu_started, sent_at = time.perf_counter(), time.process_time(), time.time()
    try:
        with client().stream(method, url, **kwargs) as response:
            observed.record(response, sent_at)  # the server's clock (Date) and rate-limit headers
            yield response
    finally:
        http_stats.requests += 1
        http_stats.wait += time.perf_counter() - started
        http_stats.cpu += time.process_time() - cpu_started


def with_retries(attempt: Callable[[], Any], subject: Subject, where: str, *, settings: Settings,
                 on_wait: Callable[[str], None] | None, retry: bool) -> Any:
    """Run ``attempt`` until it succeeds or the retry policy gives up (then raise its error)."""
    policy = RetryPolicy.of(settings, retry=retry, bulk=True)  # history paging meets many 429s
    while True:
        try:
            return attempt()
        except E.PoeMagicError as exc:
            error = exc
        except httpx.TransportError as exc:
            cause = network_cause(exc) or exc
            error = network_error(cause, subject, where, settings.connect_timeout)
        delay = policy.next_delay(error)
        if delay is None:
            raise error from None
        if on_wait is not None:
            on_wait(f"{error.what} · retrying in {delay:.1f} s")
        time.sleep(delay)
