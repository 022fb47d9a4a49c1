"""The call log: every call written to ``$POE_MAGIC_HOME/log.sqlite3``, off the critical path.

:func:`record` is called by the request pipeline for every finished Reply (cells, ``ask``,
``stream``, comparisons, the chat panel, batches, grading); it only puts a row on a queue. One
writer thread per log file writes the queue in batches (one transaction each), so a cell does
not wait for the disk. A cost found later updates the row (:meth:`Reply.watch_points`).

The file is SQLite in WAL mode with a busy timeout: several kernels write to it at once. Texts
pass through :func:`~poe_magic.base.secrets.scrub` before they are written: never the key.
Prompts and answers are indexed with FTS5 for :func:`poe_magic.log`'s ``search``.
``settings.log = False`` turns it off; ``settings.log_max_mb`` prunes the oldest rows.
"""

from __future__ import annotations

import atexit
import contextvars
import json
import os
import queue
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from poe_magic.base.config import Settings
from poe_magic.base.config import settings as default_settings
from poe_magic.base.files import private_dir, warn_storage
from poe_magic.base.secrets import scrub
from poe_magic.core.reply import Reply

FILE_NAME = "log.sqlite3"
PRUNE_EVERY = 500  # inserts between size checks
BUSY_TIMEOUT = 30.0  # seconds a writer waits for another kernel's transaction
CACHE_KB = 128  # the writer's SQLite page cache

COLUMNS = ["id", "time", "ts", "kind", "model", "prompt", "system", "params", "attachments", "answer", "data",
           "status", "error", "time_to_first_token", "elapsed", "points", "thread", "grp", "notebook", "cached",
           "retries", "usage"]
#: columns added after the first release: an older log gets them on its next write (ALTER TABLE)
_ADDED = {"usage": "TEXT"}
_SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (id TEXT PRIMARY KEY, time TEXT, ts REAL, kind TEXT, model TEXT, prompt TEXT,
  system TEXT, params TEXT, attachments TEXT, answer TEXT, data TEXT, status TEXT, error TEXT,
  time_to_first_token REAL, elapsed REAL, points INTEGER, thread TEXT, grp TEXT, notebook TEXT, cached INTEGER,
  retries INTEGER, usage TEXT);
CREATE INDEX IF NOT EXISTS calls_ts ON calls(ts);
CREATE INDEX IF NOT EXISTS calls_model ON calls(model, ts);
{fts}
"""
_FTS = """
CREATE VIRTUAL TABLE IF NOT EXISTS calls_fts USING fts5(prompt, answer, content='calls', content_rowid='rowid');
CREATE TRIGGER IF NOT EXISTS calls_ai AFTER INSERT ON calls BEGIN
  INSERT INTO calls_fts(rowid, prompt, answer) VALUES (new.rowid, new.prompt, new.answer); END;
CREATE TRIGGER IF NOT EXISTS calls_ad AFTER DELETE ON calls BEGIN
  INSERT INTO calls_fts(calls_fts, rowid, prompt, answer) VALUES ('delete', old.rowid, old.prompt, old.answer); END;
