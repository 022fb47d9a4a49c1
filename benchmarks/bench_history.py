"""Points history: 100,000 entries (1,000 pages of 100) from the local server into a DataFrame.

The server runs in its own process with 100,000 seeded entries and its rate limit off (1,000
requests in a few seconds would otherwise wait for 429s, as they would on the real API). The
client is this process. ``poe_magic.wire.http.http_stats.wait`` is the time spent inside the httpx calls
(sending, waiting for and reading each page); everything else of ``points_history(refresh=True)``
(JSON parsing, checks, the columnar merge, the DataFrame, writing the cache, the progress line)
is "outside HTTP waiting", the part the goal bounds. The baseline is the least a client can do
with the same pages: a bare httpx loop that only parses each page's JSON.

Then 3 new calls are made and ``points_history()`` runs again: the incremental refresh must
make at most one request (counted by the client and by the server's own request log).
"""

from __future__ import annotations

import os
import tempfile
import time

from .common import Row, local_server, median, row, spread

ENTRIES = 100_000
REPEATS = 3


def bare_loop(url: str, key: str) -> tuple[float, float, int]:
    """(wall seconds, seconds inside httpx, entries) for the minimal paging client."""
    import httpx

    entries, inside, after = 0, 0.0, None
    start = time.perf_counter()
    with httpx.Client() as client:
        while True:
            params = {"limit": 100, **({"starting_after": after} if after else {})}
            t0 = time.perf_counter()
            response = client.get(url + "/usage/points_history", params=params,
                                  headers={"Authorization": f"Bearer {key}"})
            inside += time.perf_counter() - t0
            body = response.json()
            entries += len(body["data"])
            if not body["has_more"]:
                return time.perf_counter() - start, inside, entries
            after = body["data"][-1]["query_id"]


def run() -> list[Row]:
    import pandas  # noqa: F401  (imported once up front: a kernel that plots has it already)

    from poe_magic.prompting import asking as api
    from poe_magic.spending import history as usage
    from poe_magic.spending.history_cache import HistoryCache
    from poe_magic.wire.http import http_stats

    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="poe_bench_history_") as home, \
            local_server(args=["--history-entries", str(ENTRIES), "--rate-limit", "0"], activate=True) as srv:
        os.environ["POE_MAGIC_HOME"] = home
        outside, cpu_outside, totals, waits, bare_outside, bare_totals = [], [], [], [], [], []
        for _ in range(REPEATS):
            wall, inside, count = bare_loop(srv.url, srv.key)
            assert count == ENTRIES, count
            bare_totals.append(wall)
            bare_outside.append(wall - inside)
            HistoryCache._memo.clear()
            http_stats.reset()
            start, cpu_start = time.perf_counter(), time.process_time()
            frame = usage.points_history(refresh=True)
            total = time.perf_counter() - start
            cpu_outside.append(time.process_time() - cpu_start - http_stats.cpu)
            assert len(frame) == ENTRIES and http_stats.requests == ENTRIES // 100, http_stats
            totals.append(total)
            waits.append(http_stats.wait)
            outside.append(total - http_stats.wait)

        pages = ENTRIES // 100
        rows.append(row("history", f"load {ENTRIES:,} entries: time outside HTTP waiting", median(outside),
                        baseline=median(bare_outside), goal="<= 0.5 s",
                        notes=f"{spread(outside)}; inside httpx {median(waits):.2f} s for {pages:,} requests; "
                              "baseline: bare httpx loop that only parses JSON; "
                              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"))
        rows.append(row("history", f"load {ENTRIES:,} entries: CPU time outside HTTP", median(cpu_outside),
                        notes=f"{spread(cpu_outside)}; this process's CPU seconds, which other load on the "
                              "machine does not inflate"))
        rows.append(row("history", f"load {ENTRIES:,} entries: total", median(totals), baseline=median(bare_totals),
                        notes=f"{spread(totals)}; baseline: bare httpx loop over the same {pages:,} pages"))

        for i in range(3):  # 3 new calls; their own cost lookups happen here, not in the refresh
            api.ask(f"call {i}", "EchoBot", stream=False)
        srv.reset()
        http_stats.reset()
        start = time.perf_counter()
        refreshed = usage.points_history()
        elapsed = time.perf_counter() - start
        server_seen = len(srv.requests("/usage/points_history"))
        assert len(refreshed) == ENTRIES + 3
        rows.append(row("history", "incremental refresh after 3 new calls: requests", http_stats.requests,
                        goal="<= 1", unit="requests",
                        notes=f"server saw {server_seen}; took {elapsed * 1000:.0f} ms for {len(refreshed):,} rows"))
    return rows
