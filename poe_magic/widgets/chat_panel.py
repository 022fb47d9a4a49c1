"""The chat panel behind ``chat()`` / ``%poe chat``: a model dropdown, an optional system
prompt, a prompt box, Send/Stop/New chat, and the conversation as streamed Markdown.

Each answer streams on the private loop and is drawn from a worker thread, so the kernel
stays free while a model answers (run other cells meanwhile); Stop cancels the stream and
keeps the partial answer.

The conversation is a :class:`~poe_magic.prompting.threads.Thread`: a private one by default, or with
``thread="NAME"`` the very thread ``%%poe --chat NAME`` cells continue, so a conversation can
move between cells and the panel. History and recording are the thread's (a stopped or failed
answer with text is kept as a partial turn); turns that cells add are drawn at the next Send.
"""

from __future__ import annotations

import html
import threading
from typing import Any

import ipywidgets as w
import traitlets

from poe_magic.base import errors as E
from poe_magic.base.config import Settings
from poe_magic.base.config import settings as default_settings
from poe_magic.base.text import plural
from poe_magic.catalog.listing import for_listing
from poe_magic.catalog.resolve import resolve_model
from poe_magic.core.markdown_html import markdown_to_html
from poe_magic.core.reply import Reply
from poe_magic.core.session import remember
from poe_magic.prompting import threads
from poe_magic.prompting.pipeline import AnswerStream
from poe_magic.prompting.threads import Chat, Thread, Turn
from poe_magic.widgets.chat_turn import TurnView
from poe_magic.widgets.chat_turn import markdown_output as _markdown_output
from poe_magic.widgets.common import _label, _Panel, _records, snapshot_note
from poe_magic.wire.request import build_request

CHAT_THROTTLE = 0.1  # seconds between widget updates while an answer streams (10/s)
CHAT_HEIGHT = "32em"  # the conversation scrolls beyond this
_PRIVATE = "(panel)"  # the name of a panel's own thread (never listed by %poe threads)


