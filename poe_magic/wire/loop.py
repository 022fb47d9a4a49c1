"""A private asyncio event loop on a daemon thread.

ipykernel runs cells inside its own running loop, so fastapi_poe's sync helpers (which call
``asyncio.run``) fail there. All network coroutines run on this loop instead; the kernel
thread only waits on thread-safe queues and futures, which keeps Ctrl-C prompt.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class LoopThread:
    """Owns one event loop running forever on a daemon thread."""

    def __init__(self, name: str = "poe_magic-loop") -> None:
        self.name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        self.start()
        assert self._loop is not None
        return self._loop

    @property
    def running(self) -> bool:
        return bool(self._thread and self._thread.is_alive() and self._loop and self._loop.is_running())

    def start(self) -> None:
        with self._lock:
            if self.running:
                return
            loop = asyncio.new_event_loop()
            started = threading.Event()

            def run() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(started.set)
                try:
                    loop.run_forever()
                finally:
                    _cancel_all(loop)
                    loop.close()

            thread = threading.Thread(target=run, name=self.name, daemon=True)
            thread.start()
            started.wait()
            self._loop, self._thread = loop, thread

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule a coroutine on the loop; cancel the returned future to cancel it."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run a coroutine to completion from another thread and return its result."""
        future = self.submit(coro)
        try:
            return future.result(timeout)
        except BaseException:
            future.cancel()
            raise

    def call_soon(self, fn: Any, *args: Any) -> None:
        self.loop.call_soon_threadsafe(fn, *args)

    def call_later(self, delay: float, fn: Callable[..., Any], *args: Any) -> Later:
        """Run ``fn(*args)`` on the loop's thread in ``delay`` seconds (``cancel()`` the result to
        drop it). Delayed display work runs here rather than on a ``threading.Timer``: ipykernel
        gives every thread that shows output its own iopub pipe (a zmq socket and an eventfd,
        swept only every 10 s), so a timer thread per paced update held file descriptors."""
        later, loop = Later(fn, args), self.loop
        loop.call_soon_threadsafe(lambda: later.cancelled or loop.call_later(delay, later.fire))
        return later

    def stop(self, timeout: float = 2.0) -> None:
        """Cancel what is pending, stop the loop and join the thread."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        if loop.is_running():
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)

    def pending_tasks(self) -> int:
        """How many tasks are alive on the loop (0 when idle); for tests and diagnostics."""
        if not self.running:
            return 0

        async def count() -> int:
            current = asyncio.current_task()
            return sum(1 for t in asyncio.all_tasks() if t is not current and not t.done())

        return self.run(count(), timeout=5)


class Later:
    """A call :meth:`LoopThread.call_later` will make; :meth:`cancel` makes it a no-op (safe
    from any thread: the loop checks the flag when the time comes)."""

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.fn, self.args = fn, args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

    def fire(self) -> None:
        if self.cancelled:
            return
        try:
            self.fn(*self.args)
        except Exception:  # noqa: BLE001 - a display gone away must not stop the loop every request runs on
            logging.getLogger("poe_magic").debug("delayed call failed", exc_info=True)


def _cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())


_shared = LoopThread()


def shared_loop() -> LoopThread:
    """The one loop every poe_magic request runs on (started on first use)."""
    return _shared


#: what a cold first call spends its time importing (measured: ~0.4 s of a 0.6 s first call)
WARM_MODULES = ("httpx", "fastapi_poe", "httpcore", "h11", "anyio", "anyio._backends._asyncio", "anyio.streams.tls",
                "anyio.streams.stapled", "anyio.streams.memory", "httpcore._backends.anyio")


#: seconds the warm-up waits before it starts (the user is still reading the loaded cell)
WARM_DELAY = 0.3


async def _shared_client() -> None:
    """Make the loop's shared HTTP client now (its TLS context loads the CA bundle), as the
    first request would (poe_magic's own modules are all loaded by ``%load_ext`` already)."""
    from poe_magic.base.config import settings
    from poe_magic.wire.transport import http_client

    http_client(settings)


def warm_up() -> threading.Thread | None:
    """Get ready for the first call in the background (``%load_ext`` starts it, then returns at
    once): import httpx, fastapi_poe and what a request needs of httpcore/anyio (most of a cold
    first call's time), start the loop thread and make its shared HTTP client, while the user
    types the first prompt. A call arriving meanwhile waits on the import
    lock, never longer than without this. Never prints, never raises; off with the environment
    variable ``POE_MAGIC_WARM_UP=0``. Returns the thread (None when off)."""
    import os

    if os.environ.get("POE_MAGIC_WARM_UP", "1").strip().lower() in ("0", "false", "no", "off"):
        return None

    def work() -> None:
        try:  # third-party packages (they import nothing of ours: no import-lock cycles with a call)
            import importlib
            import time

            time.sleep(WARM_DELAY)  # let the %load_ext cell's reply go out first (imports hold the GIL)

            for name in WARM_MODULES:
                importlib.import_module(name)
            shared_loop().start()
            shared_loop().run(_shared_client(), timeout=30)
        except BaseException:  # noqa: BLE001 - a warm-up that failed leaves the first call as it was
            pass

    global _warming
    thread = _warming = threading.Thread(target=work, name="poe_magic-warm-up", daemon=True)
    thread.start()
    return thread


_warming: threading.Thread | None = None


def wait_warm_up(timeout: float = 10.0) -> None:
    """Let a warm-up still running finish (``%unload_ext`` right after ``%load_ext``: the loop it
    starts is then stopped with the rest, not left running)."""
    if _warming is not None and _warming.is_alive():
        _warming.join(timeout)
