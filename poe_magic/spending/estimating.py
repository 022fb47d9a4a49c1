"""``poe_magic.estimate``: what a prompt will probably cost on each model, before sending it."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from poe_magic.base import errors as E
from poe_magic.base.config import check_count
from poe_magic.catalog.resolve import resolve_model
from poe_magic.core.session import current
from poe_magic.spending.estimator import Calibration, per_call

if TYPE_CHECKING:
    import pandas as pd

MAX_ROWS = 10_000_000


def estimate(prompt: str, models: str | Iterable[str] | None = None, *, rows: int = 1) -> pd.DataFrame:
    """Estimated points of sending ``prompt`` (``rows`` times, as a batch would) to each model.

    One row per model: ``model``, ``points_per_call``, ``points`` (x ``rows``), ``basis``
    (``history``: this account's median cost for that bot in its points history, with
    ``based_on`` calls; ``catalogue price``: the catalogue's price for the prompt's size;
    ``largest this session``; or ``unknown``). Nothing is sent. ``frame.attrs["calibration"]``:
    how far this session's immediate estimates were from the billed costs (:func:`calibration`)."""
    import pandas as pd

    if not isinstance(prompt, str):
        raise E.PoeUsageError(f"estimate() takes the prompt as a str, got {type(prompt).__name__}")
    check_count("rows", rows, 0, MAX_ROWS)
    names = [resolve_model(None)] if models is None else [resolve_model(m) for m in
                                                          ([models] if isinstance(models, str) else list(models))]
    records = []
    for name in names:
        found = per_call(name, prompt)
        total = None if found.points is None else found.points * rows
        records.append((name, found.points, total, found.basis, found.based_on))
    frame = pd.DataFrame.from_records(records, columns=["model", "points_per_call", "points", "basis", "based_on"])
    frame.attrs["calibration"] = calibration()
    return frame.astype({"model": "string", "points_per_call": "Float64", "points": "Float64", "basis": "string",
                         "based_on": "Int64"})


def calibration() -> dict[str, Any]:
    """How far this session's immediate estimates (``Reply.estimated_points``: the catalogue's
    prices x tokens, shown as "≈ N points" until billed) were from what was billed:
    ``calls`` compared, ``median_error`` (median of |estimate - billed| / billed, None without
    calls) and ``worst`` (the largest such ratio)."""
    pairs = list(current().state(Calibration).pairs)
    errors = [abs(estimated - billed) / billed for estimated, billed in pairs]
    return {"calls": len(errors), "median_error": statistics.median(errors) if errors else None,
            "worst": max(errors) if errors else None}


estimate_cost = estimate  # the name this round first shipped under
