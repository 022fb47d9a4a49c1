"""``poe_magic.leaderboard``: graded answers summed up per model, and which gives most for the points."""

from __future__ import annotations

from itertools import combinations
from typing import Any

import pandas as pd

from poe_magic.base import errors as E
from poe_magic.comparison.result import Comparison

COLUMNS = {"model": "string", "answers": "Int64", "mean_score": "Float64", "median_score": "Float64",
           "win_rate": "Float64", "points": "Int64", "points_per_answer": "Float64", "median_elapsed": "Float64"}


class Leaderboard(pd.DataFrame):
    """The leaderboard frame; :meth:`plot` draws score against points per answer."""

    @property
    def _constructor(self) -> type[Leaderboard]:
        return Leaderboard

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:  # type: ignore[override]
        """Mean score (y) against points per answer (x), one labelled dot per model: up and
        to the left is the most for the points. Returns the matplotlib Axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        x = pd.to_numeric(self["points_per_answer"], errors="coerce").astype("float64")
        y = pd.to_numeric(self["mean_score"], errors="coerce").astype("float64")
        ax.scatter(x, y, **kwargs)
        for model, xi, yi in zip(self["model"], x, y):
            if pd.notna(xi) and pd.notna(yi):
                ax.annotate(str(model), (xi, yi), textcoords="offset points", xytext=(5, 5), fontsize=9)
        ax.set_xlabel("points per answer")
        ax.set_ylabel("mean score")
        ax.set_title("Score vs points (up and left: most for the points)")
        ax.grid(True, alpha=0.3)
        return ax


def leaderboard(graded: Any) -> Leaderboard:
    """One row per model of a graded frame (:func:`poe_magic.grade`) or graded Comparison:
    ``answers`` scored, ``mean_score``, ``median_score``, ``win_rate`` (pairwise against every
    other model on the same prompts: a higher score wins, a tie counts half), ``points`` (what
    the answers cost, in total) and ``points_per_answer``, ``median_elapsed`` (seconds); sorted
    by mean score, best first. ``.plot()`` draws score against points per answer."""
    frame = graded.to_frame() if isinstance(graded, Comparison) else graded
    if not hasattr(frame, "columns") or not {"model", "score"} <= set(map(str, frame.columns)):
        raise E.PoeUsageError("leaderboard() takes the result of poe_magic.grade() (a frame with model and score "
                              f"columns), got {type(graded).__name__}")
    data = frame.copy()
    data["score"] = pd.to_numeric(data["score"], errors="coerce").astype("Float64")
    if "prompt" not in data.columns:
        data["prompt"] = getattr(graded, "prompt", "")
    rows = []
    wins = _win_rates(data)
    for model, group in data.groupby("model", sort=False, dropna=True):
        scored = group["score"].dropna()
        points = pd.to_numeric(group["points"], errors="coerce") if "points" in group else pd.Series(dtype="float64")
        elapsed = pd.to_numeric(group["elapsed"], errors="coerce") if "elapsed" in group else pd.Series(dtype="float64")
        known = points.dropna()
        rows.append({"model": model, "answers": len(scored),
                     "mean_score": scored.mean() if len(scored) else None,
                     "median_score": scored.median() if len(scored) else None,
                     "win_rate": wins.get(str(model)),
                     "points": int(known.sum()) if len(known) else None,
                     "points_per_answer": known.mean() if len(known) else None,
                     "median_elapsed": elapsed.median() if elapsed.notna().any() else None})
    board = pd.DataFrame(rows, columns=list(COLUMNS)).astype(COLUMNS)
    board = board.sort_values(["mean_score", "win_rate"], ascending=False, na_position="last", kind="stable")
    return Leaderboard(board.reset_index(drop=True))


def _win_rates(data: pd.DataFrame) -> dict[str, float]:
    """model -> share of pairwise comparisons on the same prompt it won (ties count half)."""
    won: dict[str, float] = {}
    played: dict[str, int] = {}
    scored = data.dropna(subset=["score"])
    for _, group in scored.groupby("prompt", sort=False):
        best = group.groupby("model", sort=False)["score"].mean()  # repeated prompts: their mean
        for a, b in combinations(best.index, 2):
            sa, sb = float(best[a]), float(best[b])
            for m in (a, b):
                played[str(m)] = played.get(str(m), 0) + 1
            won[str(a)] = won.get(str(a), 0.0) + (1.0 if sa > sb else 0.5 if sa == sb else 0.0)
            won[str(b)] = won.get(str(b), 0.0) + (1.0 if sb > sa else 0.5 if sa == sb else 0.0)
    return {m: won.get(m, 0.0) / n for m, n in played.items() if n}
