"""Memory: the kernel's peak resident set after 200 ``%%poe`` cells vs after the first.

Each cell streams a 10,000-character answer (ChunkBot, 500 chunks) from the local server, so
200 cells move 2 MB of text through the kernel; what the kernel keeps (the Reply of each
cell, display history, caches) shows up as growth between the two readings.
"""

from __future__ import annotations

from .common import Row, kernel, kernel_rss_mb, row, server

CELLS = 200
CELL = "%%poe ChunkBot\nchunks=500 size=20"  # 10,000 characters per answer


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
    ]
