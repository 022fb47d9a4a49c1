"""The ``code`` and ``html`` output formats (``markdown`` and ``text`` live in :mod:`poe_magic.core.answer_display`).

- ``--format code``: the answer shows as its code only (fences and prose stripped) and, once
  complete, the code is put into a new cell below (as ``%load`` does). It is never run.
- ``--format html``: the answer is rendered as HTML (a fenced ```` ```html ```` block is unwrapped).
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Callable
from typing import Any

from poe_magic.base import errors as E
from poe_magic.core.answer_display import FORMATS, markdown_bundle
from poe_magic.core.display import Bundle
from poe_magic.core.reply import Reply

_FENCE = re.compile(r"^[ \t]*```[ \t]*([\w+#.-]*)[^\n]*\n(.*?)(?:^[ \t]*```[ \t]*$|\Z)", re.DOTALL | re.MULTILINE)


def extract_code(text: str) -> str:
    """The code of an answer: its fenced blocks joined (all of them, in order), or the whole
    text when it has no fence (a model told to answer with code only)."""
    blocks = [m.group(2).rstrip() for m in _FENCE.finditer(text)]
    code = "\n\n".join(b for b in blocks if b) if blocks else text
    return code.strip("\n")


def _language(text: str) -> str:
    match = _FENCE.search(text)
    return (match.group(1) if match else "") or "python"


def code_bundle(text: str, footer: str = "") -> Bundle:
    code = extract_code(text)
    bundle = markdown_bundle(f"```{_language(text)}\n{code}\n```" if code else "", footer)
    bundle["text/plain"] = code + (f"\n\n{footer}" if footer else "")
    return bundle


def html_bundle(text: str, footer: str = "") -> Bundle:
    blocks = [m for m in _FENCE.finditer(text) if m.group(1).lower() in ("html", "")]
    body = blocks[0].group(2) if len(blocks) == 1 and text.strip().startswith("```") else text
    foot = f'\n<div style="opacity:.7"><sub>{html_lib.escape(footer)}</sub></div>' if footer else ""
    return {"text/html": body + foot, "text/plain": text + (f"\n\n{footer}" if footer else "")}


FORMATS.setdefault("code", code_bundle)
FORMATS.setdefault("html", html_bundle)


def check_format(fmt: str) -> None:
    """One-line usage error for an unknown format (before anything is sent)."""
    if fmt not in FORMATS:
        raise E.PoeUsageError(f"--format must be one of {', '.join(sorted(FORMATS))}; got {fmt!r}")


def has_code(text: str) -> bool:
    """True when the answer holds code: a fenced block, or a whole text that parses as Python
    and is more than a bare word or number (``Paris`` parses too, but is prose)."""
    import ast

    if any(m.group(2).strip() for m in _FENCE.finditer(text)):
        return True
    try:
        tree = ast.parse(text.strip())
    except (SyntaxError, ValueError):
        return False
    return any(not (isinstance(node, ast.Expr) and isinstance(node.value, (ast.Name, ast.Constant)))
               for node in tree.body)


def _code_to_next_cell(reply: Reply) -> None:
    if not reply.ok or not reply.text:
        return  # half an answer is half a program: leave the next cell alone
    if not has_code(reply.text):  # prose would land in a code cell
        from poe_magic.base.notices import warn

        warn("poe_magic: the answer has no code block; no cell was added")
        return
    code = extract_code(reply.text)
    from IPython import get_ipython

    shell = get_ipython()
    if code and shell is not None:
        shell.set_next_input(code, replace=False)  # fills a new cell below; never runs it


#: what a format does once the answer is complete
AFTER_REPLY: dict[str, Callable[[Reply], Any]] = {"code": _code_to_next_cell}


def after_reply(fmt: str, reply: Reply) -> None:
    action = AFTER_REPLY.get(fmt)
    if action is not None:
        action(reply)
