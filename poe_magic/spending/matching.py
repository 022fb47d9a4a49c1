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
from collections.abc import Callable, Iterable
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
        # each call's numbers once (started_us is computed from a datetime): the table below asks
        # entries x calls times
        runs = [(calls[i].started_us, calls[i].ended_us, position.get(calls[i].after_id)
                 if calls[i].after_id is not None else None) for i in mine]
        stamps = [e["creation_time"] - offset_s * 1e6 for e in listed]  # onto our clock
        places = [position[e["query_id"]] for e in listed]

        several = [calls[i].requests != "one" for i in mine]
        cost = _misfit(runs, stamps, places, slack_us)
        for j, picked in _align(len(listed), several, cost, SKIP_S + unsure_s).items():
            found[mine[j]] = [listed[i] for i in picked]
    return found


def _misfit(runs: list[tuple[int, int, int | None]], stamps: list[float], places: list[int],
            slack_us: float) -> Callable[[int, int], float | None]:
    """cost(entry i, call j): seconds from the entry's stamp to the call's run [start, end], or
    None when they cannot pair (stamped outside the slack, or listed before the call started)."""

    def cost(i: int, j: int) -> float | None:
        start, end, limit = runs[j]
        if limit is not None and places[i] >= limit:
            return None  # listed before the call started: someone else's
        stamp = stamps[i]
        if not start - slack_us <= stamp <= end + slack_us:
            return None
        return (start - stamp) / 1e6 if stamp < start else (stamp - end) / 1e6 if stamp > end else 0.0

    return cost


# The price (seconds of misfit) of leaving a call, or an entry, unmatched: a lone entry is taken
# only when it lies within twice this of a call's run (else it is someone else's, and the call's
# own entry is still to be listed).
SKIP_S = 1.5

_NEXT, _SKIP, _TAKE = 0, 1, 2  # the moves of _align's table


def _align(n: int, several: list[bool], cost: Callable[[int, int], float | None],
           skip: float) -> dict[int, list[int]]:
    """Entries 0..n-1 (oldest first) to calls (by start; ``several[j]``: call j may take more than
    one) keeping both orders, at the least total misfit: pair (i, j) costs ``cost(i, j)`` (None:
    they cannot pair), a call left without an entry (not listed yet) or an entry left without a
    call (someone else's) costs ``skip``. Returns {call: [entry indices]}.

    The table is entries x calls (300 x 200 when a quick loop's calls are all pending): it keeps
    two rows of costs and one byte per move, so a read allocates a few hundred KB in a few
    blocks, not a dict of 120,000 tuples whose freed arenas the kernel kept (issue 26's memory)."""
    m = len(several)
    inf = float("inf")
    width = 2 * (m + 1)  # [j][took] flattened: took 1 = calls[j] has an entry already
    # below[j*2+took]: least cost of matching entries[i+1:] to calls[j:]; row: the same for entries[i:]
    below: list[float] = []  # the row under the first one (i == n) is never read
    moves = bytearray((n + 1) * width)
    for i in range(n, -1, -1):
        row = [inf] * width
        row[2 * m] = row[2 * m + 1] = skip * (n - i)  # j == m: the entries left are someone else's
        for j in range(m - 1, -1, -1):
            for took in (1, 0):
                at = 2 * j + took
                value, step = (0.0 if took else skip) + row[2 * (j + 1)], _NEXT
                if i < n:
                    skipped = skip + below[at]
                    if skipped < value:
                        value, step = skipped, _SKIP
                    if not (took and not several[j]):
                        fit = cost(i, j)
                        if fit is not None:
                            taken = fit + (below[2 * j + 1] if several[j] else below[2 * (j + 1)])
                            if taken < value:
                                value, step = taken, _TAKE
                row[at] = value
                moves[i * width + at] = step
        below = row
    picked: dict[int, list[int]] = {}
    i = j = took = 0
    while j < m:
        step = moves[i * width + 2 * j + took]
        if step == _NEXT:
            j, took = j + 1, 0
        elif step == _SKIP:
            i += 1
        else:
            picked.setdefault(j, []).append(i)
            i, j, took = (i + 1, j, 1) if several[j] else (i + 1, j + 1, 0)
    return picked
