"""Costs that hold on the real API (issue 14): a local server that lists entries late, shows a
provisional 0 first, lower-cases names and runs a skewed clock; a real kernel; real HTTP.

Every cell here must end as soon as its answer ends (the cost is found in the background),
each call must still get its own cost, the ledger and the history cache must end right, and a
budget must not be overspent by more than one call whatever the history's lag.
"""

from __future__ import annotations

import json
import re
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from harness import Kernel, loaded_kernel

from poe_magic.server.launch import LocalServer, local_server

LAG, PROVISIONAL, SKEW = 3.0, 2.0, 1.5
LAGGING = {"history_lag": LAG, "provisional_zero": PROVISIONAL, "history_names": "lower", "clock_skew": SKEW}
PLAIN = {"history_lag": 0, "provisional_zero": 0, "history_names": "display", "clock_skew": 0,
         "usage_latency": 0, "cost_fields": False, "error_codes": "status"}
LEDGER = "__import__('poe_magic.spending.ledger', fromlist=['_'])"


@pytest.fixture(scope="module")
def lag_server() -> Iterator[LocalServer]:
    with local_server(args=["--history-entries", "120", "--history-lag", str(LAG), "--provisional-zero",
                            str(PROVISIONAL), "--history-names", "lower", "--clock-skew", str(SKEW)]) as srv:
        yield srv


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("costs_home")


@pytest.fixture(scope="module")
def k(lag_server: LocalServer, home: Path) -> Iterator[Kernel]:
    with loaded_kernel(lag_server, home, "%load_ext poe_magic\nimport poe_magic") as kernel:
        yield kernel


@pytest.fixture
def own_k(lag_server: LocalServer, tmp_path: Path) -> Iterator[Kernel]:
    """A kernel of its own: what it knows of the server's clock comes only from this test (another
    test slows the usage endpoint, which blurs a shared kernel's skew estimate from Date headers)."""
    with loaded_kernel(lag_server, tmp_path / "home", "%load_ext poe_magic\nimport poe_magic") as kernel:
        yield kernel