"""

#: (kind, group id) of the calls made in this context: cell, ask, compare, chat, batch, grade
_context: contextvars.ContextVar[tuple[str, str]] = contextvars.ContextVar("poe_magic_log_context", default=("ask", ""))
#: worker threads (which do not inherit the context) by name prefix: (kind, group id)
_thread_context: dict[str, tuple[str, str]] = {"poe_magic-chat": ("chat", "")}


@contextmanager
def context(kind: str, group: str = "") -> Iterator[None]:
    """Calls made inside this block are logged as ``kind`` (and ``group``: a comparison or batch id)."""
    token = _context.set((kind, group))
    try:
        yield
    finally:
        _context.reset(token)


def set_thread_context(prefix: str, kind: str, group: str = "") -> None:
    """Calls finished on threads named ``prefix...`` (a batch's helper) are logged as ``kind``."""
    _thread_context[prefix] = (kind, group)


def new_group() -> str:
    return uuid.uuid4().hex[:12]


def _where_called() -> tuple[str, str]:
    name = threading.current_thread().name
    for prefix, found in _thread_context.items():
        if name.startswith(prefix):
            return found
    return _context.get()


def path(settings: Settings = default_settings) -> Path:
    return settings.home / FILE_NAME


def record(reply: Reply, request: Any = None, settings: Settings = default_settings) -> str | None:
    """Queue ``reply`` for the log (returns its row id); its cost updates the row when known."""
    if not settings.log:
        return None
    kind, group = _where_called()
    row_id = uuid.uuid4().hex
    files: list[dict[str, Any]] = []
    params = dict(reply.params)  # the bot's parameters, and the request's own when known
    if getattr(request, "temperature", None) is not None:
        params["temperature"] = request.temperature
    if getattr(request, "stop", None):
        params["stop"] = list(request.stop)
    if request is not None and getattr(request, "messages", None):
        for a in request.messages[-1].attachments:
            files.append({"name": getattr(a, "name", ""), "url_sha256": _sha(getattr(a, "url", ""))})
    row = {
        "id": row_id, "time": reply.started_at.isoformat(timespec="milliseconds"), "ts": reply.started_at.timestamp(),
        "kind": kind, "model": reply.model, "prompt": reply.prompt, "system": reply.system,
        "params": _json(params), "attachments": _json(files) if files else None, "answer": reply.text,
        "data": _json(_plain(reply.data)) if reply.data is not None else None, "status": reply.status,
        "error": None if reply.error is None else f"{type(reply.error).__name__}: {reply.error}",
        "time_to_first_token": reply.time_to_first_token, "elapsed": reply.elapsed, "points": reply.points,
        "thread": reply.thread, "grp": group, "notebook": os.environ.get("JPY_SESSION_NAME", ""),
        "cached": int(reply.cached), "retries": reply.retries,
        "usage": _json(reply.usage) if reply.usage else None,  # tokens, where the protocol reported them
    }
    writer = _writer(path(settings), settings)
    writer.put(("insert", row))
    if reply.points is None:
        reply.watch_points(lambda r: writer.put(("points", row_id, r.points)))
    return row_id


def _sha(text: str) -> str:
    import hashlib

    return hashlib.sha256(str(text).encode("utf-8", "surrogatepass")).hexdigest() if text else ""


def _plain(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    return value


def _json(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)


# -- the writer ---------------------------------------------------------------------------------

class _Writer:
    """One thread writing one log file from a queue, a batch per transaction."""

    def __init__(self, file: Path, settings: Settings) -> None:
        self.file, self.settings = file, settings
        self.queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.pending = 0
        self.idle = threading.Condition()
        self.inserted = 0
        self.errors: list[str] = []
        self.thread = threading.Thread(target=self._run, name="poe_magic-log", daemon=True)
        self.thread.start()

    def put(self, item: Any) -> None:
        with self.idle:
            self.pending += 1
        self.queue.put(item)

    def flush(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        with self.idle:
            while self.pending and time.monotonic() < deadline:
                self.idle.wait(0.05)

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued, then end the thread."""
        self.queue.put(_STOP)
        self.thread.join(timeout)

    def _run(self) -> None:
        db: sqlite3.Connection | None = None
        while True:
            first = self.queue.get()
            if first is _STOP:
                if db is not None:
                    db.close()
                return
            items = [first]
            while len(items) < 1000:
                try:
                    item = self.queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:  # written below, then the thread ends
                    self.queue.put(_STOP)
                    break
                items.append(item)
            try:
                if db is None:
                    db = connect(self.file)
                self._write(db, items)
            except (OSError, sqlite3.Error) as exc:  # the answers are in the notebook; note it, go on
                self._failed(exc)
                db = None
            except Exception as exc:  # noqa: BLE001 - a row SQLite refuses: only that row is lost
                self._failed(exc)
                for item in items if len(items) > 1 else ():
                    try:
                        self._write(db, [item])  # type: ignore[arg-type]  # (connected above)
                    except Exception as one:  # noqa: BLE001 - the thread lives on, whatever the row
                        self._failed(one)
            finally:
                with self.idle:
                    self.pending -= len(items)
                    self.idle.notify_all()

    def _failed(self, exc: BaseException) -> None:
        """Note a failed write: in :func:`write_errors`, and once in one line on stderr when it is
        the log's own (a damaged file, a folder in its place, a row it cannot hold); a home that
        cannot be written at all is said by the caches and the journal, not twice."""
        self.errors.append(f"{type(exc).__name__}: {str(exc)[:200]}")
        if not isinstance(exc, OSError) or isinstance(exc, IsADirectoryError):
            warn_storage(f"the call log {self.file}", exc)

    def _write(self, db: sqlite3.Connection, items: list[Any]) -> None:
        inserts = [tuple(_clean(item[1][c]) for c in COLUMNS) for item in items if item[0] == "insert"]
        updates = [(_clean(item[2]), item[1]) for item in items if item[0] == "points"]
        with db:
            if inserts:
                db.executemany(f"INSERT OR REPLACE INTO calls ({', '.join(COLUMNS)}) "
                               f"VALUES ({', '.join('?' * len(COLUMNS))})", inserts)
            if updates:
                db.executemany("UPDATE calls SET points = ? WHERE id = ?", updates)
        self.inserted += len(inserts)
        if self.inserted >= PRUNE_EVERY:
            self.inserted = 0
            prune(db, self.settings.log_max_mb)


def _clean(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**63:
        return None  # more than SQLite holds (an absurd cost from a server): unknown
    return scrub(value) if isinstance(value, str) else value


_STOP = object()  # queued by close(): the writer ends after what came before it
_writers: dict[Path, _Writer] = {}
_writers_lock = threading.Lock()


def close() -> None:
    """Write what is queued and stop every log writer thread (``%unload_ext``, interpreter
    exit); the next call starts one again."""
    with _writers_lock:
        writers = list(_writers.values())
        _writers.clear()
    for writer in writers:
        writer.close()


def _writer(file: Path, settings: Settings) -> _Writer:
    with _writers_lock:
        found = _writers.get(file)
        if found is None or not found.thread.is_alive():
            found = _writers[file] = _Writer(file, settings)
        return found


def flush(timeout: float = 30.0) -> None:
    """Wait until every queued row is written (reading the log calls this first)."""
    for writer in list(_writers.values()):
        writer.flush(timeout)


atexit.register(flush, 5.0)


def write_errors() -> list[str]:
    """Failures of the log writers so far (a full disk, a locked file, ...)."""
    return [e for w in _writers.values() for e in w.errors]


# -- the file -----------------------------------------------------------------------------------

def connect(file: Path) -> sqlite3.Connection:
    """The log database (made on first use): WAL mode, a busy timeout for other kernels.
    Private like the caches: its folder 0700, the file and its ``-wal``/``-shm`` 0600."""
    private_dir(file.parent)
    os.close(os.open(file, os.O_CREAT | os.O_RDWR, 0o600))  # (SQLite gives -wal/-shm its mode)
    db = sqlite3.connect(str(file), timeout=BUSY_TIMEOUT, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    for extra in ("-wal", "-shm"):
        try:
            os.chmod(file.with_name(file.name + extra), 0o600)
        except OSError:  # not there (yet), or a file system without modes
            pass
    db.execute("PRAGMA synchronous=NORMAL")
    # the writer appends rows and reads nothing back: a small page cache (the default, 2 MB, was
    # filled by the first few hundred calls and kept for the session: issue 26, kernel memory)
    db.execute(f"PRAGMA cache_size=-{CACHE_KB}")
    db.executescript(_SCHEMA.format(fts=_FTS if has_fts5(db) else ""))
    _add_columns(db)
    return db


def _add_columns(db: sqlite3.Connection) -> None:
    """Give a log made by an earlier version the columns added since (its rows read NULL there)."""
    for name, kind in _ADDED.items():
        if name not in table_columns(db):
            try:
                db.execute(f"ALTER TABLE calls ADD COLUMN {name} {kind}")
            except sqlite3.OperationalError as exc:  # another kernel added it just now
                if "duplicate column" not in str(exc):
                    raise


def table_columns(db: sqlite3.Connection) -> set[str]:
    """The columns the log's ``calls`` table has (an older log lacks the ones added since)."""
    return {row[1] for row in db.execute("PRAGMA table_info(calls)")}


def read_only_uri(file: Path) -> str:
    """A ``file:`` URI opening ``file`` read-only; any path works (``#``, ``?`` and ``%`` are
    percent-encoded, not read as the URI's fragment or query)."""
    return file.resolve().as_uri() + "?mode=ro"


def has_fts5(db: sqlite3.Connection) -> bool:
    try:
        found = db.execute("SELECT 1 FROM sqlite_master WHERE name = 'calls_fts'").fetchone()
        if found:
            return True
        db.execute("CREATE VIRTUAL TABLE temp.fts5_probe USING fts5(x)")
        db.execute("DROP TABLE temp.fts5_probe")
        return True
    except sqlite3.Error:
        return False


def prune(db: sqlite3.Connection, max_mb: float) -> int:
    """When the log is larger than ``max_mb``: delete the oldest calls, only as many as bring
    it down to 80% of the limit (the newest are never lost for older ones, the newest call is
    always kept), then make the file really shrink (FTS ``optimize``, ``VACUUM``, WAL
    truncated). A row's share of the file is estimated from its text (the FTS index and the
    pages make the rest), so the size is checked again after each pass. Returns the rows deleted."""
    limit = max_mb * 1_000_000
    deleted = 0
    for _ in range(PRUNE_PASSES):
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the WAL counts too: emptied into the file
        used = _used(db)
        if used <= limit:
            if _pragma(db, "page_count") * _pragma(db, "page_size") > limit:  # free pages (FTS merges leave them)
                db.execute("VACUUM")
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            break
        rows = db.execute("SELECT rowid, 200 + length(coalesce(prompt, '')) + length(coalesce(answer, '')) + "
                          "length(coalesce(system, '')) + length(coalesce(data, '')) + length(coalesce(params, '')) + "
                          "length(coalesce(error, '')) FROM calls ORDER BY ts DESC, rowid DESC").fetchall()
        estimated = sum(size for _, size in rows) or 1
        budget = 0.8 * limit * estimated / used  # in estimated bytes
        kept, cut = 0, len(rows)
        for i, (_, size) in enumerate(rows):
            kept += size
            if kept > budget:
                cut = max(i, 1)  # the newest call stays, whatever its size
                break
        doomed = [(rowid,) for rowid, _ in rows[cut:]]
        if not doomed:
            break
        with db:
            db.executemany("DELETE FROM calls WHERE rowid = ?", doomed)
        if has_fts5(db):
            with db:
                db.execute("INSERT INTO calls_fts(calls_fts) VALUES ('optimize')")  # merged: deleted entries leave
        db.execute("VACUUM")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        deleted += len(doomed)
    return deleted


PRUNE_PASSES = 4  # a pass's estimate is rough; more than two were never needed in the property test


def _pragma(db: sqlite3.Connection, name: str) -> int:
    return int(db.execute(f"PRAGMA {name}").fetchone()[0])


def _used(db: sqlite3.Connection) -> int:
    return (_pragma(db, "page_count") - _pragma(db, "freelist_count")) * _pragma(db, "page_size")
