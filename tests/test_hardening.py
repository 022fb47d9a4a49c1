"""Hardening (issue 16), in this process over real HTTP: a hostile server (tests/hostile_server.py)
and the local one. Each test is one attack; ``ATTACKS`` collects "attack -> what the user sees ->
what was sent -> verdict" rows, printed at the end (``pytest tests/test_hardening.py -s``)."""

from __future__ import annotations

import math
import os
import pickle
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hostile_server import HostileServer, hostile_server

import poe_magic
from poe_magic.base import errors as E
from poe_magic.base.config import settings
from poe_magic.server.launch import LocalServer

KEY = "pk-HARDEN-0123456789-QQKEYQQ-abcdefWXYZ"
ATTACKS: list[tuple[str, str, str, str]] = []


def attack(name: str, seen: str, sent: str, verdict: str = "refused/contained") -> None:
    ATTACKS.append((name, seen.splitlines()[0][:110] if seen else "", sent, verdict))


@pytest.fixture(scope="module")
def hostile() -> Iterator[HostileServer]:
    with hostile_server() as app:
        yield app


@pytest.fixture(scope="module", autouse=True)
def _table() -> Iterator[None]:
    yield
    if ATTACKS:
        print("\n| attack | what the user sees | what was sent | verdict |\n|---|---|---|---|")
        for row in ATTACKS:
            print("| " + " | ".join(cell.replace("|", "/") for cell in row) + " |")


