"""Just enough docstring parsing for tool schemas: the description and per-parameter text,
from Google (``Args:``), NumPy (``Parameters`` + dashes) and reST (``:param x:``) styles."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import cast

_GOOGLE_HEADER = re.compile(
    r"^(Args|Arguments|Parameters|Params|Keyword Args|Keyword Arguments|Other Parameters|Returns?|Raises|"
    r"Yields?|Examples?|Notes?|Attributes|See Also|Warnings?|References|Todo)\s*:\s*$", re.IGNORECASE)
_GOOGLE_PARAMS = {"args", "arguments", "parameters", "params", "keyword args", "keyword arguments", "other parameters"}
_NUMPY_PARAMS = {"parameters", "other parameters", "keyword arguments"}
_DASHES = re.compile(r"^\s*-{3,}\s*$")
_REST_FIELD = re.compile(r"^:(\w+)([^:]*):\s*(.*)$")
_GOOGLE_ENTRY = re.compile(r"^\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


@dataclass
class Doc:
    description: str = ""
    params: dict[str, str] = field(default_factory=dict)


def parse_docstring(doc: str) -> Doc:
    """The description (text before the first section) and ``{parameter: text}``."""
    lines = doc.expandtabs().splitlines()
    result = Doc()
    start = len(lines)
    for i, line in enumerate(lines):
        stripped = line.strip()
        numpy = i + 1 < len(lines) and _DASHES.match(lines[i + 1]) and stripped and not line[0].isspace()
        if _GOOGLE_HEADER.match(stripped) or numpy or _REST_FIELD.match(stripped):
            start = i
            break
    result.description = "\n".join(lines[:start]).strip()
    i = start
    while i < len(lines):
        stripped = lines[i].strip()
        header = stripped.rstrip(":").strip().lower()
        if i + 1 < len(lines) and _DASHES.match(lines[i + 1]) and stripped:
            body, i = _block(lines, i + 2, numpy=True)
            if header in _NUMPY_PARAMS:
                _numpy_params(body, result.params)
            continue
        if _GOOGLE_HEADER.match(stripped):
            body, i = _block(lines, i + 1, numpy=False)
            if header in _GOOGLE_PARAMS:
                _google_params(body, result.params)
            continue
        match = _REST_FIELD.match(stripped)
        if match:
            body, i = _block(lines, i + 1, numpy=False)
            kind, target, text = match.groups()
            words = target.split()
            if kind in ("param", "parameter", "arg", "argument", "key", "keyword") and words:
                result.params[words[-1].lstrip("*")] = _join([text, *body])
            continue
        i += 1
    return result


def _block(lines: list[str], i: int, *, numpy: bool) -> tuple[list[str], int]:
    """Lines of one section: indented lines (Google/reST) or up to the next header (NumPy)."""
    body: list[str] = []
    while i < len(lines):
        line = lines[i]
        if numpy:
            if i + 1 < len(lines) and _DASHES.match(lines[i + 1]) and line.strip():
                break
        elif line.strip() and not line[0].isspace():
            break
        body.append(line)
        i += 1
    return body, i


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _google_params(body: list[str], params: dict[str, str]) -> None:
    entry_indent = min((_indent(line) for line in body if line.strip()), default=0)
    name, text = "", cast(list[str], [])
    for line in body + [""]:
        if line.strip() and _indent(line) == entry_indent:
            if name:
                params[name] = _join(text)
            match = _GOOGLE_ENTRY.match(line.strip())
            name, text = (match.group(1), [match.group(2)]) if match else ("", [])
        elif line.strip():
            text.append(line)
    if name:
        params[name] = _join(text)


def _numpy_params(body: list[str], params: dict[str, str]) -> None:
    names: list[str] = []
    text: list[str] = []
    for line in body + ["<end>"]:
        if line.strip() and not line[0].isspace():
            for n in names:
                params[n] = _join(text)
            head = line.split(":", 1)[0]
            names = [n.strip().lstrip("*") for n in head.split(",") if n.strip()]
            text = []
        elif line.strip():
            text.append(line)


def _join(parts: list[str]) -> str:
    return " ".join(" ".join(parts).split())
