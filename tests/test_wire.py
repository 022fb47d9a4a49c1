"""One network path: which modules may make HTTP requests, and that every path fails alike.

The source scan reads the client's modules (AST); the rest runs against the bundled local
server over real HTTP, with its planned faults (``/_local/faults``).
"""

from __future__ import annotations

import ast
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from poe_magic.base import errors as E
from poe_magic.base.config import settings
from poe_magic.catalog import resolve
from poe_magic.catalog import store as catalog
from poe_magic.prompting.media import ReplyFile
from poe_magic.server.launch import LocalServer
from poe_magic.wire import http
from poe_magic.wire.failures import map_error

PACKAGE = Path(__file__).resolve().parents[1] / "poe_magic"
#: the only client modules that make HTTP requests: streaming (fastapi_poe, and the openai protocol's
#: one try, driven by the transport) and plain GETs
NETWORK_MODULES = {"wire/transport.py", "wire/openai_stream.py", "wire/http.py"}
#: modules that may import httpx, but only to name its exceptions in ``isinstance`` checks
ISINSTANCE_ONLY = {"wire/failures.py"}
#: not the client: the bundled server (and ``server/launch.py``, which starts and drives it), the demo
OUTSIDE_CLIENT = ("server/", "demo.py", "testing")
HTTP_MODULES = ("httpx", "urllib.request", "http.client", "requests", "fastapi_poe.client", "aiohttp", "urllib3")
#: fastapi_poe's functions that send requests, however they are imported
REQUEST_FUNCTIONS = {"stream_request", "get_bot_response", "get_bot_response_sync", "get_final_response",
                     "upload_file", "upload_file_sync", "sync_bot_settings"}


def _client_modules() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        name = path.relative_to(PACKAGE).as_posix()
        if not name.startswith(OUTSIDE_CLIENT):
            yield name, ast.parse(path.read_text(encoding="utf-8"), filename=name)


