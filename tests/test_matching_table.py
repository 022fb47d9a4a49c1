"""The history matcher's alignment table, held small (issue 26: flat memory).

``matching._align`` pairs history entries with calls by dynamic programming over an
entries x calls table. It used to keep a dict of tuples per cell (120,000 of them for 300
entries and 200 quick calls), and the pymalloc arenas it freed stayed pinned in the kernel:
200 short cells grew it by 3-9 MB. These tests pin the compact table to the plain one it
replaced (same pairs on random histories) and bound what one read allocates.
"""

from __future__ import annotations

import time
import tracemalloc
from datetime import datetime, timezone
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from poe_magic.spending.calls import Call
from poe_magic.spending.matching import SKIP_S, SLACK_S, assign


def reference_align(entries: list[dict[str, Any]], calls: list[Call], offset_s: float,
                    slack_us: float, position: dict[Any, int], skip: float) -> dict[int, list[dict[str, Any]]]:
    """The plain table the compact one replaced (full cost table, a dict of moves), kept as the spec."""

    def cost(entry: dict[str, Any], call: Call) -> float | None:
        limit = position.get(call.after_id) if call.after_id is not None else None
        if limit is not None and position[entry["query_id"]] >= limit:
            return None
        stamp = entry["creation_time"] - offset_s * 1e6
        if not call.started_us - slack_us <= stamp <= call.ended_us + slack_us:
            return None
        if stamp < call.started_us:
            return (call.started_us - stamp) / 1e6
        return (stamp - call.ended_us) / 1e6 if stamp > call.ended_us else 0.0

    n, m = len(entries), len(calls)
    inf = float("inf")
    best = [[[inf, inf] for _ in range(m + 1)] for _ in range(n + 1)]
    move: dict[tuple[int, int, int], tuple[str, int, int, int]] = {}
    for i in range(n, -1, -1):
        for j in range(m, -1, -1):
            for took in (1, 0):
                if j == m:
                    best[i][j][took] = skip * (n - i)
                    continue
                options: list[tuple[float, tuple[str, int, int, int]]] = [
                    ((0.0 if took else skip) + best[i][j + 1][0], ("next", i, j + 1, 0))]
                if i < n:
                    options.append((skip + best[i + 1][j][took], ("skip", i + 1, j, took)))
                    fit = cost(entries[i], calls[j])
                    if fit is not None and (calls[j].requests != "one" or not took):
                        after = (i + 1, j, 1) if calls[j].requests != "one" else (i + 1, j + 1, 0)
                        options.append((fit + best[after[0]][after[1]][after[2]], ("take", *after)))
                value, step = min(options, key=lambda o: o[0])
                best[i][j][took], move[(i, j, took)] = value, step
    picked: dict[int, list[dict[str, Any]]] = {}
    state = (0, 0, 0)
    while state[1] < m and state in move:
        kind, *nxt = move[state]
        if kind == "take":
            picked.setdefault(state[1], []).append(entries[state[0]])
        state = (nxt[0], nxt[1], nxt[2])
    return picked


def make_call(start_s: float, length_s: float, *, several: bool = False, after_id: str | None = None) -> Call:
    return Call(time=datetime.fromtimestamp(start_s, timezone.utc), model="EchoBot", points=None, chars=1,
                elapsed=length_s, status="ok", ended_us=int((start_s + length_s) * 1e6),
                requests="several" if several else "one", after_id=after_id)


def entry(query_id: str, stamp_s: float) -> dict[str, Any]:
    return {"query_id": query_id, "bot_name": "EchoBot", "creation_time": int(stamp_s * 1e6), "cost_points": 10}


@settings(max_examples=150, deadline=None)
@given(starts=st.lists(st.tuples(st.floats(0, 30), st.floats(0, 3), st.booleans()), min_size=1, max_size=12),
       stamps=st.lists(st.floats(-8, 40), min_size=0, max_size=14), bound=st.integers(-1, 13))
def test_the_compact_table_pairs_exactly_as_the_plain_one(starts: list[tuple[float, float, bool]],
                                                          stamps: list[float], bound: int) -> None:
    base = 1_800_000_000.0
    history = [entry(f"q{i}", base + s) for i, s in enumerate(sorted(stamps, reverse=True))]  # newest first
    after = history[bound]["query_id"] if 0 <= bound < len(history) else None
    calls = [make_call(base + s, length, several=several, after_id=after if k % 2 else None)
             for k, (s, length, several) in enumerate(starts)]
    got = assign(calls, history, set(), None)
    order = sorted(range(len(calls)), key=lambda i: calls[i].started_us)
    position = {e["query_id"]: i for i, e in enumerate(history)}
    oldest_first = sorted(history, key=lambda e: e["creation_time"])
    expected = reference_align(oldest_first, [calls[i] for i in order], 0.0, SLACK_S * 1e6, position, SKIP_S)
    assert {i: [e["query_id"] for e in es] for i, es in got.items()} == {
        order[j]: [e["query_id"] for e in es] for j, es in expected.items()}


def test_a_read_over_three_pages_and_two_hundred_pending_calls_allocates_little() -> None:
    # a quick loop's 200 short calls, all pending, and the 300 newest entries (three pages):
    # the plain table peaked at ~7 MB of small objects here
    now = time.time()
    calls = [make_call(now - 20 + i * 0.1, 0.05) for i in range(200)]
    history = [entry(f"q{i}", now - i * 0.1 + 0.02) for i in range(300)]
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        found = assign(calls, history, set(), None)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(found) == 200 and all(len(v) == 1 for v in found.values())
    assert peak - before < 1_000_000, f"{(peak - before) / 1e6:.1f} MB at the peak of one read"
