"""The option parser of the ``%poe SUBCOMMAND`` lines that take options (history, batch)."""

from __future__ import annotations

import argparse
import builtins
import difflib
import json
import keyword
import re
from argparse import ArgumentParser, Namespace
from typing import Any

from IPython.core.error import UsageError

from poe_magic.base import errors as E


class LineParser(argparse.ArgumentParser):
    """argparse that reports a bad option as one PoeUsageError line instead of exiting."""

    def error(self, message: str) -> Any:

        near = option_suggestion(self, message.partition(":")[2].split()) if message.startswith("unrecognized") else None
        message += f"; did you mean {near}?" if near else ""
        raise E.PoeUsageError(f"{self.prog}: {message} (usage: {self.format_usage().strip()[7:]})")

    def parse_line(self, line: str) -> argparse.Namespace:
        """Parse a magic's argument line (quotes as in ``%%poe`` options: unbalanced ones are one line too)."""

        return self.parse_args(split_options(line))


def parse_params(pairs: list[str] | None) -> dict[str, Any]:
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


def strip_comment(line: str) -> str:
    """``line`` without its ``# comment``, as in the shell: a ``#`` that starts a word (at the
    start or after whitespace) outside quotes ends the line; ``C#`` and ``"#1"`` stay."""
    quote, previous = "", " "
    for index, char in enumerate(line):
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char == "#" and previous.isspace():
            return line[:index].rstrip()
        previous = char
    return line


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


def option_suggestion(parser: ArgumentParser, words: list[str]) -> str | None:
    """The ``--option`` of ``parser`` closest to a mistyped one among ``words``
    (``--temprature`` -> ``--temperature``), or None."""
    known = [option for action in parser._actions for option in action.option_strings if option.startswith("--")]
    for word in words:
        if word.startswith("--"):
            near = difflib.get_close_matches(word.partition("=")[0], known, n=1, cutoff=0.7)
            if near:
                return near[0]
    return None


#: names IPython keeps in the namespace for itself: a Reply there would break the kernel
_IPYTHON_NAMES = frozenset({"In", "Out", "get_ipython", "exit", "quit", "display", "_", "__", "___",
                            "_i", "_ii", "_iii", "_oh", "_ih", "_dh", "_sh", "_exit_code", "_poe"})


def check_output_name(name: str | None) -> None:
    """Refuse an ``-o NAME`` that is not a plain variable name: not an identifier, a keyword
    (``True``, ``None``, ``class``), a dunder (``__builtins__``, ``__name__``), IPython's own
    (``In``, ``Out``, ``get_ipython``, ``_i3``) or a builtin (``print``); one line, nothing sent."""
    if not name:
        return
    if not name.isidentifier():
        raise E.PoeUsageError(f"-o needs a Python variable name, got {name!r}")
    why = ("is a Python keyword" if keyword.iskeyword(name) or keyword.issoftkeyword(name)
           else "is a special (dunder) name" if name.startswith("__") and name.endswith("__")
           else "is IPython's own name" if name in _IPYTHON_NAMES or re.fullmatch(r"_[io]?h?\d+|_i+", name)
           else "would hide the builtin of that name" if hasattr(builtins, name)
           else "")
    if why:
        raise E.PoeUsageError(f"-o {name!r} {why}; choose another name such as answer (nothing was sent)")


def store(magics: Any, reply: Any, name: str | None) -> None:
    """Make the reply reachable as ``_poe`` (always) and under ``-o NAME`` (checked by
    :func:`run_cell` before anything is sent)."""
    namespace = magics.shell.user_ns
    namespace["_poe"] = reply
    if name:
        namespace[name] = reply
