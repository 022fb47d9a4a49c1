"""Batch runs: 1,000 rows x 2 models at concurrency 16 vs the ideal, kernel memory, limiter rate.

Server in its own process with its rate limit off (the default of ``poe_magic.server.launch``), a
kernel with a fresh ``POE_MAGIC_HOME`` (empty journal). Bots with a fixed latency: ``SlowBot``
and ``SlowBot-1`` (same pace) answering one word after ``first_delay=0.2`` s.

1. Per-request latency, measured in the same kernel: 24 requests one at a time
   (``concurrency=1``), median of the ``elapsed`` column.
2. Wall time of ``poe_magic.batch(df, models=[SlowBot, SlowBot-1], concurrency=16,
   max_rpm=0)`` over 1,000 rows (2,000 requests), as the cell's execute-to-idle time, vs the
   ideal ``requests / concurrency x latency`` (goal <= 1.2x). It includes everything a user
   waits for: planning, journal lookups and writes, the live progress bar, the reply
   finishers (the session ledger looks up each call's cost: one small history request per
   call, on the batch's helper thread) and building the frame.
   The same batch again with the client hooks removed shows the engine alone.
3. Kernel memory (RSS) before and after the batches (after ``gc.collect()``), warm: the
   imports and a first small batch happened before the first reading.
4. Small batches are not slowed by the limiter (issue 18 item 10): 16 requests of 1 s at
   concurrency 8 with the default ``max_rpm`` (450/min) vs the ideal 16 / 8 x 1 s (goal <= 1.2x).
5. The limiter's sliding window, shortened to 10 s so it runs quickly: 800 requests with
   ``max_rpm=1200`` (200 starts per 10 s), concurrency 16. The most requests the server saw
   arrive in any 10 s window (goal <= 200) and the long-run rate from the server's arrival timestamps
   (least-squares slope) vs the configured rate (goal within 5 %).
"""

from __future__ import annotations

import os

from .common import Row, kernel, kernel_rss_mb, row, server

ROWS = 1_000
MODELS = ["SlowBot", "SlowBot-1"]
CONCURRENCY = 16
LATENCY_KNOBS = "first_delay=0.2 chunks=1"
LIMIT_RPM = 1_200
LIMIT_REQUESTS = 800
LIMIT_WINDOW = 10.0
BURST_REQUESTS, BURST_CONCURRENCY, BURST_LATENCY = 16, 8, 1.0


def most_in_window(times: list[float], window: float) -> int:
    """The most arrivals within any ``window`` seconds."""
    times, best, low = sorted(times), 0, 0
    for high, t in enumerate(times):
        while t - times[low] >= window:
            low += 1
        best = max(best, high - low + 1)
    return best


def slope_rate_per_minute(times: list[float]) -> float:
    """Requests per minute from arrival times: least-squares slope of time against index."""
    times = sorted(times)
    n = len(times)
    mean_i, mean_t = (n - 1) / 2, sum(times) / n
    slope = sum((i - mean_i) * (t - mean_t) for i, t in enumerate(times)) / sum((i - mean_i) ** 2 for i in range(n))
    return 60.0 / slope