@pytest.fixture
def at_hostile(hostile: HostileServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> HostileServer:
    """This process points at the hostile server with a recognisable key."""
    monkeypatch.setenv("POE_BASE_URL", hostile.url)
    monkeypatch.setenv("POE_API_KEY", KEY)
    monkeypatch.setenv("POE_MAGIC_HOME", str(tmp_path / "home"))
    settings.set_api_key(None)
    settings.base_url = ""
    monkeypatch.setattr(settings, "max_retries", 0)
    hostile.seen.clear()
    return hostile


def bots(app: HostileServer) -> list[dict[str, Any]]:
    return [r for r in app.seen if r["path"].startswith("/bot/")]


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and "Traceback" not in text, text
    assert KEY not in text and KEY[3:20] not in text
    return text


# -- 1. path traversal -----------------------------------------------------------------
def test_server_file_name_cannot_escape_the_folder(at_hostile: HostileServer, tmp_path: Path) -> None:
    reply = poe_magic.ask("a file please", "Traversal", stream=False)
    assert reply.attachments, "the server sent a file"
    folder = tmp_path / "out"
    folder.mkdir()
    saved = reply.attachments[0].save(folder)
    assert saved.parent == folder and saved.name == f"{at_hostile.marker}.png"
    assert not (Path("/tmp") / f"{at_hostile.marker}.png").exists()
    assert saved.read_bytes().startswith(b"\x89PNG")
    attack("server names a file ../../../../tmp/x.png", f"saved as {saved.name} inside the folder",
           "-", "contained")


@pytest.mark.parametrize("name, expected", [
    ("../../etc/passwd", "passwd"), ("C:\\Windows\\evil.dll", "evil.dll"), ("..", "file-1"),
    (".bashrc", "bashrc"), ("a\x00b\nc.txt", "abc.txt"), ("/", "file-1"), ("", "file-1"),
    ("x" * 500 + ".png", "x" * 120 + ".png"),
])
def test_safe_name(name: str, expected: str) -> None:
    from poe_magic.base.files import safe_name

    assert safe_name(name, fallback="file-1") == expected


# -- 2. the key in a prompt ----------------------------------------------------------------
@pytest.mark.parametrize("where", ["prompt", "system", "params", "substring"])
def test_key_in_what_is_sent_is_refused(at_hostile: HostileServer, where: str, tmp_path: Path) -> None:
    options: dict[str, Any] = {"cache": True}
    prompt = "hello"
    if where == "prompt":
        prompt = f"environ: {dict(os.environ)}"
    elif where == "system":
        options["system"] = f"you know {KEY}"
    elif where == "params":
        options["params"] = {"note": KEY}
    else:
        prompt = f"part: {KEY[5:30]}"
    with pytest.raises(E.PoeUsageError) as caught:
        poe_magic.ask(prompt, "Echo", stream=False, **options)
    assert "the prompt contains your Poe API key; nothing was sent" in one_line(caught.value)
    assert bots(at_hostile) == []
    written = [p for p in (tmp_path / "home").rglob("*") if p.is_file()] if (tmp_path / "home").exists() else []
    assert all(KEY[5:30].encode() not in p.read_bytes() for p in written)
    attack(f"the key in the {where}", str(caught.value), "nothing")


def test_key_echoed_by_a_server_is_scrubbed(at_hostile: HostileServer) -> None:
    reply = poe_magic.ask("echo my header", "EchoKey", stream=False)
    assert "you sent: Bearer" in reply.text
    assert KEY not in reply.text and KEY[5:30] not in reply.text
    attack("server echoes the Authorization header", reply.text, "the prompt (as asked)", "scrubbed")


# -- 3. malformed base URLs and the key in tracebacks ---------------------------------------
@pytest.mark.parametrize("url, says", [
    ("http://[::1", "not a valid URL"), ("127.0.0.1:8000", "http:// or https://"),
    ("ftp://example.org", "http:// or https://"), ("http://127.0.0.1:99999", "port"),
    ("http://user:pass@127.0.0.1:1", "user"), ("http://", "no host"),
    ("http://127.0.0.1:1/?x=1", "query"), ("http://127.0.0.1 :1", "space"),
])
def test_bad_base_url_is_one_line(url: str, says: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POE_API_KEY", KEY)
    settings.set_api_key(None)
    with pytest.raises(E.ConfigError) as caught:
        settings.base_url = url
    assert says in one_line(caught.value)
    monkeypatch.setenv("POE_BASE_URL", url)
    settings.base_url = ""
    with pytest.raises(E.ConfigError) as env_caught:
        poe_magic.ask("hi", "Echo", stream=False)
    assert "POE_BASE_URL" in one_line(env_caught.value)
    attack(f"POE_BASE_URL={url!r}", str(env_caught.value), "nothing")


def test_trailing_newline_in_base_url_is_tolerated(activated: LocalServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POE_BASE_URL", activated.url + "\n")
    assert poe_magic.ask("hi", "EchoBot", stream=False).text


def test_no_traceback_frame_holds_the_key(at_hostile: HostileServer) -> None:
    for call in (lambda: poe_magic.ask("hi", "Html", stream=False),
                 lambda: poe_magic.points_history(refresh=True)):
        try:
            call()
        except E.PoeMagicError as exc:
            shown = "".join(traceback.TracebackException.from_exception(exc, capture_locals=True).format())
            assert KEY not in shown and KEY[5:30] not in shown
        else:
            pytest.fail("expected a failure")


def test_settings_never_hold_the_key_in_plain_sight(monkeypatch: pytest.MonkeyPatch) -> None:
    settings.set_api_key(KEY)
    try:
        assert KEY not in repr(vars(settings)) and KEY not in repr(settings)
        assert KEY.encode() not in pickle.dumps(settings)
    finally:
        settings.set_api_key(None)


def test_plain_http_to_a_remote_host_warns_once(monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    from poe_magic.base.config import insecure_warning

    # decided from the URL alone: nothing connects anywhere
    assert insecure_warning("http://example.org") is not None
    assert insecure_warning("https://example.org") is None
    for local in ("http://127.0.0.1:8000", "http://127.9.9.9", "http://[::1]:80", "http://localhost:1"):
        assert insecure_warning(local) is None, local
    monkeypatch.setenv("POE_BASE_URL", "http://poe.invalid")
    settings.base_url = ""
    for _ in range(3):
        assert settings.root == "http://poe.invalid"
    err = capsys.readouterr().err
    assert err.count("plain http") == 1 and "\n" == err[-1] and err.count("\n") == 1
    attack("POE_BASE_URL=http://remote-host (no TLS)", err.strip(), "nothing yet (warned before connecting)",
           "warned")


# -- 5. malformed stream chunks ---------------------------------------------------------------
@pytest.mark.parametrize("bot", ["BadDelta", "BadToolCalls"])
def test_malformed_json_event_is_one_line_and_stops_the_stream(at_hostile: HostileServer, bot: str) -> None:
    with pytest.raises(E.PoeMagicError) as caught:
        poe_magic.ask("go", bot, stream=False, timeout=60)
    text = one_line(caught.value)
    assert "malformed" in text and "partial answer kept" in text
    assert caught.value.reply.text.startswith("partial words")  # type: ignore[attr-defined]
    deadline = time.monotonic() + 20
    while at_hostile.talking and time.monotonic() < deadline:
        time.sleep(0.1)
    assert at_hostile.talking == 0, "the stream was left running"
    attack(f"json event with {'a string delta' if bot == 'BadDelta' else 'tool_calls: [5]'}", text, "the prompt")


# -- 6. endless paging ---------------------------------------------------------------------------
def test_cyclic_history_stops(at_hostile: HostileServer) -> None:
    started = time.monotonic()
    with pytest.raises(E.ServerError) as caught:
        poe_magic.points_history(refresh=True)
    text = one_line(caught.value)
    assert "repeat" in text
    pages = [r for r in at_hostile.seen if r["path"] == "/usage/points_history"]
    assert len(pages) <= 3 and time.monotonic() - started < 60
    attack("history server says has_more forever (same page)", text, f"{len(pages)} page requests")


def test_absurd_balances_and_history_sizes_are_refused_sanely(at_hostile: HostileServer) -> None:
    at_hostile.balances = ['{"current_point_balance": 1e308}', '{"current_point_balance": Infinity}',
                           '{"current_point_balance": 1234}']
    for _ in range(2):
        with pytest.raises(E.ServerError) as caught:
            poe_magic.current_balance()
        text = one_line(caught.value)
        assert len(text) < 200 and "0" * 30 not in text  # no 309-digit number, no OverflowError
    assert poe_magic.current_balance() == 1234
    with pytest.raises(E.PoeUsageError, match="max_entries"):
        poe_magic.points_history(max_entries=10**12)
    attack("balance of 1e308 / Infinity", text, "one request each")


# -- weak points: non-stream 200s, redirects, trickling catalogue -----------------------------------
@pytest.mark.parametrize("bot", ["Html", "Json"])
def test_a_200_that_is_not_a_stream(at_hostile: HostileServer, bot: str) -> None:
    with pytest.raises(E.PoeMagicError) as caught:
        poe_magic.ask("hi", bot, stream=False)
    text = one_line(caught.value)
    assert "not a Poe stream" in text and "check POE_BASE_URL" in text
    assert len(bots(at_hostile)) == 1, "not retried"
    attack(f"200 with {bot} instead of an event stream", text, "one request")


def test_a_redirect_says_where_and_is_not_followed(at_hostile: HostileServer) -> None:
    with pytest.raises(E.PoeMagicError) as caught:
        poe_magic.ask("hi", "Redirect", stream=False)
    text = one_line(caught.value)
    assert "http://127.0.0.9:9/steal" in text and "redirect" in text
    attack("302 to another host", text, "one request; the redirect not followed")


@pytest.mark.slow
def test_a_trickling_catalogue_is_bounded(at_hostile: HostileServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from poe_magic.wire import http

    monkeypatch.setattr(settings, "connect_timeout", 1.0)
    monkeypatch.setattr(http, "READ_TIMEOUT", 3.0)  # the total deadline is connect + read timeouts
    monkeypatch.setattr(at_hostile, "trickle", True)
    started = time.monotonic()
    with pytest.raises(E.PoeMagicError) as caught:
        poe_magic.models(refresh=True)
    spent = time.monotonic() - started
    assert spent < 30, spent  # not 300 bytes at 1 byte/s
    assert "took over" in str(caught.value)
    attack("catalogue trickles 1 byte/s", one_line(caught.value), "one request", "bounded")


# -- 9. numbers that are not numbers ------------------------------------------------------------------
@pytest.mark.parametrize("value", [math.nan, math.inf, -1, 10**30, True, "5"])
def test_points_check(value: Any) -> None:
    from poe_magic.base.config import check_points

    with pytest.raises(E.PoeUsageError):
        check_points("budget", value)
    assert check_points("budget", 12.5) == 12.5


@pytest.mark.parametrize("value", [math.nan, math.inf, -5, 10**30])
def test_budget_refuses_non_numbers(activated: LocalServer, value: Any) -> None:
    with pytest.raises(E.PoeUsageError) as caught:
        poe_magic.batch(["a", "b"], "{text}", "EchoBot", budget=value, progress=False)
    assert "budget" in one_line(caught.value)
    with pytest.raises(E.PoeUsageError):
        poe_magic.set_budget(value)
    attack(f"batch(budget={value!r})", str(caught.value), "nothing")


@pytest.mark.parametrize("option, value", [("max_rpm", math.nan), ("max_rpm", -1.0), ("max_rpm", math.inf)])
def test_batch_rate_refuses_non_numbers(activated: LocalServer, option: str, value: Any) -> None:
    with pytest.raises(E.PoeUsageError) as caught:
        poe_magic.batch(["a"], "{text}", "EchoBot", progress=False, **{option: value})
    assert option in one_line(caught.value)


@pytest.mark.parametrize("kwargs", [{"max_entries": -1}, {"max_entries": math.nan}, {"since": math.nan},
                                    {"since": float("inf")}])
def test_history_refuses_non_numbers(activated: LocalServer, kwargs: dict[str, Any]) -> None:
    with pytest.raises(E.PoeUsageError) as caught:
        poe_magic.points_history(**kwargs)
    one_line(caught.value)


# -- 10. what cannot be encoded is not retried ------------------------------------------------------
@pytest.mark.parametrize("case", ["surrogate", "params"])
def test_client_side_encoding_errors_are_not_retried(at_hostile: HostileServer, monkeypatch: pytest.MonkeyPatch,
                                                     case: str) -> None:
    monkeypatch.setattr(settings, "max_retries", 3)
    started = time.monotonic()
    with pytest.raises(E.PoeUsageError) as caught:
        if case == "surrogate":
            poe_magic.ask("bad \ud800 char", "Echo", stream=False)
        else:
            poe_magic.ask("hi", "Echo", stream=False, params={"x": object()})
    assert time.monotonic() - started < 3
    assert bots(at_hostile) == []
    attack("a lone surrogate" if case == "surrogate" else "an unserialisable parameter",
           one_line(caught.value), "nothing", "refused at once")


# -- 4. storage failures after an answer ---------------------------------------------------------------
def test_unwritable_cache_keeps_the_answer(activated: LocalServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the home should be")
    monkeypatch.setenv("POE_MAGIC_HOME", str(blocker))
    reply = poe_magic.ask("keep me", "EchoBot", stream=False, cache=True)
    assert reply.ok and reply.text
    assert poe_magic.last_reply() is reply
    err = capsys.readouterr().err
    assert "could not" in err and err.strip().count("\n") == 0
    attack("POE_MAGIC_HOME is a file, --cache", err.strip(), "the prompt (answer kept)", "warned")


# -- the local server's own inputs ---------------------------------------------------------------------
@pytest.mark.parametrize("bad", [{"status": 99}, {"status": "x"}, {"status": 700}, {"status": True},
                                 {"status": 500, "headers": {"bad name\n": "v"}},
                                 {"status": 500, "headers": {"X-Ok": "v\r\nSet-Cookie: a=b"}},
                                 {"status": 500, "count": -1}])
def test_local_faults_validates(activated: LocalServer, bad: dict[str, Any]) -> None:
    import urllib.error

    with pytest.raises(urllib.error.HTTPError) as caught:
        activated._call("POST", "/_local/faults", {"path": "/bot/EchoBot", **bad})
    assert caught.value.code == 400


def test_local_upload_name_with_slash_gives_a_working_url(activated: LocalServer, tmp_path: Path) -> None:
    import fastapi_poe as fp

    from poe_magic.wire.loop import shared_loop

    attachment = shared_loop().run(fp.upload_file(file=b"slash bytes", file_name="dir/sub/odd name.txt",
                                                  api_key=activated.key, base_url=activated.url + "/poe_api/"))
    data, _ = __import__("poe_magic.wire.http", fromlist=["get_bytes"]).get_bytes(
        attachment.url, what="the upload", max_bytes=1000)
    assert data == b"slash bytes"


def test_huge_retry_after_and_balances_are_shown_sanely() -> None:
    from poe_magic.wire.retry import next_retry, parse_retry_after

    for raw in ("1e308", "inf", "nan", "-5", "99999999999999999999999"):
        seconds = parse_retry_after(raw)
        assert seconds is None or (math.isfinite(seconds) and 0 <= seconds <= 10**7), (raw, seconds)
    error = E.RateLimitError("rate limited (429) asking X", retry_after=parse_retry_after("1e308"))
    assert next_retry(error, 0, 3, 1.0) is None or next_retry(error, 0, 3, 1.0) <= 60


def test_unwritable_journal_is_said_once_and_keeps_the_answers(activated: LocalServer, monkeypatch: pytest.MonkeyPatch,
                                                               tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from poe_magic.base import notices

    blocker = tmp_path / "home_file"
    blocker.write_text("a file where the home should be")
    monkeypatch.setenv("POE_MAGIC_HOME", str(blocker))
    monkeypatch.setattr(notices, "_said", set())  # "once per process": this test's own process view
    frame = poe_magic.batch([f"row {i}" for i in range(5)], "{text}", "EchoBot", progress=False)
    assert frame["answer"].notna().all() and frame["error"].isna().all()
    err = capsys.readouterr().err
    assert err.count("could not write the batch journal") == 1, err
    attack("batch with an unwritable journal, progress=False", err.strip().splitlines()[0],
           "the 5 prompts (answers kept)", "warned once")


@pytest.mark.parametrize("where", ["tool_results", "tool_calls", "attachment name", "history"])
def test_the_key_guard_covers_every_part_of_a_request(monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    from types import SimpleNamespace

    from poe_magic.wire.request import KEY_REFUSAL, Message, build_request, check_sendable

    monkeypatch.setenv("POE_API_KEY", KEY)
    request = build_request("hi", "Echo", history=[Message("user", "earlier"), Message("bot", "reply")])
    check_sendable(request)  # clean: passes
    if where == "tool_results":
        request.tool_results = [{"role": "tool", "name": "f", "tool_call_id": "c", "content": f"env={KEY}"}]
    elif where == "tool_calls":
        request.tool_calls = [{"id": "c", "type": "function", "function": {"name": "f", "arguments": KEY[:20]}}]
    elif where == "attachment name":
        request.messages[-1].attachments.append(SimpleNamespace(name=f"{KEY}.txt", url=""))
    else:
        request.messages[0].content = "earlier " + KEY
    with pytest.raises(E.PoeUsageError, match=KEY_REFUSAL):
        check_sendable(request)
