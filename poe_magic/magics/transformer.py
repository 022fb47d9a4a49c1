"""Keep ``%poe ... ?`` one-liners for poe_magic: IPython would take a trailing ``?`` as a request
for help (``%poe what is a monad?`` would show the magic's docstring, and nothing is asked).

An input transformer that runs before IPython's help handling (``input_transformers_cleanup``)
turns such a line into the equivalent ``run_line_magic`` call, so the question keeps its ``?``.
``%poe?`` and ``%poe??`` alone (and ``%poe SUBCOMMAND?``) still show help.
"""

from __future__ import annotations

import io
import re
import tokenize

from poe_magic.magics.commands import SUBCOMMANDS

#: ``%poe`` (indented or not), its arguments, and one or more trailing question marks
_LINE = re.compile(r"^(?P<indent>[ \t]*)%poe[ \t]+(?P<args>\S.*?\?+)[ \t]*(?P<end>\r?\n?)$")


def keep_question_marks(lines: list[str]) -> list[str]:
    """IPython cleanup transformer: each ``%poe ARGS?`` statement becomes
    ``get_ipython().run_line_magic('poe', 'ARGS?')``; every other line is left as it is,
    including a ``%poe ...?`` line inside a string, brackets or a continued line."""
    if not lines or lines[0].startswith("%%"):  # a cell magic's body is its own business
        return lines
    if not any(_LINE.match(line) for line in lines):
        return lines
    starts = _statement_starts(lines)
    return [_rewrite(line) if i in starts else line for i, line in enumerate(lines)]


_ESCAPED = re.compile(r"^([ \t]*)[%!?]")  # IPython's own syntax: a magic, a shell escape, help


def _statement_starts(lines: list[str]) -> set[int]:
    """Indexes of the lines where a Python statement starts (tokens, not text: a line inside a
    triple-quoted string, open brackets or after a backslash is none). Magic lines are read as
    ``pass``; a cell that does not tokenize gives none (one line alone is a statement)."""
    if len(lines) == 1:
        return {0}
    plain = []
    for line in lines:
        escaped = _ESCAPED.match(line)
        plain.append(f"{escaped.group(1)}pass\n" if escaped else line if line.endswith("\n") else line + "\n")
    starts: set[int] = set()
    new_statement = True
    try:
        for token in tokenize.generate_tokens(io.StringIO("".join(plain)).readline):
            if token.type in (tokenize.NL, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER):
                continue
            if token.type == tokenize.NEWLINE:
                new_statement = True
                continue
            if new_statement:
                starts.add(token.start[0] - 1)
                new_statement = False
            if token.type == tokenize.OP and token.string == ";":
                new_statement = True
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return set()  # (unbalanced quotes or brackets: nothing here is surely a statement)
    return starts


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
