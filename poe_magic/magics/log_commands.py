"""``%poe log [TEXT] [--model M] [--days N] [--limit N]``: the call log, readably."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from poe_magic.base import errors as E
from poe_magic.magics.parsing import LineParser
from poe_magic.spending.calllog_view import log

WIDTH = 80  # characters of prompt and answer shown


def _parser() -> LineParser:
    parser = LineParser(prog="%poe log", add_help=False)
    parser.add_argument("text", nargs="*", help="words to find in prompts and answers")
    parser.add_argument("--model", metavar="M", help="only this model")
    parser.add_argument("--days", type=float, metavar="N", help="only the last N days")
    parser.add_argument("--limit", type=int, default=50, metavar="N", help="at most N calls (default 50)")
    return parser


def _short(value: Any) -> str:
    text = "" if value is None or value is _na() else " ".join(str(value).split())
    return text if len(text) <= WIDTH else text[:WIDTH - 1] + "…"


def _na() -> Any:
    import pandas as pd

    return pd.NA


def log_command(magics: Any, arg: str) -> Any:
    """The newest logged calls (all kernels) matching the words, as a table; the full rows are
    ``poe_magic.log(...)``, a call again ``poe_magic.log_reply(id)``."""
    args = _parser().parse_line(arg)
    if args.days is not None and (not math.isfinite(args.days) or not 0 < args.days <= 36_500):
        raise E.PoeUsageError(f"%poe log: --days must be a number of days from 0 to 36,500, got {args.days:g}")
    since = timedelta(days=args.days) if args.days is not None else None
    frame = log(" ".join(args.text) or None, model=args.model, since=since, limit=args.limit)
    if frame.empty:
        print("No logged calls match." if arg.strip() else "The call log is empty.")
        return None
    shown = frame[["time", "kind", "model", "prompt", "answer", "status", "points", "elapsed", "id"]].copy()
    shown["time"] = shown["time"].dt.tz_convert(None).dt.strftime("%Y-%m-%d %H:%M:%S")
    for column in ("prompt", "answer"):
        shown[column] = [_short(v) for v in shown[column]]
    shown["id"] = [str(v)[:12] for v in shown["id"]]
    return shown.reset_index(drop=True)
