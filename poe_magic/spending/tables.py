"""How the spending tables are shown: thousands separators, units, a total row.

Only the display changes: :func:`poe_magic.session_ledger` and :func:`poe_magic.spending_summary`
return typed frames for computing; ``%poe session`` and ``%poe history`` show them through
this module. Imports pandas: load it lazily (the magics do).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

UNKNOWN = "unknown"  # a cost not in the points history yet


def _count(value: Any) -> str:
    return UNKNOWN if pd.isna(value) else f"{int(value):,}"


def readable_summary(summary: pd.DataFrame) -> pd.DataFrame:
    """:func:`~poe_magic.spending.history.spending_summary`'s table as text: ``40,295`` points, means to
    one decimal; the index (bot, day or type) as it was."""
    return pd.DataFrame({name: [f"{v:,.1f}" if name == "mean per call" else _count(v) for v in column]
                         for name, column in summary.items()}, index=summary.index)


def readable_ledger(frame: pd.DataFrame) -> pd.DataFrame:
    """:func:`~poe_magic.spending.ledger.session_ledger`'s frame as text, with a total row: times to the
    second (``13:31:30``; with the date when the session spans days), ``elapsed (s)`` to two
    decimals like the footers, points and chars with thousands separators."""
    times = frame["time"]
    pattern = "%H:%M:%S" if times.dt.date.nunique() <= 1 else "%Y-%m-%d %H:%M:%S"
    points, elapsed = frame["points"], frame["elapsed"]
    unknown = int(points.isna().sum())
    total_points = f"{int(points.sum()):,}" + (f" + {unknown} {UNKNOWN}" if unknown else "")
    total_elapsed = f"{float(elapsed.sum()):,.2f}" if elapsed.notna().any() else ""
    return pd.DataFrame({
        "time (UTC)": list(times.dt.strftime(pattern)) + ["total"],
        "model": list(frame["model"].astype(str)) + [f"{len(frame):,} call{'s' * (len(frame) != 1)}"],
        "points": [_count(p) for p in points] + [total_points],
        "≈ estimated": ["" if pd.isna(e) else f"≈ {int(e):,}" for e in frame["estimated"]]
                       + [f"≈ {int(frame['estimated'].sum()):,}" if frame["estimated"].notna().any() else ""],
        "chars": [f"{c:,}" for c in frame["chars"]] + [f"{int(frame['chars'].sum()):,}"],
        "elapsed (s)": ["" if pd.isna(e) else f"{e:,.2f}" for e in elapsed] + [total_elapsed],
        "status": list(frame["status"].astype(str)) + [""],
    })


class LedgerTable(pd.DataFrame):
    """What ``%poe session`` returns: the frame of :func:`~poe_magic.session_ledger` (same
    columns and dtypes, so ``_`` computes like it), shown by :func:`readable_ledger` without the
    row numbers. Anything derived from it (a selection, a sum) is a plain DataFrame."""

    @property
    def _constructor(self) -> Any:
        return pd.DataFrame

    def __repr__(self) -> str:
        return readable_ledger(self).to_string(index=False)

    def _repr_html_(self) -> str:
        return readable_ledger(self).to_html(index=False)
