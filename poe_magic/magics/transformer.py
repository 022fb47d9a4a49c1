"""Keep ``%poe ... ?`` one-liners for poe_magic: IPython would take a trailing ``?`` as a request
for help (``%poe what is a monad?`` would show the magic's docstring, and nothing is asked).

An input transformer that runs before IPython's help handling (``input_transformers_cleanup``)
turns such a line into the equivalent ``run_line_magic`` call, so the question keeps its ``?``.
``%poe?`` and ``%poe??`` alone (and ``%poe SUBCOMMAND?``) still show help.
"""

from __future__ import annotations

import re

from poe_magic.magics.commands import SUBCOMMANDS

#: ``%poe`` (indented or not), its arguments, and one or more trailing question marks
_LINE = re.compile(r"^(?P<indent>[ \t]*)%poe[ \t]+(?P<args>\S.*?\?+)[ \t]*(?P<end>\r?\n?)$")


def keep_question_marks(lines: list[str]) -> list[str]:
    """IPython cleanup transformer: each ``%poe ARGS?`` line becomes
    ``get_ipython().run_line_magic('poe', 'ARGS?')``; every other line is left as it is."""
    if not lines or lines[0].startswith("%%"):  # a cell magic's body is its own business
        return lines
    return [_rewrite(line) for line in lines]


def _rewrite(line: str) -> str:
    found = _LINE.match(line)
    if found is None:
        return line
    args = found["args"]
    if args.rstrip("?").strip() in SUBCOMMANDS or not args.rstrip("?").strip():  # `%poe models?`: help
        return line
    return f"{found['indent']}get_ipython().run_line_magic('poe', {args!r}){found['end']}"


def register(ipython: object) -> None:
    """Add the transformer once (``%load_ext`` twice, or ``%reload_ext``, adds no second one)."""
    transformers = getattr(ipython, "input_transformers_cleanup", None)
    if transformers is not None and keep_question_marks not in transformers:
        transformers.append(keep_question_marks)


def unregister(ipython: object) -> None:
    transformers = getattr(ipython, "input_transformers_cleanup", None)
    if transformers is not None:
        while keep_question_marks in transformers:
            transformers.remove(keep_question_marks)
