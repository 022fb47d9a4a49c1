"""poe_magic.batch in a real ipykernel against local servers of this module's own (their
request logs and points histories are ours alone): ordering, failures, the rate limiter seen
from the server's clock, resume after Ctrl-C and after a kernel restart, budgets, and the
background handle while other cells run."""

from __future__ import annotations

import queue
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from faultkit import usage_line
from harness import CellResult, Kernel, loaded_kernel

from poe_magic.server.launch import LocalServer, local_server

PRELUDE = "%load_ext poe_magic\nimport pandas as pd, poe_magic"


@pytest.fixture(scope="module")
def bsrv() -> Iterator[LocalServer]:
    with local_server(args=["--history-entries", "20"]) as srv:
        yield srv


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("batch_home")


@pytest.fixture(scope="module")
def bk(bsrv: LocalServer, home: Path) -> Iterator[Kernel]:
    with loaded_kernel(bsrv, home, PRELUDE) as kernel:
        yield kernel


@pytest.fixture
def own_bk(tmp_path: Path) -> Iterator[tuple[Kernel, LocalServer]]:
    """A kernel and server of their own, for a test whose cost estimate reads the points history
    (other tests' calls of the same bot would move it)."""
    with local_server(args=["--history-entries", "20"]) as srv:
        kernel = Kernel(env={**srv.env, "POE_MAGIC_HOME": str(tmp_path / "home")})
        try:
            kernel.run_ok(PRELUDE)
            yield kernel, srv
        finally:
            kernel.shutdown()


def bot_requests(server: LocalServer, bot: str = "") -> list[dict[str, Any]]:
    return server.requests("/bot/" + bot)


def one_line(result: CellResult, name: str) -> str:
    assert result.error is not None and result.error["ename"] == name, result.error
    assert len(result.error["traceback"]) == 1, result.error["traceback"]
    return result.error["traceback"][0]


def journal_path(home: Path) -> Path:
    """The journal of the one account these tests use (journals are kept per account)."""
    (path,) = (home / "batch").glob("*/journal.sqlite3")
    return path


def journal_count(home: Path) -> int:
    with sqlite3.connect(journal_path(home)) as db:
        return int(db.execute("SELECT COUNT(*) FROM answers").fetchone()[0])


