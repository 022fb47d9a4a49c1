"""The Comparison: several models' answers to one prompt, their timings, and the summary table."""

from __future__ import annotations

import statistics
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

from poe_magic.comparison.view import static_html
from poe_magic.core.reply import Reply
from poe_magic.prompting.schemas import column

#: to_frame() columns and dtypes (``runs`` and the ``*_spread`` columns only when runs > 1)
FRAME_DTYPES: dict[str, str] = {
    "model": "string",  # the resolved model name
    "status": "string",  # ok | error | interrupted (the worst over the runs)
    "time_to_first_token": "float64",  # seconds (median over the runs); NaN when none came
    "elapsed": "float64",  # seconds from sending to the end of the stream (median over the runs)
    "chars": "Int64",  # characters of the answer (median over the runs)
    "tokens": "Int64",  # tokens when the API reported them, else <NA>
    "points": "Int64",  # points spent (summed over the runs) when known, else <NA>
    "error": "string",  # the one-line error of the last failed run, else <NA>
}


RUNS_DTYPES: dict[str, str] = {
    "runs": "Int64",  # how many runs the model took part in
    "time_to_first_token_spread": "float64",  # max - min over the runs, seconds
    "elapsed_spread": "float64",  # max - min over the runs, seconds
}


class Comparison:
    """The answers of several models to one prompt, with their timings.

    ``replies`` maps model -> :class:`~poe_magic.core.reply.Reply` (the latest run of each),
    ``all_runs`` maps model -> every run's Reply, :meth:`to_frame` is the summary table as a
    DataFrame, and in a notebook the object renders as static side-by-side columns.
    """

    def __init__(self, prompt: str, models: Sequence[str], runs: int = 1, fmt: str = "markdown") -> None:
        self.prompt = prompt
        self.models = list(models)
        self.runs = runs  # runs asked for
        self.format = fmt
        self.all_runs: dict[str, list[Reply]] = {m: [] for m in self.models}
        self.interrupted = False
        self.id = uuid.uuid4().hex[:12]  # in the call log (group) and the notebook's metadata
        self.schema: Any = None  # a prompting.schemas.Schema when compared with schema=
        self.grades: dict[str, dict[str, Any]] = {}  # model -> score, reason, judge_points (--judge)
        self._view: Any = None  # the live view that showed it (display statistics for benchmarks)

    # -- access ---------------------------------------------------------------------
    @property
    def replies(self) -> dict[str, Reply]:
        """model -> the Reply of its latest run (models that never started are left out)."""
        return {m: runs[-1] for m, runs in self.all_runs.items() if runs}

    @property
    def rounds_done(self) -> int:
        """How many runs have started (fewer than ``runs`` after Ctrl-C or a budget stop)."""
        return max((len(r) for r in self.all_runs.values()), default=0)

    def __getitem__(self, model: str) -> Reply:
        return self.replies[model]

    def __iter__(self) -> Iterator[Reply]:
        return iter(self.replies.values())

    def __len__(self) -> int:
        return len(self.models)

    def __repr__(self) -> str:
        parts = ", ".join(f"{m}: {r.status} {len(r.text)} chars" for m, r in self.replies.items())
        runs = f" x{self.runs} runs" if self.runs > 1 else ""
        return f"<Comparison of {len(self.models)} models{runs}: {parts}>"

    # -- the summary table ---------------------------------------------------------------
    def rows(self) -> list[dict[str, Any]]:
        """The summary table as plain dicts (the data behind :meth:`to_frame` and the HTML)."""
        return [{**_summary_row(model, runs, self.runs > 1), **self.grades.get(model, {})}
                for model, runs in self.all_runs.items() if runs]

    def to_frame(self) -> Any:
        """The summary table as a pandas DataFrame, one row per model (columns and dtypes
        in :data:`FRAME_DTYPES`, plus :data:`RUNS_DTYPES` when ``runs > 1``)."""
        import pandas as pd

        dtypes = {**FRAME_DTYPES, **(RUNS_DTYPES if self.runs > 1 else {})}
        frame = pd.DataFrame(self.rows(), columns=list(dtypes)).astype(dtypes)
        return self._with_extras(frame)

    def _with_extras(self, frame: Any) -> Any:
        """The schema's fields (``schema=``) and the judge's grades (``grade``), as columns."""
        if self.schema is not None:
            replies = self.replies
            for name, dtype in self.schema.dtypes().items():
                values = [self.schema.row(replies[m].data).get(name) if m in replies else None for m in frame["model"]]
                frame[name] = column(values, dtype)
        if self.grades:
            for name, dtype in (("score", "Int64"), ("reason", "string"), ("judge_points", "Int64")):
                frame[name] = column([self.grades.get(m, {}).get(name) for m in frame["model"]], dtype)
        return frame

    def runs_frame(self) -> Any:
        """One row per model per run (``run`` numbered from 1): the raw timings behind the
        medians, e.g. for a box plot."""
        import pandas as pd

        dtypes = {"run": "Int64", **FRAME_DTYPES}
        rows = [{"run": i, **_summary_row(model, [reply], False)}
                for model, replies in self.all_runs.items() for i, reply in enumerate(replies, 1)]
        return pd.DataFrame(rows, columns=list(dtypes)).astype(dtypes)

    # -- display -------------------------------------------------------------------------
    def _repr_html_(self) -> str:
        return static_html(self)

    def output_metadata(self) -> dict[str, Any]:
        """What a saved notebook keeps about this comparison (``metadata["poe_magic"]``): one
        entry per model (the latest run's :meth:`Reply.output_metadata`), and the runs asked for."""
        return {"comparison": True, "id": self.id, "runs": self.runs,
                "models": {model: reply.output_metadata() for model, reply in self.replies.items()}}

    def _add(self, reply: Reply) -> None:
        self.all_runs[reply.model].append(reply)


def _summary_row(model: str, replies: list[Reply], with_runs: bool) -> dict[str, Any]:
    def median(values: list[float | None]) -> float | None:
        known = [v for v in values if v is not None]
        return statistics.median(known) if known else None

    def spread(values: list[float | None]) -> float | None:
        known = [v for v in values if v is not None]
        return max(known) - min(known) if known else None

    ttft = [r.time_to_first_token for r in replies]
    elapsed = [r.elapsed for r in replies]
    tokens = [getattr(r, "tokens", None) for r in replies]
    points = [r.points for r in replies]
    chars, tok = median([len(r.text) for r in replies]), median(tokens)
    errors = [r.error for r in replies if r.error is not None]
    statuses = {r.status for r in replies}
    status = next((s for s in ("interrupted", "error", "streaming") if s in statuses), "ok")
    row: dict[str, Any] = {
        "model": model,
        "status": status,
        "time_to_first_token": median(ttft),
        "elapsed": median(elapsed),
        "chars": None if chars is None else round(chars),
        "tokens": None if tok is None else round(tok),
        "points": None if any(p is None for p in points) else sum(p for p in points if p is not None),
        "error": f"{type(errors[-1]).__name__}: {errors[-1]}" if errors else None,
        "cached": all(r.cached for r in replies),  # answered from the answer cache (not a frame column)
    }
    if with_runs:
        row.update(runs=len(replies), time_to_first_token_spread=spread(ttft), elapsed_spread=spread(elapsed))
    return row

