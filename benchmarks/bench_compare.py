"""Comparison: 8 models of ~1 s each side by side vs the slowest alone, and the kernel's
responsiveness while a comparison streams.

Bots: the local server's paced lanes ``SlowBot-1..8`` (20 words, 50 ms apart, each lane 1 %
slower than the previous: 1.00 s to 1.07 s), server in its own process. Wall times are the
cell's as a frontend sees them (execute request to kernel idle), in one kernel, alternating
the comparison with the slowest lane alone (an ordinary one-model ``%%poe``); medians compared.

Responsiveness. A kernel runs one cell at a time: a ``%%poe`` in another cell, or a comm
message on the shell channel, waits until the comparison cell ends, whatever the display code
does (as for any cell). What display work can do is hold the kernel thread, and with it the
GIL, between two polls of the event queue. So we measure (1) the kernel time each live
update takes (render + send; ``Comparison._view.busy_cpu``: CPU time of the kernel thread, and
``busy``: wall clock, which on a shared machine also counts waiting for the OS and the GIL),
against the throttle interval, on the light stream and on a heavy one (8 lanes of 2,000 fast
words of rich Markdown: headings, lists, tables, code; ~10 KB each); (2) the longest
gap between two display updates as the kernel stamped them (iopub header dates); (3) round
trips of ``kernel_info`` on the control channel (served by its own kernel thread, so it shows
GIL starvation) while a comparison streams vs while the kernel is idle.
"""

from __future__ import annotations

import statistics
import time
from datetime import datetime
from typing import Any

from .common import CellResult, Kernel, Row, kernel, median, row, server, spread

LANES = [f"SlowBot-{i}" for i in range(1, 9)]
KNOBS = "--param chunks=20 --param delay=0.05 --param spread=0.01"
HEAVY = ("--param style=markdown --param chunks=2000 --param delay=0.001 --param first_delay=0.05 "
         "--param spread=0.01")
REPEATS = 5
THROTTLE = 0.05


def update_gaps(result: CellResult) -> list[float]:
    """Seconds between consecutive display messages, by the kernel's own timestamps."""
    stamps = []
    for m in result.of_type("display_data", "update_display_data"):
        date = m["header"]["date"]
        stamps.append((date if isinstance(date, datetime) else datetime.fromisoformat(str(date))).timestamp())
    return [b - a for a, b in zip(stamps, stamps[1:])]


def control_round_trips(k: Kernel, seconds: float) -> list[float]:
    """``kernel_info`` round trips on the control channel for ``seconds`` (one every 50 ms)."""
    times: list[float] = []
    end = time.monotonic() + seconds
    client = k.client
    while time.monotonic() < end:
        msg = client.session.msg("kernel_info_request")
        started = time.perf_counter()
        client.control_channel.send(msg)
        while True:
            reply = client.control_channel.get_msg(timeout=10)
            if reply["parent_header"].get("msg_id") == msg["header"]["msg_id"]:
                break
        times.append(time.perf_counter() - started)
        time.sleep(0.05)
    return times


def compare_cell(k: Kernel, knobs: str, *, ping: bool = False) -> tuple[CellResult, list[float], dict[str, Any]]:
    msg_id = k.submit(f"%%poe {' '.join(LANES)} {knobs} -o _bench\nrace")
    pings = control_round_trips(k, 0.9) if ping else []
    result = k.collect(msg_id)
    if result.error:
        raise AssertionError("comparison failed: " + "\n".join(result.error["traceback"]))
    info = k.value("{'busy': _bench._view.busy, 'cpu': _bench._view.busy_cpu, 'elapsed': [r.elapsed for r in _bench], "
                   "'ok': all(r.ok for r in _bench), 'chars': [len(r.text) for r in _bench]}")
    if not info["ok"]:
        raise AssertionError(f"a lane failed: {info}")
    return result, pings, info


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) >= 20 else max(values)


