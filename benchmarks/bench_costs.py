"""Costs off the critical path (issue 14): what the background reconciler costs a cell, how
often it reads the points history, and how soon a cost shows in lag mode.

A fresh local server (its own process) and a kernel with a private ``POE_MAGIC_HOME``; the
server's usage modes are changed at run time through ``/_local/usage_modes``.

1. Wall time (execute to idle) of a short-answer cell (``SlowBot`` answering one word after
   0.05 s, as the issue's 0.06 s answer), median of :data:`CELLS`, with the usage endpoint
   answering at once (the baseline, same run) and 1.5 s late (goal <= 1.05x: no cell waits
   for the history).
2. Requests to ``/usage/points_history`` per 100 interactive calls: 100 ``%%poe`` cells one
   after another (Run All), then until every cost is known (goal <= 30). Also, without a goal,
   :data:`SPACED` cells :data:`SPACING` s apart (a person running cells one by one), per 100.
3. Time from the answer's end to its cost being set (``Reply.watch_points``), median of
   :data:`LAG_CALLS` calls, with the history listing entries 3 s late and showing a provisional
   0 for 2 s more (value only: it is bounded below by the 5 s the server holds the cost back).
"""

from __future__ import annotations

import statistics
import time

import httpx

from .common import Kernel, LocalServer, Row, kernel, row, server, spread

CELLS = 20
INTERACTIVE = 100
SPACED, SPACING = 20, 2.0
SHORT = "first_delay=0.05 chunks=1"
LAG_CALLS = 5
LAG, PROVISIONAL = 3.0, 2.0
WAIT = "__import__('poe_magic.spending.ledger', fromlist=['_']).wait_for_costs(90)"


def modes(srv: LocalServer, **changes: object) -> None:
    response = httpx.post(srv.url + "/_local/usage_modes", json=changes,
                          headers={"Authorization": f"Bearer {srv.key}"}, timeout=10)
    response.raise_for_status()


def cell_times(k: Kernel, tag: str) -> list[float]:
    times = []
    for i in range(CELLS):
        times.append(k.run_ok(f"%%poe SlowBot\n{SHORT} {tag} {i}").elapsed)
    return times


def run() -> list[Row]:
    rows: list[Row] = []
    with server() as srv, kernel(srv) as k:
        k.run_ok("import poe_magic")
        k.run_ok("%%poe EchoBot\nwarm up")
        assert k.value(WAIT) is True
        fast = cell_times(k, "fast")
        assert k.value(WAIT) is True
        modes(srv, usage_latency=1.5)
        slow = cell_times(k, "slow")
        assert k.value(WAIT) is True
        modes(srv, usage_latency=0)
        rows.append(row("costs", "short-answer %%poe cell, usage endpoint 1.5 s late", statistics.median(slow),
                        baseline=statistics.median(fast), goal="<= 1.05x",
                        notes=f"baseline: endpoint at 0 s ({spread(fast)}); late: {spread(slow)}"))

        srv.reset()
        started = time.perf_counter()
        for i in range(INTERACTIVE):
            k.run_ok(f"%%poe EchoBot\ninteractive {i}")
        cells_took = time.perf_counter() - started
        assert k.value(WAIT) is True
        reads = len(srv.requests("/usage/points_history"))
        rows.append(row("costs", f"history requests per {INTERACTIVE} interactive calls", reads, goal="<= 30",
                        unit="requests", notes=f"{INTERACTIVE} cells back to back in {cells_took:.1f} s, "
                                               "then until every cost was known"))

        srv.reset()
        for i in range(SPACED):
            k.run_ok(f"%%poe EchoBot\nspaced {i}")
            time.sleep(SPACING)
        assert k.value(WAIT) is True
        spaced = len(srv.requests("/usage/points_history")) * 100 / SPACED
        rows.append(row("costs", f"history requests per 100 calls {SPACING:g} s apart", spaced, unit="requests",
                        notes=f"{SPACED} cells, {SPACING:g} s between them (no goal: each may need its own read)"))

        modes(srv, history_lag=LAG, provisional_zero=PROVISIONAL)
        k.run_ok("import time as _t\n_shown = []")
        delays = []
        for i in range(LAG_CALLS):
            k.run_ok(f"%%poe EchoBot -o _r\nlagging {i}")
            k.run_ok("_r.watch_points(lambda r: _shown.append(_t.time()))")
            assert k.value(WAIT) is True
            delays.append(k.value("_shown[-1] - (_r.started_at.timestamp() + _r.elapsed)"))
        rows.append(row("costs", "answer end to cost shown, history 3 s late + provisional 0 for 2 s",
                        statistics.median(delays), unit="s",
                        notes=f"{spread(delays)}; the server holds the final cost back {LAG + PROVISIONAL:.0f} s"))
    return rows
