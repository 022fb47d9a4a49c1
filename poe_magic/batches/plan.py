"""From a DataFrame (or list) and a prompt template to the requests of a batch.

Everything here runs before anything is sent, so every mistake in the input is a one-line
:class:`~poe_magic.PoeUsageError`: a template field that is not a column, unbalanced braces,
duplicate models, bad options. A row with an empty value in a field it uses is not an
error for the whole batch: that row gets its own ``error`` and is not sent.
"""

from __future__ import annotations

import math
import string
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any

from poe_magic.base import errors as E
from poe_magic.base.config import Settings
from poe_magic.batches.journal import request_key
from poe_magic.catalog.resolve import resolve_model
from poe_magic.wire.request import PoeRequest, build_request

Template = str | Callable[[dict[str, Any]], str]


@dataclass
class Job:
    """One row x model of the batch, in output order."""

    position: int
    row: Hashable  # the row's index label
    model: str
    prompt: str
    request: PoeRequest | None  # None when the row cannot be sent (see ``error``)
    key: str = ""  # journal key ("" when not sendable)
    error: str | None = None
    slot: str = ""  # which outcome this job shows: jobs asking the same thing share one


def rows_of(data: Any) -> tuple[list[Hashable], list[dict[str, Any]], list[str]]:
    """(row labels, row dicts, column names) of a DataFrame, Series, or list of texts/dicts."""
    if isinstance(data, (str, bytes)):
        raise E.PoeUsageError("batch() takes a DataFrame or a list of texts, not a single string; "
                              "use poe_magic.ask() for one prompt")
    if hasattr(data, "to_dict") and hasattr(data, "columns"):  # a pandas DataFrame
        columns = [str(c) for c in data.columns]
        records = [{str(k): v for k, v in rec.items()} for rec in data.to_dict("records")]
        return list(data.index), records, columns
    if hasattr(data, "to_dict") and hasattr(data, "index"):  # a pandas Series: its values are "text"
        name = str(data.name) if data.name is not None else "text"
        return list(data.index), [{name: v, "text": v} for v in data.tolist()], sorted({name, "text"})
    if not isinstance(data, Iterable):
        raise E.PoeUsageError(f"batch() takes a DataFrame or a list of texts, got {type(data).__name__}")
    records = [dict(item) if isinstance(item, dict) else {"text": item} for item in data]
    columns = sorted({k for rec in records for k in rec}) if records else ["text"]
    return list(range(len(records))), records, columns


def template_fields(template: str) -> list[str]:
    """The column names a ``str.format`` template uses (``{a}``, ``{b.x}``, ``{c[0]:>5}`` -> a, b, c)."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise E.PoeUsageError(f"the prompt template is not valid ({exc}); write {{{{ and }}}} for literal "
                              "braces (nothing was sent)") from None
    names: list[str] = []
    for _, field, _, _ in parsed:
        if field is None:
            continue
        base = field.split(".", 1)[0].split("[", 1)[0]
        if not base or base.isdigit():
            raise E.PoeUsageError("the prompt template has a positional field ({} or {0}); name a column "
                                  "instead, e.g. {text} (nothing was sent)")
        if base not in names:
            names.append(base)
    return names


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return type(value).__name__ in ("NAType", "NaTType")


def fill(template: Template, record: dict[str, Any], fields: list[str]) -> tuple[str, str | None]:
    """(prompt, None) or ("", why this row cannot be sent)."""
    if callable(template):
        text = template(dict(record))
        if not isinstance(text, str):
            raise E.PoeUsageError(f"the prompt function must return a str, got {type(text).__name__}")
    else:
        empty = [f for f in fields if _missing(record.get(f))]
        if empty:
            return "", f"not sent: no value in column {empty[0]!r}"
        try:
            text = template.format(**record)
        except (KeyError, IndexError, AttributeError, ValueError, TypeError) as exc:
            raise E.PoeUsageError(f"the prompt template does not fit the data: {type(exc).__name__}: {exc} "
                                  "(nothing was sent)") from None
    if not text.strip():
        return "", "not sent: the prompt is empty for this row"
    return text, None


def check_models(models: str | Iterable[str] | None, settings: Settings) -> list[str]:
    """Resolved model names, in the order given; one-line errors for duplicates and bad names."""
    if models is None:
        names = [resolve_model(None, settings)]
    else:
        given = [models] if isinstance(models, str) else list(models)
        if not given:
            raise E.PoeUsageError("models=[] names no model; pass one or more model names")
        names = [resolve_model(m, settings) for m in given]
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise E.PoeUsageError(f"model {name!r} is listed twice; each model runs once per row")
        seen.add(name)
    return names


def plan(data: Any, template: Template, models: list[str], settings: Settings, *,
         system: str | None = None, request_options: dict[str, Any] | None = None) -> list[Job]:
    """Every row x model as a Job (row-major: row 0 with each model, then row 1, ...)."""
    labels, records, columns = rows_of(data)
    fields: list[str] = []
    if not callable(template):
        if not isinstance(template, str):
            raise E.PoeUsageError(f"prompt must be a str template or a function of the row, "
                                  f"got {type(template).__name__}")
        fields = template_fields(template)
        unknown = [f for f in fields if f not in columns]
        if unknown and records:
            raise E.PoeUsageError(
                f"the prompt template uses {{{unknown[0]}}} but the data has no column {unknown[0]!r}; "
                f"columns: {', '.join(columns)} (nothing was sent)")
    options = dict(request_options or {})
    jobs: list[Job] = []
    for label, record in zip(labels, records):
        text, why = fill(template, record, fields)
        for model in models:
            job = Job(len(jobs), label, model, text, None, error=why)
            if why is None:
                job.request = build_request(text, model, system=system, **options)
                job.key = request_key(job.request, settings.root)
            jobs.append(job)
    return jobs
