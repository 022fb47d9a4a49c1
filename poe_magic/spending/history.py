"""Points balance and points history: the account's spending as a pandas DataFrame.

``points_history()`` follows the API's ``has_more``/``starting_after`` pagination (100 entries
a page) and keeps what it read in an on-disk cache (:mod:`poe_magic.spending.history_cache`), so the next
call asks only for what is newer, and reads the last ten minutes again (an entry may be listed
late, or first with a provisional ``cost_points: 0``): usually one request. Pages are
fetched by :mod:`poe_magic.wire.http` on the calling thread: Ctrl-C lands at once, and a
failed download changes nothing (no half-written cache). 429 and 5xx answers are retried
(honouring ``Retry-After``). pandas is imported only when a frame is built.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from poe_magic.base import errors as E
from poe_magic.base.config import check_count
from poe_magic.core.session import current
from poe_magic.spending.history_cache import REQUIRED, HistoryCache, Snapshot, account_id
from poe_magic.spending.paging_progress import PagingProgress
from poe_magic.wire.http import HttpStats as HttpStats  # re-exported: scripts read the counters here too
from poe_magic.wire.http import get_json
from poe_magic.wire.http import http_stats as http_stats

if TYPE_CHECKING:
    import pandas as pd

HISTORY_PATH = "/usage/points_history"
BALANCE_PATH = "/usage/current_balance"
PAGE_SIZE = 100  # the API's maximum
#: pages one walk may read: 30 days at the API's ~500 requests/min is ~21.6 M calls, 216,000 pages
MAX_PAGES = 30 * 24 * 60 * 500 // PAGE_SIZE
RECENT_WINDOW_US = 600_000_000  # every refresh re-reads the last 10 minutes (late and provisional entries)

_REQUIRED_SET = frozenset(REQUIRED)
TimeLike = datetime | date | str | timedelta | None


#: larger balances or costs are not believed (10**15 points is about 30 billion USD)
MAX_SANE_POINTS = 10**15
#: more entries than 30 days can hold at the API's ~500 requests/min (with room to spare)
MAX_ENTRIES = 50_000_000


def current_balance() -> int:
    """The account's points balance now (one request)."""
    body = get_json(BALANCE_PATH, what="the points balance")
    try:
        balance = int(body["current_point_balance"])
    except (KeyError, TypeError, ValueError, OverflowError):  # absent, not a number, inf
        raise E.ServerError("unexpected balance reply from the server (no current_point_balance)") from None
    if abs(balance) > MAX_SANE_POINTS:  # a server's absurd number is not shown as 309 digits
        raise E.ServerError(f"the server reported an implausible balance ({balance:.3e} points)")
    return balance


# -- paging --------------------------------------------------------------------------
@dataclass
class _Stop:
    """When a walk down the history stops (besides the end of the history)."""

    known: frozenset[str] = frozenset()  # ids already cached: stop before the first one
    since: int | None = None  # stop once a page reaches entries older than this (µs)
    until: int | None = None  # entries at or after this do not count towards ``want``
    want: int | None = None  # stop once this many entries in [since, until) were read


def history_page(starting_after: str | None = None, limit: int = PAGE_SIZE, **kwargs: Any) -> tuple[list[dict[str, Any]], bool]:
    """One page: (entries newest first, has_more)."""
    params: dict[str, Any] = {"limit": limit}
    if starting_after is not None:
        params["starting_after"] = starting_after
    body = get_json(HISTORY_PATH, params, **{"what": "the points history", **kwargs})
    try:
        data, has_more = body["data"], bool(body["has_more"])
        if not isinstance(data, list):
            raise TypeError
        data = [normalise_entry(e) for e in data]
        if data and not _REQUIRED_SET <= data[-1].keys():
            raise TypeError
    except (KeyError, TypeError, AttributeError):
        raise _bad_entries() from None
    return data, has_more  # every entry's fields are checked when merged (Snapshot.add)


