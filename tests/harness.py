"""Run code in a real ipykernel and collect every message it publishes.

Used by the kernel tests and the benchmarks: a cell's outputs, display updates, errors and
timings come from the kernel's own iopub messages, exactly what a frontend would see.
"""

from __future__ import annotations

import atexit
import os
import queue
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from jupyter_client.manager import KernelManager


@dataclass
class CellResult:
    """Everything one execution published, in order."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    reply: dict[str, Any] = field(default_factory=dict)
    prompts: list[str] = field(default_factory=list)  # input() prompts answered (run_with_input)
    started: float = 0.0
    finished: float = 0.0

    @property
    def elapsed(self) -> float:
        return self.finished - self.started

    def of_type(self, *types: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["header"]["msg_type"] in types]

    @property
    def stdout(self) -> str:
        return "".join(m["content"]["text"] for m in self.of_type("stream") if m["content"]["name"] == "stdout")

    @property
    def stderr(self) -> str:
        return "".join(m["content"]["text"] for m in self.of_type("stream") if m["content"]["name"] == "stderr")

    @property
    def error(self) -> dict[str, Any] | None:
        errors = self.of_type("error")
        return errors[-1]["content"] if errors else None

    @property
    def update_count(self) -> int:
        return len(self.of_type("update_display_data"))

    def displays(self) -> dict[str, dict[str, Any]]:
        """Final data of each display_id (after all updates), plus unnamed displays by index."""
        shown: dict[str, dict[str, Any]] = {}
        for i, m in enumerate(self.of_type("display_data", "update_display_data", "execute_result")):
            content = m["content"]
            key = content.get("transient", {}).get("display_id") or f"#{i}"
            shown[key] = content["data"]
        return shown

    def markdown(self) -> list[str]:
        return [d["text/markdown"] for d in self.displays().values() if "text/markdown" in d]

    def all_text(self) -> str:
        """Every byte the kernel sent for this cell, for leak checks."""
        import json

        return json.dumps(self.messages, default=str) + json.dumps(self.reply, default=str)


_REMEMBER_STATE = """
def _poe_remember():
    import os, sys
    values = None
    if "poe_magic.base.config" in sys.modules:
        from poe_magic.base.config import settings
        values = {name: getattr(settings, name) for name in settings.setting_names()}
    sys._poe_test_start = (dict(os.environ), os.getcwd(), values)
_poe_remember()
del _poe_remember
"""
_RESTORE_STATE = """
def _poe_restore():
    import os, sys
    environ, cwd, values = sys._poe_test_start
    os.chdir(cwd)
    if dict(os.environ) != environ:
        os.environ.clear()
        os.environ.update(environ)
    if "poe_magic.base.config" in sys.modules:
        from poe_magic.base.config import settings
        for name in settings.setting_names():
            value = values[name] if values is not None else settings.trait_defaults(name)
            if getattr(settings, name) != value:
                try:
                    setattr(settings, name, value)
                except Exception:  # an observer the test left behind (a linked widget) objected: the value is set
                    pass
        settings.set_api_key(None)
    if "poe_magic.core.session" in sys.modules:
        sys.modules["poe_magic.core.session"].new_session()
