"""The first call after ``%load_ext`` in a fresh kernel, with and without the background warm-up.

Each repetition is a fresh kernel: ``%load_ext poe_magic`` (timed), 1.5 s idle (the user typing
the first prompt), then ``%%poe EchoBot`` (timed from execute_request to idle), then the same
cell again (warm: the baseline). The same is done with the warm-up turned off
(``POE_MAGIC_WARM_UP=0``): what the first call cost before issue 26, measured in the same run.
"""

from __future__ import annotations

import time

from .common import Row, kernel, median, row, server, spread

REPEATS = 3
IDLE = 1.5
CELL = "%%poe EchoBot\nhi"


def _once(srv: object, warm_up: bool) -> tuple[float, float, float]:
    """(load_ext, first call, warm call) seconds in one fresh kernel."""
    with kernel(srv, load=False, POE_MAGIC_WARM_UP="1" if warm_up else "0") as k:  # type: ignore[arg-type]
        load = k.run_ok("%load_ext poe_magic").elapsed
        time.sleep(IDLE)
        first = k.run_ok(CELL).elapsed
        warm = median([k.run_ok(CELL).elapsed for _ in range(3)])
    return load, first, warm


def run() -> list[Row]:
    figures: dict[bool, list[tuple[float, float, float]]] = {True: [], False: []}
    with server() as srv:
        for _ in range(REPEATS):  # interleaved, so load on the machine hits both alike
            for warm_up in (False, True):
                figures[warm_up].append(_once(srv, warm_up))
    on, off = figures[True], figures[False]
    first_on, first_off = [f for _, f, _ in on], [f for _, f, _ in off]
    warm_on = [w for _, _, w in on]
    load_on, load_off = [lo for lo, _, _ in on], [lo for lo, _, _ in off]
    return [
        row("first_call", f"first %%poe call after %load_ext and {IDLE} s idle (warm-up on) vs a warm call",
            median(first_on), baseline=median(warm_on), goal="<= 0.15 s",
            notes=f"first {spread(first_on)}; warm {spread(warm_on)}"),
        row("first_call", "the same first call without the warm-up (POE_MAGIC_WARM_UP=0), vs with it",
            median(first_off), baseline=median(first_on), unit="s",
            notes=f"without {spread(first_off)}: fastapi_poe, httpx and the loop thread started by the call"),
        row("first_call", "%load_ext poe_magic with the warm-up vs without (kernel round trip)",
            median(load_on), baseline=median(load_off), goal="<= 1.2x",
            notes=f"with {spread(load_on)}; without {spread(load_off)}: the warm-up runs on a thread after it"),
    ]
