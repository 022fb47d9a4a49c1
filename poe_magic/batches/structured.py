"""A batch's structured answers (``batch(..., schema=S)``): parsed, repaired once, as columns.

After the run, every answer is parsed with the schema; those that do not fit get one repair
round each (the problem sent back in the same conversation, through the request pipeline,
``concurrency`` at a time on threads the call log counts as the batch's). A row that still
does not fit gets ``SchemaError: ...`` as its ``error`` and missing fields; the others go on.
"""

from __future__ import annotations

import concurrent.futures
from typing import TYPE_CHECKING, Any

from poe_magic.batches.plan import Job
from poe_magic.batches.runner import Outcome
from poe_magic.core.reply import Reply
from poe_magic.prompting import pipeline
from poe_magic.prompting.schemas import Schema, column

if TYPE_CHECKING:
    import pandas as pd


def structure_outcomes(schema: Schema, jobs: list[Job], outcomes: dict[str, Outcome],
                       concurrency: int) -> dict[str, Any]:
    """slot -> the validated data of each answer that fits (after its repair round, if it
    needed one); a misfit's outcome gets the SchemaError, a repaired one the new text and
    both calls' points."""
    todo: dict[str, tuple[Job, Outcome]] = {}
    for job in jobs:
        o = outcomes.get(job.slot)
        if o is not None and o.error is None and o.answer and job.request is not None and job.slot not in todo:
            todo[job.slot] = (job, o)
    found: dict[str, Any] = {}
    misfits: list[tuple[str, Job, Outcome, Reply]] = []
    for slot, (job, o) in todo.items():
        data, problem = schema.parse(o.answer)
        if problem is None:
            found[slot] = data
        else:
            misfits.append((slot, job, o, Reply(job.model, job.prompt, text=o.answer, elapsed=o.elapsed or 0.0)))
    if not misfits:
        return found
    with concurrent.futures.ThreadPoolExecutor(max(1, min(concurrency, len(misfits))),
                                               thread_name_prefix="poe_magic-batch-repair") as pool:
        repairs = list(pool.map(lambda m: pipeline.structure(m[3], m[1].request, schema), misfits))
    for (slot, _job, o, reply), repair in zip(misfits, repairs):
        if reply.data is not None:
            found[slot] = reply.data
            o.answer = reply.text
        else:
            o.error = f"{type(reply.error).__name__}: {reply.error}"
        if repair is not None and o.points is not None and repair.points is not None:
            o.points += repair.points
    return found


def with_fields(frame: pd.DataFrame, schema: Schema, datas: list[Any]) -> pd.DataFrame:
    """``frame`` with the schema's fields as typed columns right after ``answer``."""
    rows = [schema.row(d) for d in datas]
    at = list(frame.columns).index("answer") + 1
    for offset, (name, dtype) in enumerate(schema.dtypes().items()):
        values = column([r.get(name) for r in rows], dtype)
        values.index = frame.index
        frame.insert(at + offset, name if name not in frame.columns else f"{name}_", values)
    return frame