def run() -> list[Row]:
    rows: list[Row] = []
    with server() as srv, kernel(srv) as k:
        k.run_ok("import gc, pandas as pd, poe_magic")
        # warm: imports, the ledger, the journal file; also the sequential latency baseline
        k.run_ok(f"seq = poe_magic.batch([f'{LATENCY_KNOBS} warm {{i}}' for i in range(24)], '{{text}}', "
                 f"models='SlowBot', concurrency=1, max_rpm=0, progress=False)")
        latency = float(k.value("float(seq.elapsed.median())"))
        k.run_ok("gc.collect()")
        before, _ = kernel_rss_mb(k)

        srv.reset()
        cell = k.run_ok(f"df = pd.DataFrame({{'text': [f'{LATENCY_KNOBS} row {{i}}' for i in range({ROWS})]}})\n"
                        f"out = poe_magic.batch(df, '{{text}}', models={MODELS!r}, concurrency={CONCURRENCY}, "
                        f"max_rpm=0)", timeout=600)
        requests = ROWS * len(MODELS)
        ok, sent, inside, busy = k.value(f"[int(out.error.isna().sum()), len(out), float(out.elapsed.median()), "
                                         f"float(out.elapsed.sum() / {CONCURRENCY})]")
        served = len(srv.requests("/bot/"))
        ideal = requests / CONCURRENCY * latency
        rows.append(row("batch", f"wall time, {ROWS:,} rows x {len(MODELS)} models, concurrency {CONCURRENCY}",
                        cell.elapsed, baseline=ideal, goal="<= 1.2x",
                        notes=f"ideal = {requests:,} / {CONCURRENCY} x {latency * 1000:.0f} ms measured latency "
                              f"(bot: 200 ms); {ok:,}/{sent:,} answered, {served:,} requests served, "
                              f"{cell.update_count} progress updates; median latency inside the batch "
                              f"{inside * 1000:.0f} ms, workers busy {busy / cell.elapsed:.0%} of the wall time; "
                              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"))
        rows.append(row("batch", "per-request latency (sequential, median)", latency, baseline=0.2, unit="s",
                        notes="one request at a time through batch(); bot sleeps 0.2 s"))

        # the same without the pipeline's hooks (the ledger's cost lookup per call, the budget check)
        srv.reset()
        bare = k.run_ok("from poe_magic.prompting.runner import Call\n"
                        "steps = Call.check, Call.settle\n"
                        "Call.check = lambda self, request=None: None\n"
                        "Call.settle = lambda self, reply=None: Call.release(self)\n"
                        f"try:\n    bare = poe_magic.batch(df, 'bare {{text}}', models={MODELS!r}, "
                        f"concurrency={CONCURRENCY}, max_rpm=0)\n"
                        "finally:\n    Call.check, Call.settle = steps", timeout=600)
        rows.append(row("batch", "wall time, same batch without client hooks", bare.elapsed, baseline=ideal,
                        goal="<= 1.2x", notes="reply finishers and preflight checks removed: the batch engine alone "
                                              f"({len(srv.requests('/bot/')):,} requests served)"))

        k.run_ok("gc.collect()")
        after, peak = kernel_rss_mb(k)
        frame_mb = float(k.value("out.memory_usage(deep=True).sum() / 2**20"))
        rows.append(row("batch", "kernel memory growth over the two batches", after - before, unit="MB",
                        goal="<= 50", notes=f"RSS {before:.0f} -> {after:.0f} MB (peak {peak:.0f} MB) for 4,000 "
                                            f"answers; each result frame is {frame_mb:.1f} MB and stays referenced"))

        srv.reset()
        burst = k.run_ok(f"burst = poe_magic.batch([f'first_delay={BURST_LATENCY} chunks=1 burst {{i}}' "
                         f"for i in range({BURST_REQUESTS})], '{{text}}', models='SlowBot', "
                         f"concurrency={BURST_CONCURRENCY}, progress=False)", timeout=600)  # default max_rpm
        ideal_burst = BURST_REQUESTS / BURST_CONCURRENCY * BURST_LATENCY
        rows.append(row("batch", f"small batch, {BURST_REQUESTS} x {BURST_LATENCY:g} s at concurrency "
                        f"{BURST_CONCURRENCY}, default max_rpm", burst.elapsed, baseline=ideal_burst, goal="<= 1.2x",
                        notes=f"ideal = {BURST_REQUESTS} / {BURST_CONCURRENCY} x {BURST_LATENCY:g} s; the limiter "
                              "allows the per-minute allowance at once (a 7.5/s pace took 3.0 s)"))

        srv.reset()
        k.run_ok(f"from poe_magic.wire.ratelimit import limiter_for\n"
                 f"limiter_for(poe_magic.settings, {LIMIT_RPM}).window = {LIMIT_WINDOW}\n"
                 f"lim = poe_magic.batch([f'{LATENCY_KNOBS} lim {{i}}' for i in range({LIMIT_REQUESTS})], '{{text}}', "
                 f"models='SlowBot', concurrency={CONCURRENCY}, max_rpm={LIMIT_RPM}, progress=False)\n"
                 f"limiter_for(poe_magic.settings, {LIMIT_RPM}).window = 60.0", timeout=600)
        times = [r["time"] for r in srv.requests("/bot/SlowBot")]
        allowance = int(LIMIT_RPM * LIMIT_WINDOW / 60)
        observed = slope_rate_per_minute(times)
        rows.append(row("batch", f"limiter: most starts in any {LIMIT_WINDOW:g} s window, max_rpm={LIMIT_RPM}",
                        most_in_window(times, LIMIT_WINDOW), baseline=allowance, unit="requests",
                        goal=f"<= {allowance}", notes=f"{len(times)} requests; window shortened from 60 s to "
                                                      f"{LIMIT_WINDOW:g} s for the run"))
        rows.append(row("batch", f"limiter long-run rate, {LIMIT_REQUESTS} requests at max_rpm={LIMIT_RPM}", observed,
                        baseline=LIMIT_RPM, unit="req/min", goal="0.95x to 1.05x",
                        notes="server arrival times, least-squares slope (bursts of one window's allowance)"))
    return rows
