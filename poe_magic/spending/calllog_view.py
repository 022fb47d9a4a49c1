"""Reading the call log: ``poe_magic.log(...)`` as a DataFrame, ``log_reply(id)`` as a Reply."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from poe_magic.base import errors as E
from poe_magic.base.config import check_count
from poe_magic.base.config import settings as default_settings
from poe_magic.core.reply import Reply
from poe_magic.spending import calllog

if TYPE_CHECKING:
    import pandas as pd

MAX_LIMIT = 10_000_000
SHOWN = ["id", "time", "kind", "model", "prompt", "system", "answer", "data", "status", "error", "points", "elapsed",
         "time_to_first_token", "thread", "group", "notebook", "params", "attachments", "cached", "retries", "usage"]
_DTYPES = {"id": "string", "kind": "string", "model": "string", "prompt": "string", "system": "string",
           "answer": "string", "status": "string", "error": "string", "points": "Int64", "elapsed": "float64",
           "time_to_first_token": "float64", "thread": "string", "group": "string", "notebook": "string",
           "cached": "boolean", "retries": "Int64"}


def _when(value: Any, name: str) -> float | None:
    """A time bound as epoch seconds: a datetime, an ISO string, or a timedelta (that long ago)."""
    if value is None:
        return None
    if isinstance(value, timedelta):
        return (datetime.now(timezone.utc) - value).timestamp()
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise E.PoeUsageError(f"{name} must be a datetime, an ISO date like 2026-12-01 or a timedelta, "
                                  f"got {value!r}") from None
    if hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp()
    raise E.PoeUsageError(f"{name} must be a datetime, an ISO date or a timedelta, got {type(value).__name__}")


def fts_query(search: str) -> str:
    """``search`` as an FTS5 query of plain words (each quoted: no syntax errors, no operators)."""
    words = "".join(ch if ch.isprintable() else " " for ch in search).split()  # a NUL ends SQLite's string
    return " ".join('"' + w.replace('"', '""') + '"' for w in words)


#: scripts written without spaces between words (CJK, kana, hangul): FTS5's unicode61 tokenizer
#: takes a whole run as one word, so a search for part of it finds nothing; LIKE finds it
_UNSPACED = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f]")


@contextmanager
def _reading(file: Path) -> Iterator[sqlite3.Connection]:
    """The log opened read-only; a file that is not a readable SQLite database (a folder,
    random bytes, a locked or damaged file) is one line naming it and what to do."""
    db = None
    try:
        db = sqlite3.connect(calllog.read_only_uri(file), uri=True, timeout=calllog.BUSY_TIMEOUT)
        yield db
    except (sqlite3.DatabaseError, OSError) as exc:
        raise E.ConfigError(f"the call log {file} cannot be read ({exc}); if it is damaged, move it away "
                            "(a new one is made)") from None
    finally:
        if db is not None:
            db.close()


def log(search: str | None = None, *, model: str | None = None, since: Any = None, until: Any = None,
        thread: str | None = None, kind: str | None = None, limit: int = 1000) -> pd.DataFrame:
    """Every call this account made from poe_magic (all kernels), newest first.

    ``search`` finds words in prompts and answers (full-text, SQLite FTS5; every word must
    appear); ``model``, ``thread`` and ``kind`` (cell, ask, compare, chat, batch, grade) filter;
    ``since``/``until`` take a datetime, an ISO date or a timedelta (``since=timedelta(days=1)``).
    Columns: ``id``, ``time``, ``kind``, ``model``, ``prompt``, ``system``, ``answer``, ``data``,
    ``status``, ``error``, ``points``, ``elapsed``, ``time_to_first_token``, ``thread``,
    ``group`` (comparison or batch id), ``notebook``, ``params``, ``attachments``, ``cached``,
    ``retries``, ``usage`` (the tokens as the protocol reported them, a dict, or None).
    """
    import pandas as pd

    check_count("limit", limit, 1, MAX_LIMIT)
    if search is not None and not isinstance(search, str):
        raise E.PoeUsageError(f"search must be text, got {type(search).__name__}")
    calllog.flush()
    where: list[str] = ["1=1"]
    args: list[Any] = []
    file = calllog.path(default_settings)
    if not file.exists():
        return pd.DataFrame(columns=SHOWN).astype({k: v for k, v in _DTYPES.items()})
    with _reading(file) as db:
        if search and fts_query(search):
            if calllog.has_fts5(db) and not _UNSPACED.search(search):
                where.append("rowid IN (SELECT rowid FROM calls_fts WHERE calls_fts MATCH ?)")
                args.append(fts_query(search))
            else:
                for word in fts_query(search).replace('"', " ").split():
                    where.append("(prompt LIKE ? OR answer LIKE ?)")
                    args += [f"%{word}%", f"%{word}%"]
        for column, value in (("model", model), ("thread", thread), ("kind", kind)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(str(value))
        for op, value, name in ((">=", since, "since"), ("<=", until, "until")):
            bound = _when(value, name)
            if bound is not None:
                where.append(f"ts {op} ?")
                args.append(bound)
        present = calllog.table_columns(db)  # (a log written by an earlier version may lack usage)
        stored = ["grp" if c == "group" else c for c in SHOWN]
        columns = [c if c in present else f"NULL AS {c}" for c in stored]
        rows = db.execute(f"SELECT {', '.join(columns)} FROM calls WHERE {' AND '.join(where)} "
                          f"ORDER BY ts DESC LIMIT ?", [*args, limit]).fetchall()
    frame = pd.DataFrame.from_records(rows, columns=SHOWN)
    frame["time"] = pd.to_datetime(frame["time"], utc=True, format="ISO8601")
    for column in ("data", "usage"):
        frame[column] = pd.Series([json.loads(d) if isinstance(d, str) and d else None for d in frame[column]],
                                  dtype="object", index=frame.index)
    return frame.astype(_DTYPES)


def log_reply(id: str) -> Reply:
    """The logged call ``id`` (the ``id`` column of :func:`log`, or its first 8+ characters as
    ``%poe log`` shows them) as a Reply again."""
    if not isinstance(id, str) or not id.strip():
        raise E.PoeUsageError(f"log_reply() takes a call id from poe_magic.log()['id'], got {id!r}")
    calllog.flush()
    file = calllog.path(default_settings)
    row = None
    if file.exists():
        with _reading(file) as db:
            db.row_factory = sqlite3.Row
            wanted = id.strip().lower()
            rows = db.execute("SELECT * FROM calls WHERE id = ? OR (length(?) >= 8 AND substr(id, 1, length(?)) = ?) "
                              "LIMIT 2", (wanted, wanted, wanted, wanted)).fetchall()
            row = rows[0] if len(rows) == 1 else next((r for r in rows if r["id"] == wanted), None)
    if row is None:
        raise E.PoeUsageError(f"no logged call with id {id!r}; see poe_magic.log() for the ids")
    reply = Reply(model=row["model"], prompt=row["prompt"] or "", text=row["answer"] or "",
                  started_at=datetime.fromisoformat(row["time"]), time_to_first_token=row["time_to_first_token"],
                  elapsed=row["elapsed"], points=row["points"], cached=bool(row["cached"]), thread=row["thread"],
                  system=row["system"], params=json.loads(row["params"] or "{}"), retries=row["retries"] or 0,
                  data=json.loads(row["data"]) if row["data"] else None,
                  usage=json.loads(row["usage"]) if "usage" in row.keys() and row["usage"] else None)
    if row["status"] == "interrupted":
        reply.interrupted = True
    elif row["error"]:
        reply.error = E.PoeMagicError(row["error"])
    return reply
