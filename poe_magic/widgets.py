"""Widgets: a searchable model picker and a small chat panel (ipywidgets, imported lazily).

``model_picker()`` is bound to ``settings.default_model`` (``multiple=True``: to
``settings.compare_models``): choosing a model makes the next ``%%poe`` cell without a model
name use it, and ``%poe use`` moves the picker's selection too.

``chat()`` streams each answer on the private loop and renders it from a worker thread, so
the kernel stays free while a model answers (run other cells meanwhile); Stop cancels the
stream and keeps the partial answer. Without a widget frontend (a terminal, an old
frontend) both show a plain-text explanation instead of failing.
"""

from __future__ import annotations

import html
import threading
import weakref
from typing import Any, Optional

from . import _errors as E
from .aliases import choice_listeners, set_choice
from .catalog import catalog, for_listing, matches, parse_models
from .config import Settings, settings as default_settings
from .reply import Reply

CHAT_THROTTLE = 0.1  # seconds between widget updates while an answer streams (10/s)
CHAT_HEIGHT = "32em"  # the conversation scrolls beyond this


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


# -- model picker ---------------------------------------------------------------------------------

_pickers: "weakref.WeakSet[ModelPicker]" = weakref.WeakSet()


def _follow_choice(default_model: str, compare_models: list[str]) -> None:
    for picker in list(_pickers):
        picker.follow()


class ModelPicker(_Panel):
    """A text filter over the catalogue and a list showing each model's owner and modalities."""

    def __init__(self, multiple: bool = False, rows: int = 10, settings: Settings = default_settings) -> None:
        self.multiple, self.settings = multiple, settings
        everything, self.problem = _records(settings)
        self.records = for_listing(everything)  # real models first; no test-only bots
        self._by_id = {r["id"]: r for r in everything}  # a chosen test bot still shows
        self._quiet = False  # True while we change the list ourselves (not the user)
        w = _ipywidgets()
        if w is None:
            return
        self.filter = w.Text(placeholder="filter: name, owner, description or modality (e.g. image)",
                             continuous_update=True, layout=w.Layout(width="auto", flex="1 1 auto"))
        self.count = w.HTML()
        kind = w.SelectMultiple if multiple else w.Select
        self.list = kind(options=[], rows=rows, layout=w.Layout(width="auto"))
        self.list.add_class("poe-model-list")
        self.status = w.HTML()
        self.box = w.VBox([w.HBox([self.filter, self.count]), self.list, self.status],
                          layout=w.Layout(max_width="720px"))
        self.box.add_class("poe-model-picker")
        self.filter.observe(lambda change: self.refilter(), "value")
        self.list.observe(self._chosen, "value")
        self.refilter()
        if _follow_choice not in choice_listeners:
            choice_listeners.append(_follow_choice)
        _pickers.add(self)

    @property
    def value(self) -> Any:
        """The chosen model id (``multiple=True``: the list of ids)."""
        return list(self.settings.compare_models) if self.multiple else self.settings.default_model

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
        if self.box is None:
            return
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


# -- chat panel -----------------------------------------------------------------------------------

