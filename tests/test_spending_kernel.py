"""Cost per cell, the session ledger, the budget guard and the %poe spending subcommands,
in a real ipykernel against a local server of this module's own (its history is ours alone)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from harness import Kernel, loaded_kernel

from poe_magic.server.launch import LocalServer, local_server


@pytest.fixture(scope="module")
def spend_server() -> Iterator[LocalServer]:
    with local_server(args=["--history-entries", "300", "--rate-limit", "0"]) as srv:
        yield srv


@pytest.fixture(scope="module")
def k(spend_server: LocalServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kernel]:
    home = tmp_path_factory.mktemp("spend_home")
    with loaded_kernel(spend_server, home, "%load_ext poe_magic") as kernel:
        yield kernel


def newest_entries(server: LocalServer, n: int) -> list[dict]:
    response = httpx.get(server.url + "/usage/points_history", params={"limit": n},
                         headers={"Authorization": f"Bearer {server.key}"})
    return response.json()["data"]


def settled(k: Kernel) -> None:
    """Wait for the costs the background reconciler is still looking for (a cell never does)."""
    assert k.value("__import__('poe_magic.spending.ledger', fromlist=['_']).wait_for_costs(30)") is True


def one_line(result, name: str) -> str:
    assert result.error is not None and result.error["ename"] == name, result.error
    assert len(result.error["traceback"]) == 1
    return result.error["traceback"][0]


def test_footer_shows_what_the_server_charged_for_each_call(k: Kernel, spend_server: LocalServer) -> None:
    first = k.run_ok("%%poe EchoBot -o a\nhello")
    second = k.run_ok("%%poe Claude-Haiku-3.5 -o b\nhello")
    charged = newest_entries(spend_server, 2)  # newest first: b's entry, then a's
    assert [e["bot_name"] for e in charged] == ["Claude-Haiku-3.5", "EchoBot"]
    # the cells did not wait for the costs: the footers show the catalogue's estimate at once
    assert first.markdown()[-1].rstrip().endswith("· ≈ 10 points</sub>")  # EchoBot: a per-request price
    assert re.search(r"· ≈ [\d,]+ points</sub>$", second.markdown()[-1].rstrip())  # per-token prices
    settled(k)  # (the footers update in place: tests/test_costs_real_api.py)
    assert k.value("[a.points, b.points]") == [charged[1]["cost_points"], charged[0]["cost_points"]] == [10, 60]


def test_quick_calls_of_one_model_are_not_counted_twice(k: Kernel, spend_server: LocalServer) -> None:
    k.run_ok("import poe_magic\nr1 = poe_magic.ask('x', 'EchoBot', stream=False)\n"
             "r2 = poe_magic.ask('y', 'EchoBot', stream=False)")
    settled(k)
    assert k.value("[r1.points, r2.points]") == [10, 10]
    assert k.value("sorted(c.query_ids[0] for c in __import__('poe_magic.spending.ledger', fromlist=['_']).calls()[-2:])") == sorted(
        e["query_id"] for e in newest_entries(spend_server, 2))


def test_session_ledger_lists_every_call(k: Kernel) -> None:
    k.run_ok("from poe_magic.core.session import new_session\nnew_session()")  # this test's calls only
    k.run_ok("%%poe EchoBot\nhello")
    k.run_ok("%%poe Claude-Haiku-3.5\nhello")
    settled(k)
    result = k.run_ok("%poe session")
    calls = k.value("len(__import__('poe_magic.spending.ledger', fromlist=['_']).calls())")
    spent = k.value("__import__('poe_magic').session_spend()")
    assert (calls, spent) == (2, 70)  # 10 + 60 points
    assert f"{spent:,} points spent by {calls} calls this session" in result.stdout
    shown = result.of_type("execute_result")[0]["content"]["data"]
    table = shown["text/plain"]
    assert "Claude-Haiku-3.5" in table and "EchoBot" in table
    assert "time (UTC)" in table and "elapsed (s)" in table and "<th>elapsed (s)</th>" in shown["text/html"]
    assert re.search(r"^\s*\d\d:\d\d:\d\d ", table.splitlines()[1]) and "+00:00" not in table
    assert re.search(rf"^\s*total\s+{calls} calls\s+{spent:,} ", table.splitlines()[-1])
    typed = {"time": "datetime64[us, UTC]", "model": "string", "points": "Int64", "estimated": "Int64", "chars": "int64",
             "elapsed": "Float64", "status": "string"}
    assert k.value("{c: str(t) for c, t in _.dtypes.items()}") == typed  # %poe session's value computes as a frame
    assert k.value("{c: str(t) for c, t in __import__('poe_magic').session_ledger().dtypes.items()}") == typed
    assert k.value("type(__import__('poe_magic').session_ledger()).__name__") == "DataFrame"
    assert k.value("int(_['points'].sum())") == spent
    # beside each billed cost, the immediate estimate its footer showed (the catalogue prices both)
    assert k.value("bool(_['estimated'].notna().all())") and "≈ estimated" in table


def test_budget_warns_refuses_and_force_overrides(k: Kernel, spend_server: LocalServer) -> None:
    settled(k)
    spent = k.value("__import__('poe_magic').session_spend()")
    budget = spent + 12  # room for one EchoBot call (10 points), not two
    status = k.run_ok(f"%poe budget {budget}")
    assert f"budget {budget:,} points, " in status.stdout and "already" not in status.stdout
    near = k.run_ok("%%poe EchoBot\none")
    assert "session budget nearly spent" in near.stderr  # 10/12 of the room, above 80% of the budget: a warning
    assert f"{spent + 10:,} of {budget:,} points" in near.stderr
    k.run_ok("%%poe EchoBot\ntwo")  # started below the budget: allowed, and now it is spent
    spend_server.reset()
    refused = one_line(k.run("%%poe EchoBot\nthree"), "BudgetExceededError")
    assert f"budget of {budget:,} points reached" in refused and "--force" in refused
    assert spend_server.requests("/bot/") == []  # nothing was sent
    k.run_ok("%%poe EchoBot --force -o forced\nfour")
    settled(k)
    assert k.value("forced.points") == 10
    one_line(k.run("import poe_magic\npoe_magic.ask('five', 'EchoBot', stream=False)"), "BudgetExceededError")
    k.run_ok("six = __import__('poe_magic').ask('six', 'EchoBot', stream=False, force=True)")
    settled(k)
    assert k.value("six.points") == 10
    assert len(spend_server.requests("/bot/")) == 2
    assert "more" not in k.run_ok("%poe budget off").stdout
    assert k.run_ok("%%poe EchoBot\nseven").error is None
    assert "whole number" in one_line(k.run("%poe budget lots"), "PoeUsageError")


def test_balance_subcommand(k: Kernel, spend_server: LocalServer) -> None:
    balance = httpx.get(spend_server.url + "/usage/current_balance",
                        headers={"Authorization": f"Bearer {spend_server.key}"}).json()["current_point_balance"]
    assert k.run_ok("%poe balance").stdout.strip() == f"Balance: {balance:,} points"
    assert k.value("__import__('poe_magic').current_balance()") == balance


def test_history_shows_a_summary_table_and_a_plot_with_progress(k: Kernel, spend_server: LocalServer) -> None:
    k.run_ok("from poe_magic.spending.paging_progress import PagingProgress\nPagingProgress.show_after = 0")
    spend_server.reset()
    result = k.run_ok("%poe history --refresh --by bot")
    assert len(spend_server.requests("/usage/points_history")) >= 3  # 300 seeded entries (+ calls made before): 3+ pages of 100
    progress = [m["content"]["data"] for m in result.of_type("display_data", "update_display_data")
                if "<progress" in m["content"]["data"].get("text/html", "")]
    assert progress and "pages" in progress[-1]["text/plain"]
    shown = list(result.displays().values())
    assert any(d.get("text/plain") == "" for d in shown)  # the progress line is cleared at the end
    summary = next(d for d in shown if "text/markdown" in d)["text/markdown"]
    assert summary.startswith("**Points history** (all history)")
    table = next(d for d in shown if "<table" in d.get("text/html", ""))["text/html"]
    assert "mean per call" in table and "total" in table and "Claude-Sonnet-4" in table
    total = re.search(r"\*\* \(all history\): ([\d,]+) points", summary).group(1)
    assert "," in total and f"<td>{total}</td>" in table  # thousands separators in the table as in the title
    (png,) = [d["image/png"] for d in shown if "image/png" in d]  # one plot, not a second one from pyplot
    assert len(png) > 1000
    spend_server.reset()
    week = k.run_ok("%poe history --days 7 --by day")
    assert len(spend_server.requests("/usage/points_history")) == 1  # cached: one refresh request
    assert "last 7 days" in next(d for d in week.displays().values() if "text/markdown" in d)["text/markdown"]


def test_history_bad_options_are_one_line(k: Kernel) -> None:
    assert "invalid choice" in one_line(k.run("%poe history --by colour"), "PoeUsageError")
    assert "--days" in one_line(k.run("%poe history --days -3"), "PoeUsageError")
    assert "no argument" in one_line(k.run("%poe session now"), "PoeUsageError")


def test_ledger_is_light_and_counts_from_the_start(fresh_kernel: Kernel, tmp_path: Path) -> None:
    fresh_kernel.run_ok("%load_ext poe_magic")
    fresh_kernel.run_ok("%%poe EchoBot\nbefore any budget")
    settled(fresh_kernel)
    assert fresh_kernel.value("'pandas' in __import__('sys').modules") is False  # ledger: no pandas
    told = fresh_kernel.run_ok("%poe budget 1").stdout  # the earlier call counts: spend 10 >= 1, said at once
    assert "1,000% used: already exceeded, the next call will be refused unless forced" in told
    assert "--force" in told
    one_line(fresh_kernel.run("%%poe EchoBot\nafter"), "BudgetExceededError")
    forced = fresh_kernel.run_ok("%%poe EchoBot --force\nanyway")  # a note, not an error-coloured stderr band
    assert forced.stderr == "" and "poe_magic: session budget reached" in forced.stdout
    assert "20 of 1 points (2,000%)" in forced.stdout  # the forced call counted at its estimate until priced
    settled(fresh_kernel)
    assert "already reached" in fresh_kernel.run_ok("%poe budget 20").stdout
