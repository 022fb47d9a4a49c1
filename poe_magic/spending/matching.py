"""Which points-history entry belongs to which call.

The real history may list an entry seconds late, stamp it with another clock, name the bot by
its display name in another case, and show a provisional 0 first (``shared/POE_API.md``).
So an entry belongs to a pending call when:

- it is listed above the newest entry seen before the call started (``Call.after_id``);
- its bot name equals the call's model once both are squashed (lower-case letters and
  digits), directly or through the catalogue's ``id`` <-> ``metadata.display_name``;
- its time, moved onto our clock by the skew the ``Date`` headers showed, lies within
  :data:`SLACK_S` (at least 5 s, more when the skew is uncertain) of the call's run;
- and no other call claimed it.

Among several fits, entries and calls are paired keeping both orders (older entry, earlier
call) at the least total misfit (:func:`_align`); a call that made one request takes one entry.
So two calls of one model a second apart each get their own entry however late both are
listed, and a lone late entry goes to the call whose run it lies nearest.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from poe_magic.catalog import store
from poe_magic.core.session import current
from poe_magic.spending.calls import Call

SLACK_S = 5.0  # seconds either side of a call's run an entry may be stamped
WINDOW_BACK_US = 15_000_000  # reads go this far before the earliest pending call (slack + skew)
PROVISIONAL_S = 60.0  # a 0 from an entry younger than this (or an empty breakdown) may change

class _NamesMemo:
    """The catalogue's name table made last (a session state), keyed by the snapshot it came from."""

    def __init__(self) -> None:
        self.tables: dict[int, dict[str, set[str]]] = {}


def squash(name: object) -> str:
    """``GPT-5.4-Mini`` -> ``gpt54mini``: how the vendor's tools compare bot names."""
    return "".join(ch for ch in str(name).lower() if ch.isascii() and ch.isalnum())


def _catalogue_names() -> dict[str, set[str]]:
    """squashed id or display name -> every squashed name of that model (cached catalogue only)."""
    snapshot = store.cached()
    if snapshot is None:
        return {}
    tables = current().state(_NamesMemo).tables
    memo = tables.get(id(snapshot))
    if memo is not None:
        return memo
    table: dict[str, set[str]] = {}
    for raw in snapshot.entries:
        record = store.parse_entry(raw)
        if record is None:
            continue
        names = {squash(record["id"]), squash(record["display_name"])}
        for name in names:
            table.setdefault(name, set()).update(names)
    tables.clear()
    tables[id(snapshot)] = table
    return table


def names_of(model: str) -> set[str]:
    """The squashed names the history may list ``model`` under."""
    own = squash(model)
    return {own} | _catalogue_names().get(own, set())


def same_bot(entry_name: object, model: str) -> bool:
    return squash(entry_name) in names_of(model)


def is_provisional(entry: dict[str, Any], skew_s: float = 0.0, now: float | None = None) -> bool:
    """A 0 that may still change: the entry is young, or its cost breakdown is empty."""
    if entry.get("cost_points") != 0:
        return False
    now = time.time() if now is None else now
    age = now - (entry["creation_time"] / 1e6 - skew_s)
    breakdown = entry.get("cost_breakdown_in_points")
    return age < PROVISIONAL_S or (isinstance(breakdown, dict) and not breakdown)


def _distance(call: Call, stamp_us: float) -> float:
    """Seconds from ``stamp_us`` (our clock) to the call's run [start, end]."""
    if stamp_us < call.started_us:
        return (call.started_us - stamp_us) / 1e6
    if stamp_us > call.ended_us:
        return (stamp_us - call.ended_us) / 1e6
    return 0.0


def assign(pending: Iterable[Call], entries: list[dict[str, Any]], claimed: set[str],
           skew: tuple[float, float] | None) -> dict[int, list[dict[str, Any]]]:
    """The entries of the newest page ``entries`` (newest first) that belong to ``pending``
    calls: ``{index in pending: [entries]}``. Claims nothing itself."""
    calls = list(pending)
    position = {e.get("query_id"): i for i, e in enumerate(entries)}
    offset_s, unsure_s = skew if skew is not None else (0.0, 0.0)
    if abs(offset_s) <= unsure_s:
        offset_s = 0.0  # a skew not known to differ from 0 would only blur calls made close together
    slack_us = (SLACK_S + unsure_s) * 1e6
    found: dict[int, list[dict[str, Any]]] = {}
    for model in dict.fromkeys(c.model for c in calls):
        names = names_of(model)
        mine = sorted((i for i, c in enumerate(calls) if c.model == model), key=lambda i: calls[i].started_us)
        listed = sorted((e for e in entries if e["query_id"] not in claimed and squash(e.get("bot_name")) in names),
                        key=lambda e: e["creation_time"])
        if not listed:
            continue

        def cost(entry: dict[str, Any], call: Call) -> float | None:
            limit = position.get(call.after_id) if call.after_id is not None else None
            if limit is not None and position[entry["query_id"]] >= limit:
                return None  # listed before the call started: someone else's
            stamp = entry["creation_time"] - offset_s * 1e6  # onto our clock
            if not call.started_us - slack_us <= stamp <= call.ended_us + slack_us:
                return None
            return _distance(call, stamp)

        for i, picked in _align(listed, [calls[i] for i in mine], cost, SKIP_S + unsure_s).items():
            found[mine[i]] = picked
    return found


# The price (seconds of misfit) of leaving a call, or an entry, unmatched: a lone entry is taken
# only when it lies within twice this of a call's run (else it is someone else's, and the call's
# own entry is still to be listed).
SKIP_S = 1.5


def _align(entries: list[dict[str, Any]], calls: list[Call], cost: Any, skip: float) -> dict[int, list[dict[str, Any]]]:
    """Entries (oldest first) to calls (by start) keeping both orders, at the least total misfit:
    each pair costs its distance, a call left without an entry (not listed yet) or an entry left
    without a call (someone else's) costs a fixed price. A tool-calling call may take several."""
    n, m = len(entries), len(calls)
    inf = float("inf")
    # best[i][j][took]: least cost of matching entries[i:] to calls[j:]; took: calls[j] has one already
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
