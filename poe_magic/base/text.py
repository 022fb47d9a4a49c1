"""Small helpers for text a user reads: counted nouns and Markdown table cells."""

from __future__ import annotations


def plural(count: int, word: str, many: str | None = None) -> str:
    """``plural(1, "turn")`` -> ``"1 turn"``, ``plural(3, "retry", "retries")`` -> ``"3 retries"``
    (the count with thousands separators)."""
    return f"{count:,} {word if count == 1 else (many or word + 's')}"


def table_cell(value: object) -> str:
    """``value`` on one line, safe inside a Markdown table cell: a ``|`` would end the cell
    (even inside a code span), so it is escaped as ``\\|``."""
    return " ".join(str(value).split()).replace("|", "\\|")


def ago(seconds: float) -> str:
    """``just now``, ``12 min ago``, ``3 h ago``, ``4 days ago``."""
    if seconds < 90:
        return "just now"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 172800:
        return f"{seconds / 3600:.0f} h ago"
    return f"{seconds / 86400:.0f} days ago"