def _http_imports(tree: ast.Module) -> set[str]:
    """The HTTP-capable modules (or fastapi_poe request functions) a module imports, anywhere."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            found.update(m for m in HTTP_MODULES if name == m or name.startswith(m + "."))
            if name.startswith("fastapi_poe.") and name.rsplit(".", 1)[1] in REQUEST_FUNCTIONS:
                found.add(name)
    return found


def _httpx_outside_isinstance(tree: ast.Module) -> list[int]:
    """Lines where ``httpx`` is used other than as a class in an ``isinstance`` check."""
    allowed: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "isinstance":
            allowed.update(id(n) for n in ast.walk(node.args[1]))
    return [node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Name) and node.id == "httpx" and id(node) not in allowed]


def test_only_two_client_modules_make_http_requests() -> None:
    importing = {name: found for name, tree in _client_modules() if (found := _http_imports(tree))}
    assert set(importing) - ISINSTANCE_ONLY == NETWORK_MODULES, importing
    for name in ISINSTANCE_ONLY & set(importing):
        assert importing[name] == {"httpx"}, (name, importing[name])
        tree = dict(_client_modules())[name]
        assert _httpx_outside_isinstance(tree) == [], f"{name} uses httpx beyond isinstance checks"


def test_the_scan_sees_every_import_form() -> None:
    code = ("import httpx\nfrom urllib import request\nimport urllib.request as u\nfrom http.client import HTTPConnection\n"
            "def f():\n    from fastapi_poe.client import stream_request_base\n    from fastapi_poe import upload_file\n")
    assert _http_imports(ast.parse(code)) == {"httpx", "urllib.request", "http.client", "fastapi_poe.client",
                                              "fastapi_poe.upload_file"}
    assert _httpx_outside_isinstance(ast.parse("import httpx\nisinstance(e, (httpx.A, httpx.B))\nhttpx.get('x')\n")) == [3]


# -- the same retries and messages on every path, against the local server ----------------------------

@pytest.fixture
def wired(activated: LocalServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalServer]:
    """This process points at the local server, short retry waits, no catalogue cached."""
    monkeypatch.setattr(settings, "retry_backoff", 0.01)
    catalog.clear_cache()
    activated.reset()
    yield activated
    activated.reset()
    catalog.clear_cache()


def _statuses(server: LocalServer, path: str) -> list[int]:
    return [r["status"] for r in server.requests(path)]


def test_catalogue_fetch_retries_a_429_honouring_retry_after(wired: LocalServer) -> None:
    wired.fail_next("/v1/models", 429, headers={"Retry-After": "0.3"})
    started = time.monotonic()
    snapshot = catalog.fetch()
    assert "EchoBot" in snapshot.ids and time.monotonic() - started >= 0.3
    assert _statuses(wired, "/v1/models") == [429, 200]


def test_catalogue_uses_one_kept_alive_connection(wired: LocalServer) -> None:
    for _ in range(3):
        catalog.fetch()
    ports = {r["client_port"] for r in wired.requests("/v1/models")}
    assert len(ports) == 1, ports


@pytest.mark.parametrize("status", [401, 403, 429, 500, 502, 503, 529])
def test_a_status_reads_the_same_on_every_path(wired: LocalServer, status: int) -> None:
    """The catalogue, the balance and a streamed answer word one status alike (one table)."""
    headers = {"Retry-After": "3600"} if status == 429 else {}  # a quota: reported, not retried
    caught: dict[str, E.PoeMagicError] = {}
    for path, call in [("/v1/models", lambda: catalog.fetch(retry=False)),
                       ("/usage/current_balance", lambda: http.get_json("/usage/current_balance", what="the balance",
                                                                         retry=False))]:
        wired.fail_next(path, status, headers=headers, body={"error": {"message": "simulated"}})
        with pytest.raises(E.PoeMagicError) as error:
            call()
        caught[path] = error.value
        assert _statuses(wired, path) == [status], "tried once"
    streamed = map_error(RuntimeError(), {"status": status, "body": '{"error": {"message": "simulated"}}'},
                         "GPT-5", settings.root)
    catalogue, balance = caught["/v1/models"], caught["/usage/current_balance"]
    assert type(catalogue) is type(balance) is type(streamed)
    wording = {str(streamed).replace("asking GPT-5", "X").replace("answering GPT-5", "X").replace("use GPT-5", "read X"),
               str(catalogue).replace("reading the model catalogue", "X").replace("read the model catalogue", "read X"),
               str(balance).replace("reading the balance", "X").replace("read the balance", "read X")}
    assert len(wording) == 1, wording
    assert f"({status})" in str(catalogue) or f"(HTTP {status})" in str(catalogue)


def test_catalogue_messages_match_the_points_history_shape(wired: LocalServer) -> None:
    wired.fail_next("/v1/models", 429, headers={"Retry-After": "3600"})
    with pytest.raises(E.RateLimitError) as error:
        catalog.fetch()
    assert str(error.value).startswith("rate limited (429) reading the model catalogue")
    assert "the server asks to wait 3600 s" in str(error.value) and "\n" not in str(error.value)
    assert _statuses(wired, "/v1/models") == [429], "an hour is a quota, not a burst: not retried"
    wired.fail_next("/v1/models", 503, count=settings.max_retries + 1)
    with pytest.raises(E.ServerError, match=rf"\(HTTP 503\) reading the model catalogue.*gave up after "
                                            rf"{settings.max_retries} retries"):
        catalog.fetch()


def test_name_resolution_does_not_retry_the_catalogue(wired: LocalServer) -> None:
    wired.fail_next("/v1/models", 503, count=5)
    started = time.monotonic()
    assert resolve.resolve_name("NoSuchModel-9") == "NoSuchModel-9"  # sent as typed
    assert time.monotonic() - started < catalog.RESOLVE_TIMEOUT
    assert _statuses(wired, "/v1/models") == [503]


def test_media_fetch_failure_is_one_line_and_retried_like_the_rest(wired: LocalServer) -> None:
    path = "/poe_api/files/0123abcd/gone.png"
    wired.fail_next(path, 503)
    file = ReplyFile(url=wired.url + path)
    with pytest.raises(E.PoeAPIError) as error:
        file.data  # noqa: B018
    line = str(error.value)
    assert line.startswith("not found (404) reading gone.png") and "\n" not in line, line
    assert len(error.value._render_traceback_()) == 1
    assert _statuses(wired, path) == [503, 404], "the 503 was retried, the 404 not"


def test_media_fetch_keeps_its_size_cap_and_sends_no_key(wired: LocalServer) -> None:
    with pytest.raises(E.RequestTooLargeError, match=r"models.json is over 100 bytes"):
        http.get_bytes(wired.url + "/v1/models", what="models.json", max_bytes=100)
    data, content_type = http.get_bytes(wired.url + "/v1/models", what="models.json", max_bytes=10**6)
    assert b"EchoBot" in data and content_type == "application/json"
    wired.reset()
    with pytest.raises(E.PoeUsageError, match="refusing to send the API key to http://127.0.0.2"):
        http.get_json("http://127.0.0.2:9/usage/current_balance", what="the balance")
    assert wired.requests() == []