def wait_for_requests(server: LocalServer, bot: str, at_least: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while len(bot_requests(server, bot)) < at_least:
        assert time.monotonic() < deadline, f"fewer than {at_least} requests to {bot} after {timeout} s"
        time.sleep(0.05)


def run_collecting(k: Kernel, code: str, also: str) -> tuple[CellResult, list[dict[str, Any]]]:
    """Run ``code``; also keep the messages sent meanwhile for the earlier cell ``also``."""
    msg_id = k.submit(code)
    result, other = CellResult(started=time.perf_counter()), []
    while True:
        msg = k.client.get_iopub_msg(timeout=60)
        parent = msg["parent_header"].get("msg_id")
        if parent == also:
            other.append(msg)
        elif parent == msg_id:
            result.messages.append(msg)
            if msg["header"]["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
    result.reply = k.client.get_shell_msg(timeout=30)["content"]
    return result, other


def drain(k: Kernel, seconds: float) -> list[dict[str, Any]]:
    end, got = time.monotonic() + seconds, []
    while time.monotonic() < end:
        try:
            got.append(k.client.get_iopub_msg(timeout=0.1))
        except queue.Empty:
            pass
    return got


# -- results ----------------------------------------------------------------------------------
def test_results_complete_ordered_and_a_failing_model_stops_nothing(bk: Kernel, bsrv: LocalServer) -> None:
    bsrv.reset()
    result = bk.run_ok(
        "df = pd.DataFrame({'q': ['alpha', 'beta', 'gamma', 'delta', 'eps']}, index=[50, 40, 30, 20, 10])\n"
        "out = poe_magic.batch(df, 'Echo {q}', models=['EchoBot', 'FailingBot', 'MarkdownBot'], concurrency=6,"
        " max_rpm=0)")
    assert bk.value("list(out.columns)") == ["row", "model", "prompt", "answer", "error", "time_to_first_token",
                                            "elapsed", "chars", "points", "cached", "retries"]
    rows = bk.value("[[int(r), m] for r, m in zip(out.row, out.model)]")
    assert rows == [[r, m] for r in (50, 40, 30, 20, 10) for m in ("EchoBot", "FailingBot", "MarkdownBot")]
    echo = bk.value("[(p, a) for p, a, m in zip(out.prompt, out.answer, out.model) if m == 'EchoBot']")
    for (prompt, answer), word in zip(echo, ["alpha", "beta", "gamma", "delta", "eps"]):
        assert prompt == f"Echo {word}" and f"**last message**: Echo {word}" in answer
    failing = bk.value("[(e, a) for e, a, m in zip(out.error, out.answer, out.model) if m == 'FailingBot']")
    assert all(e.startswith("ServerError: ") and "simulated failure" in e for e, _ in failing)
    assert all(a.startswith("partial0 partial1") for _, a in failing), "the partial answer is kept"
    assert bk.value("bool(out[out.model != 'FailingBot'].error.isna().all())")
    assert bk.value("str(out.error.dtype)") == "string"
    assert "None" not in bk.value("out.loc[out.model == 'EchoBot', 'error'].to_string()")  # shown as <NA>
    assert bk.value("bool((out.chars == out.answer.str.len()).all())")
    assert bk.value("bool((out.elapsed >= out.time_to_first_token).all())")
    for bot in ("EchoBot", "FailingBot", "MarkdownBot"):
        assert len(bot_requests(bsrv, bot)) == 5, bot
    (progress,) = [d for d in result.displays().values() if "text/html" in d and "poe-batch" in d["text/html"]]
    assert "batch 5 rows × 3 models: 15/15" in progress["text/plain"]
    assert "5 failed" in progress["text/plain"] and "finished" in progress["text/plain"]


def test_bad_input_is_one_line_and_sends_nothing(bk: Kernel, bsrv: LocalServer) -> None:
    bsrv.reset()
    bk.run_ok("df = pd.DataFrame({'q': ['a', None, 'c']})")
    assert "no column 'text'" in one_line(bk.run("poe_magic.batch(df, models='EchoBot')"), "PoeUsageError")
    assert "not valid" in one_line(bk.run("poe_magic.batch(df, 'x {q', models='EchoBot')"), "PoeUsageError")
    assert "listed twice" in one_line(bk.run("poe_magic.batch(df, '{q}', models=['EchoBot', 'EchoBot'])"),
                                      "PoeUsageError")
    assert "concurrency" in one_line(bk.run("poe_magic.batch(df, '{q}', models='EchoBot', concurrency=0)"),
                                     "PoeUsageError")
    assert bot_requests(bsrv) == []
    # a row without a value is that row's error, not the batch's
    bk.run_ok("out = poe_magic.batch(df, '{q}', models='EchoBot', max_rpm=0, progress=False)")
    assert bk.value("[e for e in out.error.fillna('')]") == ["", "not sent: no value in column 'q'", ""]
    assert len(bot_requests(bsrv)) == 2


def test_percent_poe_batch_magic(bk: Kernel, bsrv: LocalServer) -> None:
    bk.run_ok("items = ['one', 'two']")
    result = bk.run_ok("%poe batch items EchoBot MarkdownBot -p 'Say {text}' --max-rpm 0 -o res")
    assert bk.value("[list(res.model), list(res.prompt)]") == [
        ["EchoBot", "MarkdownBot", "EchoBot", "MarkdownBot"], ["Say one", "Say one", "Say two", "Say two"]]
    assert result.of_type("execute_result"), "the frame is shown"
    assert "unrecognized arguments" in one_line(bk.run("%poe batch items EchoBot --bogus"), "PoeUsageError")
    assert "cannot parse the options" in usage_line(bk.run("%poe batch items EchoBot -p 'unclosed"))


# -- rate limits --------------------------------------------------------------------------------
def test_small_batch_under_the_allowance_is_not_paced(bk: Kernel, bsrv: LocalServer) -> None:
    bsrv.reset()
    bk.run_ok("out = poe_magic.batch([f'r{i}' for i in range(40)], '{text}', models='EchoBot', concurrency=8,"
              " max_rpm=600, cache=False, progress=False)")
    times = sorted(r["time"] for r in bot_requests(bsrv, "EchoBot"))
    assert len(times) == 40
    # least-squares slope of arrival time against request number: seconds per request
    n = len(times)
    mean_i, mean_t = (n - 1) / 2, sum(times) / n
    slope = sum((i - mean_i) * (t - mean_t) for i, t in enumerate(times)) / sum((i - mean_i) ** 2 for i in range(n))
    # 40 requests are well under the per-minute allowance: sent at full concurrency, not paced
    # (the window holding the rate for longer batches: tests/test_ratelimit_window.py)
    assert 60 / slope > 600 * 1.5


@pytest.mark.http
def test_server_429_is_waited_out_and_the_batch_completes(poe_home: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    from poe_magic.batches.run import batch

    with local_server(args=["--rate-limit", "120", "--rate-burst", "3"]) as srv:
        for name, value in srv.env.items():
            monkeypatch.setenv(name, value)
        out = batch([f"q{i}" for i in range(6)], "{text}", models="EchoBot", concurrency=3, max_rpm=0)
        seen = srv.requests("/bot/EchoBot")
    final = capsys.readouterr().err.strip().splitlines()[-1]  # outside a notebook: a text line on stderr
    assert final.startswith("batch 6 rows × 1 model: 6/6") and "finished" in final and "rate limited (429)" in final
    assert out["error"].isna().all() and len(out) == 6
    statuses = [r["status"] for r in seen]
    assert statuses.count(200) == 6 and statuses.count(429) >= 1
    assert int(out["retries"].sum()) == statuses.count(429)
    refused = [r["time"] for r in seen if r["status"] == 429]
    for t in refused:  # Retry-After (1 s) honoured by every worker, not only the refused one
        assert not [r for r in seen if t + 0.1 < r["time"] < t + 0.9], "a request was sent during Retry-After"


def test_a_long_retry_after_stops_the_batch_instead_of_waiting(bk: Kernel, bsrv: LocalServer) -> None:
    bsrv.reset()
    bsrv.fail_next("/bot/EchoBot", 429, headers={"Retry-After": "3600"})
    bk.run_ok("out = poe_magic.batch(['a', 'b', 'c'], '{text}', models='EchoBot', concurrency=1, max_rpm=0,"
              " cache=False, progress=False)")
    errors = bk.value("list(out.error)")
    assert errors[0].startswith("RateLimitError: ")
    assert errors[1:] == ["not sent: rate limited: the server asks to wait 3600 s; run the same call later to send "
                          "the rest"] * 2
    assert len(bot_requests(bsrv)) == 1


# -- resume ----------------------------------------------------------------------------------------
SLOW = "poe_magic.batch([f'first_delay=0.25 chunks=1 n{i}' for i in range(30)], '{text}', models='SlowBot', " \
       "concurrency=3, max_rpm=0, progress=False)"


def test_ctrl_c_keeps_answers_and_the_rerun_sends_only_the_missing(bk: Kernel, bsrv: LocalServer) -> None:
    bsrv.reset()
    msg_id = bk.submit("out = " + SLOW)
    wait_for_requests(bsrv, "SlowBot", 7)
    bk.interrupt()
    stopped = bk.collect(msg_id)
    line = one_line(stopped, "StreamInterrupted")
    assert "run the same call again" in line
    kept = bk.value("int(poe_magic.last_batch().result().error.isna().sum())")
    sent_before = len(bot_requests(bsrv, "SlowBot"))
    assert 0 < kept < 30 and sent_before < 30
    bk.run_ok("out = " + SLOW)
    assert len(bot_requests(bsrv, "SlowBot")) - sent_before == 30 - kept
    assert bk.value("[int(out.error.isna().sum()), int(out.cached.sum())]") == [30, kept]


@pytest.mark.kernel
def test_kernel_restart_resumes_from_the_journal(bsrv: LocalServer, tmp_path: Path) -> None:
    bsrv.reset()
    env = {**bsrv.env, "POE_MAGIC_HOME": str(tmp_path)}
    first = Kernel(env=env)
    try:
        first.run_ok(PRELUDE)
        first.run_ok("run = " + SLOW.replace("progress=False", "progress=False, background=True"))
        wait_for_requests(bsrv, "SlowBot", 9)
    finally:
        first.shutdown()  # killed mid-batch
    journaled = journal_count(tmp_path)
    sent_before = len(bot_requests(bsrv, "SlowBot"))
    assert 0 < journaled < 30
    second = Kernel(env=env)
    try:
        second.run_ok(PRELUDE)
        second.run_ok("out = " + SLOW)
        assert len(bot_requests(bsrv, "SlowBot")) - sent_before == 30 - journaled
        assert second.value("[int(out.error.isna().sum()), int(out.cached.sum())]") == [30, journaled]
    finally:
        second.shutdown()
    assert bsrv.key.encode() not in journal_path(tmp_path).read_bytes()


# -- budget -----------------------------------------------------------------------------------------
def test_budget_refuses_before_sending_and_stops_mid_run(own_bk: tuple[Kernel, LocalServer]) -> None:
    bk, bsrv = own_bk
    # PricedBot (only used here, on this server) charges its cost= knob: two calls at 50 points make the estimate
    bk.run_ok("poe_magic.batch(['cost=50 w1', 'cost=50 w2'], '{text}', models='PricedBot', max_rpm=0, progress=False)")
    bsrv.reset()
    refused = one_line(bk.run("poe_magic.batch([f'cost=50 r{i}' for i in range(10)], '{text}', models='PricedBot',"
                              " budget=200, max_rpm=0)"), "BudgetExceededError")
    assert "about 500 points" in refused and "budget=200" in refused and "nothing was sent" in refused
    assert bot_requests(bsrv) == []
    # estimated 10 x 50 = 500 <= 600, but each call costs 100: stops when the next would pass 600
    bk.run_ok("out = poe_magic.batch([f'cost=100 m{i}' for i in range(10)], '{text}', models='PricedBot',"
              " budget=600, concurrency=1, max_rpm=0)")
    assert len(bot_requests(bsrv, "PricedBot")) == 6
    assert bk.value("[int(out.error.isna().sum()), int(out.points.sum())]") == [6, 600]
    # the sixth call counts at 100 once billed, at its estimate (50) until then: either is said
    (stopped,) = bk.value("sorted(set(out.error.dropna()))")
    assert stopped in {f"not sent: budget of 600 points reached (~{n} spent or committed)" for n in (550, 600)}
    assert bk.value("list(out.answer[:6].str.contains('for 100 points'))") == [True] * 6
    # the session budget (%poe budget) is a preflight check: a batch stops on it too
    bsrv.reset()
    bk.run_ok("from poe_magic.spending import ledger\nledger.set_budget(ledger.session_spend())\n"
              "try:\n    capped = poe_magic.batch(['cost=1 s1', 'cost=1 s2'], '{text}', models='PricedBot', max_rpm=0,"
              " progress=False)\nfinally:\n    ledger.set_budget(None)")
    assert bot_requests(bsrv) == []
    assert bk.value("[e.split(';')[0] for e in capped.error]") == [
        f"not sent: session budget of {spent:,} points reached ({spent:,} spent)"
        for spent in [bk.value("ledger.session_spend()")] * 2]


def test_points_are_looked_up_in_bulk_and_fill_every_row(bk: Kernel, bsrv: LocalServer, home: Path) -> None:
    bk.run_ok("from poe_magic.spending import ledger; ledger.wait_for_costs(30)")  # earlier tests' costs found
    bsrv.reset()
    balance = bk.value("poe_magic.current_balance()")
    bk.run_ok("out = poe_magic.batch([f'cost={i + 1} bulk{i}' for i in range(60)], '{text}', models='PricedBot',"
              " concurrency=8, max_rpm=0, progress=False)")
    lookups = len(bsrv.requests("/usage/points_history"))
    assert len(bot_requests(bsrv, "PricedBot")) == 60
    # the batch prices in bulk (a page of 100 entries covers 60 calls); the session's background
    # reconciler may add a read of its own for an earlier test's stopped call (it looks for 2 min)
    assert 1 <= lookups <= 4, f"{lookups} history requests for 60 calls: the costs are not looked up per call"
    points = bk.value("[int(p) for p in out.points]")  # every row priced (concurrent calls of one model may swap)
    assert sorted(points) == list(range(1, 61))
    assert bk.value("poe_magic.current_balance()") == balance - sum(points)
    assert sorted(bk.value("[c.points for c in poe_magic.spending.ledger.calls()[-60:]]")) == list(range(1, 61))
    with sqlite3.connect(journal_path(home)) as db:
        journaled = [row[0] for row in db.execute("SELECT points FROM answers WHERE prompt LIKE 'cost=% bulk%'")]
    assert sorted(journaled) == list(range(1, 61)), "the journal gets the points too"


# -- background ----------------------------------------------------------------------------------
def test_background_handle_while_other_cells_run(bk: Kernel, bsrv: LocalServer) -> None:
    bsrv.reset()
    start_id = bk.submit("run = poe_magic.batch([f'first_delay=0.3 chunks=1 b{i}' for i in range(24)], '{text}',"
                         " models='SlowBot', concurrency=4, max_rpm=0, background=True)")
    started = bk.collect(start_id)
    assert started.error is None
    (display_id,) = [m["content"]["transient"]["display_id"] for m in started.of_type("display_data")]
    assert bk.value("[run.done(), run.progress.finished < run.progress.total]") == [False, True]
    wait_for_requests(bsrv, "SlowBot", 1)  # sending (a loaded machine may take a moment to start)
    answer = bk.run_ok("%%poe EchoBot\nwhile the batch runs")  # the kernel is free meanwhile
    assert "while the batch runs" in answer.markdown()[0]
    _, late = run_collecting(bk, "import time; time.sleep(1.2)", also=start_id)
    updates = [m for m in late if m["header"]["msg_type"] == "update_display_data"]
    assert updates and all(m["content"]["transient"]["display_id"] == display_id for m in updates), \
        "progress updates go to the batch's own cell while another cell runs"
    bk.run_ok("df = run.result()")
    assert bk.value("[len(df), int(df.error.isna().sum()), run.progress.state]") == [24, 24, "finished"]
    echo_time = bot_requests(bsrv, "EchoBot")[0]["time"]
    slow_times = [r["time"] for r in bot_requests(bsrv, "SlowBot")]
    assert min(slow_times) < echo_time < max(slow_times), "the %%poe cell ran while the batch was sending"


def test_cancel_keeps_answers_and_sends_nothing_more(bk: Kernel, bsrv: LocalServer) -> None:
    bsrv.reset()
    bk.run_ok("run = poe_magic.batch([f'first_delay=0.3 chunks=1 c{i}' for i in range(40)], '{text}',"
              " models='SlowBot', concurrency=2, max_rpm=0, background=True, progress=False)")
    wait_for_requests(bsrv, "SlowBot", 5)
    bk.run_ok("run.cancel(); df = run.result()")
    sent = len(bot_requests(bsrv, "SlowBot"))
    answered, errors = bk.value("[int(df.error.isna().sum()), sorted(set(df.error.dropna()))]")
    assert 0 < answered < 40 and sent < 40
    assert set(errors) <= {"not sent: cancelled", "interrupted"}
    time.sleep(0.5)
    assert len(bot_requests(bsrv, "SlowBot")) == sent, "nothing is sent after cancel()"
    assert bk.value("[run.progress.state, poe_magic.wire.loop.shared_loop().pending_tasks()]") == ["cancelled", 0]


# -- the pieces, without a kernel ----------------------------------------------------------------
class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_client_window_allows_a_burst_then_holds_the_rate_and_pauses_everyone_on_429() -> None:
    from poe_magic.wire.ratelimit import RateLimiter

    clock = FakeClock()
    limiter = RateLimiter(3, clock=clock)  # three starts in any 60 s
    # a burst, then a wait for the oldest to leave the window (plus a margin for network jitter)
    assert [limiter.reserve() for _ in range(4)] == [0.0, 0.0, 0.0, pytest.approx(60.25)]
    clock.now += 200.0  # idle: the window is empty again, but no credit piles up beyond it
    assert [limiter.reserve() for _ in range(4)] == [0.0, 0.0, 0.0, pytest.approx(60.25)]
    clock.now += 200.0
    limiter.pause(2.0)  # a 429 with Retry-After: 2
    limiter.pause(2.0)  # ... seen by a second worker in the same episode
    assert limiter.rpm == pytest.approx(2.4) and limiter.throttled == 2  # slowed down once, by 20 %
    assert limiter.allowance == 2
    assert [limiter.reserve() for _ in range(3)] == [pytest.approx(2.0), pytest.approx(2.0), pytest.approx(62.25)]


def test_server_bucket_refuses_with_the_wait_and_refills() -> None:
    from poe_magic.server.ratelimit import KeyRateLimiter

    clock = FakeClock()
    limiter = KeyRateLimiter(120, burst=2, clock=clock)  # 2 per second
    assert [limiter.check("k"), limiter.check("k")] == [None, None]
    assert limiter.check("k") == pytest.approx(0.5)
    assert limiter.check("other-key") is None  # per key
    clock.now += 0.5
    assert limiter.check("k") is None and limiter.check("k") == pytest.approx(0.5)


@pytest.mark.http
def test_server_429_has_the_real_error_shape() -> None:
    import httpx

    body = {"version": "1.2", "type": "query", "user_id": "", "conversation_id": "", "message_id": "",
            "query": [{"role": "user", "content": "hi"}]}
    with local_server(args=["--rate-limit", "60", "--rate-burst", "2"]) as srv:
        headers = {"Authorization": f"Bearer {srv.key}"}
        responses = [httpx.post(f"{srv.url}/bot/EchoBot", json=body, headers=headers, timeout=30) for _ in range(3)]
        history = httpx.get(f"{srv.url}/usage/points_history", headers=headers, timeout=30)
    assert [r.status_code for r in responses] == [200, 200, 429]
    assert responses[2].headers["retry-after"] == "1"
    error = responses[2].json()["error"]
    assert error["code"] == 429 and error["type"] == "rate_limit_error" and "60 requests per minute" in error["message"]
    assert history.status_code == 200, "only model queries count against the limit"


def test_journal_keys_answers_by_what_was_asked_and_survives_corruption(tmp_path: Path) -> None:
    from poe_magic.batches.journal import BatchStore, StoredAnswer, request_key
    from poe_magic.wire.request import build_request

    a = build_request("hello", "GPT-5", system="be brief")
    same = build_request("hello", "GPT-5", system="be brief")
    others = [build_request("hello", "GPT-5"), build_request("hello", "GPT-5", system="be brief", temperature=0.5),
              build_request("hello", "Grok-4", system="be brief"), build_request("hello", "GPT-5", params={"x": 1})]
    key = request_key(a, "http://x")
    assert key == request_key(same, "http://x") != request_key(a, "http://y")
    assert len({key, *(request_key(o, "http://x") for o in others)}) == 5
    path = tmp_path / "journal.sqlite3"
    store = BatchStore(path)
    store.put(StoredAnswer(key, "GPT-5", "hello", "hi!", 0.1, 0.2, 300, time.time()))
    assert store.get_many([key, "missing"])[key].answer == "hi!" and store.recent_points("GPT-5") == [300]
    assert store.forget([key, "missing"]) == 1 and store.get_many([key]) == {}
    store.put(StoredAnswer(key, "GPT-5", "hello", "hi!", 0.1, 0.2, 300, time.time()))
    store.close()
    path.write_bytes(b"this is not a database" * 100)
    fresh = BatchStore(path)
    assert fresh.get_many([key]) == {} and fresh.recovered_from is not None and fresh.recovered_from.exists()
