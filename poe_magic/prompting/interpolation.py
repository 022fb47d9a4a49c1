"""``{name}`` in a ``%%poe`` cell: the notebook's variables, inputs and outputs in the prompt.

- ``{name}`` becomes ``str(value)`` of that notebook variable (no repr quotes); attribute,
  index and key lookups work too: ``{df.columns}``, ``{items[0]}``, ``{d['key']}``.
- ``{In[3]}`` is the source of cell 3, ``{Out[3]}`` its output (``{_}``, ``{_3}`` also work).
- pandas DataFrames and Series become Markdown tables, cut to :data:`MAX_TABLE_ROWS` rows
  and :data:`MAX_TABLE_COLUMNS` columns (cells to :data:`MAX_CELL_CHARS` characters) with a
  note saying what was left out, so one big frame cannot flood the prompt.
- ``{{`` and ``}}`` are literal braces. Braces around anything that is not a name (JSON,
  ``{"a": 1}``, a lone ``{``, code blocks) are left as they are.
- An unknown name is a one-line :class:`~poe_magic.PoeUsageError` naming it; nothing is sent.
  ``--no-interpolate`` (magic) sends the text untouched.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from poe_magic.base import errors as E
from poe_magic.base.config import settings
from poe_magic.base.text import table_cell

MAX_TABLE_ROWS = 50
MAX_TABLE_COLUMNS = 20
MAX_CELL_CHARS = 200

_FIELD = r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*|\[-?\d+\]|\['[^'\]]*'\]|\[\"[^\"\]]*\"\])*"
_TOKEN = re.compile(r"\{\{|\}\}|\{(" + _FIELD + r")\}")
_STEP = re.compile(r"\.([A-Za-z_]\w*)|\[(-?\d+)\]|\['([^'\]]*)'\]|\[\"([^\"\]]*)\"\]")


def interpolate(text: str, namespace: Mapping[str, Any]) -> str:
    """``text`` with every ``{field}`` replaced from ``namespace`` (see the module docstring)."""
    open_escapes = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal open_escapes
        token = match.group(0)
        if token == "{{":
            open_escapes += 1
            return "{"
        if token == "}}":
            if open_escapes:  # closes a {{...}}; a bare }} (nested JSON) stays as written
                open_escapes -= 1
                return "}"
            return token
        value = lookup(match.group(1), namespace)
        rendered = _rendered(match.group(1), value)
        if _is_pandas(value):  # a Markdown table must stand on lines of its own
            before = "\n" if match.start() > 0 and text[match.start() - 1] != "\n" else ""
            after = "\n" if match.end() < len(text) and text[match.end()] != "\n" else ""
            rendered = before + rendered + after
        return rendered

    return _TOKEN.sub(replace, text)


def _rendered(field: str, value: Any) -> str:
    """``value`` as prompt text, size-checked; a ``__str__`` that fails is one line."""
    try:
        rendered = as_prompt_text(value)
    except Exception as exc:  # noqa: BLE001 - a user's object: any failure is theirs, said in one line
        raise E.PoeUsageError(f"{{{field}}}: cannot turn it into text ({type(exc).__name__}: "
                              f"{str(exc)[:100]}) (nothing was sent)") from None
    _check_size(f"{{{field}}}", rendered)
    return rendered


def _check_size(what: str, text: str) -> None:
    limit = settings.max_prompt_chars
    if len(text) > limit:
        raise E.PoeUsageError(f"{what} is {len(text):,} characters, over the prompt limit of {limit:,} "
                              "(settings.max_prompt_chars); nothing was sent")


def lookup(field: str, namespace: Mapping[str, Any]) -> Any:
    """The value ``field`` (``name``, ``In[3]``, ``obj.attr``, ``d['k']``) names."""
    name = re.match(r"[A-Za-z_]\w*", field).group(0)  # type: ignore[union-attr]
    if name not in namespace:
        raise E.PoeUsageError(
            f"{{{field}}}: no variable named {name!r} (nothing was sent); define it, write "
            f"{{{{{field}}}}} for literal braces, or use --no-interpolate")
    value = namespace[name]
    for step in _STEP.finditer(field, len(name)):
        attr, index, key1, key2 = step.groups()
        try:
            if attr is not None:
                value = getattr(value, attr)
            else:
                value = value[int(index) if index is not None else (key1 if key1 is not None else key2)]
        except Exception as exc:  # noqa: BLE001 - a property or __getitem__ of the user's may raise anything
            raise E.PoeUsageError(f"{{{field}}}: {_why(name, field, exc)} (nothing was sent)") from None
    return value


def _why(name: str, field: str, exc: Exception) -> str:
    if name in ("In", "Out") and isinstance(exc, LookupError):
        return f"there is no {field} (no such cell{' output' if name == 'Out' else ''})"
    if isinstance(exc, KeyError):
        return f"no key {str(exc.args[0])[:100]!r}" if exc.args else "no such key"
    return (str(exc) or type(exc).__name__)[:200]


def as_prompt_text(value: Any) -> str:
    """How a value reads in a prompt: tables for pandas objects, ``str()`` for the rest."""
    if _is_pandas(value):
        return frame_markdown(value if type(value).__name__ == "DataFrame" else value.to_frame())
    return str(value)


def _is_pandas(value: Any) -> bool:
    """A DataFrame or Series, checked by module name: pandas is never imported here."""
    return (type(value).__module__ or "").startswith("pandas") and type(value).__name__ in ("DataFrame", "Series")


def frame_markdown(frame: Any) -> str:
    """A DataFrame as a Markdown table, cut to the limits above with a note on what is left out."""
    rows, columns = frame.shape
    shown = frame.iloc[:MAX_TABLE_ROWS, :MAX_TABLE_COLUMNS]
    index_name = _cell(" / ".join(str(n) for n in frame.index.names if n is not None))
    header = [index_name] + [_cell(c) for c in shown.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, row in zip(shown.index, shown.itertuples(index=False, name=None)):
        lines.append("| " + " | ".join([_cell(label)] + [_cell(v) for v in row]) + " |")
    left_out = []
    if rows > MAX_TABLE_ROWS:
        left_out.append(f"the first {MAX_TABLE_ROWS} of {rows:,} rows")
    if columns > MAX_TABLE_COLUMNS:
        left_out.append(f"the first {MAX_TABLE_COLUMNS} of {columns:,} columns")
    if left_out:
        lines.append(f"\n(table cut: showing {' and '.join(left_out)})")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    text = table_cell(value)
    return text if len(text) <= MAX_CELL_CHARS else text[:MAX_CELL_CHARS - 1] + "…"