class ChatPanel(_Panel):
    """Model picker, prompt box, Send/Stop/New chat, and the conversation as streamed Markdown."""

    def __init__(self, model: Optional[str] = None, settings: Settings = default_settings) -> None:
        from .client import resolve_model

        self.settings = settings
        self.replies: list[Reply] = []
        self._stream: Any = None
        self._worker: Optional[threading.Thread] = None
        self._lock = threading.Lock()
        everything, self.problem = _records(settings)
        start = resolve_model(model, settings) if model else settings.default_model
        w = _ipywidgets()
        if w is None:
            return
        records = for_listing(everything)  # real models first; a test-only bot only when asked for
        records += [r for r in everything if r["id"] == start and r not in records]
        options = [(_label(r), r["id"]) for r in records]
        if start and self.problem:  # no catalogue: offer the model we have
            options.insert(0, (start, start))
        ids = [value for _, value in options]
        self.model = w.Dropdown(options=options, value=start if start in ids else None, layout=w.Layout(width="auto"))
        # continuous_update=False: the text syncs once, on blur, i.e. *before* the Send click
        # arrives; per-keystroke syncs are throttled by ipywidgets and could land after it.
        # No key shortcut: ipywidgets' Textarea reports no key events (Ctrl+Enter would need a
        # custom widget or frontend extension), and a one-line Text that sends on Enter would
        # lose multi-line prompts; the placeholder says to click Send.
        self.prompt = w.Textarea(placeholder="Ask something, then click Send", rows=3,
                                 continuous_update=False, layout=w.Layout(width="auto"))
        self.send = w.Button(description="Send", button_style="primary", icon="paper-plane")
        self.stop = w.Button(description="Stop", icon="stop", disabled=True)
        self.clear = w.Button(description="New chat", icon="eraser")
        self.log = w.VBox(layout=w.Layout(flex="0 0 auto"))  # the turns, oldest first
        # at most CHAT_HEIGHT tall, then a scroll bar; column-reverse keeps the view pinned to
        # the bottom (the newest answer) while it grows, unless the reader scrolls up
        self.scroller = w.Box([self.log], layout=w.Layout(flex_flow="column-reverse", max_height=CHAT_HEIGHT,
                                                          overflow="auto"))
        self.status = w.HTML()
        self.send.on_click(lambda _: self.submit())
        self.stop.on_click(lambda _: self.interrupt())
        self.clear.on_click(lambda _: self.reset())
        for widget, name in ((self.log, "poe-chat-log"), (self.scroller, "poe-chat-scroll"),
                             (self.model, "poe-chat-model"),
                             (self.prompt, "poe-chat-prompt"), (self.status, "poe-chat-status")):
            widget.add_class(name)
        self.box = w.VBox([self.scroller, self.model, self.prompt, w.HBox([self.send, self.stop, self.clear]),
                           self.status], layout=w.Layout(max_width="760px"))
        self.box.add_class("poe-chat")
        self._w = w
        self._show_status()

    # -- actions (button callbacks run on the kernel thread and return at once) ----------------
    def submit(self, text: Optional[str] = None) -> Optional[Reply]:
        """Send the prompt box (or ``text``) with the conversation so far; returns the live
        Reply, which fills in while the answer streams on a worker thread."""
        from .client import LiveStream, build_request, new_reply, preflight, resolve_model
        from .transport import Message

        prompt = (self.prompt.value if text is None else text).strip()
        if self.busy:
            self._show_status("An answer is still streaming: wait for it, or Stop it first.")
            return None
        if not prompt or self.model.value is None:
            self._show_status("Type a message first." if prompt else "Pick a model first.")
            return None
        try:
            model = resolve_model(self.model.value, self.settings)
            history = [m for r in self.replies if r.text for m in
                       (Message("user", r.prompt), Message("bot", r.text))]
            request = build_request(prompt, model, history=history)
            self.settings.api_key()  # no key: say so here, before anything is drawn
            preflight(request)
        except E.PoeMagicError as error:
            self._show_status(f"⚠ {type(error).__name__}: {error}")
            return None
        reply = new_reply(request, prompt)
        self.replies.append(reply)
        self.prompt.value = ""
        self.send.disabled, self.stop.disabled = True, False
        self._stream = LiveStream(request, settings=self.settings)
        self._add_turn(reply)
        self._worker = threading.Thread(target=self._pump, args=(reply, self._stream),
                                        name="poe_magic-chat", daemon=True)
        self._worker.start()
        self._show_status()
        return reply

    def interrupt(self) -> None:
        """Stop the answer that is streaming; its partial text is kept."""
        stream = self._stream
        if stream is not None:
            stream.cancel(wait=0.5)

    def reset(self) -> None:
        """Start a new conversation (stops a streaming answer first)."""
        self.interrupt()
        if self._worker is not None:
            self._worker.join(2)
        self.replies.clear()
        self.log.children = ()
        self._show_status()

    @property
    def busy(self) -> bool:
        """True while an answer streams."""
        return self._stream is not None

    def wait(self, timeout: Optional[float] = None) -> None:
        """Block until the current answer has finished (for scripts and tests)."""
        if self._worker is not None:
            self._worker.join(timeout)

    # -- the worker thread ------------------------------------------------------------------------
    def _pump(self, reply: Reply, stream: Any) -> None:
        from .api import remember
        from .client import Accumulator, consume, finish_reply
        from .render import Throttle

        acc, throttle = Accumulator(reply), Throttle(max(self.settings.throttle_interval, CHAT_THROTTLE))

        def changed(tags: set[Any]) -> None:
            if tags and not acc.done and throttle.ready():
                reply.text = acc.text()
                self._render(reply, f"{reply.model} · streaming…")

        try:
            consume({0: acc}, stream.events, changed, stream.cancel)
            finish_reply(reply)
            remember(reply)
        except Exception as bug:  # never leave the panel stuck in "streaming"
            reply.error = E.PoeMagicError(f"{type(bug).__name__}: {bug}")
        finally:
            self._stream = None
            self._render(reply, reply.footer())
            self.send.disabled, self.stop.disabled = False, True
            self._show_status()

    # -- drawing ----------------------------------------------------------------------------------
    def _add_turn(self, reply: Reply) -> None:
        w = self._w
        asked = "\n".join("> " + line for line in reply.prompt.splitlines()) or ">"
        question = w.Output()
        question.outputs = (_markdown_output(f"**You** → *{reply.model}*\n\n{asked}"),)
        answer = w.Output(layout=w.Layout(border_left="3px solid #5d5cde", padding="0 0 0 10px",
                                          margin="0 0 10px 0"))
        answer.add_class("poe-chat-answer")
        reply._chat_output = answer  # type: ignore[attr-defined]
        self.log.children = (*self.log.children, question, answer)
        self._render(reply, f"{reply.model} · waiting for the first token…")

    def _render(self, reply: Reply, footer: str) -> None:
        from .render import markdown_bundle

        with self._lock:
            reply._chat_output.outputs = (  # type: ignore[attr-defined]
                {"output_type": "display_data", "data": markdown_bundle(reply.text, footer), "metadata": {}},)

    def _show_status(self, message: str = "") -> None:
        if not message and self.problem and not self.replies:
            message = (f"⚠ {self.problem}: " + (f"chatting with {self.model.value}" if self.model.value else
                       "no model to offer; open the panel with a model name: chat('GPT-5') or %poe chat GPT-5"))
        if not message:
            spent = [r.points for r in self.replies if r.points is not None]
            message = f"{len(self.replies)} turn{'' if len(self.replies) == 1 else 's'}"
            if spent:
                message += f" · {sum(spent):,} points spent"
            if self.busy:
                message += " · streaming (the kernel stays free: run other cells meanwhile)"
        self.status.value = f"<span class='poe-chat-status-text'>{html.escape(message)}</span>"  # errors quote input

    def fallback_text(self) -> str:
        return ("Chat panel (needs a Jupyter frontend with ipywidgets, e.g. JupyterLab or Notebook 7). "
                "Without widgets, ask with %%poe MODEL cells or poe_magic.ask(prompt, model).")


def _markdown_output(text: str) -> dict[str, Any]:
    return {"output_type": "display_data", "data": {"text/markdown": text, "text/plain": text}, "metadata": {}}


def chat(model: Optional[str] = None) -> ChatPanel:
    """A chat panel: pick a model, type, Send; answers stream in as Markdown without blocking
    the kernel; Stop interrupts; points spent are shown when the server reports them."""
    return ChatPanel(model)
