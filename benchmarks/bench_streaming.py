"""Streaming overhead: a ``%%poe`` cell in a real kernel vs the raw async fastapi_poe client.

Both consume the same 20,000-chunk ChunkBot stream (100,000 characters) from the local server,
which runs in its own process. The cell is timed as a frontend sees it (execute request sent
to kernel idle), so it includes the kernel, the private loop thread, the queue and every
throttled display update; the baseline is ``fastapi_poe.get_bot_response`` in a plain asyncio
loop doing nothing but collecting text. Runs alternate and the medians are compared.

A second baseline isolates the notebook machinery: poe_magic's own transport draining the same
stream on the same private loop thread of the same kernel, with no queue, no kernel-thread
consumer and no display (so the ratio is what the %%poe cell adds on top of its HTTP client).
"""

from __future__ import annotations

import asyncio

from .common import CellResult, Row, kernel, median, row, server, spread, timed

CHUNKS = 20_000
SIZE = 5  # ChunkBot's default: 4 digits and a space
PROMPT = f"chunks={CHUNKS} size={SIZE}"
REPEATS = 5
TRANSPORT_ONLY = """
from poe_magic.core import live as _bench_client
from poe_magic.wire import request as _bench_request, transport as _bench_transport
from poe_magic.base.config import settings as _bench_settings
from poe_magic.wire.loop import shared_loop as _bench_loop

async def _bench_drain(request):
    chars = 0
    async for message in _bench_transport.stream(request, _bench_settings):
        chars += len(getattr(message, "text", ""))
    return chars
"""


def raw_client(url: str, key: str) -> tuple[float, int]:
    """Seconds the raw async client takes to consume the stream, and the characters it got."""
    import fastapi_poe as fp

    async def consume() -> int:
        parts: list[str] = []
        message = fp.ProtocolMessage(role="user", content=PROMPT)
        async for partial in fp.get_bot_response([message], bot_name="ChunkBot", api_key=key,
                                                 base_url=url + "/bot/"):
            parts.append(partial.text)
        return len("".join(parts))

    return timed(lambda: asyncio.run(consume()))


def live_update_pace(result: CellResult) -> tuple[float, float]:
    """Live display updates per second (the final exact-state update excluded) and the shortest
    gap between two consecutive live updates, from the kernel's own message timestamps."""
    times = [m["header"]["date"].timestamp() for m in result.of_type("update_display_data")]
    live = times[:-1]
    rate = (len(live) - 1) / (live[-1] - live[0]) if len(live) > 1 and live[-1] > live[0] else 0.0
    gaps = [b - a for a, b in zip(live, live[1:])]
    return rate, min(gaps, default=0.0)


def run() -> list[Row]:
    cell_times: list[float] = []
    raw_times: list[float] = []
    updates: list[int] = []
    rates: list[float] = []
    gaps: list[float] = []
    reply_times: list[float] = []
    transport_times: list[float] = []
    with server() as srv, kernel(srv) as k:
        k.run_ok("%%poe ChunkBot\nchunks=200")  # warm-up: imports fastapi_poe, opens the connection
        k.run_ok(TRANSPORT_ONLY)
        drain = f"_bench_n = _bench_loop().run(_bench_drain(_bench_request.build_request({PROMPT!r}, 'ChunkBot')))"
        raw_client(srv.url, srv.key)
        for _ in range(REPEATS):
            raw_seconds, raw_chars = raw_client(srv.url, srv.key)
            result = k.run_ok(f"%%poe ChunkBot -o _bench\n{PROMPT}")
            transport_times.append(k.run_ok(drain).elapsed)
            chars, reply_elapsed, drained = k.value("[len(_bench.text), _bench.elapsed, _bench_n]")
            if not chars == raw_chars == drained == CHUNKS * SIZE:
                raise AssertionError(f"streams differ: cell got {chars} chars, raw client {raw_chars}, "
                                     f"transport {drained}")
            raw_times.append(raw_seconds)
            cell_times.append(result.elapsed)
            updates.append(result.update_count)
            rate, gap = live_update_pace(result)
            rates.append(rate)
            gaps.append(gap)
            reply_times.append(reply_elapsed)

    cell, raw = median(cell_times), median(raw_times)
    count = int(median([float(u) for u in updates]))
    what = f"{CHUNKS:,}-chunk ChunkBot stream ({CHUNKS * SIZE:,} chars), local server in its own process"
    return [
        row("streaming", "%%poe cell wall time vs raw async fastapi_poe client", cell, baseline=raw,
            goal="<= 1.1x", notes=f"{what}; median of {REPEATS} alternating runs; cell {spread(cell_times)}, "
                                  f"raw {spread(raw_times)}; in-kernel Reply.elapsed median {median(reply_times):.3f} s"),
        row("streaming", "%%poe cell wall time vs poe_magic's transport alone in the same kernel", cell,
            baseline=median(transport_times),
            notes=f"what the queue, the kernel-thread consumer and the display add (no goal set: the "
                  f"issue's goal is on the raw-client row); transport {spread(transport_times)}"),
        row("streaming", "display updates per cell", count, unit="updates",
            notes=f"throttle 50 ms; per run: {', '.join(map(str, updates))}"),
        row("streaming", "display updates per second while streaming", median(rates), goal="<= 20", unit="/s",
            notes=f"live updates (the exact final one excluded) over the time they span; 50 ms throttle; "
                  f"shortest gap between two updates {min(gaps) * 1000:.0f} ms"),
    ]

