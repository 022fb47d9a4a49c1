"""Undo what a test changed on shared things, so the suite passes in any order.

Used by one autouse fixture in ``conftest.py``. After every test, whatever it did:

- the test process gets back its environment variables, working directory, ``settings``
  values and API key, and a new ``Session`` (budget, ledger, threads, last reply);
- every shared local server the test used (session- or module-scoped, still running) is put
  back as launched: planned faults dropped, usage modes (history lag, skew, ...) and
  rate-limit counters reset (``LocalServer.restore``). A fault still queued is a defect of
  the test that planted it (it would fail whichever test next calls that path): the teardown
  fails, naming the fault's path and status;
- every shared kernel the test used gets back the environment, working directory and
  settings its fixture left it with (noted right before its first test), and a new session
  (``Kernel.restore_state``).

The undoing is done here, by the fixture, never by the test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from harness import Kernel

from poe_magic.base.config import settings
from poe_magic.core.session import new_session
from poe_magic.server.launch import LocalServer


@dataclass
class ProcessState:
    """What a test may change in the test process itself."""

    environ: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    cwd: str = field(default_factory=os.getcwd)
    values: dict[str, Any] = field(
        default_factory=lambda: {name: getattr(settings, name) for name in settings.setting_names()})
    key: Any = field(default_factory=lambda: settings._key)

    def restore(self) -> None:
        os.chdir(self.cwd)
        if dict(os.environ) != self.environ:
            os.environ.clear()
            os.environ.update(self.environ)
        for name, value in self.values.items():
            if getattr(settings, name) != value:
                setattr(settings, name, value)
        settings._key = self.key
        new_session()


def shared_values(funcargs: dict[str, Any], kind: type) -> Iterator[Any]:
    """The fixture values of ``kind`` this test used that outlive it (still running)."""
    seen: set[int] = set()
    for value in funcargs.values():
        candidates = value if isinstance(value, tuple) else (value,)
        for item in candidates:
            if isinstance(item, kind) and id(item) not in seen:
                seen.add(id(item))
                yield item


def restore_servers(funcargs: dict[str, Any]) -> list[str]:
    """Put every still-running server back as launched; the faults that were left, described."""
    leaks = []
    for server in shared_values(funcargs, LocalServer):
        if server.process.poll() is not None:
            continue  # the test's own server, already stopped: its state went with it
        for fault in server.restore():
            leaks.append(f"{fault['path']} -> {fault['status']} ({fault['left']} left)")
    return leaks


def remember_kernels(funcargs: dict[str, Any]) -> None:
    """Before a test's body: each shared kernel's state as its fixture left it, noted once."""
    for kernel in shared_values(funcargs, Kernel):
        if not kernel.remembered and kernel.alive():
            kernel.remember_state()


def restore_kernels(funcargs: dict[str, Any]) -> None:
    for kernel in shared_values(funcargs, Kernel):
        if kernel.alive():
            kernel.restore_state()
