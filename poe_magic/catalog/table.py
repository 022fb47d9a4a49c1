"""``%poe models [FILTER]``: the catalogue as a compact, scrollable table.

:func:`model_table` returns a :class:`ModelTable`, which renders as HTML in a notebook and as
aligned text in a terminal; ``.DataFrame()`` gives the rows as pandas.
"""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING, Any

from poe_magic.base.conventions import TEST_OWNER
from poe_magic.base.text import ago
from poe_magic.catalog.listing import matches, models

if TYPE_CHECKING:
    import pandas as pd

DESCRIPTION_CHARS = 90  # descriptions are cut here in the table (the full text is the tooltip)
# MathJax (JupyterLab, Notebook, nbconvert) typesets "$3.00 in / $15.00 out" in any output as
# inline math; these classes make MathJax 3 (mathjax_ignore) and 2 (tex2jax_ignore) skip the
# table. Escaping as \$ would show the backslash wherever MathJax is absent, and &#36; is a
# "$" again by the time MathJax reads the page.
NO_MATH = "mathjax_ignore tex2jax_ignore"


class ModelTable:
    """Some rows of the catalogue, with what was searched for and where it came from."""

    def __init__(self, frame: pd.DataFrame, search: str, total: int, hidden: int = 0) -> None:
        self.frame, self.search, self.total, self.hidden = frame, search, total, hidden

    def DataFrame(self) -> pd.DataFrame:
        """The rows shown, with every column of :func:`poe_magic.models`."""
        return self.frame.copy()

    def __len__(self) -> int:
        return len(self.frame)

    def headline(self) -> str:
        shown = len(self.frame)
        what = f"{shown} of {self.total} models" + (f" matching '{self.search}'" if self.search else "")
        if self.hidden:
            what += f" ({self.hidden} test bots hidden: --all)"
        fetched = self.frame.attrs.get("fetched_at")
        age = ""
        if fetched is not None:
            import pandas as pd

            # the time, not only "just now": a saved notebook keeps this line for months
            when = pd.Timestamp(fetched)
            when = when.tz_localize("UTC") if when.tzinfo is None else when.tz_convert("UTC")
            ago_text = ago((pd.Timestamp.now(tz="UTC") - when).total_seconds())
            age = f" · fetched {when:%Y-%m-%d %H:%M} UTC ({ago_text})"
        return f"{what} · {self.frame.attrs.get('source', '')}{age}"

    def rows(self) -> list[dict[str, str]]:
        """Each model as the short strings the table shows."""
        return [{
            "model": str(r.id),
            "owner": str(r.owned_by or ""),
            "modalities": f"{r.input_modalities or '?'!s} → {r.output_modalities or '?'!s}",
            "context": _tokens(r.context_window),
            "price": price_text(r),
            "description": str(r.description or ""),
        } for r in self.frame.itertuples(index=False)]

    def _repr_html_(self) -> str:
        head = (f"<p style='margin:0 0 4px 0'><b>{html.escape(self.headline())}</b> · "
                "<code>poe_magic.models()</code> gives the DataFrame, <code>%poe use MODEL</code> "
                "picks one</p>")
        if self.frame.empty:
            return f"<div class='poe-models {NO_MATH}'>{head}<p>No model matches; try a shorter filter.</p></div>"
        cells = "".join(
            "<tr>"
            f"<td style='text-align:left;white-space:nowrap'><code>{html.escape(row['model'])}</code></td>"
            f"<td style='text-align:left'>{html.escape(row['owner'])}</td>"
            f"<td style='text-align:left'>{html.escape(row['modalities'])}</td>"
            f"<td>{html.escape(row['context'])}</td>"
            f"<td style='text-align:left'>{html.escape(row['price'])}</td>"
            f"<td style='text-align:left' title='{html.escape(row['description'], quote=True)}'>"
            f"{html.escape(_cut(row['description']))}</td></tr>"
            for row in self.rows())
        header = "".join(f"<th style='text-align:left'>{h}</th>" for h in (
            "model", "owner", "in → out", "context", "price (USD)", "description"))
        return (f"<div class='poe-models {NO_MATH}'>{head}<div style='max-height:28em;overflow:auto'>"
                f"<table style='font-size:0.9em'><thead><tr>{header}</tr></thead>"
                f"<tbody>{cells}</tbody></table></div></div>")

    def __repr__(self) -> str:
        rows = self.rows()
        if not rows:
            return self.headline() + "\nNo model matches; try a shorter filter."
        keys = ("model", "owner", "modalities", "context", "price")
        widths = {k: max(len(k), *(len(r[k]) for r in rows)) for k in keys}
        lines = [self.headline(), "  ".join(k.ljust(widths[k]) for k in keys)]
        lines += ["  ".join(r[k].ljust(widths[k]) for k in keys) for r in rows]
        return "\n".join(lines)


def _cut(text: str) -> str:
    return text if len(text) <= DESCRIPTION_CHARS else text[:DESCRIPTION_CHARS - 1].rstrip() + "…"


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or str(value) == "<NA>"


def _tokens(value: Any) -> str:
    """``200000`` -> ``"200k"``, ``1048576`` -> ``"1M"``; empty when unknown."""
    if _missing(value):
        return ""
    value = int(value)
    if value >= 1_000_000:
        return f"{value / 1_048_576:.0f}M" if value % 1_048_576 == 0 else f"{value / 1e6:.1f}M".replace(".0M", "M")
    return f"{value / 1000:.0f}k" if value >= 1000 else str(value)


def price_text(row: Any) -> str:
    """The model's price in one short phrase (per million tokens, per image or per request)."""
    prompt, completion = getattr(row, "prompt_price", None), getattr(row, "completion_price", None)
    if not _missing(prompt) or not _missing(completion):
        per_m = [("—" if p is None or _missing(p) else f"${p * 1e6:,.2f}") for p in (prompt, completion)]
        return f"{per_m[0]} in / {per_m[1]} out per M tokens"
    for field, unit in (("image_price", "image"), ("request_price", "request")):
        value = getattr(row, field, None)
        if not _missing(value):
            return f"${value:,.4g} per {unit}"
    return ""


def model_table(search: str = "", refresh: bool = False, all: bool = False) -> ModelTable:
    """The catalogue rows matching ``search`` (every word must match the id, owner,
    description or a modality), as a table fit for a notebook; the local server's test-only
    bots are counted but left out unless ``all=True``."""
    everything = models(refresh, all=True)
    test_only = everything["owned_by"] == TEST_OWNER
    hidden = 0 if all else int(test_only.sum())
    records: list[dict[str, Any]] = everything.to_dict("records")  # type: ignore[assignment]
    keep = [(all or not hide) and (not search.strip() or matches(row, search))
            for hide, row in zip(test_only, records)]
    found = everything[keep].reset_index(drop=True)
    found.attrs = dict(everything.attrs)
    return ModelTable(found, search.strip(), len(everything) - hidden, hidden)
