"""The batch journal: every finished answer on disk, so a batch never has to ask twice.

One SQLite file per account under ``settings.home`` (``batch/ACCOUNT/journal.sqlite3``, 0600). Each successful
answer is committed the moment it arrives, keyed by a hash of what was asked: server,
model, the messages (system prompt and prompt text), temperature, stop sequences and
parameters. Re-running the same batch after Ctrl-C, a kernel restart or a partial failure
finds the answers it already has and sends only the missing requests. Failed and
interrupted requests are not journaled, so they are sent again.

The API key is never part of a key or a row. WAL mode keeps every committed answer
through a crash; a second kernel can read and write the same journal at the same time.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from poe_magic.base.config import settings
from poe_magic.base.files import private_dir, warn_storage
from poe_magic.base.secrets import mask_pieces
from poe_magic.wire.request import PoeRequest

SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    prompt TEXT NOT NULL,
    answer TEXT NOT NULL,
    time_to_first_token REAL,
    elapsed REAL,
    points INTEGER,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS answers_by_model ON answers (model, created);
"""


def request_key(request: PoeRequest, root: str) -> str:
    """A stable digest of everything that shapes the answer (never the API key)."""
    what = {
        "root": root,
        "model": request.model,
        "messages": [[m.role, m.content] for m in request.messages],
        "temperature": request.temperature,
        "stop": list(request.stop),
        "params": request.params,
    }
    text = json.dumps(what, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class StoredAnswer:
    """One journaled answer."""

    key: str
    model: str
    prompt: str
    answer: str
    time_to_first_token: float | None
    elapsed: float | None
    points: int | None
    created: float


class BatchStore:
    """The journal file; safe to use from several threads (one connection, one lock)."""

    def __init__(self, path: Path | None = None) -> None:
        # one journal per account (a hash of server and key): answers are never shared between keys
        self.path = Path(path) if path is not None else settings.home / "batch" / settings.account() / "journal.sqlite3"
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self.recovered_from: Path | None = None  # a corrupt journal moved aside, if any

    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            private_dir(self.path.parent)  # 0700: the journal holds prompts and answers
            try:
                self._db = self._open()
            except sqlite3.DatabaseError:
                # Not a database (a truncated copy, another file): keep it for inspection, start anew.
                self.recovered_from = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
                self.path.replace(self.recovered_from)
                self._db = self._open()
        return self._db

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
        try:
            os.chmod(self.path, 0o600)  # SQLite gives its -wal/-shm files the same mode
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across process crashes
            db.executescript(SCHEMA)
        except (sqlite3.DatabaseError, OSError):
            db.close()
            raise
        return db

    def get_many(self, keys: Iterable[str]) -> dict[str, StoredAnswer]:
        """The journaled answers among ``keys``."""
        wanted = list(dict.fromkeys(keys))
        found: dict[str, StoredAnswer] = {}
        try:
            with self._lock:
                db = self._connect()
                for start in range(0, len(wanted), 500):  # SQLite caps the number of ? per statement
                    chunk = wanted[start:start + 500]
                    marks = ",".join("?" * len(chunk))
                    for row in db.execute(f"SELECT * FROM answers WHERE key IN ({marks})", chunk):
                        found[row[0]] = StoredAnswer(*row)
        except (OSError, sqlite3.Error) as exc:  # an unusable journal: every request is sent
            warn_storage("the batch journal", exc)
        return found

    def put(self, answer: StoredAnswer) -> None:
        """Journal one answer (committed before returning). A journal that cannot be written
        (disk full, read-only home) is said once on stderr; the answer stays in the result."""
        try:
            with self._lock:
                self._connect().execute(
                    "INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (answer.key, answer.model, answer.prompt, answer.answer, answer.time_to_first_token,
                     answer.elapsed, answer.points, answer.created),
                )
        except (OSError, sqlite3.Error) as exc:
            warn_storage("the batch journal", exc)

    def set_points(self, points: Iterable[tuple[str, int]]) -> None:
        """Fill in the points of journaled answers (a batch looks its costs up after storing them)."""
        rows = [(value, key) for key, value in points]
        if rows:
            try:
                with self._lock:
                    self._connect().executemany("UPDATE answers SET points = ? WHERE key = ?", rows)
            except (OSError, sqlite3.Error) as exc:
                warn_storage("the batch journal", exc)

    def recent_points(self, model: str, limit: int = 50) -> list[int]:
        """Points of this model's latest journaled answers (newest first), where known."""
        try:
            with self._lock:
                rows = self._connect().execute(
                    "SELECT points FROM answers WHERE model = ? AND points IS NOT NULL "
                    "ORDER BY created DESC LIMIT ?", (model, limit)).fetchall()
        except (OSError, sqlite3.Error) as exc:  # no journal: no history-based estimate
            warn_storage("the batch journal", exc)
            return []
        return [int(r[0]) for r in rows if isinstance(r[0], int)]

    def forget(self, keys: Iterable[str] | None = None) -> int:
        """Delete the given answers (all of them when ``keys`` is None); returns how many."""
        with self._lock:
            db = self._connect()
            if keys is None:
                return db.execute("DELETE FROM answers").rowcount
            wanted = list(keys)
            deleted = 0
            for start in range(0, len(wanted), 500):
                chunk = wanted[start:start + 500]
                deleted += db.execute(f"DELETE FROM answers WHERE key IN ({','.join('?' * len(chunk))})",
                                      chunk).rowcount
            return deleted

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def __repr__(self) -> str:
        return f"<BatchStore {self.path}>"


def stored_from(key: str, reply: Any) -> StoredAnswer:
    """The journal row of a finished, successful Reply."""
    return StoredAnswer(key=key, model=reply.model, prompt=mask_pieces(reply.prompt), answer=mask_pieces(reply.text),
                        time_to_first_token=reply.time_to_first_token, elapsed=reply.elapsed,
                        points=reply.points, created=time.time())
