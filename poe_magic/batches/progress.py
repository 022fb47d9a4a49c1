"""How far a batch has got, and where that is shown while it runs.

:class:`BatchProgress` is a snapshot (done, failed, running, ETA, points so far) that renders
as a one-line text and as an HTML bar. A view shows it live:

- in a kernel, one display updated in place (HTML with a text/plain twin, so it renders in
  every frontend and in saved notebooks without ipywidgets). Updates come from the private
  loop's thread; each is sent with the parent header of the cell that started the batch
  (``shell.set_thread_parent``), so a background batch keeps updating its own cell while
  other cells run (JupyterLab keeps a cell's future listening after it finishes, and also
  routes ``update_display_data`` by display id);
- elsewhere, a line on stderr, rewritten with ``\\r`` on a terminal, else a line every 10 s.

The runner throttles updates (:data:`UPDATE_INTERVAL`); the final state is always sent last.
"""

from __future__ import annotations

import html
import sys
import time
from dataclasses import dataclass
from typing import Any, TextIO

from poe_magic.core.display import NotebookSink, TerminalSink, choose_sink

#: seconds between two live updates of the view (a display update costs ~0.7 ms)
UPDATE_INTERVAL = 0.5

_COLOURS = {"done": "#16a34a", "cached": "#86efac", "failed": "#dc2626", "interrupted": "#fb923c",
            "running": "#f59e0b", "not sent": "#9ca3af"}


def duration(seconds: float) -> str:
    """``42 s``, ``3m 05s``, ``1h 02m``."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


@dataclass(frozen=True)
class BatchProgress:
    """A snapshot of a batch: counts of requests by state, speed, and spending."""

    title: str
    total: int  # requests in the batch (rows x models)
    cached: int  # answered from the journal, nothing sent
    done: int  # answered now
    failed: int  # sent, and failed after retries
    running: int  # in flight
    elapsed: float  # seconds since the start
    points: float | None  # spent so far (estimated where the server did not say), None: unknown
    points_estimated: bool = False
    estimate: str = ""  # the cost estimate made before starting
    state: str = "running"  # running | finished | cancelled | stopped | interrupted
    note: str = ""  # why it stopped, throttling, ...
    not_sent: int = 0  # never sent: a bad row, or the batch stopped (budget, cancel, interrupt) first
    interrupted: int = 0  # sent, and cut off when the batch stopped (partial answers kept)

    @property
    def finished(self) -> int:
        return self.cached + self.done + self.failed + self.interrupted + self.not_sent

    @property
    def remaining(self) -> int:
        return max(0, self.total - self.finished)

    @property
    def rate(self) -> float | None:
        """Requests answered per second so far (journal hits excluded)."""
        sent = self.done + self.failed + self.interrupted
        return sent / self.elapsed if self.elapsed > 0.5 and sent else None

    @property
    def eta(self) -> float | None:
        rate = self.rate
        if self.state != "running" or not self.remaining:
            return None
        return self.remaining / rate if rate else None

    def text(self) -> str:
        """One line: ``1,234/2,000 · 3 failed · 16 running · 12.3/s · ETA 1m 02s · 4,560 points``;
        a stopped batch: ``2/8 done · 2 interrupted · 4 not sent · interrupted in 3 s``."""
        if self.state == "running" or not (self.not_sent or self.interrupted):
            bits = [f"{self.title}: {self.finished:,}/{self.total:,}"]
        else:  # "8/8" would read as if every request had been made
            bits = [f"{self.title}: {self.done + self.cached:,}/{self.total:,} done"]
        if self.cached:
            bits.append(f"{self.cached:,} from journal")
        if self.failed:
            bits.append(f"{self.failed:,} failed")
        if self.interrupted:
            bits.append(f"{self.interrupted:,} interrupted")
        if self.not_sent:
            bits.append(f"{self.not_sent:,} not sent")
        if self.running:
            bits.append(f"{self.running:,} running")
        if self.rate:
            bits.append(f"{self.rate:.1f}/s")
        if self.eta is not None:
            bits.append(f"ETA {duration(self.eta)}")
        elif self.state != "running":
            bits.append(f"{self.state} in {duration(self.elapsed)}")
        if self.points is not None:
            bits.append(f"{'~' if self.points_estimated else ''}{self.points:,.0f} points")
        if self.estimate and self.state == "running":
            bits.append(self.estimate)
        if self.note:
            bits.append(self.note)
        return " · ".join(bits)

    def html(self) -> str:
        total = max(1, self.total)
        parts = [("done", self.done), ("cached", self.cached), ("failed", self.failed),
                 ("interrupted", self.interrupted), ("running", self.running), ("not sent", self.not_sent)]
        bar = "".join(f'<div title="{name}: {count:,}" style="width:{100 * count / total:.2f}%;'
                      f'background:{_COLOURS[name]}"></div>' for name, count in parts if count)
        return (
            '<div class="poe-batch" style="font-size:13px;max-width:48em">'
            '<div style="display:flex;height:10px;background:#e5e7eb;border-radius:5px;overflow:hidden;'
            f'margin:2px 0 4px 0">{bar}</div>'
            f"<div>{html.escape(self.text())}</div></div>"
        )

    def bundle(self) -> dict[str, str]:
        return {"text/plain": self.text(), "text/html": self.html()}

    def _repr_html_(self) -> str:
        return self.html()

    def __repr__(self) -> str:
        return f"<BatchProgress {self.text()}>"


class ProgressNotebookSink(NotebookSink):
    """One output in the cell that started the batch, updated in place from any thread."""

    def __init__(self, first: BatchProgress) -> None:
        super().__init__()
        self.publish(first.bundle())

    def show(self, progress: BatchProgress) -> None:
        self.publish(progress.bundle(), getattr(self, "metadata", None))  # metadata: the batch id (run.py)


class ProgressTerminalSink(TerminalSink):
    """A progress line on a text stream (stderr by default)."""

    def __init__(self, first: BatchProgress, out: TextIO | None = None) -> None:
        super().__init__(out if out is not None else sys.stderr)
        self.interval = UPDATE_INTERVAL if self.tty else 10.0
        self._last = 0.0
        self.show(first)

    def show(self, progress: BatchProgress) -> None:
        final = progress.state != "running"
        now = time.monotonic()
        if not final and now - self._last < self.interval:
            return
        self._last = now
        if self.tty:
            self.write("\r\x1b[2K" + progress.text() + ("\n" if final else ""))
        else:
            self.write(progress.text() + "\n")


def progress_sink(first: BatchProgress, enabled: bool = True) -> Any:
    """The batch's progress sink for where we run (``progress=False``: a SilentSink)."""
    return choose_sink(enabled, lambda: ProgressNotebookSink(first), lambda: ProgressTerminalSink(first))
