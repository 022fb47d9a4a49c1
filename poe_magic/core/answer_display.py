"""Sinks for one streaming answer: Markdown outputs updated in place, or text in a terminal.

The notebook sink shows the answer with a footer (model, timings, points, what went wrong; its
own output once the answer ended, so a late cost re-sends only the footer), its finished
blocks frozen and only the open tail sent again (traffic linear in the answer); callers throttle updates and ``finish`` always sends the exact final state. The terminal sink
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
from poe_magic.core.frozen_parts import FrozenParts
from poe_magic.core.reply import Reply, closed_markdown
from poe_magic.core.safe_markdown import safe_markdown


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
    return {"text/markdown": f"<sub>{footer}</sub>", "text/plain": footer}


#: how each output format renders a (text, footer) pair; extended by other modules
FORMATS: dict[str, Callable[[str, str], Bundle]] = {
    "markdown": markdown_bundle,
    "text": text_bundle,
}


#: formats whose answer may be shown block by block (code and HTML need the whole text at once)
BLOCKWISE = {"markdown", "text"}
#: a live update is sent once the text grew by 1/GROWTH of what it sends, or MAX_WAIT seconds
#: after the last (longer for a tail past TAIL_FREE characters, e.g. one huge code block): the
#: bytes sent stay a few times the answer, at least two updates a second while text arrives
GROWTH, MAX_WAIT, TAIL_FREE = 3, 0.5, 4096
#: seconds without text before the display says it is waiting for the first token
FIRST_WAIT = 0.3


class AnswerNotebookSink(NotebookSink):
    """Streams a Reply into the cell: while it streams, finished Markdown blocks are frozen into
    outputs sent once and only the open tail (the last output, with the footer) is sent again;
    at the end the first output shows the whole answer and the others are emptied.

    So the traffic to the frontend, and the Markdown it renders, stay linear in the answer
    (issue 19): each live update costs the open block, not the answer so far, and is held back
    (at most ``MAX_WAIT`` s, then a timer shows it) until the text grew by a third of what it
    would send; the frozen parts stay few (:mod:`~poe_magic.core.frozen_parts`). The final state
    is one output with the exact answer (Markdown and text; emptied outputs, ``text/plain``
    ``""``, show nothing), then the footer as its own small output carrying
    ``metadata["poe_magic"]``: a cost found later updates that output alone (issue 26).
    """

    def __init__(self, fmt: str = "markdown") -> None:
        super().__init__()  # output 0 (the cell is fixed here, on the calling thread)
        self.render = FORMATS[fmt]
        self.blockwise = fmt in BLOCKWISE
        self.view = NotebookOutputs(first=self)  # (self.updates counts output 0; view.updates all)
        self._frozen = FrozenParts()
        self._sent_len = -1  # length of the text the tail last showed
        self._sent_at = 0.0
        self._lock = threading.RLock()  # a flush timer may show what an update held back
        self._pending: tuple[str, str] | None = None
        self._timer: threading.Timer | None = None
        self._ended = False
        self.fmt = fmt
        self.footer: NotebookSink | None = None  # its own output once the answer ended
        self._footer_sent: tuple[str, dict[str, Any]] | None = None
        self._waiting: threading.Timer | None = None  # shows "waiting for the first token" if it is slow

    def start(self, reply: Reply) -> None:
        """Say "waiting for the first token" only if it does not come within FIRST_WAIT s (most
        answers start sooner: one message less, issue 26)."""
        with self._lock:
            self._waiting = threading.Timer(FIRST_WAIT, self._show_waiting, (reply.model,))
            self._waiting.daemon = True
            self._waiting.start()

    def _show_waiting(self, model: str) -> None:
        with self._lock:
            if not self._ended and not self.shown:
                self._show("", f"{model} · waiting for the first token…", force=True)

    def _stop_waiting(self) -> None:
        if self._waiting is not None:
            self._waiting.cancel()
            self._waiting = None

    def update(self, reply: Reply) -> None:
        with self._lock:
            self._stop_waiting()
            self._show(reply.text, f"{reply.model} · streaming…")

    def status(self, reply: Reply, text: str) -> None:
        with self._lock:
            self._stop_waiting()
            self._show(reply.text, f"{reply.model} · {text}", force=True)

    def finish(self, reply: Reply) -> None:
        with self._lock:
            self._ended = True
            self._stop_waiting()
            if self._timer is not None:
                self._timer.cancel()
        self._whole(reply.text)  # the answer alone, sent once: never again for its cost
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

    def _whole(self, text: str) -> None:
        """The whole answer in the first output (sent once, at the end), the others emptied.
        The sink keeps no copy of it (it lives as long as the reply's cost watchers)."""
        with self._lock:
            self.view.publish(0, self.render(text, ""))
            self.view.blank_from(1)
            self._frozen = FrozenParts()
            self._pending = None

    def redraw(self, text: str, footer: str = "") -> None:
        """Show ``text`` in place of the answer (e.g. its image links, once the images are
        embedded below, replaced by a note); the footer output stays as it is."""
        self._whole(text)

    def _show(self, text: str, footer: str, *, force: bool = False) -> None:
        """Show ``text`` live: new frozen parts, then the tail (held back while not worth its bytes)."""
        if self.blockwise:
            parts, levels, tail = self._frozen.layout(text)
        else:
            parts, levels, tail = [], [], text
        wait = MAX_WAIT * max(1.0, len(tail) / TAIL_FREE)
        since = time.monotonic() - self._sent_at
        if not force and self._sent_len > 0 and (len(text) - self._sent_len) * GROWTH < len(tail) + 100 \
                and since < wait:
            self._pending = (text, footer)
            if self._timer is None:  # shown by then unless more text comes first
                self._timer = threading.Timer(wait - since, self._flush)
                self._timer.daemon = True
                self._timer.start()
            return
        self._pending = None
        shown = self._frozen.parts
        changed = next((i for i, part in enumerate(shown) if i >= len(parts) or part != parts[i]), None)
        if changed is not None:  # parts merged (or the answer replaced): empty what follows first,
            self.view.blank_from(changed + 1)  # so the frontend never shows a part twice
        for i, part in enumerate(parts):
            if i >= len(shown) or part != shown[i]:
                self.view.publish(i, _live(self.render(part, "")))
        self._frozen.accept(parts, levels)
        self.view.publish(len(parts), _live(self.render(tail, footer)))
        self.view.blank_from(len(parts) + 1)  # (a replaced answer may need fewer outputs)
        self._sent_len, self._sent_at = len(text), time.monotonic()

    def _flush(self) -> None:
        with self._lock:
            self._timer = None
            if self._pending is not None and not self._ended:
                self._show(*self._pending, force=True)


def _live(bundle: Bundle) -> Bundle:
    """A live bundle: its rich type alone (``text/plain`` comes with the final state)."""
    if len(bundle) > 1:
        bundle.pop("text/plain", None)
    return bundle


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
