"""What the picker and the chat panel share: a VBox base with a text fallback and a static
snapshot, catalogue records as list rows.

ipywidgets is imported here, at the top: this module (and the widget modules) are imported only
when a picker or a chat panel is asked for, never by ``%load_ext``.
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets

from poe_magic.base import errors as E
from poe_magic.base.config import Settings
from poe_magic.catalog.store import catalog, parse_models
from poe_magic.core.display import in_kernel


def _ipywidgets() -> Any:
    """The ipywidgets module (kept for callers that build their children through it)."""
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


class _Panel(ipywidgets.VBox):
    """A real widget (put it in an ``HBox``, ``observe`` or ``link`` its ``value``) that shows
    its text fallback where widgets do not render, and, when displayed on its own in a kernel,
    a static snapshot of its state as a second output kept up to date, so a saved or exported
    notebook (or one reopened without its kernel) still reads right."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._snapshots: list[Any] = []  # DisplayHandles of the snapshot outputs

    @property
    def box(self) -> _Panel:
        """The panel itself (it used to wrap a box)."""
        return self

    def fallback_text(self) -> str:
        raise NotImplementedError

    def snapshot(self) -> dict[str, str]:
        """The state as a static bundle (text/html and text/plain)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.fallback_text()

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = dict(super()._repr_mimebundle_(**kwargs) or {})
        bundle["text/plain"] = self.fallback_text()  # what a frontend without widgets shows
        return bundle

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self._repr_mimebundle_(), raw=True)
        if in_kernel():  # a terminal has the text fallback already: no second copy
            self._snapshots.append(display(self.snapshot(), raw=True, display_id=True))

    def _refresh_snapshot(self) -> None:
        """Send the current state to every snapshot output (a separate output: the widget's
        own view is not re-rendered, so nothing typed into it is lost)."""
        if not self._snapshots:
            return
        bundle = self.snapshot()
        for handle in self._snapshots:
            handle.update(bundle, raw=True)


def snapshot_note(text: str) -> str:
    """The small grey line that says what a snapshot output is."""
    return f"<span style='color:#888;font-size:0.85em'>{html.escape(text)}</span>"