def normalise_entry(raw: Any) -> Any:
    """One entry as the current API documents it, whatever the server's version says:
    ``app_name`` (the older usage guide) is taken as ``bot_name``; a ``creation_time`` in
    seconds or milliseconds becomes microseconds; ``cost_points`` sent as a float or a numeric
    string becomes an int (negative: a refund, kept). Other fields are kept as sent. What is not
    a dict is returned as is (the caller reports it)."""
    if not isinstance(raw, dict):
        return raw
    entry = dict(raw)
    if "bot_name" not in entry and "app_name" in entry:
        entry["bot_name"] = entry["app_name"]
    if "usage_type" not in entry and "bot_name" in entry:
        entry["usage_type"] = "API"  # the older guide's entries have no type
    entry["creation_time"] = _micros(entry.get("creation_time"))
    entry["cost_points"] = _whole(entry.get("cost_points"))
    if not _plausible(entry["cost_points"]):  # 10**30, NaN, -10**12: a broken server, not a price
        entry["cost_flag"] = f"implausible cost {str(entry['cost_points'])[:24]}"
        entry["cost_points"] = None
    if "bot_name" in entry:
        entry["bot_name"] = str(entry["bot_name"])[:200]
    if "query_id" in entry and not isinstance(entry["query_id"], str):
        entry["query_id"] = str(entry["query_id"])[:200]
    return entry


def _micros(value: Any) -> Any:
    """Unix µs from µs, ms or s (int, float or numeric string); other values as they were."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return value
    if isinstance(value, float):
        if value != value or abs(value) > 1e18:
            return value
    elif not isinstance(value, int):
        return value
    magnitude = abs(value)
    scale = 1_000_000 if magnitude < 1e11 else 1_000 if magnitude < 1e14 else 1
    return int(value * scale)


#: the most points one call may cost or refund (about $30,000): a bigger figure is a server's bug
MAX_COST = 10**9


def _plausible(value: Any) -> bool:
    """False for a number no call costs: beyond :data:`MAX_COST` either way, NaN or infinite
    (a value that is not a number at all is left to the readers, which count it as 0)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return True
    return value == value and abs(value) <= MAX_COST


def _whole(value: Any) -> Any:
    """An int from an int, a finite float or a numeric string; other values as they were."""
    if isinstance(value, bool) or isinstance(value, int):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return value
    return int(number) if number == number and abs(number) < 1e15 else value


def _bad_entries() -> E.ServerError:
    return E.ServerError(f"unexpected points history from the server: pages need data/has_more and entries "
                         f"need {', '.join(REQUIRED)}")


def _walk(after: str | None, stop: _Stop, progress: PagingProgress) -> tuple[list[dict[str, Any]], bool]:
    """Read pages from ``after`` (None: the newest) downwards; return (entries, reached_end).
    A server that pages forever (the same cursor again, a page with nothing new, more pages
    than the 30-day window can hold) is stopped with one line."""
    entries: list[dict[str, Any]] = []
    counted = 0
    cursors: set[str | None] = {after}
    seen: set[Any] = set()
    for _ in range(MAX_PAGES):
        data, has_more = history_page(after, on_wait=progress.wait)
        fresh = {e.get("query_id") for e in data if isinstance(e, dict)} - seen
        if data and not fresh:
            raise _endless("a page with nothing new")
        seen |= fresh
        if stop.known:
            for i, entry in enumerate(data):
                if entry["query_id"] in stop.known:
                    entries += data[:i]
                    return entries, False
        entries += data
        progress.page(len(data), data[-1]["creation_time"] if data else None)
        if not has_more or not data:
            return entries, True
        if stop.since is not None and data[-1]["creation_time"] < stop.since:
            return entries, False
        if stop.want is not None:
            counted += sum(1 for e in data if _inside(e["creation_time"], stop.since, stop.until))
            if counted >= stop.want:
                return entries, False
        after = data[-1]["query_id"]
        if after in cursors:
            raise _endless(f"the cursor {str(after)[:40]!r} again")
        cursors.add(after)
    raise _endless(f"more than {MAX_PAGES:,} pages")


def _endless(why: str) -> E.ServerError:
    return E.ServerError(f"the points history kept paging ({why}): the server repeats itself; stopped",
                         hint="check POE_BASE_URL", retryable=False)


def _inside(t: int, since: int | None, until: int | None) -> bool:
    return (since is None or t >= since) and (until is None or t < until)


