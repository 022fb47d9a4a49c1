"""One-line notices to the user through ``logging`` (the ``poe_magic`` logger), never a bare print.

A warning (storage failed, the budget is nearly spent, a stale catalogue is shown, a plain
``http://`` server) goes to stderr; a plain note (a forced call's budget line) to stdout, so
JupyterLab does not draw it as an error. Each reads ``poe_magic: ...`` on one line. The streams
are looked up when a notice is written, not when poe_magic is imported: IPython and ipykernel
replace ``sys.stderr`` per cell. A user may silence or redirect them like any library's:
``logging.getLogger("poe_magic").setLevel(logging.ERROR)``; ``once=`` says a thing once per process.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Hashable

logger = logging.getLogger("poe_magic")
_said: set[Hashable] = set()
_said_lock = threading.Lock()


class _CurrentStreams(logging.Handler):
    """Warnings to the current sys.stderr, notes to the current sys.stdout, flushed at once."""

    def emit(self, record: logging.LogRecord) -> None:
        stream = sys.stderr if record.levelno >= logging.WARNING else sys.stdout
        try:
            stream.write(self.format(record) + "\n")
            stream.flush()
        except Exception:  # noqa: BLE001 - a closed stream must not break a call
            self.handleError(record)


if not logger.handlers:
    _handler = _CurrentStreams()
    _handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(_handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # one line, not a second copy from the root logger's handler


def warn(message: str, *, once: Hashable | None = None) -> None:
    """``message`` as a one-line warning (stderr); with ``once``, only the first time per process."""
    if _first(once):
        logger.warning(message)


def note(message: str, *, once: Hashable | None = None) -> None:
    """``message`` as a plain one-line note (stdout)."""
    if _first(once):
        logger.info(message)


def _first(once: Hashable | None) -> bool:
    if once is None:
        return True
    with _said_lock:
        if once in _said:
            return False
        _said.add(once)
        return True


__all__ = ["logger", "note", "warn"]
