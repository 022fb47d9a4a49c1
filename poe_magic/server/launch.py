"""Start the bundled local Poe-compatible server from Python (tests, notebooks, demo).

The server runs in its own process (a server sharing the client's GIL halves streaming
speed) on 127.0.0.1 with a port the OS picks. The key travels in the child's environment,
not on its command line, so it never shows in ``ps``.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from poe_magic.base.config import settings
from poe_magic.base.secrets import mask_key

READY_PREFIX = "POE_LOCAL_SERVER_READY "


class LocalServer:
    """A running local server: its URL, its (throwaway) key, and test helpers."""

    def __init__(self, process: subprocess.Popen[str], url: str, key: str, log_path: str) -> None:
        self.process, self.url, self.key, self.log_path = process, url, key, log_path

    def __repr__(self) -> str:
        return f"<LocalServer {self.url} key={mask_key(self.key)}>"

    @property
    def env(self) -> dict[str, str]:
        """Environment that points poe_magic (in any process) at this server."""
        return {"POE_BASE_URL": self.url, "POE_API_KEY": self.key}

    def activate(self) -> LocalServer:
        """Point this process (and kernels it starts) at the server."""
        os.environ.update(self.env)
        settings.base_url = ""  # the environment decides
        settings.set_api_key(None)
        return self

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method, headers={
            "Authorization": f"Bearer {self.key}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"null")

    def requests(self, path_prefix: str = "") -> list[dict[str, Any]]:
        """Every request the server has seen (method, path, status, time, bot)."""
        return [r for r in self._call("GET", "/_local/requests") if r["path"].startswith(path_prefix)
                and not r["path"].startswith("/_local/")]

    def reset(self) -> None:
        """Forget the request log and pending faults."""
        self._call("POST", "/_local/reset")

    def pending_faults(self) -> list[dict[str, Any]]:
        """The planned faults not used up yet: ``[{"path", "status", "left"}]``."""
        return list(self._call("GET", "/_local/faults"))

    def restore(self) -> list[dict[str, Any]]:
        """Back to the server as launched (no planned faults, the usage modes it started with,
        fresh rate-limit counters); returns the faults that were still pending."""
        return list(self._call("POST", "/_local/restore")["faults_left"])

    def fail_next(self, path: str, status: int, count: int = 1, *, body: dict[str, Any] | None = None,
                  headers: dict[str, str] | None = None) -> None:
        """Make the next ``count`` requests to ``path`` fail with ``status``."""
        self._call("POST", "/_local/faults", {"path": path, "status": status, "count": count,
                                              "body": body, "headers": headers or {}})

    def log(self) -> str:
        """What the server wrote to stderr so far (its log; deleted by :meth:`stop`)."""
        with open(self.log_path, encoding="utf-8", errors="replace") as fh:
            return fh.read()

    def stop(self) -> None:
        """Stop the server process and delete its log file."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        with contextlib.suppress(OSError):
            os.unlink(self.log_path)  # one per server: a test suite would leave hundreds in /tmp


def start(key: str | None = None, *, args: Sequence[str] = (), timeout: float = 30.0) -> LocalServer:
    """Start a server process and wait until it accepts requests; ``args`` are extra
    ``python -m poe_magic.server`` options."""
    key = key or "local-" + secrets.token_hex(12)
    log = tempfile.NamedTemporaryFile("w", prefix="poe_magic_server_", suffix=".log", delete=False)
    env = dict(os.environ, POE_LOCAL_SERVER_KEY=key, PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        # no rate limit unless ``args`` asks for one (a later --rate-limit wins): suites send fast
        [sys.executable, "-m", "poe_magic.server", "--port", "0", "--parent-pid", str(os.getpid()),
         "--rate-limit", "0", *args],
        stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, text=True, env=env,
        # its own session: a kernel interrupt (Stop, Ctrl-C) signals the kernel's process group,
        # and must not stop the server too; --parent-pid still ends it when we exit
        start_new_session=True,
    )
    log.close()
    url = _wait_ready(process, timeout)
    if url is None:
        process.kill()
        with open(log.name, encoding="utf-8", errors="replace") as fh:
            said = fh.read()[-2000:]
        os.unlink(log.name)
        raise RuntimeError(f"the local Poe server did not start: {said}")
    return LocalServer(process, url, key, log.name)


def _wait_ready(process: subprocess.Popen[str], timeout: float) -> str | None:
    found: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith(READY_PREFIX) and not found:
                found.append(line[len(READY_PREFIX):].strip())
                ready.set()
        ready.set()  # the process ended without announcing itself

    # The reader keeps draining stdout so the child never blocks on a full pipe.
    threading.Thread(target=read, daemon=True).start()
    ready.wait(timeout)
    return found[0] if found else None


@contextmanager
def local_server(key: str | None = None, *, args: Sequence[str] = (),
                 activate: bool = False) -> Iterator[LocalServer]:
    """``with local_server() as srv:`` a fresh server for the block; ``activate=True`` also
    points this process at it for the block."""
    server = start(key, args=args)
    saved = {name: os.environ.get(name) for name in ("POE_BASE_URL", "POE_API_KEY")}
    try:
        if activate:
            server.activate()
        yield server
    finally:
        server.stop()
        if activate:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


_notebook_server: LocalServer | None = None


def start_local_server(quiet: bool = False) -> LocalServer:
    """Start (once per process) the local server and point poe_magic at it.

    Meant for a notebook's first cell when ``POE_API_KEY`` is not set; the server stops
    when the kernel exits.
    """
    global _notebook_server
    if _notebook_server is None or _notebook_server.process.poll() is not None:
        _notebook_server = start()
        atexit.register(_notebook_server.stop)
    _notebook_server.activate()
    if not quiet:
        print(f"No POE_API_KEY set: using the bundled local Poe-compatible server at "
              f"{_notebook_server.url} (offline stand-ins, no points spent).")
    return _notebook_server
