"""The model picker: a searchable list of the catalogue bound to the default model (an ipywidgets VBox).

``model_picker()`` is bound to ``settings.default_model`` (``multiple=True``: to
``settings.compare_models``): choosing a model makes the next ``%%poe`` cell without a model
name use it, and ``%poe use`` moves the picker's selection too. It is a real widget: its
``value`` trait (the picked model id, or the tuple of ids) can be observed, linked or set, and
the picker can sit in a user's ``HBox``.

Without a widget frontend (a terminal, an old frontend) it shows a plain-text explanation
instead of failing (as the chat panel, :mod:`poe_magic.widgets.chat_panel`, does).
"""

from __future__ import annotations

import html
import weakref
from typing import Any

import ipywidgets as w
import traitlets

from poe_magic.base.config import Settings
from poe_magic.base.config import settings as default_settings
from poe_magic.catalog.choosing import set_choice
from poe_magic.catalog.listing import for_listing, matches
from poe_magic.catalog.resolve import resolve_name
from poe_magic.widgets.common import _label, _Panel, _records, snapshot_note


class ModelPicker(_Panel):
    """A text filter over the catalogue and a list showing each model's owner and modalities."""

    #: the picked model id (``multiple=True``: a tuple of ids); None when none is picked
    value = traitlets.Any(None, allow_none=True)

    def __init__(self, multiple: bool = False, rows: int = 10, settings: Settings = default_settings) -> None:
        super().__init__(layout=w.Layout(max_width="720px"))
        self.multiple, self.settings = multiple, settings
        everything, self.problem = _records(settings)
        self.records = for_listing(everything)  # real models first; no test-only bots
        self._by_id = {r["id"]: r for r in everything}  # a chosen test bot still shows
        self._quiet = False  # True while we change the list ourselves (not the user)
        self.filter = w.Text(placeholder="filter: name, owner, description or modality (e.g. image)",
                             continuous_update=True, layout=w.Layout(width="auto", flex="1 1 auto"))
        self.count = w.HTML()
        kind = w.SelectMultiple if multiple else w.Select
        self.list = kind(options=[], rows=rows, layout=w.Layout(width="auto"))
        self.list.add_class("poe-model-list")
        self.status = w.HTML()
        self.children = (w.HBox([self.filter, self.count]), self.list, self.status)
        self.add_class("poe-model-picker")
        self.filter.observe(lambda change: self.refilter(), "value")
        self.list.observe(self._chosen, "value")
        self.value = self._current()
        self.observe(self._value_set, "value")
        self.refilter()
        _follow_settings(self)

    @traitlets.validate("value")
    def _canonical(self, proposal: dict[str, Any]) -> Any:
        """The name as the catalogue spells it (``claude-sonnet-4`` -> ``Claude-Sonnet-4``),
        before links and observers see it; an unknown name raises its one-line error and the
        value stays as it was."""
        new = proposal["value"]
        if new is None or new == "" or new == ():
            return None if not self.multiple else ()
        if new == self._current():  # the settings' own choice (following %poe use): shown as it is
            return new
        if self.multiple:
            names = [new] if isinstance(new, str) else list(new)
            return tuple(dict.fromkeys(resolve_name(str(m), self.settings) for m in names))
        return resolve_name(str(new), self.settings)

    def _current(self) -> Any:
        return tuple(self.settings.compare_models) if self.multiple else (self.settings.default_model or None)

    def _value_set(self, change: dict[str, Any]) -> None:
        """``picker.value = ...`` (or a link): make it the choice, as a click would."""
        new = change["new"]
        if new == self._current():
            return
        try:
            if self.multiple:
                ids = [resolve_name(str(m), self.settings) for m in (new or ())]
                set_choice(compare_models=list(dict.fromkeys(ids)), settings=self.settings)
            elif new:
                set_choice(default_model=resolve_name(str(new), self.settings), settings=self.settings)
        except Exception:
            self.value = self._current()  # an unknown name: the picker keeps the real choice
            raise

    def refilter(self) -> None:
        """Show the models matching the filter; the current choice stays listed while multiple."""
        query = self.filter.value.strip()
        shown = [r for r in self.records if not query or matches(r, query)]
        if self.multiple:  # keep chosen models visible, so filtering never drops them
            chosen = [self._by_id[m] for m in self.settings.compare_models if m in self._by_id]
            shown = [r for r in chosen if r not in shown] + shown
        elif not query and self.settings.default_model not in {r["id"] for r in shown}:
            shown = [self._by_id[m] for m in [self.settings.default_model] if m in self._by_id] + shown
        self._quiet = True
        try:
            self.list.options = [(_label(r), r["id"]) for r in shown]
            self._select_current()
        finally:
            self._quiet = False
        self.count.value = f"<span style='white-space:nowrap'>&nbsp;{len(shown)} of {len(self.records)} models</span>"
        self._describe()

    def follow(self) -> None:
        """Show the settings' current choice (after ``%poe use`` and the like)."""
        self.value = self._current()  # observers and links see every change of choice
        self._refresh_snapshot()
        if self.multiple:
            self.refilter()
            return
        self._quiet = True
        try:
            self._select_current()
        finally:
            self._quiet = False
        self._describe()

    def _select_current(self) -> None:
        ids = {value for _, value in self.list.options}
        if self.multiple:
            self.list.value = tuple(m for m in self.settings.compare_models if m in ids)
        elif self.settings.default_model in ids:
            self.list.value = self.settings.default_model
        else:
            self.list.index = None  # the default is filtered out (or unset): select nothing

    def _chosen(self, change: dict[str, Any]) -> None:
        if self._quiet:
            return
        if self.multiple:
            visible = {value for _, value in self.list.options}
            hidden = [m for m in self.settings.compare_models if m not in visible]
            set_choice(compare_models=hidden + list(change["new"]), settings=self.settings)
        elif change["new"]:
            set_choice(default_model=change["new"], settings=self.settings)

    def _describe(self) -> None:
        if self.problem:
            self.status.value = (f"<span class='poe-picker-status'>⚠ {html.escape(self.problem)}; "
                                 f"<code>%poe use MODEL</code> still sets the default "
                                 f"(now: {html.escape(self.settings.default_model or 'none')})</span>")
            return
        if self.multiple:
            chosen = self.settings.compare_models
            text = (f"Comparison set ({len(chosen)}): <b>{', '.join(chosen)}</b>; <code>%%poe --compare</code> "
                    "and <code>compare(prompt)</code> use it" if chosen else
                    "Select several models (Ctrl/Shift+click) for the default comparison set")
        else:
            model = self.settings.default_model
            text = (f"Default model: <b>{model}</b>; a <code>%%poe</code> cell without a model name uses it"
                    if model else "Click a model to make it the default for <code>%%poe</code> cells")
        self.status.value = f"<span class='poe-picker-status'>{text}</span>"

    def snapshot(self) -> dict[str, str]:
        what = "Comparison set" if self.multiple else "Default model"
        current = ", ".join(self.settings.compare_models) if self.multiple else self.settings.default_model
        text = f"{what}: {current or '(none)'}"
        return {"text/plain": text, "text/html": f"<div class='poe-picker-snapshot'>{html.escape(what)}: <b>"
                f"{html.escape(current or '(none)')}</b> {snapshot_note('(as last picked; kept in the saved notebook)')}"
                "</div>"}

    def fallback_text(self) -> str:
        what = "comparison set" if self.multiple else "default model"
        current = ", ".join(self.settings.compare_models) if self.multiple else self.settings.default_model
        return (f"Model picker ({len(self.records)} models; needs a Jupyter frontend with ipywidgets). "
                f"Current {what}: {current or '(none)'}. Without widgets: %poe models [FILTER] to search, "
                f"%poe use MODEL{' MODEL ...' if self.multiple else ''} to choose.")


def model_picker(multiple: bool = False, rows: int = 10) -> ModelPicker:
    """A searchable model picker bound to the default model (``multiple=True``: to the
    default comparison set)."""
    return ModelPicker(multiple=multiple, rows=rows)




def _follow_settings(picker: ModelPicker) -> None:
    """Move the picker's selection when the settings' choice changes (``%poe use``, another
    picker); held weakly, so a picker nobody shows any more can go."""
    follow = weakref.WeakMethod(picker.follow)
    settings = picker.settings

    def changed(change: Any) -> None:
        method = follow()
        if method is None:
            settings.unobserve(changed, names=["default_model", "compare_models"])
        else:
            method()

    settings.observe(changed, names=["default_model", "compare_models"])
