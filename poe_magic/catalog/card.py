"""One model's card: ``%poe models NAME`` / ``poe_magic.model_info(NAME)``.

Everything the catalogue says about a model, readable: description, modalities, context window
and longest answer, price per 1,000 tokens in points (and USD), features, reasoning, and its
parameters (name, type / range / choices, default, description), which ``--param`` is checked
against before anything is sent. All text from the server is escaped in the HTML.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from poe_magic.base.config import Settings
from poe_magic.base.config import settings as default_settings
from poe_magic.catalog import store
from poe_magic.catalog.parameters import describe, parameters_of
from poe_magic.catalog.resolve import resolve_name, unknown_model_error
from poe_magic.catalog.table import NO_MATH

if TYPE_CHECKING:
    import pandas as pd

#: points per USD when no better rate is known (1,000,000 points = $30, as documented)
DEFAULT_POINTS_PER_USD = 1 / 0.00003


@dataclass
class ModelCard:
    """What the catalogue says about one model (``name``: the name it is asked by)."""

    name: str
    api_id: str
    owner: str = ""
    description: str = ""
    inputs: str = ""
    outputs: str = ""
    context_window: int | None = None
    max_output_tokens: int | None = None
    prices: dict[str, float | None] = field(default_factory=dict)  # USD: prompt/completion per token, ...
    features: list[str] = field(default_factory=list)
    reasoning: dict[str, Any] = field(default_factory=dict)
    params: list[dict[str, Any]] = field(default_factory=list)  # the catalogue's parameters, well-formed
    points_per_usd: float = DEFAULT_POINTS_PER_USD
    url: str = ""

    # -- the facts as short strings ---------------------------------------------------------------
    def price_lines(self) -> list[str]:
        """``input 100 points per 1,000 tokens ($0.0030)`` ...; ``price not listed`` when null."""
        out = []
        for key, unit, per in (("prompt", "input", 1000), ("completion", "output", 1000),
                               ("input_cache_read", "cached input", 1000), ("image", "image", 1),
                               ("request", "request", 1)):
            usd = self.prices.get(key)
            if usd is None:
                continue
            points = usd * per * self.points_per_usd
            shown = f"{points:,.0f}" if points >= 10 else f"{points:,.2g}"
            what = f"per {per:,} tokens" if per > 1 else f"per {unit}"
            label = unit if per > 1 else ""
            out.append(" ".join(x for x in (label, f"{shown} points {what}", f"(${usd * per:,.4g})") if x))
        return out or ["price not listed"]

    def context_text(self) -> str:
        if self.context_window is None:
            return "not listed"
        text = f"{self.context_window:,} tokens"
        return text + (f", answers up to {self.max_output_tokens:,}" if self.max_output_tokens else "")

    def reasoning_text(self) -> str:
        r = self.reasoning
        if not r or not any(r.values()):
            return "none listed"
        parts = []
        if r.get("budget"):
            parts.append(f"budget up to {int(r['budget']):,} tokens")
        if r.get("required"):
            parts.append("always reasons")
        if r.get("supports_reasoning_effort"):
            parts.append("takes reasoning_effort")
        return ", ".join(parts) or "none listed"

    def parameter_rows(self) -> list[dict[str, str]]:
        return [{"name": p["name"], "takes": describe(p["schema"]),
                 "default": "" if p.get("default_value") is None else _show(p["default_value"]),
                 "description": " ".join(str(p.get("description") or "").split())} for p in self.params]

    @property
    def parameters(self) -> pd.DataFrame:
        """The parameters table as a DataFrame (name, takes, default, description)."""
        import pandas as pd

        return pd.DataFrame(self.parameter_rows(), columns=["name", "takes", "default", "description"])

    def facts(self) -> list[tuple[str, str]]:
        return [("model", self.name + (f" (id {self.api_id})" if self.api_id != self.name else "")),
                ("owner", self.owner or "not listed"),
                ("modalities", f"{self.inputs or '?'} → {self.outputs or '?'}"),
                ("context window", self.context_text()),
                ("price", "; ".join(self.price_lines())),
                ("features", ", ".join(self.features) or "none listed"),
                ("reasoning", self.reasoning_text())]

    # -- rendering ------------------------------------------------------------------------------
    def __repr__(self) -> str:
        lines = [f"{k:>15}: {v}" for k, v in self.facts()]
        if self.description:
            lines.append(f"{'description':>15}: {self.description}")
        rows = self.parameter_rows()
        lines.append(f"{'parameters':>15}: " + ("none listed (--param values are sent as given)" if not rows else
                                                f"{len(rows)} (checked before sending)"))
        lines += [f"{'':>17}{r['name']}: {r['takes']}" + (f" (default {r['default']})" if r["default"] else "")
                  + (f" - {r['description']}" if r["description"] else "") for r in rows]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        e = html.escape
        facts = "".join(f"<tr><th style='text-align:left;padding-right:1em'>{e(k)}</th>"
                        f"<td style='text-align:left'>{e(v)}</td></tr>" for k, v in self.facts())
        desc = f"<p style='margin:4px 0'>{e(self.description)}</p>" if self.description else ""
        rows = self.parameter_rows()
        if rows:
            cells = "".join("<tr>" + "".join(f"<td style='text-align:left'>{e(r[k])}</td>" for k in
                                             ("name", "takes", "default", "description")) + "</tr>" for r in rows)
            head = "".join(f"<th style='text-align:left'>{h}</th>" for h in ("parameter", "takes", "default",
                                                                             "description"))
            params = (f"<p style='margin:6px 0 2px 0'><b>Parameters</b> (<code>--param NAME=VALUE</code>, "
                      f"checked before sending)</p><table><thead><tr>{head}</tr></thead><tbody>{cells}</tbody></table>")
        else:
            params = "<p style='margin:6px 0 2px 0'>No parameters listed: <code>--param</code> values are sent as given.</p>"
        return (f"<div class='poe-model-card {NO_MATH}'><p style='margin:0 0 4px 0'><b>{e(self.name)}</b></p>"
                f"{desc}<table style='font-size:0.9em'><tbody>{facts}</tbody></table>{params}</div>")

    def _repr_markdown_(self) -> str:
        lines = [f"**{_md(self.name)}**", ""]
        if self.description:
            lines += [_md(self.description), ""]
        lines += [f"- {k}: {_md(v)}" for k, v in self.facts()]
        rows = self.parameter_rows()
        if rows:
            lines += ["", "| parameter | takes | default | description |", "|---|---|---|---|"]
            lines += [f"| {' | '.join(_md(r[k]) for k in ('name', 'takes', 'default', 'description'))} |" for r in rows]
        return "\n".join(lines)


def card_from_entry(raw: dict[str, Any], points_per_usd: float | None = None) -> ModelCard:
    """The card of one raw catalogue entry (any field may be missing or null)."""
    record = store.parse_entry(raw) or {}
    pricing, reasoning, metadata = (store._dict(raw.get(k)) for k in ("pricing", "reasoning", "metadata"))
    return ModelCard(
        name=record.get("id") or str(raw.get("id")), api_id=record.get("api_id") or str(raw.get("id")),
        owner=record.get("owned_by") or "", description=record.get("description") or "",
        inputs=record.get("input_modalities") or "", outputs=record.get("output_modalities") or "",
        context_window=record.get("context_window"), max_output_tokens=record.get("max_output_tokens"),
        prices={k: store._float(pricing.get(k)) for k in ("prompt", "completion", "input_cache_read", "image", "request")},
        features=[f for f in (record.get("features") or "").split(",") if f],
        reasoning=dict(reasoning), params=parameters_of(raw),
        points_per_usd=points_per_usd or DEFAULT_POINTS_PER_USD,
        url=metadata["url"] if isinstance(metadata.get("url"), str) else "",
    )


def model_info(name: str, *, points_per_usd: float | None = None, settings: Settings = default_settings) -> ModelCard:
    """The card of the model ``name`` (id, display name or alias; any case): what it takes, costs
    and accepts. ``points_per_usd``: the rate used for points (default 1,000,000 points = $30)."""
    resolved = resolve_name(name.strip(), settings)
    snapshot = store.catalog(settings=settings)
    entry = snapshot.entry(resolved)
    if entry is None:
        raise unknown_model_error(name, snapshot.ids)
    return card_from_entry(entry, points_per_usd)


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _md(text: str) -> str:
    return html.escape(str(text), quote=False).replace("|", "\\|").replace("*", "\\*").replace("_", "\\_")