def _refresh(snapshot: Snapshot, since: int | None, until: int | None,
             max_entries: int | None, progress: PagingProgress) -> bool:
    """Bring ``snapshot`` up to date and far enough back; True when it changed. All pages are
    read before anything is merged, so a failure leaves the snapshot as it was."""
    newer: list[dict[str, Any]] = []
    older: list[dict[str, Any]] = []
    reached_end = False
    if not len(snapshot):
        newer, reached_end = _walk(None, _Stop(since=since, until=until, want=max_entries), progress)
    else:
        # Read down to the first cached entries older than the recent window: one request
        # unless more than a page is new. Entries of the window are read again, so a cost
        # first listed as a provisional 0 (or an entry listed late) is brought up to date.
        known, bound = _recent_boundary(snapshot)
        newer, _ = _walk(None, _Stop(known=known, since=bound), progress)
        have = sum(1 for e in newer if _inside(e["creation_time"], since, until))
        missing = _still_missing(snapshot, since, until, max_entries, have)
        if missing is not None:
            oldest_id, _ = snapshot.oldest  # type: ignore[misc]
            older, reached_end = _walk(oldest_id, _Stop(since=since, until=until, want=missing or None), progress)
    try:
        changed = bool(snapshot.refresh(newer) + snapshot.add(newer, newer=True) + snapshot.add(older, newer=False))
    except (KeyError, TypeError, AttributeError):
        raise _bad_entries() from None
    if reached_end and not snapshot.complete:
        snapshot.complete = changed = True
    return changed


def _recent_boundary(snapshot: Snapshot) -> tuple[frozenset[str], int]:
    """(ids of the newest cached entries older than the recent window, a time bound): the
    walk stops at the first of them, or once a page reaches entries older than the bound."""
    times, ids = snapshot.columns["creation_time"], snapshot.columns["query_id"]
    window_start = int(time.time() * 1_000_000) - RECENT_WINDOW_US
    known: list[str] = []
    for i, created in enumerate(times):
        if created < window_start:
            known.append(ids[i])
            if len(known) >= 5:  # a few: one of them vanishing from the server does not matter
                break
    if not known:  # everything cached is recent: stop at the oldest cached entry
        known = [ids[-1]]
    return frozenset(known), min(window_start, times[-1])


def _still_missing(snapshot: Snapshot, since: int | None, until: int | None,
                   max_entries: int | None, have: int) -> int | None:
    """None when the cached run already covers the request; else how many more entries are
    wanted (0: as many as it takes to reach ``since`` or the end)."""
    if snapshot.complete:
        return None
    oldest_time = snapshot.oldest[1]  # type: ignore[index]
    if since is not None and oldest_time < since:
        return None
    if max_entries is None:
        return 0
    have += sum(1 for t in snapshot.columns["creation_time"] if _inside(t, since, until))
    return None if have >= max_entries else max_entries - have


# -- the public function -------------------------------------------------------------
def points_history(since: TimeLike = None, until: TimeLike = None, *, max_entries: int | None = None,
                   refresh: bool = False) -> pd.DataFrame:
    """The account's points history as a DataFrame, newest first.

    Columns: ``creation_time`` (UTC datetime), ``bot_name`` and ``usage_type`` (category),
    ``query_id`` (string, unique), ``cost_points`` (int64), plus any other field the server
    sends. ``since`` (inclusive) and ``until`` (exclusive) take datetimes (naive = UTC), dates,
    ISO strings or a ``timedelta`` back from now; ``max_entries`` keeps the newest N.

    Entries are cached on disk per account: a later call fetches only newer pages (usually
    one request). ``refresh=True`` downloads again and replaces the cache (once the download
    has succeeded: a failed one leaves the old cache as it was).
    """
    since_us, until_us = to_micros(since, "since"), to_micros(until, "until")
    if max_entries is not None:
        check_count("max_entries", max_entries, 1, MAX_ENTRIES)
    cache = HistoryCache(account_id())
    snapshot = Snapshot() if refresh else cache.load()  # a failed rebuild keeps the old file
    now_us = int(time.time() * 1_000_000)
    progress = PagingProgress(start_us=now_us, target_us=since_us)
    try:
        with progress:
            changed = _refresh(snapshot, since_us, until_us, max_entries, progress)
    except KeyboardInterrupt:
        raise E.StreamInterrupted(f"interrupted while reading the points history ({progress.pages} pages); "
                                  "nothing new was cached") from None
    except E.PoeMagicError as error:
        if progress.pages:  # say how far it got, and that the cache is as it was
            error.amend(f"after {progress.pages} pages, nothing new was cached")
        raise
    if changed:
        cache.save(snapshot)
    return select(snapshot, since_us, until_us, max_entries)


class _FrameMemo:
    """The history DataFrame made last (a session state), rebuilt when the cache changed."""

    def __init__(self) -> None:
        self.memo: dict[str, Any] = {"snapshot": None, "version": -1, "frame": None}


