"""What a ``%%poe`` cell does: parsed options in, a streamed Reply out.

The pipeline, in order: check ``-o``; fill ``{variables}`` into the cell, ``--system`` and
model names (:mod:`poe_magic.prompting.interpolation`); hand comparisons to ``compare_cell``; otherwise
:func:`poe_magic.prompting.asking.send` with :func:`prompt_options` (threads, files, cache, format, ...);
keep the Reply as ``_poe`` / ``-o NAME``; raise its failure as one line.
"""

from __future__ import annotations

from argparse import Namespace
from typing import Any

from poe_magic.base import errors as E
from poe_magic.magics.compare_cell import run_compare_cell
from poe_magic.magics.parsing import check_output_name, parse_params, store
from poe_magic.prompting.asking import send
from poe_magic.prompting.interpolation import interpolate
from poe_magic.prompting.pipeline import raise_for
from poe_magic.spending import calllog
from poe_magic.spending.ledger import budget_override
from poe_magic.tools.functions import resolve_names
from poe_magic.tools.loop import tool_set


def tool_options(magics: Any, args: Namespace) -> dict[str, Any]:
    """``--tools f,g`` / ``--confirm`` -> send()'s ``tools=`` / ``confirm=`` (names looked up
    in the notebook's namespace; a one-line error for unknown names, nothing sent)."""

    if not args.tools:
        tool_set(None, args.confirm)  # --confirm alone: one-line error
        return {}
    if len(args.models) > 1 or args.compare or args.runs != 1:
        raise E.PoeUsageError("--tools works with one model, not with comparisons (nothing was sent)")
    return {"tools": resolve_names(args.tools, magics.shell.user_ns), "confirm": args.confirm}


def interpolated(magics: Any, args: Namespace, body: str) -> tuple[Namespace, str]:
    """``{name}``, ``{In[3]}``, ``{Out[3]}`` filled into the cell, ``--system`` and the model
    names, unless ``--no-interpolate``; an unknown name is a one-line error, nothing sent."""
    if getattr(args, "no_interpolate", False):
        return args, body

    namespace = magics.shell.user_ns
    changed = {"models": [interpolate(m, namespace) for m in args.models],
               "system": interpolate(args.system, namespace) if args.system else args.system}
    return Namespace(**{**vars(args), **changed}), interpolate(body, namespace)


def prompt_options(args: Namespace) -> dict[str, Any]:
    """The cell's options as keyword arguments of :func:`poe_magic.prompting.asking.send`."""
    return dict(system=args.system, temperature=args.temperature, stop=args.stop, params=parse_params(args.param),
                chat=args.chat, attach=args.attach, cache=args.cache, timeout=args.timeout, format=args.format,
                yes=getattr(args, "yes", False))


def schema_option(magics: Any, args: Namespace) -> dict[str, Any]:
    """``--schema NAME`` -> ``schema=`` (NAME a notebook variable); one line when it is not one."""
    name = getattr(args, "schema", None)
    if not name:
        return {}
    namespace = magics.shell.user_ns
    if not name.isidentifier() or name not in namespace:
        raise E.PoeUsageError(f"--schema {name}: no notebook variable of that name; define the schema first, "
                              "e.g. class Label(pydantic.BaseModel) or Label = {'label': str} (nothing was sent)")
    return {"schema": namespace[name]}


def _background(magics: Any, args: Namespace, body: str, model: str | None, tools: dict[str, Any],
                schema: dict[str, Any]) -> None:
    """``--background``: checked and started here, streamed on a job thread; ``-o`` and ``_poe`` at its end."""
    if tools:
        raise E.PoeUsageError("--background does not take --tools yet (tool calls run on the kernel thread); "
                              "nothing was sent")
    with calllog.context("cell"):
        job = send(body, model, **prompt_options(args), **schema, background=True)
    job.on_done(lambda reply: store(magics, reply, args.output))
    print(f"job {job.id}: {job.model} answers in the background (%poe jobs lists it, %poe jobs stop {job.id} stops it)")


def run_cell(magics: Any, args: Namespace, body: str) -> None:

    if getattr(args, "force", False):  # --force: this cell (one model or a comparison) may pass the budget

        with budget_override():
            return run_cell(magics, Namespace(**{**vars(args), "force": False}), body)
    check_output_name(args.output)  # -o __builtins__ / Out / print / True: refused, nothing sent
    args, body = interpolated(magics, args, body.rstrip("\r\n"))  # the cell's trailing newline is not the question
    tools = tool_options(magics, args)
    schema = schema_option(magics, args)
    if len(args.models) > 1 or args.compare or args.runs != 1:
        if getattr(args, "background", False):
            raise E.PoeUsageError("--background runs one model's answer; a comparison runs in the cell "
                                  "(nothing was sent)")

        return run_compare_cell(magics, args, body, **schema)
    if getattr(args, "judge", None) or getattr(args, "rubric", None):
        raise E.PoeUsageError("--judge and --rubric grade a comparison: name two or more models (nothing was sent)")
    model = args.models[0] if args.models else None
    if getattr(args, "background", False):
        return _background(magics, args, body, model, tools, schema)
    with calllog.context("cell"):
        reply = send(body, model, **prompt_options(args), **tools, **schema)
    store(magics, reply, args.output)
    raise_for(reply, kept_in="_poe")
