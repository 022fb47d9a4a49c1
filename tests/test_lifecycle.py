"""One lifecycle for every request (issue 22): every path goes through the runner (check ->
reserve -> send -> settle), so the budget, confirmation and the call log hold on each of them.

Run in this process over real HTTP against a local server whose points history lists entries
late (``--history-lag``, as the real one does). The server charges an answer once it started
streaming, stopped or not (as the real API does). Each test counts what the *server* saw and
billed, never only what the client believes.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from harness import Kernel

import poe_magic
from poe_magic.base import errors as E
from poe_magic.base.config import settings
from poe_magic.server.launch import LocalServer, local_server
from poe_magic.spending import calllog, ledger

LAG = 1.5  # seconds before the history lists a call
PROMPT = "chunks=40 delay=0.02 first_delay=0"  # SlowBot's knobs: an answer of ~0.8 s, long enough to leave early


@pytest.fixture(scope="module")
def lagging() -> Iterator[LocalServer]:
    with local_server(args=["--history-lag", str(LAG), "--history-entries", "30"]) as srv:
        yield srv


@pytest.fixture
def at_lagging(lagging: LocalServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> LocalServer:
    """This process points at the lagging server, with its own home (so its own call log)."""
    for name, value in lagging.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("POE_MAGIC_HOME", str(tmp_path / "home"))
    settings.set_api_key(None)
    settings.base_url = ""
    settings.retry_backoff = 0.01
    return lagging


def sent(server: LocalServer, bot: str, since: int) -> int:
    """Requests to ``bot`` the server answered with 200 after the first ``since`` of them."""
    return sum(r["status"] == 200 for r in server.requests(f"/bot/{bot}")[since:])


def billed(server: LocalServer, bots: set[str], since: float) -> int:
    """Points the server's history lists for ``bots`` since ``since`` (waits out the lag)."""
    import time

    time.sleep(LAG + 0.5)
    page = server._call("GET", "/usage/points_history?limit=100")["data"]
    return sum(e["cost_points"] for e in page if e["bot_name"] in bots and e["creation_time"] / 1e6 >= since)


def logged(kind: str | None = None) -> pd.DataFrame:
    calllog.flush()
    return poe_magic.log(kind=kind)


def spend_through(path: str, times: int, bot: str = "EchoBot") -> int:
    """Make ``times`` calls of ``bot`` on ``path``; how many were refused by the budget."""
    refused = 0
    for _ in range(times):
        try:
            if path == "stream-break":
                for _piece in poe_magic.stream(PROMPT, bot):
                    break
            elif path == "with-stream":
                with poe_magic.stream(PROMPT, bot) as answer:
                    next(answer)
            elif path == "astream-break":
                async def first() -> None:
                    async for _piece in poe_magic.astream(PROMPT, bot):
                        break
                asyncio.run(first())
            else:
                poe_magic.ask(PROMPT, bot, stream=False)
        except E.BudgetExceededError:
            refused += 1
    return refused


@pytest.mark.parametrize("path", ["stream-break", "with-stream", "astream-break", "ask"])
def test_a_budget_holds_on_every_single_call_path_even_when_the_loop_is_left_early(
        at_lagging: LocalServer, path: str) -> None:
    import time

    before, started = len(at_lagging.requests("/bot/SlowBot")), time.time()
    ledger.set_budget(25)  # SlowBot costs 10 points a call: at most 3 calls (one past the budget)
    refused = spend_through(path, 6, bot="SlowBot")
    made = sent(at_lagging, "SlowBot", before)
    assert refused == 6 - made >= 2
    assert billed(at_lagging, {"SlowBot"}, started) <= 25 + 10, "overspent by more than one call"
    assert len(ledger.calls()) == made, "every call sent is in the ledger, also when its loop was left"
    assert len(logged()) == made, "every call sent has its call-log row"


