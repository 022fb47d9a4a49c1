"""Display sinks: turn a live Reply into throttled notebook updates or terminal text.

One ``DisplayHandle.update()`` costs ~0.7 ms of kernel time, so the notebook sink updates at
most once per ``throttle_interval`` (default 50 ms, i.e. 20/s) and always sends the exact
final state last. Outside a kernel (terminal IPython, plain Python) answers are printed as
plain text as they arrive.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from poe_magic.core.reply import Reply, closed_markdown

Bundle = dict[str, Any]


def in_kernel() -> bool:
    """True inside a Jupyter kernel (a frontend renders rich output)."""
    if "IPython" not in sys.modules:
        return False
    from IPython import get_ipython

    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


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


class Throttle:
    """Says when enough time has passed since the last display update."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._last = 0.0

    def ready(self) -> bool:
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            return True
        return False


class NotebookSink:
    """Streams a Reply into one display, updated in place via ``display_id``.

    Callers throttle (see :class:`Throttle`); ``finish`` always sends the exact final state.
    """

    def __init__(self, fmt: str = "markdown") -> None:
        self.render = FORMATS[fmt]
        self.updates = 0  # display messages sent, for tests and benchmarks
        self._handle: Any = None
        self._shown: tuple[str, str] | None = None

    def start(self, reply: Reply) -> None:
        from IPython.display import display

        status = f"{reply.model} · waiting for the first token…"
        self._shown = ("", status)
        self._handle = display(self.render("", status), raw=True, display_id=True)

    def _show(self, text: str, footer: str) -> None:
        if self._shown == (text, footer):
            return
        self._shown = (text, footer)
        self._handle.update(self.render(text, footer), raw=True)
        self.updates += 1

    def update(self, reply: Reply) -> None:
        self._show(reply.text, f"{reply.model} · streaming…")

    def status(self, reply: Reply, text: str) -> None:
        self._show(reply.text, f"{reply.model} · {text}")

    def finish(self, reply: Reply) -> None:
        # a failure is named briefly: the one-line error under the display says the rest
        self._show(reply.text, reply.footer(brief=True))

    def redraw(self, text: str, footer: str) -> None:
        """Show ``text`` in place of the answer (e.g. its image links, once the images are
        embedded below, replaced by a note)."""
        self._show(text, footer)


class TerminalSink:
    """Prints the answer as plain text while it streams (terminal IPython, scripts)."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self._printed = ""
        self._status = ""

    def start(self, reply: Reply) -> None:
        self._printed = ""

    def update(self, reply: Reply) -> None:
        text = reply.text
        if text.startswith(self._printed):
            self.out.write(text[len(self._printed):])
        else:  # the bot replaced its answer: start over on a new line
            self.out.write("\n" + text)
        self._printed = text
        self.out.flush()

    def status(self, reply: Reply, text: str) -> None:
        if text != self._status:
            self._status = text
            newline = "\n" if self._printed and not self._printed.endswith("\n") else ""  # e.g. between tool calls
            self.out.write(f"{newline}[{text}]\n")
            self.out.flush()

    def finish(self, reply: Reply) -> None:
        self.update(reply)
        self.out.write(f"\n-- {reply.footer(brief=True)}\n")  # the raised one-line error says the rest
        self.out.flush()


class SilentSink:
    """Shows nothing (``stream=False`` and batch runs)."""

    def start(self, reply: Reply) -> None: ...
    def update(self, reply: Reply) -> None: ...
    def status(self, reply: Reply, text: str) -> None: ...
    def finish(self, reply: Reply) -> None: ...


def default_sink(fmt: str = "markdown", stream: bool = True) -> Any:
    """The right sink for where we run."""
    if not stream:
        return SilentSink()
    if in_kernel():
        return NotebookSink(fmt)
    return TerminalSink()
