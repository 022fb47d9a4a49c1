"""``poe_magic.notebook_costs``: what a saved notebook cost to produce, read from its outputs.

Every answer output carries ``metadata["poe_magic"]`` (:meth:`Reply.output_metadata`; a
comparison one entry per model, :meth:`Comparison.output_metadata`). This reads them back from
the ``.ipynb`` file alone: no server, no key.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from poe_magic.base import errors as E
from poe_magic.core.reply import PROMPT_DIGITS

if TYPE_CHECKING:
    import pandas as pd

MAX_BYTES = 512 * 1024 * 1024  # a notebook larger than this is not read whole into memory
COLUMNS = {"cell": "Int64", "execution_count": "Int64", "model": "string", "points": "Int64", "time": "string",
           "elapsed": "Float64", "time_to_first_token": "Float64", "status": "string", "cached": "boolean",
           "comparison": "string", "prompt_sha256": "string", "version": "string"}


def notebook_costs(path: str | Path, *, use_log: bool = True) -> pd.DataFrame:
    """One row per answer in the saved notebook at ``path``: ``cell`` (1-based, counting every
    cell), ``execution_count``, ``model``, ``points`` (<NA> when the cost was not known when
    the notebook was saved), ``time``, ``elapsed``, ``status``, ``comparison`` (its id for a
    comparison's answers), ``points_from`` (``notebook``, or ``call log``), ...
    ``frame["points"].sum()`` is what the notebook cost.

    A cost that arrived after the notebook was saved (a headless run ends before the history
    lists it) is taken from this machine's call log when ``use_log`` and the log has that call
    (same model, prompt SHA-256 and start time)."""
    import pandas as pd

    file = Path(path)
    if not file.is_file():
        raise E.PoeUsageError(f"notebook_costs(): no notebook at {str(path)!r}")
    if file.stat().st_size > MAX_BYTES:
        raise E.PoeUsageError(f"notebook_costs(): {file.name} is larger than {MAX_BYTES // 2**20} MB")
    try:
        notebook = json.loads(file.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise E.PoeUsageError(f"notebook_costs(): {file.name} is not a notebook (.ipynb JSON): {exc}") from None
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    if not isinstance(cells, list):
        raise E.PoeUsageError(f"notebook_costs(): {file.name} has no cells list; is it an .ipynb file?")
    rows: list[dict[str, Any]] = []
    for number, cell in enumerate(cells, 1):
        if not isinstance(cell, dict):
            continue
        for output in cell.get("outputs") or []:
            meta = (output.get("metadata") or {}).get("poe_magic") if isinstance(output, dict) else None
            if isinstance(meta, dict):
                rows.extend(_rows(meta, number, cell.get("execution_count")))
    for row in rows:
        row["points_from"] = "notebook" if row["points"] is not None else None
    if use_log:
        _fill_from_log(rows)
    frame = pd.DataFrame(rows, columns=[*COLUMNS, "points_from"])
    frame["points_from"] = frame["points_from"].astype("string")
    for name, dtype in COLUMNS.items():
        frame[name] = _typed(frame[name], dtype)
    return frame


def _rows(meta: dict[str, Any], cell: int, count: Any) -> list[dict[str, Any]]:
    if meta.get("comparison") and isinstance(meta.get("models"), dict):
        return [_row(entry, cell, count, str(meta.get("id") or "")) for entry in meta["models"].values()
                if isinstance(entry, dict)]
    if "model" in meta:
        return [_row(meta, cell, count, None)]
    return []


def _row(entry: dict[str, Any], cell: int, count: Any, comparison: str | None) -> dict[str, Any]:
    return {"cell": cell, "execution_count": count if isinstance(count, int) else None,
            "model": _text(entry.get("model")), "points": _number(entry.get("points"), int),
            "time": _text(entry.get("time")), "elapsed": _number(entry.get("elapsed"), float),
            "time_to_first_token": _number(entry.get("time_to_first_token"), float), "status": _text(entry.get("status")),
            "cached": _flag(entry.get("cached", False)),  # left out when False (Reply.output_metadata)
            "comparison": comparison, "prompt_sha256": _text(entry.get("prompt_sha256")),
            "version": _text(entry.get("version"))}


def _flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _text(value: Any) -> str | None:
    return value[:500] if isinstance(value, str) else None


def _number(value: Any, kind: type) -> Any:
    """A number from the file, or None (untrusted: strings, nan, bools and huge values are dropped)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if value != value or abs(value) > 1e15:
        return None
    return kind(value)


def _typed(values: Any, dtype: str) -> Any:
    import pandas as pd

    return pd.Series(list(values), dtype=dtype, index=values.index)


def _fill_from_log(rows: list[dict[str, Any]]) -> None:
    """Points the notebook did not hold, from the call log (matched by model, start time
    within 2 s and the prompt's SHA-256)."""
    import hashlib
    import sqlite3
    from datetime import datetime

    from poe_magic.spending import calllog

    missing = [r for r in rows if r["points"] is None and r["model"] and r["time"] and r["prompt_sha256"]]
    file = calllog.path()
    if not missing or not file.exists():
        return
    calllog.flush()
    db = sqlite3.connect(calllog.read_only_uri(file), uri=True, timeout=calllog.BUSY_TIMEOUT)
    try:
        for row in missing:
            try:
                ts = datetime.fromisoformat(row["time"]).timestamp()
            except ValueError:
                continue
            for prompt, points in db.execute("SELECT prompt, points FROM calls WHERE model = ? AND ts BETWEEN ? AND ? "
                                             "AND points IS NOT NULL", (row["model"], ts - 2, ts + 2)):
                digest = hashlib.sha256(str(prompt).encode("utf-8", "surrogatepass")).hexdigest()
                if len(row["prompt_sha256"]) >= PROMPT_DIGITS and digest.startswith(row["prompt_sha256"]):
                    row["points"], row["points_from"] = _number(points, int), "call log"
                    break
    except sqlite3.Error:  # an unreadable log: the notebook's own figures stand
        return
    finally:
        db.close()
