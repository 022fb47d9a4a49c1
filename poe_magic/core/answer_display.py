"""Sinks for one streaming answer: Markdown outputs updated in place, or text in a terminal.

The notebook sink shows the answer with a footer (model, timings, points, what went wrong; its
own output once the answer ended, so a late cost re-sends only the footer), its finished
blocks frozen into parts sent once and only the open tail sent again, paced to stay within ~3x
the answer's bytes (:mod:`poe_magic.core.frozen_parts`); ``finish`` sends the rest of the
answer and the footer. The terminal sink
prints the answer as it arrives. Both are of the :mod:`poe_magic.core.display` family.
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

from poe_magic.base.config import settings
from poe_magic.core.display import Bundle, NotebookOutputs, NotebookSink, SilentSink, TerminalSink, choose_sink
from poe_magic.core.frozen_parts import LivePlan
from poe_magic.core.reply import Reply, closed_markdown
from poe_magic.core.safe_markdown import safe_markdown
from poe_magic.wire.loop import Later, shared_loop


def markdown_bundle(text: str, footer: str = "") -> Bundle:
    body = closed_markdown(text if settings.answer_html else safe_markdown(text))  # a model's HTML never runs
    if footer:
        body += f"\n\n<sub>{safe_markdown(footer)}</sub>"
    return {"text/markdown": body, "text/plain": text + (f"\n\n{footer}" if footer else "")}


def text_bundle(text: str, footer: str = "") -> Bundle:
    return {"text/plain": text + (f"\n\n{footer}" if footer else "")}


def footer_bundle(footer: str, fmt: str = "markdown") -> Bundle:
    """The footer alone, as its own output below a finished answer (small: a cost found late
    re-sends this, never the answer)."""
    if fmt == "text":
        return {"text/plain": footer}
    if fmt == "html":
        return {"text/html": f'<div style="opacity:.7"><sub>{html.escape(footer)}</sub></div>', "text/plain": footer}
    # Markdown alone, like the answer's outputs: every notebook frontend renders it, and a
    # text/plain copy was a tenth of a short answer's traffic (issue 26); consoles: see docs/models.md
    return {"text/markdown": f"<sub>{safe_markdown(footer)}</sub>"}


#: how each output format renders a (text, footer) pair; extended by other modules
FORMATS: dict[str, Callable[[str, str], Bundle]] = {
    "markdown": markdown_bundle,
    "text": text_bundle,
}


#: formats whose answer may be shown block by block (code and HTML need the whole text at once)
BLOCKWISE = {"markdown", "text"}
#: seconds without text before the display says it is waiting for the first token
FIRST_WAIT = 0.3


class AnswerNotebookSink(NotebookSink):
    """Streams a Reply into the cell as a run of outputs: finished Markdown blocks frozen into
    parts sent once (never again, not even at the end), then the open tail, sent again as it
    grows, paced by :class:`~poe_magic.core.frozen_parts.LivePlan` (issue 26: the traffic stays
    within ~3x the answer, at least one update a second while text arrives).

    The saved notebook shows the parts then the tail: the answer, in order. Answer outputs carry
    ``text/markdown`` alone (every notebook frontend, nbconvert and GitHub render it; a
    ``text/plain`` copy doubled the bytes for no reader). The footer (model, times, points) and
    ``metadata["poe_magic"]`` are one small output of their own once the answer ended: a cost
    found later updates that output alone (issue 26).
    """

    def __init__(self, fmt: str = "markdown") -> None:
        super().__init__()  # output 0 (the cell is fixed here, on the calling thread)
        self.render = FORMATS[fmt]
        self.view = NotebookOutputs(first=self)  # (self.updates counts output 0; view.updates all)
        self._plan = LivePlan(fmt in BLOCKWISE)
        self._lock = threading.RLock()  # a timer may show what an update held back
        self._pending: tuple[str, str] | None = None
        self._timer: Later | None = None  # on the loop's thread, not a thread per timer (see call_later)
        self._ended = False
        self.fmt = fmt
        self.footer: NotebookSink | None = None  # its own output once the answer ended
        self._footer_sent: tuple[str, dict[str, Any]] | None = None
        self._waiting: Later | None = None  # shows "waiting for the first token" if it is slow

    def start(self, reply: Reply) -> None:
        """Say "waiting for the first token" only if it does not come within FIRST_WAIT s (most
        answers start sooner: one message less, issue 26)."""
        with self._lock:
            self._waiting = shared_loop().call_later(FIRST_WAIT, self._show_waiting, reply.model)

    def _show_waiting(self, model: str) -> None:
        with self._lock:
            if not self._ended and not self.shown:
                self._send("", f"{model} · waiting for the first token…")

    def _stop_waiting(self) -> None:
        if self._waiting is not None:
            self._waiting.cancel()
            self._waiting = None

    def update(self, reply: Reply) -> None:
        with self._lock:
            self._stop_waiting()
            self._offer(reply.text, f"{reply.model} · streaming…")

    def status(self, reply: Reply, text: str) -> None:
        with self._lock:
            self._stop_waiting()
            self._send(reply.text, f"{reply.model} · {text}")

    def finish(self, reply: Reply) -> None:
        with self._lock:
            self._ended = True
            self._stop_waiting()
            self._cancel_timer()
            self._send(reply.text, "", final=True)  # the rest of the answer: the parts stay as sent
            self._plan.release()  # (the sink lives as long as the reply's cost watchers)
        # the footer (a failure named briefly: the one-line error under the display says the
        # rest) and the metadata are their own output, below the answer: the cost, often found
        # after the cell ended, updates that output alone (frontends update a display_id even
        # after its cell ended), never the answer
        self.footer = NotebookSink(like=self)
        if reply.points is None:  # (watch_points shows a known cost at once)
            self._show_footer(reply)
        reply.watch_points(self._show_footer)

    def _show_footer(self, reply: Reply) -> None:
        footer, metadata = reply.footer(brief=True), {"poe_magic": reply.output_metadata()}
        with self._lock:
            if self.footer is None or (footer, metadata) == self._footer_sent:
                return
            self._footer_sent = (footer, metadata)
            self.footer.publish(footer_bundle(footer, self.fmt), metadata)

    def redraw(self, text: str, footer: str = "") -> None:
        """Show ``text`` in place of the answer (e.g. its image links, once the images are
        embedded below, replaced by a note): the parts it still starts with are not re-sent;
        the footer output stays as it is."""
        with self._lock:
            self._send(text, "", final=True)
            self._plan.release()

    def _offer(self, text: str, footer: str) -> None:
        """Show ``text`` now if the plan says so, else when it is due (a timer)."""
        due = self._plan.due(text, time.monotonic())
        if due is None:
            return
        if due <= 0:
            self._send(text, footer)
            return
        self._pending = (text, footer)
        if self._timer is None:  # shown by then unless an update shows it first
            self._timer = shared_loop().call_later(due, self._flush)

    def _send(self, text: str, footer: str, final: bool = False) -> None:
        """New frozen parts (each sent once), then the tail with the footer."""
        self._pending = None
        self._cancel_timer()
        step = self._plan.step(text, time.monotonic(), final)
        if step.blank_from is not None:  # a replaced answer: what it changed goes first
            self.view.blank_from(step.blank_from)
        for i, part in step.parts:
            self.view.publish(i, self._bundle(part, ""))
        shown = step.tail_index < len(self.view.outputs) and self.view.outputs[step.tail_index].shown
        if step.tail or footer or shown or step.tail_index == 0:  # (no empty output after the parts)
            self.view.publish(step.tail_index, self._bundle(step.tail, footer))
        self.view.blank_from(step.tail_index + 1)

    def _bundle(self, text: str, footer: str) -> Bundle:
        """The rendered answer piece, its rich type alone (a text answer: its text)."""
        bundle = self.render(text, footer)
        if len(bundle) > 1:
            bundle.pop("text/plain", None)
        return bundle

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _flush(self) -> None:
        """The timer: show what was held back, or wait on if it is not due yet (its tail grew
        since the timer was set, and a longer tail waits longer)."""
        with self._lock:
            self._timer = None
            if self._pending is not None and not self._ended:
                self._offer(*self._pending)


class AnswerTerminalSink(TerminalSink):
    """Prints the answer as plain text while it streams (terminal IPython, scripts)."""

    def __init__(self, out: TextIO | None = None) -> None:
        super().__init__(out)
        self._printed = ""
        self._status = ""

    def start(self, reply: Reply) -> None:
        self._printed = ""

    def update(self, reply: Reply) -> None:
        text = reply.text
        if text.startswith(self._printed):
            self.write(text[len(self._printed):])
        else:  # the bot replaced its answer: start over on a new line
            self.write("\n" + text)
        self._printed = text

    def status(self, reply: Reply, text: str) -> None:
        if text != self._status:
            self._status = text
            newline = "\n" if self._printed and not self._printed.endswith("\n") else ""  # e.g. between tool calls
            self.write(f"{newline}[{text}]\n")

    def finish(self, reply: Reply) -> None:
        self.update(reply)
        self.write(f"\n-- {reply.footer(brief=True)}\n")  # the raised one-line error says the rest


def answer_sink(fmt: str = "markdown", stream: bool = True) -> Any:
    """The sink for one answer where we run (``stream=False``: a SilentSink)."""
    return choose_sink(stream, lambda: AnswerNotebookSink(fmt), AnswerTerminalSink)


__all__ = ["FORMATS", "AnswerNotebookSink", "AnswerTerminalSink", "SilentSink", "answer_sink",
           "markdown_bundle", "text_bundle"]
