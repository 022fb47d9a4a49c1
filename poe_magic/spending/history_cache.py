"""On-disk cache of an account's points history, so a second look costs one request.

One JSON file per account under ``settings.home/cache/points_history/``, named by a hash of
the server root and the API key (the key itself is never written). The file holds the entries
as columns (faster to write and read than a list of dicts: ~40 ms each way for 100,000
entries), newest first, in the server's order: a contiguous run of the server's history with
no gaps, from the newest entry seen down to the oldest one fetched. ``complete`` says the run
reaches the end of what the server had.

Files are replaced atomically (write a temporary file, then rename), so a crash leaves the old
cache, never half of a new one. A file that cannot be read is reported in one line and
rebuilt; the call that found it still succeeds. This module imports no pandas.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any

from poe_magic.base import notices
from poe_magic.base.config import Settings
from poe_magic.base.config import settings as default_settings
from poe_magic.base.files import write_json_atomic

FORMAT = 1
#: the fields every entry has; anything else the server sends is kept as an extra column
REQUIRED = ("creation_time", "bot_name", "query_id", "usage_type", "cost_points")


def account_id(settings: Settings = default_settings) -> str:
    """A stable name for (server, key) that does not reveal the key."""
    digest = hashlib.sha256(f"{settings.root}\n{settings.api_key()}".encode()).hexdigest()
    return digest[:24]


@dataclass
class Snapshot:
    """A gap-free run of the history, newest first, stored as columns."""

    columns: dict[str, list[Any]] = field(default_factory=lambda: {name: [] for name in REQUIRED})
    complete: bool = False  # the run reaches the oldest entry the server had
    saved_at: float = 0.0
    _ids: set[str] | None = field(default=None, repr=False)
    version: int = 0  # bumped on every change (lets callers memoise what they derive)

    def __len__(self) -> int:
        return len(self.columns["query_id"])

    @property
    def ids(self) -> set[str]:
        if self._ids is None:
            self._ids = set(self.columns["query_id"])
        return self._ids

    @property
    def newest(self) -> tuple[str, int] | None:
        """(query_id, creation_time) of the newest entry, or None when empty."""
        return (self.columns["query_id"][0], self.columns["creation_time"][0]) if len(self) else None

    @property
    def oldest(self) -> tuple[str, int] | None:
        return (self.columns["query_id"][-1], self.columns["creation_time"][-1]) if len(self) else None

    def add(self, entries: list[dict[str, Any]], *, newer: bool) -> int:
        """Put ``entries`` (newest first, as the server sends them) above (``newer``) or
        below the run, skipping ids already present; returns how many were new. Raises
        KeyError/TypeError (nothing changed) when an entry lacks a required field."""
        if not entries:
            return 0
        ids = self.ids
        incoming = list(map(itemgetter("query_id"), entries))  # map/itemgetter: C speed on 100k entries
        new_ids = set(incoming)
        if len(new_ids) == len(incoming) and ids.isdisjoint(new_ids):
            fresh = entries
        else:
            fresh, new_ids = [], set()
            for query_id, entry in zip(incoming, entries):
                if query_id not in ids and query_id not in new_ids:
                    new_ids.add(query_id)
                    fresh.append(entry)
            if not fresh:
                return 0
        size = len(self)
        extra = sorted(set().union(*fresh) - set(self.columns))
        added = {name: list(map(itemgetter(name), fresh)) for name in REQUIRED}
        added.update({name: [e.get(name) for e in fresh]
                      for name in list(self.columns) + extra if name not in added})
        for name, new in added.items():
            old = self.columns.get(name)
            if not size:
                self.columns[name] = new
                continue
            if old is None:
                old = [None] * size
            self.columns[name] = new + old if newer else old + new
        ids.update(new_ids)
        self.version += 1
        return len(fresh)


    def refresh(self, entries: list[dict[str, Any]]) -> int:
        """Take the values ``entries`` now show for ids already in the run (a provisional 0
        replaced by the final cost, fields added later); returns how many entries changed."""
        if not entries or not len(self):
            return 0
        wanted = {e["query_id"]: e for e in entries if e.get("query_id") in self.ids}
        if not wanted:
            return 0
        changed = 0
        for i, query_id in enumerate(self.columns["query_id"]):
            entry = wanted.pop(query_id, None)
            if entry is not None:
                changed += self._set_row(i, entry)
            if not wanted:
                break
        if changed:
            self.version += 1
        return changed

    def _set_row(self, i: int, entry: dict[str, Any]) -> int:
        differs = False
        for name, value in entry.items():
            column = self.columns.get(name)
            if column is None:
                column = self.columns[name] = [None] * len(self)
            if column[i] != value:
                column[i] = value
                differs = True
        return int(differs)


Reporter = Callable[[str], None]


def report_to_stderr(message: str) -> None:
    notices.warn(f"poe_magic: {message}")


class HistoryCache:
    """The cache file of one account, with an in-process copy so repeated calls in one
    kernel do not re-read the file."""

    _memo: dict[Path, tuple[tuple[int, int], Snapshot]] = {}

    def __init__(self, account: str, *, home: Path | None = None, report: Reporter = report_to_stderr) -> None:
        base = home if home is not None else default_settings.home
        self.path = Path(base) / "cache" / "points_history" / f"{account}.json"
        self.report = report

    @property
    def shown(self) -> str:
        """The path as shown to people: ``~/...`` for the home folder."""
        home = str(Path.home())
        text = str(self.path)
        return "~" + text[len(home):] if home != "/" and text.startswith(home + os.sep) else text

    def _stamp(self) -> tuple[int, int] | None:
        try:
            stat = self.path.stat()
        except OSError:
            return None
        return (stat.st_mtime_ns, stat.st_size)

    def load(self) -> Snapshot:
        """The cached run, or an empty one (missing file; corrupt file: reported once)."""
        stamp = self._stamp()
        if stamp is None:
            return Snapshot()
        memo = self._memo.get(self.path)
        if memo is not None and memo[0] == stamp:
            return memo[1]
        try:
            snapshot = _parse(self.path.read_bytes())
        except (OSError, ValueError, TypeError, KeyError) as exc:
            reason = str(exc).split("\n")[0][:120] or type(exc).__name__
            self.report(f"the points-history cache {self.shown} is unreadable ({reason}); rebuilding it")
            self.discard()
            return Snapshot()
        self._memo[self.path] = (stamp, snapshot)
        return snapshot

    def save(self, snapshot: Snapshot) -> bool:
        """Write the run atomically; a failure (disk full, read-only home) is reported, not raised."""
        snapshot.saved_at = time.time()
        body = {"format": FORMAT, "complete": snapshot.complete, "saved_at": snapshot.saved_at,
                "count": len(snapshot), "columns": snapshot.columns}
        try:
            write_json_atomic(self.path, body, separators=(",", ":"))
        except OSError as exc:
            self.report(f"could not save the points-history cache to {self.shown} ({exc.strerror or exc})")
            return False
        stamp = self._stamp()
        if stamp is not None:
            self._memo[self.path] = (stamp, snapshot)
        return True

    def discard(self) -> None:
        """Forget the cache (file and in-process copy)."""
        self._memo.pop(self.path, None)
        try:
            self.path.unlink()
        except OSError:
            pass


def _parse(raw: bytes) -> Snapshot:
    """A Snapshot from the file's bytes; ValueError/TypeError/KeyError when it is not one."""
    body = json.loads(raw)
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise ValueError(f"not a format-{FORMAT} history cache")
    columns = body["columns"]
    if not isinstance(columns, dict) or any(name not in columns for name in REQUIRED):
        raise ValueError("missing columns")
    sizes = {len(values) for values in columns.values()}
    if len(sizes) != 1 or sizes != {body["count"]}:
        raise ValueError("columns of different lengths")
    ids = columns["query_id"]
    if len(set(ids)) != len(ids) or not all(isinstance(t, int) for t in columns["creation_time"]):
        raise ValueError("duplicate ids or bad times")
    snapshot = Snapshot(columns=columns, complete=bool(body["complete"]), saved_at=float(body["saved_at"]))
    return snapshot