class ChatPanel(_Panel):
    """Model picker, system prompt, prompt box, Send/Stop/New chat, and the conversation.

    A VBox: it can go into a user's layout; ``value`` is the model picked in its dropdown
    (observe it, link it, or set it)."""

    #: the model the next message goes to (the dropdown's value)
    value = traitlets.Any(None, allow_none=True)

    def __init__(self, model: str | None = None, *, thread: Chat = None, system: str | None = None,
                 settings: Settings = default_settings) -> None:
        super().__init__(layout=w.Layout(max_width="760px"))
        self.settings = settings
        self.thread_name = threads.thread_name(thread)  # None: the panel's private thread
        self._private = Thread(_PRIVATE)
        self.replies: list[Reply] = []  # the answers this panel asked for (points spent)
        self._drawn: list[Turn] = []  # the thread's turns shown in the log
        self._stream: Any = None
        self._worker: threading.Thread | None = None
        self._lock = threading.Lock()
        everything, self.problem = _records(settings)
        current = self.thread
        start = resolve_model(model, settings) if model else (current.model or settings.default_model)
        self.model = w.Dropdown(options=self._options(everything, start), layout=w.Layout(width="auto"))
        offered = [value for _, value in self.model.options]
        # no model asked for and no default: the first one listed, so Send works at once
        self.model.value = start if start in offered else (offered[0] if offered and not start else None)
        # continuous_update=False: the text syncs once, on blur, i.e. *before* the Send click
        # arrives; per-keystroke syncs are throttled by ipywidgets and could land after it.
        # No key shortcut: ipywidgets' Textarea reports no key events (Ctrl+Enter would need a
        # custom widget or frontend extension), and a one-line Text that sends on Enter would
        # lose multi-line prompts; the placeholder says to click Send.
        self.prompt = w.Textarea(placeholder="Ask something, then click Send", rows=3,
                                 continuous_update=False, layout=w.Layout(width="auto"))
        # the system prompt sent with every turn, exactly as shown (empty: none); it starts as
        # the thread's, and is collapsed away while empty
        self.system = w.Textarea(value=system if system is not None else current.system or "", rows=2,
                                 placeholder="Optional: how the model should answer, e.g. 'Be brief'",
                                 continuous_update=False, layout=w.Layout(width="auto"))
        self.system_box = w.Accordion(children=[self.system], selected_index=0 if self.system.value else None)
        self.system.observe(lambda change: self._title_system(), "value")
        self._title_system()
        # (.send_button and .conversation: .send and .log are the Widget's own names)
        self.send_button = w.Button(description="Send", button_style="primary", icon="paper-plane")
        self.stop = w.Button(description="Stop", icon="stop", disabled=True)
        self.clear = w.Button(description="New chat", icon="eraser")
        self.conversation = w.VBox(layout=w.Layout(flex="0 0 auto"))  # the turns, oldest first
        # at most CHAT_HEIGHT tall, then a scroll bar; column-reverse keeps the view pinned to
        # the bottom (the newest answer) while it grows, unless the reader scrolls up
        self.scroller = w.Box([self.conversation], layout=w.Layout(flex_flow="column-reverse", max_height=CHAT_HEIGHT,
                                                          overflow="auto"))
        self.status = w.HTML()
        self.send_button.on_click(lambda _: self.submit())
        self.stop.on_click(lambda _: self.interrupt())
        self.clear.on_click(lambda _: self.reset())
        for widget, name in ((self.conversation, "poe-chat-log"), (self.scroller, "poe-chat-scroll"),
                             (self.model, "poe-chat-model"), (self.system_box, "poe-chat-system"),
                             (self.prompt, "poe-chat-prompt"), (self.status, "poe-chat-status")):
            widget.add_class(name)
        self.children = (self.scroller, self.model, self.system_box, self.prompt,
                         w.HBox([self.send_button, self.stop, self.clear]), self.status)
        self.add_class("poe-chat")
        traitlets.link((self.model, "value"), (self, "value"))
        self._catch_up()  # a named thread's earlier turns
        self._show_status()

    def _options(self, everything: list[dict[str, Any]], start: str) -> list[tuple[str, str]]:
        records = for_listing(everything)  # real models first; a test-only bot only when asked for
        records += [r for r in everything if r["id"] == start and r not in records]
        options = [(_label(r), r["id"]) for r in records]
        if start and self.problem:  # no catalogue: offer the model we have
            options.insert(0, (start, start))
        return options

    @property
    def thread(self) -> Thread:
        """The conversation the panel continues (a named thread not started yet: an empty one)."""
        if self.thread_name is None:
            return self._private
        found = threads.get_thread(self.thread_name)
        return Thread(self.thread_name) if found is None else found

    # -- actions (button callbacks run on the kernel thread and return at once) ----------------
    def submit(self, text: str | None = None) -> Reply | None:
        """Send the prompt box (or ``text``) with the thread's earlier turns and the system
        prompt; returns the live Reply, which fills in while the answer streams on a worker thread."""

        prompt = (self.prompt.value if text is None else text).strip()
        if self.busy:
            self._show_status("An answer is still streaming: wait for it, or Stop it first.")
            return None
        if not prompt or self.model.value is None:
            self._show_status("Pick a model first." if prompt else "Type a message first.")
            return None
        self._catch_up()  # turns that cells added since
        try:
            model, options = self.thread.next_turn(resolve_model(self.model.value, self.settings), {})
            options["system"] = self.system.value.strip() or None  # the field, as shown
            request = build_request(prompt, model, **options)
            self.settings.api_key()  # no key: say so here, before anything is drawn
            answer = AnswerStream(request, prompt=prompt, sink=_PanelSink(self), settings=self.settings,
                                  interval=max(self.settings.throttle_interval, CHAT_THROTTLE),
                                  on_end=lambda reply: self._record(request, reply))
            reply = answer.start()  # the pipeline's checks (budget) refuse here: nothing sent
        except E.PoeMagicError as error:
            self._show_status(f"⚠ {type(error).__name__}: {error}")
            return None
        self.replies.append(reply)
        self.prompt.value = ""
        self.send_button.disabled, self.stop.disabled = True, False
        self._stream = answer
        reply._chat_output = self._draw_turn(prompt, model)  # type: ignore[attr-defined]
        self._render(reply, f"{reply.model} · waiting for the first token…")
        self._worker = threading.Thread(target=self._pump, args=(answer,), name="poe_magic-chat", daemon=True)
        self._worker.start()
        self._show_status()
        return reply

    def interrupt(self) -> None:
        """Stop the answer that is streaming; its partial text is kept."""
        answer = self._stream
        if answer is not None:
            answer.close()
            if self._worker is not None:
                self._worker.join(0.5)

    def reset(self) -> None:
        """Start a new, private conversation (stops a streaming answer first). A named
        thread is kept as it is: ``%%poe --chat NAME`` still continues it."""
        self.interrupt()
        if self._worker is not None:
            self._worker.join(2)
        self.thread_name, self._private = None, Thread(_PRIVATE)
        self.replies.clear()
        self._drawn.clear()
        self.conversation.children = ()
        self._show_status()
        self._refresh_snapshot()

    def close(self) -> None:
        """Close the panel (and its views); an answer still streaming is stopped first."""
        self.interrupt()
        super().close()

    @property
    def busy(self) -> bool:
        """True while an answer streams."""
        return self._stream is not None

    def wait(self, timeout: float | None = None) -> None:
        """Block until the current answer has finished (for scripts and tests)."""
        if self._worker is not None:
            self._worker.join(timeout)

    # -- the worker thread ------------------------------------------------------------------------
    def _pump(self, answer: AnswerStream) -> None:
        reply = answer.start()
        try:
            answer.run()  # the pipeline: stream, finish (files, cost), then _record
        except Exception as bug:  # never leave the panel stuck in "streaming"
            reply.error = E.PoeMagicError(f"{type(bug).__name__}: {bug}")
        finally:
            self._stream = None
            self._render(reply, reply.footer(), final=True)
            self.send_button.disabled, self.stop.disabled = False, True
            self._show_status()
            self._refresh_snapshot()
            reply.watch_points(self._points_found)  # costs are found after the answer, often

    def _points_found(self, reply: Reply) -> None:
        """The cost arrived (another thread, maybe much later): footer and status say it."""
        self._render(reply, reply.footer(), final=True)
        self._show_status()

    def _record(self, request: Any, reply: Reply) -> None:
        """The finished turn, recorded the way ``%%poe --chat`` records (partial turns marked),
        then remembered as the last reply."""
        turn = (threads.record(self.thread_name, request, reply) if self.thread_name
                else self._private.add(request, reply))
        if turn is not None:
            self._drawn.append(turn)
        remember(reply)

    # -- drawing ----------------------------------------------------------------------------------
    def _catch_up(self) -> None:
        """Draw the thread's turns the log does not show yet (added by ``%%poe --chat``
        cells); a thread forgotten meanwhile (``%poe reset``) starts the log over."""
        turns = self.thread.turns
        if self._drawn and not any(turn is self._drawn[-1] for turn in turns):
            self._drawn.clear()
            self.conversation.children = ()
        for turn in turns:
            if not any(turn is drawn for drawn in self._drawn):
                footer = turn.model + (" · ⏹ partial" if turn.partial else "")
                self._draw_turn(turn.prompt, turn.model).show_whole(turn.answer, footer)
                self._drawn.append(turn)

    def _draw_turn(self, prompt: str, model: str) -> TurnView:
        """Add a question to the log; returns the (empty) view its answer goes into."""
        asked = "\n".join("> " + line for line in prompt.splitlines()) or ">"
        question = w.Output()
        question.outputs = (_markdown_output(f"**You** → *{model}*\n\n{asked}"),)
        answer = TurnView()
        self.conversation.children = (*self.conversation.children, question, answer.box)
        return answer

    def _render(self, reply: Reply, footer: str, final: bool = False) -> None:
        with self._lock:
            reply._chat_output.render(reply.text, footer, final)  # type: ignore[attr-defined]

    def _title_system(self) -> None:
        text = " ".join(self.system.value.split())
        shown = text if len(text) <= 60 else text[:60] + "…"
        self.system_box.set_title(0, f"System prompt: {shown}" if text else "System prompt (none)")

    def _show_status(self, message: str = "") -> None:
        if not message and self.problem and not self.replies:
            message = (f"⚠ {self.problem}: " + (f"chatting with {self.model.value}" if self.model.value else
                       "no model to offer; open the panel with a model name: chat('GPT-5') or %poe chat GPT-5"))
        if not message:
            where = f"thread '{self.thread_name}'" if self.thread_name else "this panel's own thread"
            message = f"{plural(len(self.thread) + self.busy, 'turn')} in {where}"
            spent = [r.points for r in self.replies if r.points is not None]
            if spent:
                message += f" · {sum(spent):,} points spent"
            if self.busy:
                message += " · streaming (the kernel stays free: run other cells meanwhile)"
        self.status.value = f"<span class='poe-chat-status-text'>{html.escape(message, quote=False)}</span>"  # errors quote input

    def snapshot(self) -> dict[str, str]:
        """The conversation as static HTML (finished turns, then an answer still streaming)."""
        turns = [(t.prompt, t.model, t.answer, " · ⏹ partial" if t.partial else "") for t in self.thread.turns]
        streaming = self._stream
        if streaming is not None and self.replies:
            reply = self.replies[-1]
            turns.append((reply.prompt, reply.model, reply.text, " · streaming when saved"))
        where = f"thread '{self.thread_name}'" if self.thread_name else "chat panel"
        title = f"Chat snapshot ({where}): {plural(len(turns), 'turn')}"
        parts = [f"<p><b>You</b> → <i>{html.escape(model)}</i></p><blockquote>{html.escape(prompt)}</blockquote>"
                 f"<div style='border-left:3px solid #5d5cde;padding-left:10px'>{markdown_to_html(answer)}"
                 f"<p><sub>{html.escape(model + note)}</sub></p></div>" for prompt, model, answer, note in turns]
        plain = "\n\n".join(f"You → {model}: {prompt}\n{answer}" for prompt, model, answer, _ in turns)
        return {"text/plain": f"{title}\n\n{plain}".strip(),
                "text/html": f"<details class='poe-chat-snapshot'><summary>{html.escape(title)} "
                             f"{snapshot_note('(a static copy kept in the saved notebook)')}</summary>"
                             f"{''.join(parts)}</details>"}

    def fallback_text(self) -> str:
        where = f" (thread {self.thread_name!r})" if self.thread_name else ""
        return (f"Chat panel{where} (needs a Jupyter frontend with ipywidgets, e.g. JupyterLab or Notebook 7). "
                "Without widgets, ask with %%poe MODEL cells or poe_magic.ask(prompt, model)"
                + (f", or continue this thread with %%poe --chat {self.thread_name}." if self.thread_name else "."))


class _PanelSink:
    """Live updates of the panel's streaming turn (the pipeline throttles them)."""

    def __init__(self, panel: Any) -> None:
        self.panel = panel

    def start(self, reply: Reply) -> None: ...

    def update(self, reply: Reply) -> None:
        self.panel._render(reply, f"{reply.model} · streaming…")

    def status(self, reply: Reply, text: str) -> None:
        self.panel._render(reply, f"{reply.model} · {text}")  # e.g. "retrying in 2 s"

    def finish(self, reply: Reply) -> None: ...


def chat(model: str | None = None, *, thread: Chat = None, system: str | None = None) -> ChatPanel:
    """A chat panel: pick a model, type, Send; answers stream in as Markdown without blocking
    the kernel; Stop interrupts; points spent are shown when the server reports them.

    ``system`` fills the panel's system-prompt field. ``thread="NAME"`` (``True``: the thread
    ``default``) continues and records into the same thread as ``%%poe --chat NAME`` cells;
    without it the panel keeps a private thread of its own."""

    return ChatPanel(model, thread=thread, system=system)
