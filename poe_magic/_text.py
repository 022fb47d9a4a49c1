"""Small helpers for text a user reads: counted nouns and Markdown table cells."""

from __future__ import annotations

from typing import Optional


def plural(count: int, word: str, many: Optional[str] = None) -> str:
    """``plural(1, "turn")`` -> ``"1 turn"``, ``plural(3, "retry", "retries")`` -> ``"3 retries"``
    (the count with thousands separators)."""
    return f"{count:,} {word if count == 1 else (many or word + 's')}"


def table_cell(value: object) -> str:
    """``value`` on one line, safe inside a Markdown table cell: a ``|`` would end the cell
    (even inside a code span), so it is escaped as ``\\|``."""
    return " ".join(str(value).split()).replace("|", "\\|")
