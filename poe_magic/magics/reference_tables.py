"""The docs' tables of ``%%poe`` options and ``%poe`` subcommands, made from the parser and
:data:`~poe_magic.magics.commands.SUBCOMMANDS` (so they cannot fall behind the code).

The pages keep the tables between ``<!-- generated: NAME -->`` and ``<!-- end generated -->``
(readable on GitHub as they are); ``python -m poe_magic.magics.reference_tables`` rewrites
them, and the test suite fails when a committed table differs from what this module makes.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path

START = "<!-- generated: {name} -->"
END = "<!-- end generated -->"


def _cell(text: str) -> str:
    """A table cell: no ``|`` (``\\|`` would show literally on the docs site), one line."""
    return text.replace("|", "/").replace("\n", " ")


def _help(text: str | None) -> str:
    return _cell((text or "").replace("%%", "%"))  # argparse help doubles a literal %


def option_table() -> str:
    """Markdown: one row per option of ``%%poe``, with its help."""
    from poe_magic.magics.poe import PoeMagics

    rows = ["| option | what it does |", "|---|---|"]
    for action in PoeMagics.poe.parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        if not action.option_strings:
            rows.append(f"| `{action.metavar} ...` | {_help(action.help)} |")
            continue
        if action.choices:
            value = " {" + ",".join(map(str, action.choices)) + "}"
        elif action.nargs == 0:
            value = ""
        elif action.nargs == "?":
            value = f" [{action.metavar}]"
        else:
            value = f" {action.metavar}"
        names = ", ".join(f"`{option}{value}`" for option in action.option_strings)
        rows.append(f"| {names} | {_help(action.help)} |")
    return "\n".join(rows)


def subcommand_table() -> str:
    """Markdown: one row per ``%poe`` subcommand, with its one-line help."""
    from poe_magic.magics.commands import SUBCOMMANDS

    rows = ["| subcommand | what it does |", "|---|---|"]
    rows += [f"| `%poe {name}` | {_cell(text)} |" for name, (_, _, text) in SUBCOMMANDS.items()]
    rows.append("| `%poe MODEL [options] question` | a one-line question (with a default model: `%poe question`) |")
    return "\n".join(rows)


TABLES = {"poe-options": option_table, "poe-subcommands": subcommand_table}


def refreshed(text: str) -> str:
    """``text`` (a page) with each generated table made anew."""
    for name, make in TABLES.items():
        pattern = re.compile(re.escape(START.format(name=name)) + r"\n.*?" + re.escape(END), re.DOTALL)
        table = f"{START.format(name=name)}\n{make()}\n{END}"
        text = pattern.sub(_constant(table), text)  # a function: the table's backslashes stay as they are
    return text


def _constant(text: str) -> Callable[[re.Match[str]], str]:
    return lambda _: text


def main(paths: list[str]) -> int:
    for path in map(Path, paths):
        text = path.read_text(encoding="utf-8")
        new = refreshed(text)
        if new != text:
            path.write_text(new, encoding="utf-8")
            print(f"rewrote the generated tables of {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
