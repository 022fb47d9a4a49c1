"""What the picker and the chat panel share: lazy ipywidgets, catalogue records as list rows, the text fallback."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from poe_magic.base import errors as E
from poe_magic.base.config import Settings
from poe_magic.catalog.store import catalog, parse_models

if TYPE_CHECKING:
    pass


def _ipywidgets() -> Any:
    try:
        import ipywidgets
    except ImportError:
        return None
    return ipywidgets


def _records(settings: Settings) -> tuple[list[dict[str, Any]], str]:
    """(every catalogue record, "") or ([], why the catalogue could not be had): a panel
    without a model list still opens, offering the default model."""
    try:
        return parse_models(catalog(settings=settings).entries), ""
    except E.PoeMagicError as error:
        return [], f"cannot list the models ({error})"


def _label(record: dict[str, Any]) -> str:
    """``Claude-Sonnet-4 · Anthropic · text,image→text``: what a list row shows."""
    modality = f"{record['input_modalities'] or '?'}→{record['output_modalities'] or '?'}"
    return " · ".join(part for part in (record["id"], record["owned_by"], modality) if part)


class _Panel:
    """Shows its widget box where widgets render, and its text fallback everywhere else."""

    box: Any = None

    def fallback_text(self) -> str:
        raise NotImplementedError

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle = dict(self.box._repr_mimebundle_() or {}) if self.box is not None else {}
        bundle["text/plain"] = self.fallback_text()  # what a frontend without widgets shows
        return bundle

    def __repr__(self) -> str:
        return self.fallback_text()
