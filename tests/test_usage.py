"""Balance, points history (pagination, cache, dtypes) and plots, over real HTTP.

A server of this module's own serves a seeded history of 1,234 entries (13 pages of 100), so
page counts are exact; the request log on the server is the ground truth.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from poe_magic.base import errors as E
from poe_magic.server.launch import LocalServer, local_server
from poe_magic.spending import history as usage
from poe_magic.spending.history_cache import HistoryCache, account_id
from poe_magic.spending.tables import LedgerTable, readable_ledger, readable_summary

SEEDED = 1234
PAGES = 13  # ceil(1234 / 100)
HISTORY = "/usage/points_history"


@pytest.fixture(scope="module")
def usage_server() -> Iterator[LocalServer]:
    with local_server(args=["--history-entries", str(SEEDED), "--rate-limit", "0"]) as srv:
        yield srv


def _point_at(server: LocalServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> LocalServer:
    from poe_magic.base.config import settings

    for name, value in server.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("POE_MAGIC_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(settings, "retry_backoff", 0.01)
    settings.set_api_key(None)
    settings.base_url = ""
    HistoryCache._memo.clear()
    server.reset()
    return server


@pytest.fixture
def account(usage_server: LocalServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> LocalServer:
    """This process points at the usage server (exactly the seeded history: tests using it add no
    calls) with an empty POE_MAGIC_HOME."""
    return _point_at(usage_server, monkeypatch, tmp_path)


@pytest.fixture
def own_account(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[LocalServer]:
    """Like ``account`` but on a server of its own, for tests that add calls to the history."""
    with local_server(args=["--history-entries", str(SEEDED), "--rate-limit", "0"]) as srv:
        yield _point_at(srv, monkeypatch, tmp_path)


def seeded_ids(server: LocalServer) -> list[str]:
    """The ids the usage server seeded, newest first, read back with plain httpx: the seeding
    depends on the moment the server started (quieter nights), so recomputing it here matched only
    when this ran within moments of the start (first in the module)."""
    ids = server_ids(server)
    assert len(ids) == SEEDED and all(i.startswith("q_seed") for i in ids), "the seeded history only"
    return ids


def server_ids(server: LocalServer) -> list[str]:
    """Every id the server has now, newest first, read page by page with plain httpx."""
    ids: list[str] = []
    params: dict[str, object] = {"limit": 100}
    while True:
        body = httpx.get(server.url + HISTORY, params=params, headers={"Authorization": f"Bearer {server.key}"}).json()
        ids += [e["query_id"] for e in body["data"]]
        if not body["has_more"]:
            return ids
        params["starting_after"] = ids[-1]


def history_requests(server: LocalServer) -> list[dict]:
    return server.requests(HISTORY)


def cache_file() -> Path:
    return HistoryCache(account_id()).path


def charge(server: LocalServer, bot: str = "EchoBot") -> None:
    body = {"version": "1.2", "type": "query", "user_id": "", "conversation_id": "", "message_id": "",
            "query": [{"role": "user", "content": "hi"}]}
    response = httpx.post(f"{server.url}/bot/{bot}", json=body, headers={"Authorization": f"Bearer {server.key}"},
                          timeout=30)
    assert response.status_code == 200


# -- pagination ----------------------------------------------------------------------
def test_full_download_pages_exactly_with_no_duplicates_or_gaps(account: LocalServer) -> None:
    frame = usage.points_history()
    seen = history_requests(account)
    assert len(seen) == PAGES and all(r["status"] == 200 for r in seen)
    assert list(frame["query_id"]) == seeded_ids(account)  # same entries, same order: no gap, no duplicate
    assert frame["creation_time"].is_monotonic_decreasing


def test_dtypes_and_extra_fields(account: LocalServer) -> None:
    frame = usage.points_history()
    assert str(frame["creation_time"].dtype) == "datetime64[us, UTC]"
    assert frame["bot_name"].dtype == "category" and frame["usage_type"].dtype == "category"
    assert frame["query_id"].dtype == "string" and frame["query_id"].is_unique
    assert frame["cost_points"].dtype == "int64"
    assert {"api_key_name", "chat_name"} <= set(frame.columns)  # fields beyond the five are kept
    api = frame[frame["usage_type"] == "API"]
    assert (api["api_key_name"] == "default").all()
    now = datetime.now(timezone.utc)
    assert now - timedelta(days=30, minutes=5) <= frame["creation_time"].min() < frame["creation_time"].max() <= now


def test_since_stops_paging_once_passed(account: LocalServer) -> None:
    full = usage.points_history()
    since = datetime.now(timezone.utc) - timedelta(days=4)
    usage.points_history(refresh=True, since=since)  # the cache rebuilt from only what is needed
    account.reset()
    HistoryCache._memo.clear()
    usage.points_history(refresh=True, since=since)
    expected = full[full["creation_time"] >= since]
    first_older = len(expected)  # index of the first entry older than `since`
    assert len(history_requests(account)) == first_older // 100 + 1
    recent = usage.points_history(since=since)
    assert list(recent["query_id"]) == list(expected["query_id"])
    assert len(history_requests(account)) == first_older // 100 + 2  # + one refresh request


def test_since_until_and_max_entries_extend_the_cache_downwards(account: LocalServer) -> None:
    now = datetime.now(timezone.utc)
    recent = usage.points_history(since=timedelta(days=2))
    assert len(recent) and (recent["creation_time"] >= now - timedelta(days=2, seconds=5)).all()
    account.reset()
    window = usage.points_history(since=now - timedelta(days=10), until=now - timedelta(days=5))
    assert len(window) and window["creation_time"].between(now - timedelta(days=10), now - timedelta(days=5)).all()
    assert len(history_requests(account)) >= 2  # the refresh, then pages below the cached run
    newest = usage.points_history(max_entries=700)
    assert len(newest) == 700 and list(newest["query_id"]) == seeded_ids(account)[:700]
    with pytest.raises(E.PoeUsageError):
        usage.points_history(max_entries=0)
    with pytest.raises(E.PoeUsageError, match="not a date"):
        usage.points_history(since="last tuesday-ish")


# -- cache ---------------------------------------------------------------------------
def test_second_call_and_refresh_after_new_calls_make_one_request(own_account: LocalServer) -> None:
    usage.points_history()
    own_account.reset()
    again = usage.points_history()
    assert len(history_requests(own_account)) == 1 and len(again) >= SEEDED
    for _ in range(3):
        charge(own_account)
    own_account.reset()
    fresh = usage.points_history()
    assert len(history_requests(own_account)) == 1
    assert len(fresh) == len(again) + 3 and fresh["query_id"].is_unique
    assert list(fresh["bot_name"][:3]) == ["EchoBot"] * 3


def test_cache_survives_a_restart_and_never_holds_the_key(account: LocalServer) -> None:
    usage.points_history()
    raw = cache_file().read_bytes()
    assert account.key.encode() not in raw
    account.reset()
    code = ("import poe_magic.spending.history as u; f = u.points_history(); "
            "print(len(f), u.http_stats.requests)")
    out = subprocess.run([sys.executable, "-c", code], env=dict(os.environ), capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    rows, requests = map(int, out.stdout.split())
    assert requests == 1 and rows >= SEEDED
    assert len(history_requests(account)) == 1


def test_corrupt_cache_is_reported_in_one_line_and_rebuilt(account: LocalServer,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    usage.points_history()
    path = cache_file()
    path.write_text(path.read_text()[:5000])  # truncated, as after a crash mid-write by another tool
    HistoryCache._memo.clear()
    account.reset()
    frame = usage.points_history()
    lines = [line for line in capsys.readouterr().err.splitlines() if "cache" in line]
    assert len(lines) == 1 and "unreadable" in lines[0] and "rebuilding" in lines[0]
    assert len(history_requests(account)) >= PAGES and frame["query_id"].is_unique
    assert json.loads(path.read_text())["count"] == len(frame)  # rebuilt, readable


def test_failing_page_is_retried(account: LocalServer) -> None:
    ids = server_ids(account)
    account.reset()
    account.fail_next(f"{HISTORY}?starting_after={ids[199]}", 500, count=1)  # the third page
    frame = usage.points_history()
    statuses = [r["status"] for r in history_requests(account)]
    assert statuses.count(500) == 1 and statuses.count(200) == len(ids) // 100 + 1
    assert list(frame["query_id"]) == ids


def test_page_failing_for_good_is_reported_and_nothing_cached(account: LocalServer) -> None:
    from poe_magic.base.config import settings

    ids = server_ids(account)
    third_page = f"{HISTORY}?starting_after={ids[199]}"
    account.fail_next(third_page, 503, count=settings.max_retries + 1)
    with pytest.raises(E.ServerError, match="503.*after 2 pages, nothing new was cached"):
        usage.points_history()
    assert not cache_file().exists()
    account.reset()
    assert list(usage.points_history()["query_id"]) == ids  # starts again from scratch and succeeds
    assert len(history_requests(account)) == len(ids) // 100 + 1
    saved = cache_file().read_bytes()
    account.fail_next(third_page, 503, count=settings.max_retries + 1)
    with pytest.raises(E.ServerError, match="503"):
        usage.points_history(refresh=True)  # a failed rebuild keeps the cache it would replace
    assert cache_file().read_bytes() == saved
    assert list(usage.points_history()["query_id"]) == ids


def test_rate_limited_page_waits_for_retry_after(account: LocalServer) -> None:
    ids = server_ids(account)
    account.reset()
    account.fail_next(HISTORY, 429, count=1, headers={"Retry-After": "0.2"})
    assert list(usage.points_history()["query_id"]) == ids
    statuses = [r["status"] for r in history_requests(account)]
    assert statuses[0] == 429 and statuses.count(200) == len(ids) // 100 + 1


def test_long_retry_after_or_no_server_is_one_line_not_a_long_wait(account: LocalServer,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    account.fail_next(HISTORY, 429, count=1, headers={"Retry-After": "3600"})
    with pytest.raises(E.RateLimitError, match=r"429.* reading the points history.*; the server asks to wait 3600 s"):
        usage.points_history()
    assert [r["status"] for r in history_requests(account)] == [429], "no retry: an hour is a quota, not a burst"
    assert not cache_file().exists()
    monkeypatch.setenv("POE_BASE_URL", "http://127.0.0.1:9")  # nothing listens there
    with pytest.raises(E.PoeConnectionError, match=r"cannot connect to read the points "
                                                   r"balance: the local server at http://127.0.0.1:9 is not running"):
        usage.current_balance()


def test_balance_and_auth_errors(own_account: LocalServer, monkeypatch: pytest.MonkeyPatch) -> None:
    direct = httpx.get(own_account.url + "/usage/current_balance", headers={"Authorization": f"Bearer {own_account.key}"})
    assert usage.current_balance() == direct.json()["current_point_balance"]
    charge(own_account, "GPT-4o-mini")  # 15 points
    assert usage.current_balance() == direct.json()["current_point_balance"] - 15
    monkeypatch.setenv("POE_API_KEY", "pk-wrong-key-0123456789")
    with pytest.raises(E.AuthError) as caught:
        usage.current_balance()
    assert "0123456789" not in str(caught.value)


# -- the server's side of the API ----------------------------------------------------
def test_server_history_shape_limits_and_errors(usage_server: LocalServer) -> None:
    auth = {"Authorization": f"Bearer {usage_server.key}"}
    body = httpx.get(usage_server.url + HISTORY, headers=auth).json()
    assert set(body) == {"has_more", "length", "data"} and body["length"] == len(body["data"]) == 20
    assert body["has_more"] is True
    for bad in ("0", "101", "ten"):
        response = httpx.get(usage_server.url + HISTORY, params={"limit": bad}, headers=auth)
        assert response.status_code == 400 and response.json()["error"]["type"] == "invalid_request_error"
    unknown = httpx.get(usage_server.url + HISTORY, params={"starting_after": "q_nope"}, headers=auth)
    assert unknown.status_code == 400 and "q_nope" in unknown.json()["error"]["message"]
    assert httpx.get(usage_server.url + HISTORY).status_code == 401


# -- summary and plots ---------------------------------------------------------------
def test_spending_summary_totals(account: LocalServer) -> None:
    frame = usage.points_history()
    for by in ("bot", "day", "type"):
        table = usage.spending_summary(frame, by=by)
        assert list(table.columns) == ["points", "calls", "mean per call", "max per call"]
        assert table.loc["total", "points"] == frame["cost_points"].sum() == table["points"].iloc[:-1].sum()
        assert table.loc["total", "calls"] == len(frame) and table.loc["total", "max per call"] == frame["cost_points"].max()
    per_bot = usage.spending_summary(frame, by="bot")
    assert per_bot["points"].iloc[:-1].is_monotonic_decreasing
    with pytest.raises(E.PoeUsageError):
        usage.spending_summary(frame, by="colour")
    shown = readable_summary(per_bot)  # what %poe history displays: the same numbers, as text
    assert list(shown.index) == list(per_bot.index) and list(shown.columns) == list(per_bot.columns)
    total = int(per_bot.loc["total", "points"])
    assert total >= 1000 and shown.loc["total", "points"] == f"{total:,}"
    assert shown.loc["total", "mean per call"] == f"{per_bot.loc['total', 'mean per call']:,.1f}"


def test_session_ledger_display_is_readable_and_the_frame_stays_typed() -> None:
    import pandas as pd

    started = [datetime(2026, 11, 27, 13, 31, 30, 629743, tzinfo=timezone.utc),
               datetime(2026, 11, 27, 13, 32, 1, 5, tzinfo=timezone.utc)]
    frame = pd.DataFrame({
        "time": pd.to_datetime(started, utc=True), "model": pd.array(["EchoBot", "GPT-5"], dtype="string"),
        "points": pd.array([3990, None], dtype="Int64"), "estimated": pd.array([3500, None], dtype="Int64"),
        "chars": pd.array([12, 4000], dtype="int64"),
        "elapsed": pd.array([0.773, None], dtype="Float64"), "status": pd.array(["ok", "error"], dtype="string")})
    shown = readable_ledger(frame)
    assert list(shown.columns) == ["time (UTC)", "model", "points", "≈ estimated", "chars", "elapsed (s)", "status"]
    assert shown.values.tolist() == [
        ["13:31:30", "EchoBot", "3,990", "≈ 3,500", "12", "0.77", "ok"],
        ["13:32:01", "GPT-5", "unknown", "", "4,000", "", "error"],
        ["total", "2 calls", "3,990 + 1 unknown", "≈ 3,500", "4,012", "0.77", ""]]
    frame.loc[1, "time"] = pd.Timestamp("2026-11-28 00:00:02", tz="UTC")  # the session spans two days
    assert readable_ledger(frame)["time (UTC)"].tolist()[:2] == ["2026-11-27 13:31:30", "2026-11-28 00:00:02"]
    table = LedgerTable(frame)
    assert "3,990 + 1 unknown" in repr(table) and "<th>elapsed (s)</th>" in table._repr_html_()
    assert "13:31:30.629743" not in repr(table) + table._repr_html_()
    assert table.dtypes.equals(frame.dtypes) and int(table["points"].sum()) == 3990  # computes like the frame
    assert type(table[table["points"].notna()]) is pd.DataFrame  # derived frames are plain again
    assert readable_ledger(frame.iloc[:0])["model"].tolist() == ["0 calls"]


def test_atomic_json_writes_from_many_threads_leave_one_whole_file(tmp_path: Path) -> None:
    import threading

    from poe_magic.base.files import write_json_atomic

    path = tmp_path / "sub" / "cache.json"  # the folder is created
    failures: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(30):
                write_json_atomic(path, {"writer": n, "i": i, "pad": "x" * 5000})
        except BaseException as exc:  # a temp-name collision would surface here
            failures.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert json.loads(path.read_text())["i"] == 29  # whole: the last write of one of the writers
    with pytest.raises(TypeError):
        write_json_atomic(path, {"not json": object()})
    assert json.loads(path.read_text())["i"] == 29  # a failed write leaves the old file
    assert [p.name for p in path.parent.iterdir()] == ["cache.json"]  # no temporary file left behind


def test_unsaveable_history_cache_is_reported_and_leaves_no_temp_file(tmp_path: Path) -> None:
    from poe_magic.spending.history_cache import Snapshot

    reports: list[str] = []
    blocker = tmp_path / "home" / "cache"
    blocker.parent.mkdir()
    blocker.write_text("a file where the cache folder should be")
    cache = HistoryCache("acct", home=tmp_path / "home", report=reports.append)
    assert cache.save(Snapshot()) is False
    assert len(reports) == 1 and reports[0].startswith("could not save the points-history cache")
    ok = HistoryCache("acct", home=tmp_path / "other", report=reports.append)
    assert ok.save(Snapshot()) is True and [p.name for p in ok.path.parent.iterdir()] == ["acct.json"]
    assert len(ok.load()) == 0 and len(reports) == 1
