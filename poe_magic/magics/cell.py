"""What a ``%%poe`` cell does: parsed options in, a streamed Reply out."""

from __future__ import annotations

import json
from argparse import Namespace
from typing import Any, Optional

from .. import _errors as E


def parse_params(pairs: Optional[list[str]]) -> dict[str, Any]:
    """``["thinking_budget=2048", "style=terse"]`` -> ``{"thinking_budget": 2048, "style": "terse"}``."""
    params: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key or not key.replace("_", "").replace("-", "").isalnum():
            raise E.PoeUsageError(f"--param expects KEY=VALUE, got {pair!r}")
        try:
            params[key] = json.loads(raw)
        except ValueError:
            params[key] = raw
    return params


def store(magics: Any, reply: Any, name: Optional[str]) -> None:
    """Make the reply reachable as ``_poe`` (always) and under ``-o NAME``."""
    namespace = magics.shell.user_ns
    namespace["_poe"] = reply
    if name:
        if not name.isidentifier():
            raise E.PoeUsageError(f"-o needs a Python variable name, got {name!r}")
        namespace[name] = reply


def tool_options(magics: Any, args: Namespace) -> dict[str, Any]:
    """``--tools f,g`` / ``--confirm`` -> send()'s ``tools=`` / ``confirm=`` (names looked up
    in the notebook's namespace; a one-line error for unknown names, nothing sent)."""
    from ..tool_loop import tool_set
    from ..tools import resolve_names

    if not args.tools:
        tool_set(None, args.confirm)  # --confirm alone: one-line error
        return {}
    if len(args.models) > 1 or args.compare or args.runs != 1:
        raise E.PoeUsageError("--tools works with one model, not with comparisons (nothing was sent)")
    return {"tools": resolve_names(args.tools, magics.shell.user_ns), "confirm": args.confirm}


def run_cell(magics: Any, args: Namespace, body: str) -> None:
    from ..api import raise_for, send

    if args.output and not args.output.isidentifier():
        raise E.PoeUsageError(f"-o needs a Python variable name, got {args.output!r}")
    tools = tool_options(magics, args)
    if len(args.models) > 1 or args.compare or args.runs != 1:
        from .compare_cell import run_compare_cell

        return run_compare_cell(magics, args, body)
    model = args.models[0] if args.models else None
    reply = send(
        body,
        model,
        system=args.system,
        temperature=args.temperature,
        stop=args.stop,
        params=parse_params(args.param),
        timeout=args.timeout,
        format=args.format,
        **tools,
    )
    store(magics, reply, args.output)
    raise_for(reply)