def modes(server: LocalServer, **changes: Any) -> dict[str, Any]:
    response = httpx.post(server.url + "/_local/usage_modes", json=changes,
                          headers={"Authorization": f"Bearer {server.key}"}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def listed(server: LocalServer, n: int = 100) -> list[dict[str, Any]]:
    response = httpx.get(server.url + "/usage/points_history", params={"limit": n},
                         headers={"Authorization": f"Bearer {server.key}"}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def wait_for_costs(k: Kernel, timeout: float = 45) -> None:
    assert k.value(f"{LEDGER}.wait_for_costs({timeout})") is True, k.value(f"{LEDGER}.budget_status()")


# -- the server's modes ------------------------------------------------------------------------
@pytest.mark.slow
def test_server_modes_lag_provisional_names_skew_headers_and_codes(lag_server: LocalServer) -> None:
    provisional = 8.0  # long enough that a slow machine still reads the entry while its 0 is provisional
    modes(lag_server, **{**LAGGING, "provisional_zero": provisional}, cost_fields=True, error_codes="string")
    try:
        before = {e["query_id"] for e in listed(lag_server)}
        body = {"version": "1.2", "type": "query", "user_id": "", "conversation_id": "", "message_id": "",
                "query": [{"role": "user", "content": "cost=33"}]}
        sent = time.time()
        answered = httpx.post(lag_server.url + "/bot/PricedBot", json=body, timeout=30,
                              headers={"Authorization": f"Bearer {lag_server.key}"})
        received = time.time()
        assert answered.status_code == 200
        # this server has no rate limit (--rate-limit 0, the suites' default): it sends no
        # made-up x-ratelimit-* figures (those of a limited server: tests/test_frontend_weight.py)
        assert not [name for name in answered.headers if name.lower().startswith("x-ratelimit")]
        server_clock = httpx.get(lag_server.url + "/v1/models").headers["date"]
        from email.utils import parsedate_to_datetime
        assert abs(parsedate_to_datetime(server_clock).timestamp() - time.time() - SKEW) < 1.5
        assert not {e["query_id"] for e in listed(lag_server)} - before  # not listed yet
        time.sleep(LAG + 0.3)
        (new,) = [e for e in listed(lag_server) if e["query_id"] not in before]
        assert new["bot_name"] == "pricedbot" and new["cost_points"] == 0 and new["cost_breakdown_in_points"] == {}
        stamped = new["creation_time"] / 1e6 - SKEW  # stamped by the skewed clock, during the request
        assert sent - 0.5 <= stamped <= received + 0.5, (sent, stamped, received)
        time.sleep(provisional)
        (final,) = [e for e in listed(lag_server) if e["query_id"] == new["query_id"]]
        assert final["cost_points"] == 33 and final["cost_breakdown_in_points"] == {"base": 33}
        assert final["cost_usd"] == "0.000990"
        refused = httpx.get(lag_server.url + "/usage/points_history", headers={"Authorization": "Bearer wrong"})
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_api_key"
        bad = httpx.post(lag_server.url + "/_local/usage_modes", json={"history_lag": -1},
                         headers={"Authorization": f"Bearer {lag_server.key}"})
        assert bad.status_code == 400 and "history_lag" in bad.json()["error"]["message"]
    finally:
        modes(lag_server, **LAGGING, cost_fields=False, error_codes="status")


# -- the first table, row by row, in a real kernel -------------------------------------
def test_lag_provisional_lower_names_and_skew_each_call_gets_its_own_cost(k: Kernel, lag_server: LocalServer,
                                                                          home: Path) -> None:
    modes(lag_server, **LAGGING)
    k.run_ok("from poe_magic.core.session import new_session\nnew_session()")
    cells = [k.run_ok("%%poe EchoBot -o a\nhello"), k.run_ok("%%poe PricedBot -o b\ncost=100"),
             k.run_ok("%%poe EchoBot -o c\nhello again")]
    # the cells ended with their answers: no cost yet (the history lists them 3 s late)
    assert k.value("[a.points, b.points, c.points]") == [None, None, None]
    assert all(cell.elapsed < 2.5 for cell in cells), [cell.elapsed for cell in cells]
    time.sleep(LAG + 0.5)  # listed now, with a provisional 0: the history cache sees those zeros
    k.run_ok("poe_magic.points_history()")
    wait_for_costs(k)
    assert k.value("[a.points, b.points, c.points]") == [10, 100, 10]
    assert k.value("poe_magic.session_spend()") == 120
    assert k.value("[int(p) for p in poe_magic.session_ledger().points]") == [10, 100, 10]
    claimed = k.value(f"[c.query_ids for c in {LEDGER}.calls()]")
    by_id = {e["query_id"]: e for e in listed(lag_server)}
    assert [[by_id[q]["bot_name"] for q in ids] for ids in claimed] == [["echobot"], ["pricedbot"], ["echobot"]]
    assert len({q for ids in claimed for q in ids}) == 3  # each its own entry
    # the disk cache first held provisional zeros; a refresh re-reads the recent window
    k.run_ok("poe_magic.points_history()")
    (cache,) = (home / "cache" / "points_history").glob("*.json")
    columns = json.loads(cache.read_text())["columns"]
    cached = dict(zip(columns["query_id"], columns["cost_points"]))
    assert [cached[ids[0]] for ids in claimed] == [10, 100, 10]


def test_two_calls_of_one_model_a_second_apart_listed_late_each_get_their_own_cost(
        own_k: Kernel, lag_server: LocalServer) -> None:
    modes(lag_server, **LAGGING)
    own_k.run_ok("%%poe PricedBot -o x\ncost=7")
    time.sleep(1.0)
    own_k.run_ok("%%poe PricedBot -o y\ncost=9")
    wait_for_costs(own_k)
    assert own_k.value("[x.points, y.points]") == [7, 9]


def test_budget_with_a_lagging_history_overspends_by_at_most_one_call(k: Kernel, lag_server: LocalServer) -> None:
    modes(lag_server, **LAGGING)
    k.run_ok("from poe_magic.core.session import new_session\nnew_session()")
    k.run_ok("%poe budget 25")
    try:
        results = [k.run(f"%%poe EchoBot\ncall {i}") for i in range(4)]
        refused = [r for r in results if r.error is not None]
        assert [r.error["ename"] for r in refused] == ["BudgetExceededError"]  # the 4th: 3 x ~10 counted
        assert len(refused[0].error["traceback"]) == 1 and "pending" in refused[0].error["traceback"][0]
        wait_for_costs(k)
        assert k.value("poe_magic.session_spend()") == 30  # over 25 by less than one call
    finally:
        k.run_ok("%poe budget off")


def test_slow_usage_endpoint_does_not_slow_a_cell_and_the_cost_still_arrives(k: Kernel,
                                                                              lag_server: LocalServer) -> None:
    modes(lag_server, **PLAIN)
    try:
        def cell_times() -> float:
            times = []
            for i in range(5):
                times.append(k.run_ok(f"%%poe EchoBot\nquick {i}").elapsed)
                time.sleep(0.2)
            return statistics.median(times)

        wait_for_costs(k)
        fast = cell_times()
        wait_for_costs(k)
        modes(lag_server, usage_latency=1.5)
        slow = cell_times()
        assert slow - fast <= 0.15, (fast, slow)
        k.run_ok("%%poe EchoBot -o late\nstill priced")
        wait_for_costs(k, 60)
        assert k.value("late.points") == 10
    finally:
        modes(lag_server, **LAGGING)


# -- what the client reads, in this process ------------------------------------------------------
def test_entries_are_normalised_app_name_seconds_and_refunds() -> None:
    from poe_magic.spending.history import normalise_entry

    old = normalise_entry({"app_name": "GPT-5", "creation_time": 1_732_700_000, "query_id": "q1", "cost_points": "-40"})
    assert old == {"app_name": "GPT-5", "bot_name": "GPT-5", "usage_type": "API",
                   "creation_time": 1_732_700_000_000_000, "query_id": "q1", "cost_points": -40}
    assert normalise_entry({"bot_name": "x", "creation_time": 1_732_700_000_123, "query_id": "q",
                            "usage_type": "API", "cost_points": 5.0})["creation_time"] == 1_732_700_000_123_000
    assert normalise_entry({"creation_time": float("nan")})["creation_time"] != normalise_entry(
        {"creation_time": float("nan")})["creation_time"]  # nan stays nan (rejected later), no crash
    assert normalise_entry(["not", "a", "dict"]) == ["not", "a", "dict"]


def test_matching_squashes_names_keeps_refunds_and_waits_out_a_provisional_zero() -> None:
    from datetime import datetime, timezone

    from poe_magic.spending.calls import Call, Ledger
    from poe_magic.spending.matching import squash
    from poe_magic.spending.reconciler import settle

    assert squash("GPT-5.4-Mini") == squash("gpt-5.4-mini") == "gpt54mini"
    now = time.time()
    book = Ledger()

    def call(model: str, start: float) -> Call:
        made = Call(time=datetime.fromtimestamp(start, timezone.utc), model=model, points=None, chars=1,
                    elapsed=0.2, status="ok", ended_us=int((start + 0.2) * 1e6), after_id="q_old")
        book.calls.append(made)
        return made

    first, second, refund = call("GPT-5.4-Mini", now - 8), call("GPT-5.4-Mini", now - 7), call("Grok-4", now - 6)
    entries = [  # newest first, stamped by a clock 1 s ahead
        {"query_id": "q3", "app_name": "grok-4", "bot_name": "grok-4", "creation_time": int((now - 5) * 1e6),
         "cost_points": -25},
        {"query_id": "q2", "bot_name": "gpt-5.4-mini", "creation_time": int((now - 6) * 1e6), "cost_points": 0,
         "cost_breakdown_in_points": {}},
        {"query_id": "q1", "bot_name": "GPT-5.4-MINI", "creation_time": int((now - 7) * 1e6), "cost_points": 12},
        {"query_id": "q_old", "bot_name": "gpt-5.4-mini", "creation_time": int((now - 7.5) * 1e6), "cost_points": 99},
    ]
    assert settle(book, book.calls, entries) == 2
    assert (first.points, first.query_ids) == (12, ["q1"])
    assert (second.points, second.query_ids, second.provisional) == (None, ["q2"], True)  # claimed, not believed
    assert refund.points == -25  # a refund is kept
    entries[1] = {**entries[1], "cost_points": 14, "cost_breakdown_in_points": {"base": 14}}
    assert settle(book, book.calls, entries) == 1 and second.points == 14


def test_a_lone_late_entry_goes_to_the_call_it_lies_nearest() -> None:
    from datetime import datetime, timezone

    from poe_magic.spending.calls import Call
    from poe_magic.spending.matching import assign

    now = time.time()
    calls = [Call(time=datetime.fromtimestamp(now - s, timezone.utc), model="EchoBot", points=None, chars=1,
                  elapsed=0.1, status="ok", ended_us=int((now - s + 0.1) * 1e6)) for s in (3.0, 2.0)]
    second_only = [{"query_id": "b", "bot_name": "echobot", "creation_time": int((now - 1.9) * 1e6), "cost_points": 10}]
    assert {i: [e["query_id"] for e in got] for i, got in assign(calls, second_only, set(), None).items()} == {1: ["b"]}
    both = [{**second_only[0]}, {"query_id": "a", "bot_name": "ECHOBOT", "creation_time": int((now - 2.9) * 1e6),
                                 "cost_points": 10}]
    assert {i: [e["query_id"] for e in got] for i, got in assign(calls, both, set(), None).items()} == {
        0: ["a"], 1: ["b"]}
    assert assign(calls, both, {"a", "b"}, None) == {}  # claimed entries are nobody's


def test_doctor_reports_the_lag_and_the_cost_and_never_the_key(k: Kernel, lag_server: LocalServer) -> None:
    modes(lag_server, **LAGGING)
    result = k.run_ok("%poe doctor EchoBot")
    shown = result.of_type("execute_result")[0]["content"]["data"]
    text, page = shown["text/plain"], shown["text/html"]
    rows = {line[2:].split()[0]: line for line in text.splitlines()[1:]}
    assert set(rows) == {"server", "key", "balance", "catalogue", "test", "points", "clock", "rate", "versions"}
    assert rows["key"].startswith("✓") and rows["test"].startswith("✓ test call") and "EchoBot answered in" in rows["test"]
    listed_after = float(rows["points"].split("listed ")[1].split(" s")[0])
    assert LAG - 0.5 <= listed_after <= LAG + 6, rows["points"]  # the history's lag, as measured
    assert rows["points"].endswith(": 10 points") or ": 10 points" in rows["points"]
    skew, unsure = rows["clock"].split("server ")[1].split(" s (±")
    assert abs(float(skew) - SKEW) <= float(unsure.split(" s")[0]) + 0.1 <= 1.0, rows["clock"]  # Date: whole seconds
    # this server has no rate limit, so (like the real API's recorded responses) no x-ratelimit-* headers
    assert "no x-ratelimit-* headers seen" in rows["rate"] and "~500/min" in rows["rate"]
    assert "poe_magic 0.1.0" in rows["versions"] and "fastapi_poe" in rows["versions"]
    assert lag_server.key not in text + page + result.stdout + result.stderr
    assert "<table>" in page and "✓" in page
    too_many = k.run("%poe doctor A B")
    assert too_many.error["ename"] == "PoeUsageError" and len(too_many.error["traceback"]) == 1


def test_footer_shows_the_estimate_then_the_billed_cost_in_place(k: Kernel, lag_server: LocalServer) -> None:
    import queue

    modes(lag_server, **LAGGING)
    cell = k.run_ok("%%poe PricedBot\ncost=42")
    footer = [m for m in cell.of_type("display_data") if "text/markdown" in m["content"]["data"]][-1]
    # the cell ended with its answer and the catalogue's price at once (PricedBot lists its default cost)
    assert re.search(r"· ≈ [\d,]+ points</sub>$", cell.markdown()[-1].rstrip()), cell.markdown()[-1]
    display_id = footer["content"]["transient"]["display_id"]  # the footer: its own output (issue 26)
    deadline = time.monotonic() + 45
    updated = None
    while updated is None and time.monotonic() < deadline:  # the update comes after the cell ended
        try:
            msg = k.client.get_iopub_msg(timeout=1)
        except queue.Empty:
            continue
        content = msg["content"]
        if (msg["header"]["msg_type"] == "update_display_data"
                and content.get("transient", {}).get("display_id") == display_id):
            updated = content["data"].get("text/markdown", "")
    assert updated is not None and updated.rstrip().endswith("· 42 points</sub>"), updated
    assert "points pending" not in updated and "≈" not in updated


def test_someone_elses_entry_near_a_call_is_not_taken_while_its_own_is_unlisted() -> None:
    from datetime import datetime, timezone

    from poe_magic.spending.calls import Call
    from poe_magic.spending.matching import assign

    now = time.time()
    call = Call(time=datetime.fromtimestamp(now - 1.0, timezone.utc), model="EchoBot", points=None, chars=1,
                elapsed=0.2, status="ok", ended_us=int((now - 0.8) * 1e6))
    foreign = {"query_id": "web", "bot_name": "EchoBot", "creation_time": int((now - 5.0) * 1e6), "cost_points": 99}
    assert assign([call], [foreign], set(), None) == {}  # 4 s before the call: a chat on poe.com, say
    own = {"query_id": "mine", "bot_name": "EchoBot", "creation_time": int((now - 0.9) * 1e6), "cost_points": 10}
    assert [e["query_id"] for e in assign([call], [own, foreign], set(), None)[0]] == ["mine"]


def test_a_failing_history_never_shows_in_a_later_cell_and_the_cost_still_arrives(k: Kernel,
                                                                                   lag_server: LocalServer) -> None:
    modes(lag_server, **PLAIN)
    try:
        wait_for_costs(k)
        lag_server.fail_next("/usage/points_history", 500, count=2)  # the reconciler's next two reads fail
        k.run_ok("%%poe PricedBot -o failing\ncost=21")
        later = [k.run_ok(f"%%poe EchoBot\nlater {i}") for i in range(2)]
        time.sleep(3.5)  # both failed reads happened by now (about 1 and 3 s after the call)
        quiet = k.run_ok("print('still fine')")
        for cell in [*later, quiet]:
            assert cell.stderr == "" and "Error" not in cell.all_text()
        wait_for_costs(k)
        assert k.value("failing.points") == 21
        statuses = [r["status"] for r in lag_server.requests("/usage/points_history")]
        assert statuses.count(500) == 2
    finally:
        modes(lag_server, **LAGGING)