_poe_restore()
del _poe_restore
"""


#: how test kernels talk to this process: Unix sockets on Linux and macOS, TCP on Windows
TRANSPORT = "ipc" if os.name == "posix" else "tcp"


_SOCKET_DIRS: list[str] = []


def _remove_socket_dirs() -> None:
    for folder in _SOCKET_DIRS:
        shutil.rmtree(folder, ignore_errors=True)


def kernel_manager() -> KernelManager:
    """A manager for one test kernel: over Unix sockets in a folder of its own (an absolute path:
    the kernel may run in another working directory; a shared one would race for socket names)."""
    if TRANSPORT == "tcp":
        return KernelManager(kernel_name="python3")
    if not _SOCKET_DIRS:
        atexit.register(_remove_socket_dirs)
    _SOCKET_DIRS.append(tempfile.mkdtemp(prefix="poe-kernel-"))
    return KernelManager(kernel_name="python3", transport="ipc", ip=os.path.join(_SOCKET_DIRS[-1], "k"))


def notebook_client(notebook: Any, **options: Any) -> Any:
    """An nbclient NotebookClient whose kernel talks over :data:`TRANSPORT` (as test kernels do)."""
    from nbclient import NotebookClient

    return NotebookClient(notebook, km=kernel_manager(), **options)


class Kernel:
    """A real IPython kernel in a subprocess."""

    def __init__(self, env: dict[str, str] | None = None, log: Any = None) -> None:
        """``log``: an open file that receives the kernel process's own stdout and stderr."""
        streams = {"stdout": log, "stderr": log} if log is not None else {}
        for attempt in range(3):
            # Unix sockets where there are some: no TCP port to pick, so no race with the kernels
            # other workers (or nbclient, or JupyterLab) start at the same moment
            self.manager = kernel_manager()
            self.manager.start_kernel(env={**os.environ, **(env or {})}, **streams)
            self.client = self.manager.client()
            self.client.start_channels()
            try:
                self.client.wait_for_ready(timeout=60)
                break
            except RuntimeError:  # "Kernel died before replying": over TCP, jupyter_client picks free
                # ports, then the kernel binds them; another worker's kernel may take one in between
                self.client.stop_channels()
                self.manager.shutdown_kernel(now=True)
                if attempt == 2:
                    raise
        self.remembered = False

    def run_quietly(self, code: str) -> CellResult:
        """Run ``code`` outside the cell history (execution counts and ``In`` unchanged)."""
        result = self.collect(self.client.execute(code, store_history=False))
        if result.error:
            raise AssertionError("cell failed:\n" + "\n".join(result.error["traceback"]))
        return result

    def alive(self) -> bool:
        return bool(self.manager.is_alive())

    def remember_state(self) -> None:
        """Note what :meth:`restore_state` goes back to: the environment, working directory and
        poe_magic's settings now (the isolation hooks call it once, right before the kernel's
        first test: after its fixture set it up)."""
        self.run_quietly(_REMEMBER_STATE)
        self.remembered = True

    def restore_state(self) -> None:
        """Back to the remembered state: environment, working directory, poe_magic's settings
        and key, and a new session (the isolation fixture calls this after each test)."""
        if self.remembered:
            self.run_quietly(_RESTORE_STATE)

    def submit(self, code: str, allow_stdin: bool = False) -> str:
        return self.client.execute(code, store_history=True, allow_stdin=allow_stdin)

    def collect(self, msg_id: str, timeout: float = 120.0, answers: list[str] | None = None,
                on_message: Callable[[dict[str, Any]], None] | None = None) -> CellResult:
        """Gather the cell's messages; with ``answers``, reply to its ``input()`` prompts in
        order (an empty answer once they run out), recording each prompt on ``.prompts``;
        ``on_message`` sees each message as it comes (e.g. to interrupt once text shows)."""
        result = CellResult(started=time.perf_counter())
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"cell did not finish in {timeout} s")
            if answers is not None:
                self._answer_input(result, answers)
                remaining = min(remaining, 0.05)
            try:
                msg = self.client.get_iopub_msg(timeout=remaining)
            except queue.Empty:
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            result.messages.append(msg)
            if on_message is not None:
                on_message(msg)
            if msg["header"]["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
        result.finished = time.perf_counter()
        reply = self.client.get_shell_msg(timeout=30)
        while reply["parent_header"].get("msg_id") != msg_id:  # e.g. a spare kernel_info_reply from wait_for_ready
            reply = self.client.get_shell_msg(timeout=30)
        result.reply = reply["content"]
        return result

    def run(self, code: str, timeout: float = 120.0) -> CellResult:
        return self.collect(self.submit(code), timeout)

    def run_with_input(self, code: str, answers: list[str], timeout: float = 120.0) -> CellResult:
        """Run with stdin allowed, typing ``answers`` into the cell's ``input()`` prompts."""
        return self.collect(self.submit(code, allow_stdin=True), timeout, answers=list(answers))

    def _answer_input(self, result: CellResult, answers: list[str]) -> None:
        try:
            msg = self.client.get_stdin_msg(timeout=0.01)
        except queue.Empty:
            return
        if msg["header"]["msg_type"] == "input_request":
            result.prompts.append(msg["content"]["prompt"])
            self.client.input(answers.pop(0) if answers else "")

    def run_ok(self, code: str, timeout: float = 120.0) -> CellResult:
        """Run and fail loudly (with the kernel's traceback) if the cell errored."""
        result = self.run(code, timeout)
        if result.error:
            raise AssertionError("cell failed:\n" + "\n".join(result.error["traceback"]))
        return result

    def interrupt(self) -> None:
        self.manager.interrupt_kernel()

    def value(self, expression: str) -> Any:
        """Evaluate an expression in the kernel and return it (via JSON)."""
        import json

        result = self.run_ok(f"import json as _j; print(_j.dumps({expression}))")
        return json.loads(result.stdout.strip().splitlines()[-1])

    def shutdown(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


@contextmanager
def loaded_kernel(server: Any, home: Any, prelude: str = "%load_ext poe_magic\nimport poe_magic",
                  **env: str) -> Iterator[Kernel]:
    """A real kernel pointed at ``server`` with its own ``POE_MAGIC_HOME``, ``prelude`` run in it
    (poe_magic loaded), shut down at the end: the one way the tests' shared kernels are made."""
    kernel = Kernel(env={**server.env, "POE_MAGIC_HOME": str(home), **env})
    try:
        kernel.run_ok(prelude)
        yield kernel
    finally:
        kernel.shutdown()
