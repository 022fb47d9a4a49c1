"""What a ``%%poe`` cell does: parsed options in, a streamed Reply out.

The pipeline, in order: check ``-o``; fill ``{variables}`` into the cell, ``--system`` and
model names (:mod:`poe_magic.interpolate`); hand comparisons to ``compare_cell``; otherwise
:func:`poe_magic.api.send` with :func:`prompt_options` (threads, files, cache, format, ...);
keep the Reply as ``_poe`` / ``-o NAME``; raise its failure as one line.
"""

from __future__ import annotations

import difflib
import json
import re
from argparse import ArgumentParser, Namespace
from typing import Any, Optional

from IPython.core.error import UsageError

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


def split_options(line: str) -> list[str]:
    """The option line as words, quotes removed (``-s "Answer in French"``) and backslashes
    kept (Windows paths). IPython's own ``parse_argstring`` keeps the quotes."""
    import shlex

    lexer = shlex.shlex(line, posix=True)
    lexer.whitespace_split, lexer.escape, lexer.commenters = True, "", ""
    try:
        return list(lexer)
    except ValueError as exc:
        raise UsageError(f"cannot parse the options: {exc} in {line.strip()!r}") from None


def parse_options(parser: ArgumentParser, line: str) -> Namespace:
    """The ``%%poe`` option line parsed (see :func:`split_options`); an unknown option is one
    UsageError line with a did-you-mean when one of ``parser``'s options is close."""
    try:
        return parser.parse_args(split_options(line))
    except UsageError as exc:
        message = str(exc)
        if not message.startswith("unrecognized arguments:"):
            raise
        near = option_suggestion(parser, message.partition(":")[2].split())
        hint = f"did you mean {near}? (%%poe? lists the options)" if near else "%%poe? lists the options"
        raise UsageError(f"{message}; {hint}") from None


#: one word of an option line: quoted parts kept whole (``-s "Be brief"``), a lone quote ends it
_WORD = re.compile(r"""\s*((?:"[^"]*"|'[^']*'|[^\s"'])+)""")


def split_leading_options(parser: ArgumentParser, line: str) -> tuple[str, str]:
    """``%poe MODEL`` line: its leading options and the question after them.

    ``'-s "Be brief" --chat ideas what is X'`` -> ``('-s "Be brief" --chat ideas', 'what is X')``.
    Options end at the first word that is neither an option of ``parser`` nor its value; ``--``
    ends them too (for a question starting with ``-``; ``-5`` is a number, not an option). The
    question is kept verbatim (quotes, apostrophes); an unknown ``-word`` counts as an option, so
    a typo is a one-line error."""
    actions = parser._option_string_actions
    pos, wants = 0, ""  # wants: "1" the next word is a value, "?" it may be one (--chat NAME)
    while True:
        match = _WORD.match(line, pos)
        if match is None:
            if wants == "1" and line[pos:].strip():
                split_options(line)  # an unclosed quote in a value: one line from the parser
            return line[:pos].strip(), line[pos:].strip()
        word, start = match.group(1), match.start(1)
        is_option = word.startswith("-") and word != "-" and not parser._negative_number_matcher.match(word)
        if wants == "1" or (wants == "?" and not is_option):
            pos, wants = match.end(), ""
            continue
        if word == "--":
            return line[:start].strip(), line[match.end():].strip()
        if not is_option:
            return line[:start].strip(), line[start:].strip()
        action = actions.get(word) if word.startswith("--") or len(word) == 2 else None
        wants = "" if action is None or action.nargs == 0 else ("?" if action.nargs == "?" else "1")
        pos = match.end()


def option_suggestion(parser: ArgumentParser, words: list[str]) -> Optional[str]:
    """The ``--option`` of ``parser`` closest to a mistyped one among ``words``
    (``--temprature`` -> ``--temperature``), or None."""
    known = [option for action in parser._actions for option in action.option_strings if option.startswith("--")]
    for word in words:
        if word.startswith("--"):
            near = difflib.get_close_matches(word.partition("=")[0], known, n=1, cutoff=0.7)
            if near:
                return near[0]
    return None


def store(magics: Any, reply: Any, name: Optional[str]) -> None:
    """Make the reply reachable as ``_poe`` (always) and under ``-o NAME`` (checked by
    :func:`run_cell` before anything is sent)."""
    namespace = magics.shell.user_ns
    namespace["_poe"] = reply
    if name:
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


def interpolated(magics: Any, args: Namespace, body: str) -> tuple[Namespace, str]:
    """``{name}``, ``{In[3]}``, ``{Out[3]}`` filled into the cell, ``--system`` and the model
    names, unless ``--no-interpolate``; an unknown name is a one-line error, nothing sent."""
    if getattr(args, "no_interpolate", False):
        return args, body
    from ..interpolate import interpolate

    namespace = magics.shell.user_ns
    changed = {"models": [interpolate(m, namespace) for m in args.models],
               "system": interpolate(args.system, namespace) if args.system else args.system}
    return Namespace(**{**vars(args), **changed}), interpolate(body, namespace)


def prompt_options(args: Namespace) -> dict[str, Any]:
    """The cell's options as keyword arguments of :func:`poe_magic.api.send`."""
    return dict(system=args.system, temperature=args.temperature, stop=args.stop, params=parse_params(args.param),
                chat=args.chat, attach=args.attach, cache=args.cache, timeout=args.timeout, format=args.format)


def run_cell(magics: Any, args: Namespace, body: str) -> None:
    from ..api import raise_for, send

    if getattr(args, "force", False):  # --force: this cell (one model or a comparison) may pass the budget
        from ..ledger import budget_override

        with budget_override():
            return run_cell(magics, Namespace(**{**vars(args), "force": False}), body)
    if args.output and not args.output.isidentifier():
        raise E.PoeUsageError(f"-o needs a Python variable name, got {args.output!r}")
    args, body = interpolated(magics, args, body.rstrip("\r\n"))  # the cell's trailing newline is not the question
    tools = tool_options(magics, args)
    if len(args.models) > 1 or args.compare or args.runs != 1:
        from .compare_cell import run_compare_cell

        return run_compare_cell(magics, args, body)
    model = args.models[0] if args.models else None
    reply = send(body, model, **prompt_options(args), **tools)
    store(magics, reply, args.output)
    raise_for(reply, kept_in="_poe")
