"""The display-sink family: where live output goes (a notebook output, a terminal, or nowhere).

Every live view of poe_magic (a streaming answer, the comparison grid, a batch's progress bar,
a long history download) is a sink of one of three kinds, chosen by :func:`choose_sink`:

- a :class:`NotebookSink` owns one output of the cell that started it, shown once and then
  updated in place (``display_id``), identical updates skipped, updates counted; it may be
  updated from another thread (a batch's loop thread) and still lands in that cell;
- a :class:`TerminalSink` writes text to a stream (terminal IPython, scripts);
- a :class:`SilentSink` shows nothing (``stream=False``, ``progress=False``).

One ``DisplayHandle.update()`` costs ~0.7 ms of kernel time, so live views throttle their
updates (:class:`Throttle`) and always send the exact final state last.
"""

from __future__ import annotations

import itertools
import secrets
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO, TypeVar

from poe_magic.base.secrets import mask_pieces

Bundle = dict[str, Any]
N = TypeVar("N")
T = TypeVar("T")


def in_kernel() -> bool:
    """True inside a Jupyter kernel (a frontend renders rich output)."""
    if "IPython" not in sys.modules:
        return False
    from IPython import get_ipython

    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


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
    """One output of the current cell, shown on the first :meth:`publish` and updated in place
    after; identical bundles are not sent again. Safe to publish from another thread: the
    output stays in the cell that made the sink."""

    def __init__(self, like: NotebookSink | None = None) -> None:
        """``like``: an output shown in the same cell as that sink (made from any thread)."""
        from IPython import get_ipython

        self.updates = 0  # display messages sent after the first, for tests and benchmarks
        self._handle: Any = None
        self._sent: tuple[Any, ...] | None = None  # what was shown last, as a fingerprint (not a copy)
        self._shell: Any
        self._parent: Any
        if like is not None:
            self._shell, self._parent = like._shell, like._parent
            return
        self._shell = get_ipython()
        get_parent = getattr(self._shell, "get_parent", None)
        self._parent = get_parent() if get_parent is not None else None

    @property
    def shown(self) -> bool:
        return self._handle is not None

    def publish(self, bundle: Bundle, metadata: dict[str, Any] | None = None) -> None:
        """Show ``bundle`` (first call) or put it in place of what this sink showed; with
        ``metadata``, the output's metadata too (a saved notebook keeps it)."""
        bundle = {k: mask_pieces(v) if isinstance(v, str) else v for k, v in bundle.items()}  # no key piece shows
        sent = _fingerprint(bundle)
        if sent == self._sent and metadata is None:
            return
        self._sent = sent
        set_parent = getattr(self._shell, "set_thread_parent", None)
        tokens = set_parent(self._parent) if set_parent is not None and self._parent else None
        try:
            if self._handle is None:
                from IPython.display import display

                self._handle = display(bundle, raw=True, display_id=_new_display_id(), metadata=metadata)
            else:
                self._handle.update(bundle, raw=True, metadata=metadata)
                self.updates += 1
        finally:
            if tokens is not None:
                self._shell.reset_thread_parent(tokens)


_ID_PREFIX, _ids = secrets.token_hex(5), itertools.count(1)


def _new_display_id() -> str:
    """A display id unique in this process and, by its random prefix, across kernels: 12-odd
    characters where IPython's uuid4 takes 32, in every message that updates an output."""
    return f"{_ID_PREFIX}{next(_ids):x}"


def _fingerprint(bundle: Bundle) -> tuple[Any, ...]:
    """What tells two bundles apart, without keeping them: a sink lives as long as its reply's
    cost watchers (often the whole session), and its last bundle may be a 100 KB answer."""
    return tuple(sorted((key, len(value), hash(value)) if isinstance(value, str) else (key, -1, repr(value))
                        for key, value in bundle.items()))


class NotebookOutputs:
    """A run of outputs of one cell that a view shows as one (e.g. an answer's frozen blocks and
    its open tail): output ``i`` is shown on its first :meth:`publish` (after the others) and
    updated in place after, so only the part that changed is sent again."""

    BLANK: Bundle = {"text/plain": ""}  # what an output no longer needed shows

    def __init__(self, first: NotebookSink | None = None) -> None:
        """``first``: output 0 (made on the thread whose cell the outputs belong to)."""
        self.outputs: list[NotebookSink] = [first if first is not None else NotebookSink()]

    @property
    def updates(self) -> int:
        return sum(out.updates for out in self.outputs)

    def __len__(self) -> int:
        return sum(out.shown for out in self.outputs)

    def publish(self, i: int, bundle: Bundle, metadata: dict[str, Any] | None = None) -> None:
        """Show ``bundle`` as output ``i`` (``i`` at most the number shown: outputs stay in order)."""
        while len(self.outputs) <= i:
            self.outputs.append(NotebookSink(like=self.outputs[0]))
        self.outputs[i].publish(bundle, metadata)

    def blank_from(self, i: int) -> None:
        """Empty the outputs from ``i`` on (a view that shrank; a cell's outputs cannot be removed)."""
        for out in self.outputs[i:]:
            if out.shown:
                out.publish(self.BLANK)


class TerminalSink:
    """Text on a stream (stdout by default), flushed as it is written."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out if out is not None else sys.stdout

    @property
    def tty(self) -> bool:
        return bool(getattr(self.out, "isatty", lambda: False)())

    def write(self, text: str) -> None:
        self.out.write(mask_pieces(text))
        self.out.flush()


class SilentSink:
    """Shows nothing: every method of every sink is a no-op here."""

    behind = False  # (the comparison grid asks whether a sink lags behind)
    updates = 0

    def __getattr__(self, name: str) -> Callable[..., None]:
        if name.startswith("__"):
            raise AttributeError(name)
        return _nothing


def _nothing(*args: Any, **kwargs: Any) -> None:
    return None


def choose_sink(show: bool, notebook: Callable[[], N], terminal: Callable[[], T]) -> N | T | SilentSink:
    """The sink for where we run: ``notebook()`` in a kernel, ``terminal()`` elsewhere, a
    :class:`SilentSink` when nothing is to be shown."""
    if not show:
        return SilentSink()
    return notebook() if in_kernel() else terminal()