def test_concurrent_batch_rows_cannot_all_pass_on_the_same_spend(at_lagging: LocalServer) -> None:
    import time

    before, started = len(at_lagging.requests("/bot/EchoBot")), time.time()
    ledger.set_budget(35)
    frame = pd.DataFrame({"text": [f"row {i}" for i in range(20)]})
    poe_magic.batch(frame, "Echo: {text}", "EchoBot", concurrency=8, progress=False, cache=False,
                    temperature=0.3)
    made = sent(at_lagging, "EchoBot", before)
    assert 1 <= made <= 5
    assert billed(at_lagging, {"EchoBot"}, started) <= 35 + 10
    rows = logged("batch")
    assert len(rows) == made
    assert all('"temperature": 0.3' in str(p) for p in rows["params"]), "batch rows carry their request"


def test_eight_concurrent_columns_cannot_all_pass_on_the_same_spend(at_lagging: LocalServer) -> None:
    import time

    bots = [f"SlowBot-{i}" for i in range(1, 9)]  # 10 points each
    started = time.time()
    ledger.set_budget(25)
    comparison = poe_magic.compare("chunks=3 delay=0.01", bots[:2], stream=False)  # 2 x 10 under 25: both sent
    assert all(reply.ok for reply in comparison.replies.values())
    with pytest.raises(E.BudgetExceededError):  # 20 counted, the round reserved column by column: refused
        poe_magic.compare("chunks=3 delay=0.01", bots, stream=False)
    assert billed(at_lagging, set(bots), started) == 20, "no column of the refused round was sent"


def test_an_answer_with_no_text_counts_at_its_price(at_lagging: LocalServer) -> None:
    import time

    before, started = len(at_lagging.requests("/bot/ImageBot")), time.time()
    ledger.set_budget(100)  # ImageBot: 40 points a file, no text
    refused = 0
    for _ in range(6):
        try:
            poe_magic.ask("a red square", "ImageBot", params={"mode": "file"}, stream=False)
        except E.BudgetExceededError:
            refused += 1
    assert refused == 6 - sent(at_lagging, "ImageBot", before) >= 2
    assert billed(at_lagging, {"ImageBot"}, started) <= 100 + 40


def test_confirmation_is_asked_or_refused_on_every_path(at_lagging: LocalServer) -> None:
    settings.confirm_above = 5  # every SlowBot call (10 points) needs a Yes; no stdin here
    before = len(at_lagging.requests("/bot/SlowBot"))

    async def first() -> None:
        async for _piece in poe_magic.astream(PROMPT, "SlowBot"):
            break

    with pytest.raises(E.PoeUsageError, match="cannot ask; pass --yes"):
        asyncio.run(first())
    failures: list[BaseException] = []

    def off_thread() -> None:
        try:
            poe_magic.ask(PROMPT, "SlowBot", stream=False)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            failures.append(exc)

    worker = threading.Thread(target=off_thread)
    worker.start()
    worker.join(30)
    assert len(failures) == 1 and "this thread cannot ask" in str(failures[0])
    assert sent(at_lagging, "SlowBot", before) == 0, "nothing was sent without a Yes"
    poe_magic.ask(PROMPT, "SlowBot", stream=False, yes=True)
    assert sent(at_lagging, "SlowBot", before) == 1


def test_unload_ext_leaves_no_poe_magic_thread(fresh_kernel: Kernel) -> None:
    fresh_kernel.run_ok("%load_ext poe_magic")
    fresh_kernel.run_ok("%%poe EchoBot\nhello")  # starts the loop, the cost reconciler and the log writer
    names = "sorted(t.name for t in __import__('threading').enumerate() if t.name.startswith('poe_magic'))"
    assert fresh_kernel.value(names), "the call started poe_magic's threads"
    fresh_kernel.run_ok("%unload_ext poe_magic")
    assert fresh_kernel.value(names) == []
    fresh_kernel.run_ok("%load_ext poe_magic")
    fresh_kernel.run_ok("%%poe EchoBot\nagain")  # and they start again on the next call


def test_new_session_starts_clean(at_lagging: LocalServer) -> None:
    ledger.set_budget(50)
    poe_magic.ask("hello", "EchoBot", stream=False)
    assert len(ledger.calls()) == 1
    poe_magic.new_session()
    assert (ledger.calls(), ledger.budget(), poe_magic.last_reply()) == ([], None, None)
