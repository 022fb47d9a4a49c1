"""The session: what this kernel remembers between calls.

One :class:`Session` per process holds every piece of state that outlives a call: the last
answer, and one state object per feature (the ledger's calls and budget, the conversation
threads, the files uploaded, the last comparison and batch, ...). Core knows no feature: a
feature asks for its own state by class (``current().state(Ledger)``), made on first use.
:func:`new_session` starts over with nothing remembered (tests use it; so can a user).
"""

from __future__ import annotations

import threading
from typing import Any, TypeVar

from poe_magic.core.reply import Reply

T = TypeVar("T")


class Session:
    """What this kernel remembers: the last answer, and each feature's own state."""

    def __init__(self) -> None:
        self.last_reply: Reply | None = None
        self._states: dict[type, Any] = {}
        self._lock = threading.Lock()  # a batch's helper thread and the kernel thread may ask at once

    def state(self, kind: type[T]) -> T:
        """This session's instance of ``kind`` (a feature's state class, made with ``kind()``
        on first use)."""
        with self._lock:
            found = self._states.get(kind)
            if found is None:
                found = self._states[kind] = kind()
            return found

    def close(self) -> None:
        """End the session: each feature's state that has a ``close()`` stops what it started."""
        with self._lock:
            states = list(self._states.values())
        for state in states:
            closing = getattr(state, "close", None)
            if callable(closing):
                closing()

    def __repr__(self) -> str:
        kinds = ", ".join(sorted(k.__name__ for k in self._states)) or "nothing yet"
        return f"<Session: {kinds}>"


_current = Session()


def current() -> Session:
    """The session every call of this process records into."""
    return _current


def new_session() -> Session:
    """Forget everything this process remembered (last answer, ledger, threads, ...) and
    start a fresh session; returns it."""
    global _current
    old, _current = _current, Session()
    old.close()
    return _current


def last_reply() -> Reply | None:
    """The most recent Reply of this kernel (also ``_poe`` in the notebook namespace)."""
    return _current.last_reply


def remember(reply: Reply) -> None:
    """Record a finished reply as the last one."""
    _current.last_reply = reply
