"""Sinks for one streaming answer: a Markdown output updated in place, or text in a terminal.

The notebook sink shows the answer with a footer (model, timings, points, what went wrong);
callers throttle updates and ``finish`` always sends the exact final state. The terminal sink
prints the answer as it arrives. Both are of the :mod:`poe_magic.core.display` family.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TextIO

from poe_magic.core.display import Bundle, NotebookSink, SilentSink, TerminalSink, choose_sink
from poe_magic.core.reply import Reply, closed_markdown


def markdown_bundle(text: str, footer: str = "") -> Bundle:
    body = closed_markdown(text)
    if footer:
        body += f"\n\n<sub>{footer}</sub>"
    return {"text/markdown": body, "text/plain": text + (f"\n\n{footer}" if footer else "")}


def text_bundle(text: str, footer: str = "") -> Bundle:
    return {"text/plain": text + (f"\n\n{footer}" if footer else "")}


#: how each output format renders a (text, footer) pair; extended by other modules
FORMATS: dict[str, Callable[[str, str], Bundle]] = {
    "markdown": markdown_bundle,
    "text": text_bundle,
}


class AnswerNotebookSink(NotebookSink):
    """Streams a Reply into one output of the cell, updated in place."""

    def __init__(self, fmt: str = "markdown") -> None:
        super().__init__()
        self.render = FORMATS[fmt]
        self._shown: tuple[str, str] | None = None
        self._final_text: str | None = None  # what redraw() put in place of the answer

    def start(self, reply: Reply) -> None:
        self._show("", f"{reply.model} · waiting for the first token…")

    def _show(self, text: str, footer: str, metadata: dict[str, Any] | None = None) -> None:
        if self._shown == (text, footer) and metadata is None:
            return
        self._shown = (text, footer)
        self.publish(self.render(text, footer), metadata)

    def update(self, reply: Reply) -> None:
        self._show(reply.text, f"{reply.model} · streaming…")

    def status(self, reply: Reply, text: str) -> None:
        self._show(reply.text, f"{reply.model} · {text}")

    def finish(self, reply: Reply) -> None:
        # a failure is named briefly: the one-line error under the display says the rest
        self._final(reply)
        # the cost may be found after the answer ended: the same output then shows it (frontends
        # update a display_id even after its cell ended)
        reply.watch_points(self._final)

    def _final(self, reply: Reply) -> None:
        self._show(self._final_text if self._final_text is not None else reply.text, reply.footer(brief=True),
                   {"poe_magic": reply.output_metadata()})

    def redraw(self, text: str, footer: str) -> None:
        """Show ``text`` in place of the answer (e.g. its image links, once the images are
        embedded below, replaced by a note); later footer updates keep it."""
        self._final_text = text
        self._show(text, footer)


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
