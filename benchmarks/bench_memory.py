"""Memory: the kernel's peak resident set after 200 ``%%poe`` cells vs after the first.

Each cell streams a 10,000-character answer (ChunkBot, 500 chunks) from the local server, so
200 cells move 2 MB of text through the kernel; what the kernel keeps (the Reply of each
cell, display history, caches) shows up as growth between the two readings.
"""

from __future__ import annotations

from .common import Row, kernel, kernel_rss_mb, row, server

CELLS = 200
CELL = "%%poe ChunkBot\nchunks=500 size=20"  # 10,000 characters per answer
SHORT = "%%poe EchoBot\nshort cell {i}"  # issue 26: a short answer per cell
PRINT = "print('EchoBot received: short cell {i}' * 8)"  # the baseline: about as much text, printed


def short_cells() -> list[Row]:
    """Resident growth over 200 short cells (after 20 to warm up), as issue 26 measured it."""
    with server() as srv, kernel(srv) as plain:  # baseline: a kernel printing as much per cell
        for i in range(20):
            plain.run_ok(PRINT.format(i=i))
        plain.run_ok("import gc, time; time.sleep(1); gc.collect()")
        base_first, _ = kernel_rss_mb(plain)
        for i in range(CELLS):
            plain.run_ok(PRINT.format(i=i))
        plain.run_ok("time.sleep(2); gc.collect()")
        base_last, _ = kernel_rss_mb(plain)
    with server() as srv, kernel(srv) as k:
        for i in range(20):
            k.run_ok(SHORT.format(i=i))
        k.run_ok("import gc, time; time.sleep(1); gc.collect()")
        first, _ = kernel_rss_mb(k)
        for i in range(CELLS):
            k.run_ok(SHORT.format(i=i))
        k.run_ok("time.sleep(2); gc.collect()")  # the costs found, the watchers let go
        last, _ = kernel_rss_mb(k)
        for i in range(CELLS):  # the next 200: growth once the bounded caches (SQLite pages, ...) are warm
            k.run_ok(SHORT.format(i=i))
        k.run_ok("time.sleep(2); gc.collect()")
        later, _ = kernel_rss_mb(k)
        k.run_ok("import tracemalloc; tracemalloc.start(); _before = tracemalloc.take_snapshot()")
        for i in range(50):
            k.run_ok(SHORT.format(i=i))
        k.run_ok("time.sleep(2); gc.collect(); _after = tracemalloc.take_snapshot()")
        traced = k.value("sum(s.size_diff for s in _after.compare_to(_before, 'filename'))")
        ours = k.value("sum(s.size_diff for s in _after.compare_to(_before, 'filename') "
                       "if 'poe_magic' in s.traceback[0].filename)")
    return [
        row("memory", f"kernel resident growth over {CELLS} short %%poe cells (EchoBot) vs {CELLS} print() cells",
            last - first, baseline=max(0.01, base_last - base_first), unit="MB", goal="<= 2 MB",
            notes=f"current RSS {first:.1f} -> {last:.1f} MB, after 20 warm-up cells; print() cells: "
                  f"{base_first:.1f} -> {base_last:.1f} MB"),
        row("memory", f"kernel resident growth over the next {CELLS} short cells (steady state)", later - last,
            unit="MB", goal="<= 2 MB", notes=f"current RSS {last:.1f} -> {later:.1f} MB. Little of the growth is retained "
                                             "Python objects (next row); until the history matcher's table was made "
                                             "compact, its ~7 MB of short-lived tuples per read left pymalloc arenas "
                                             "pinned: 3 to 9 MB over the first 200 cells"),
        row("memory", "Python memory kept per short cell (tracemalloc, 50 cells)", traced / 50 / 1024, unit="KB",
            notes=f"of which allocated in poe_magic's own files: {ours / 50 / 1024:.2f} KB per cell; the rest "
                  "is IPython's and ipykernel's per-cell history (In, Out, compile cache)"),
    ]


def run() -> list[Row]:
    with server() as srv, kernel(srv) as k:
        k.run_ok(CELL)
        first_current, first_peak = kernel_rss_mb(k)
        for _ in range(CELLS - 1):
            k.run_ok(CELL)
        last_current, last_peak = kernel_rss_mb(k)
    per_cell_kb = (last_current - first_current) * 1024 / (CELLS - 1)
    return [
        row("memory", f"kernel peak RSS after {CELLS} %%poe cells vs after the first", last_peak,
            baseline=first_peak, unit="MB", goal="<= 1.1x",
            notes=f"10,000-char answer per cell; current RSS {first_current:.1f} -> {last_current:.1f} MB"),
        row("memory", "resident growth per cell", per_cell_kb, unit="KB",
            notes=f"(current RSS after {CELLS} - after 1) / {CELLS - 1}; each answer is ~10 KB of text"),
        *short_cells(),
    ]
