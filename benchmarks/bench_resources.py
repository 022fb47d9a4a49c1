"""Resource hygiene: what the kernel holds after many ``%%poe`` cells that succeed, fail and are
interrupted (issue 8): threads, file descriptors, sockets, resident memory, live Replies.

Each round is the issue's mix: half answered (ChunkBot, 2,000 characters), a quarter failing
in five ways (error event mid-stream, dropped connection, answer cut short, error event before
text, 500 retried until given up) and a quarter interrupted with a real kernel interrupt once
the answer shows. Readings are taken inside the kernel after a ``gc.collect()``, first after
a warm-up that runs every path once (the loop thread, HTTP clients, caches start then).
"""

from __future__ import annotations

import time

from faultkit import churn, resources  # noqa: E402 - the workload the kernel test also runs

from .common import Row, kernel, row, server  # noqa: I001 - first: it puts tests/ on sys.path

ROUNDS = (200, 1000)  # cells per reading: the 200, then 1,000 to show the trend


def run() -> list[Row]:
    rows: list[Row] = []
    with server() as srv, kernel(srv) as k:
        k.run_ok("%config PoeMagics.retry_backoff = 0.01")
        k.run_ok("%config PoeMagics.max_rpm = 0")  # 1,000 cells in well under a minute: not the window's to hold
        churn(k, srv, ok=2, failing=5, interrupted=2)
        start = resources(k)
        done = 0
        for cells in ROUNDS:
            started = time.perf_counter()
            churn(k, srv, ok=(cells - done) // 2, failing=(cells - done) // 4, interrupted=(cells - done) // 4)
            elapsed = time.perf_counter() - started
            now = resources(k)
            label = f"after {cells} cells (1/4 interrupted, 1/4 failing)"
            rows += [
                row("resources", f"threads {label}", now["threads"], baseline=start["threads"], unit="threads",
                    goal="<= 1x", notes=f"OS threads {start['os_threads']} -> {now['os_threads']}"),
                row("resources", f"open fds {label}", now["fds"], baseline=start["fds"], unit="fds", goal="<= 1.1x",
                    notes=f"sockets {start['sockets']} -> {now['sockets']} (incl. the kernel's ZMQ sockets)"),
                row("resources", f"resident memory growth {label}", now["rss_mb"] - start["rss_mb"], unit="MB",
                    goal="<= 20 MB", notes=f"RSS {start['rss_mb']:.1f} -> {now['rss_mb']:.1f} MB; "
                                           f"{(now['rss_mb'] - start['rss_mb']) * 1024 / cells:.1f} KB per cell"),
                row("resources", f"tasks left on the private loop {label}", now["loop_tasks"], unit="tasks",
                    goal="== 0", notes=f"Reply objects alive: {now['replies_alive']}; "
                                       f"{cells - done} cells took {elapsed:.1f} s"),
            ]
            done = cells
    return rows