def busy_notes(busy: list[float], cpu: list[float]) -> str:
    return (f"{len(cpu)} updates; CPU median {median(cpu) * 1000:.2f} ms, 95th pct {p95(cpu) * 1000:.2f} ms; "
            f"wall clock (includes waiting for the GIL and the OS on this shared 2-core box) median "
            f"{median(busy) * 1000:.2f} ms, 95th pct {p95(busy) * 1000:.2f} ms, max {max(busy) * 1000:.1f} ms; "
            "baseline = throttle interval")


def run() -> list[Row]:
    together: list[float] = []
    alone: list[float] = []
    busy: list[float] = []
    cpu: list[float] = []
    gaps: list[float] = []
    slowest_reply: list[float] = []
    with server() as srv, kernel(srv) as k:
        k.run_ok(f"%%poe SlowBot-1 SlowBot-2 {KNOBS}\nwarm-up")  # imports, connections, catalogue
        singles = {lane: k.run_ok(f"%%poe {lane} {KNOBS}\nalone").elapsed for lane in LANES}
        slowest = LANES[-1]  # the slowest by design (one sample each cannot rank 1 % differences)
        idle_pings = control_round_trips(k, 0.9)
        _, busy_pings, _ = compare_cell(k, KNOBS, ping=True)  # not timed: the pings delay collecting
        for _ in range(REPEATS):
            result, _, info = compare_cell(k, KNOBS)
            together.append(result.elapsed)
            busy += info["busy"]
            cpu += info["cpu"]
            gaps += update_gaps(result)
            slowest_reply.append(max(info["elapsed"]))
            alone.append(k.run_ok(f"%%poe {slowest} {KNOBS}\nalone").elapsed)
        heavy, _, heavy_info = compare_cell(k, HEAVY)
        heavy_gaps = update_gaps(heavy)

    wall, base = median(together), median(alone)
    return [
        row("compare", "8 bots of ~1 s side by side vs the slowest alone (wall)", wall, baseline=base,
            goal="<= 1.15x",
            notes=f"SlowBot-1..8 {KNOBS.replace('--param ', '')}; alone each: "
                  + ", ".join(f"{lane[8:]}={s:.2f}" for lane, s in singles.items())
                  + f" s (one sample each); baseline {slowest}, the slowest by design; median of {REPEATS} "
                  f"alternating runs; together {spread(together)}, alone {spread(alone)}; slowest lane "
                  f"inside the comparison (Reply.elapsed) median {median(slowest_reply):.3f} s"),
        row("compare", "kernel CPU per live update, max (8 columns, light stream)", max(cpu),
            baseline=THROTTLE, goal="<= 1x", notes=f"{REPEATS} runs: " + busy_notes(busy, cpu)),
        row("compare", "kernel CPU per live update, max (8 columns x ~10 KB Markdown, heavy stream)",
            max(heavy_info["cpu"]), baseline=THROTTLE, goal="<= 1x",
            notes=f"{HEAVY.replace('--param ', '')}, {sum(heavy_info['chars']):,} chars in all, cell "
                  f"{heavy.elapsed:.2f} s: " + busy_notes(heavy_info["busy"], heavy_info["cpu"])),
        row("compare", "longest gap between display updates (light stream)", max(gaps), baseline=THROTTLE,
            notes=f"kernel timestamps; median gap {median(gaps) * 1000:.0f} ms; heavy stream max "
                  f"{max(heavy_gaps) * 1000:.0f} ms, median {median(heavy_gaps) * 1000:.0f} ms; "
                  "an update is due every throttle interval while text changes"),
        row("compare", "control-channel round trip during a comparison (median)", median(busy_pings),
            baseline=median(idle_pings),
            notes=f"kernel_info on the control channel every 50 ms: during {len(busy_pings)} pings max "
                  f"{max(busy_pings) * 1000:.1f} ms; idle {len(idle_pings)} pings max {max(idle_pings) * 1000:.1f} ms. "
                  "Shell messages (another cell, comm) wait for the cell to end, as for any cell"),
    ]