def select(snapshot: Snapshot, since: int | None, until: int | None, max_entries: int | None) -> pd.DataFrame:
    """The cached entries in [since, until), newest first, at most ``max_entries``."""
    memo = current().state(_FrameMemo).memo
    if memo["snapshot"] is not snapshot or memo["version"] != snapshot.version:
        memo.update(snapshot=snapshot, version=snapshot.version, frame=to_frame(snapshot.columns))
    frame = memo["frame"]
    if since is not None or until is not None:
        micros = frame["creation_time"].array.asi8  # µs: to_frame makes the unit "us"
        keep = micros >= (since if since is not None else micros.min())
        if until is not None:
            keep &= micros < until
        frame = frame[keep]
    if max_entries is not None:
        frame = frame.iloc[:max_entries]
    return frame.reset_index(drop=True)  # a new frame: callers may change it freely


def to_frame(columns: dict[str, list[Any]]) -> pd.DataFrame:
    """Columns of raw entries -> the typed DataFrame, sorted newest first (stable)."""
    import numpy as np
    import pandas as pd

    try:
        micros = np.asarray(columns["creation_time"], dtype="int64")
        flags = columns.get("cost_flag") or [None] * len(columns["cost_points"])
        cost = np.asarray([0 if c is None and f else c for c, f in zip(columns["cost_points"], flags)],
                          dtype="int64")  # an implausible cost counts 0 here (its cost_flag says why)
    except (TypeError, ValueError, OverflowError):
        raise E.ServerError("the points history has non-integer creation_time or cost_points values") from None
    data: dict[str, Any] = {
        "creation_time": pd.to_datetime(micros, unit="us", utc=True).as_unit("us"),
        "bot_name": pd.Categorical(columns["bot_name"]),
        "query_id": pd.array(columns["query_id"], dtype="string"),
        "usage_type": pd.Categorical(columns["usage_type"]),
        "cost_points": cost,
    }
    for name, values in columns.items():
        if name not in data:
            data[name] = values
    frame = pd.DataFrame(data)
    if len(micros) > 1 and not bool((np.diff(micros) <= 0).all()):
        frame = frame.iloc[np.argsort(-micros, kind="stable")].reset_index(drop=True)
    return frame


def to_micros(value: TimeLike, name: str = "time") -> int | None:
    """A time bound as Unix microseconds (UTC); naive datetimes count as UTC."""
    if value is None:
        return None
    if isinstance(value, timedelta):
        value = datetime.now(timezone.utc) - value
    elif isinstance(value, str):
        import pandas as pd

        try:
            value = pd.Timestamp(value).to_pydatetime()
        except ValueError:
            raise E.PoeUsageError(f"{name}={value!r} is not a date or time (try '2025-01-31' or "
                                  "'2025-01-31 14:00')") from None
    elif isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
    if not isinstance(value, datetime):
        raise E.PoeUsageError(f"{name} must be a datetime, a date, an ISO string or a timedelta, "
                              f"got {type(value).__name__}")
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return int(value.timestamp() * 1_000_000)


def spending_summary(frame: pd.DataFrame, by: str = "bot") -> pd.DataFrame:
    """Points, calls, mean and max per call, grouped ``by`` "bot", "day" or "type", largest
    spend first, with a final "total" row."""
    import pandas as pd

    keys = {"bot": frame["bot_name"].astype(str), "type": frame["usage_type"].astype(str),
            "day": frame["creation_time"].dt.strftime("%Y-%m-%d")}
    if by not in keys:
        raise E.PoeUsageError(f"by must be one of {', '.join(keys)}, got {by!r}")
    points = frame["cost_points"]
    grouped = points.groupby(keys[by].rename(by), sort=False)
    table = pd.DataFrame({"points": grouped.sum(), "calls": grouped.size(),
                          "mean per call": grouped.mean().round(1), "max per call": grouped.max()})
    table = table.sort_index(ascending=False) if by == "day" else table.sort_values("points", ascending=False)
    total = pd.DataFrame({"points": [int(points.sum())], "calls": [len(frame)],
                          "mean per call": [round(float(points.mean()), 1) if len(frame) else 0.0],
                          "max per call": [int(points.max()) if len(frame) else 0]}, index=pd.Index(["total"], name=by))
    return pd.concat([table, total])
