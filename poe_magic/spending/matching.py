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

Among several fits, each entry (oldest first) goes to the fitting call whose run it lies
nearest, ties to the call that started first; a call that made one request takes one entry.
So two calls of one model a second apart each get their own entry however late both are listed.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from poe_magic.catalog import store
from poe_magic.spending.calls import Call

SLACK_S = 5.0  # seconds either side of a call's run an entry may be stamped
PROVISIONAL_S = 60.0  # a 0 from an entry younger than this (or an empty breakdown) may change

_names_memo: dict[int, dict[str, set[str]]] = {}


def squash(name: object) -> str:
    """``GPT-5.4-Mini`` -> ``gpt54mini``: how the vendor's tools compare bot names."""
    return "".join(ch for ch in str(name).lower() if ch.isascii() and ch.isalnum())


def _catalogue_names() -> dict[str, set[str]]:
    """squashed id or display name -> every squashed name of that model (cached catalogue only)."""
    snapshot = store.cached()
    if snapshot is None:
        return {}
    memo = _names_memo.get(id(snapshot))
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
    _names_memo.clear()
    _names_memo[id(snapshot)] = table
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
    slack_us = (SLACK_S + unsure_s) * 1e6
    names = [names_of(c.model) for c in calls]
    found: dict[int, list[dict[str, Any]]] = {}
    for entry in sorted(entries, key=lambda e: e["creation_time"]):  # oldest first
        if entry["query_id"] in claimed:
            continue
        here = position[entry["query_id"]]
        stamp = entry["creation_time"] - offset_s * 1e6  # onto our clock
        bot = squash(entry.get("bot_name"))
        fits = []
        for i, call in enumerate(calls):
            if bot not in names[i] or (call.requests == "one" and i in found):
                continue
            limit = position.get(call.after_id) if call.after_id is not None else None
            if limit is not None and here >= limit:
                continue  # listed before the call started: someone else's
            if call.started_us - slack_us <= stamp <= call.ended_us + slack_us:
                fits.append(i)
        if fits:
            best = min(fits, key=lambda i: (_distance(calls[i], stamp), calls[i].started_us))
            found.setdefault(best, []).append(entry)
    return found
