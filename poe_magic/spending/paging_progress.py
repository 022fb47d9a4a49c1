"""A progress line for long history downloads: a bar in notebooks, a text line elsewhere.

Nothing shows for a quick refresh (the usual case: one page): the line appears once a download
has needed a second page and has run for ``show_after`` seconds. In a kernel it is one display updated in place (HTML ``<progress>`` bar with a
text/plain twin, no ipywidgets needed, so it renders in every frontend and in saved
notebooks), at most 4 updates a second, and removed at the end. Outside a kernel it is a
line on stderr, rewritten with ``\\r`` on a terminal, at most one line every 2 s otherwise.
"""

from __future__ import annotations

import html
import sys
import time
from typing import Any, TextIO

from poe_magic.core.display import NotebookSink, TerminalSink, in_kernel

DAY_US = 86_400 * 1_000_000


class PagingProgress:
    """How far a history download has got: entries, pages, and how far back in time."""

    show_after = 0.5  # seconds: shorter downloads show nothing

    def __init__(self, *, start_us: int, target_us: int | None, what: str = "points history",
                 out: TextIO | None = None) -> None:
        self.start_us = start_us  # newest time of the walk
        self.target_us = target_us  # how far back it means to go (None: the whole history)
        self.what = what
        self.entries = self.pages = 0
        self.oldest_us = start_us
        self.notice = ""
        self._out = out
        self._sink: NotebookSink | TerminalSink | None = None  # made when first shown
        self._last = 0.0
        self._interval = 0.25
        self._began = time.monotonic()

    # -- what the walk reports -------------------------------------------------------
    def page(self, entries: int, oldest_us: int | None) -> None:
        self.pages += 1
        self.entries += entries
        if oldest_us is not None:
            self.oldest_us = oldest_us
        self.notice = ""
        if self.pages >= 2 and time.monotonic() - self._began >= self.show_after:
            self._maybe_show()

    def wait(self, notice: str) -> None:
        """Say why nothing moves (rate limited, retrying); always shown at once."""
        self.notice = notice
        self._maybe_show(force=True)

    def close(self) -> None:
        if isinstance(self._sink, NotebookSink):
            self._sink.publish({"text/plain": ""})  # the bar disappears
        elif isinstance(self._sink, TerminalSink):
            self._sink.write("\r\x1b[2K" if self._sink.tty else self.text() + " · done\n")

    def __enter__(self) -> PagingProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- rendering -------------------------------------------------------------------
    def fraction(self) -> float:
        """Share of the time span covered so far (the API does not say how many entries exist)."""
        target = self.target_us if self.target_us is not None else self.start_us - 30 * DAY_US
        span = max(self.start_us - target, 1)
        return min(max((self.start_us - self.oldest_us) / span, 0.0), 0.99)

    def text(self) -> str:
        from datetime import datetime, timezone

        back_to = datetime.fromtimestamp(self.oldest_us / 1e6, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        line = (f"Loading {self.what}: {self.entries:,} entries, {self.pages:,} pages, "
                f"back to {back_to} ({self.fraction():.0%})")
        return line + (f" · {self.notice}" if self.notice else "")

    def _maybe_show(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self._interval:
            return
        self._last = now
        if self._sink is None:
            self._sink = NotebookSink() if self._out is None and in_kernel() else TerminalSink(self._out or sys.stderr)
            if isinstance(self._sink, TerminalSink):
                self._interval = 0.25 if self._sink.tty else 2.0
        if isinstance(self._sink, NotebookSink):
            self._sink.publish(self._bundle())
        elif self._sink.tty:
            self._sink.write("\r\x1b[2K" + self.text())
        else:
            self._sink.write(self.text() + "\n")

    def _bundle(self) -> dict[str, str]:
        text = self.text()
        bar = f'<progress value="{self.fraction():.3f}" max="1" style="width: 16em"></progress>'
        return {"text/plain": text, "text/html": f"{bar} <code>{html.escape(text)}</code>"}
