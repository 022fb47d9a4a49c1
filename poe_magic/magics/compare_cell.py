"""What a comparing ``%%poe`` cell does (several models, ``--compare`` or ``--runs N``)."""

from __future__ import annotations

from argparse import Namespace
from typing import Any

from poe_magic.base import errors as E
from poe_magic.catalog.resolve import resolve_model
from poe_magic.comparison.run import compare
from poe_magic.magics.parsing import parse_params, store
from poe_magic.prompting.pipeline import raise_for


def run_compare_cell(magics: Any, args: Namespace, body: str, schema: Any = None) -> None:
    """Compare the cell's prompt across the models named (else the comparison set); the
    Comparison becomes ``_poe`` (and ``-o NAME``). Raises one line when interrupted, or when
    every model failed (each column shows why)."""

    if getattr(args, "chat", None):
        raise E.PoeUsageError("--chat continues one conversation; it cannot be combined with a comparison")
    models = args.models
    if not models and not args.compare:  # `%%poe --runs 3`: the default model, N times

        models = [resolve_model(None)]
    try:
        comparison = compare(body, models, runs=args.runs, timeout=args.timeout, format=args.format,
                             attach=args.attach, cache=args.cache,
                             system=args.system, temperature=args.temperature, stop=args.stop,
                             params=parse_params(args.param), schema=schema, yes=getattr(args, "yes", False),
                             judge=getattr(args, "judge", None), rubric=getattr(args, "rubric", None))
    except E.PoeMagicError as stopped:  # Ctrl-C, or a refusal (budget) after some runs: keep them
        if hasattr(stopped, "comparison"):
            store(magics, stopped.comparison, args.output)
        raise
    store(magics, comparison, args.output)
    if comparison.grades:  # --judge: the scores under the comparison (its frame has them too)
        from IPython.display import display

        display(comparison.to_frame()[["model", "score", "reason", "points", "judge_points"]])
    replies = list(comparison.replies.values())
    if replies and all(r.error is not None for r in replies):
        raise_for(replies[0])  # nothing worked (a bad key, ...): the cell should say so
