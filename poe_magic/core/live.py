"""Run requests on the private loop and consume them on the calling (kernel) thread.

A :class:`LiveStream` pumps one request's events from the loop thread into a thread-safe
queue; :func:`consume` drains that queue on the caller's thread, folds events into a
:class:`~poe_magic.reply.Reply` and feeds a display sink. Waiting on a queue with short
timeouts, rather than awaiting in the kernel's own loop, is what lets Ctrl-C land at once.
Several streams may share one queue (events are tagged), which is how compare runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sys
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any, Protocol

from poe_magic.base import errors as E
from poe_magic.base.config import Settings
from poe_magic.base.config import settings as default_settings
from poe_magic.base.text import plural
from poe_magic.core.display import Throttle
from poe_magic.core.reply import Reply
from poe_magic.wire import transport
from poe_magic.wire.loop import LoopThread, shared_loop
from poe_magic.wire.request import PoeRequest
from poe_magic.wire.transport import Retrying

POLL_INTERVAL = 0.05  # seconds the consumer blocks at most; bounds Ctrl-C latency


def _plain_text(event: Any) -> str | None:
    """The text of a chunk that only appends text (nearly every chunk), else None.

    Such chunks cross to the kernel thread as a plain ``str``: the pydantic message is freed on
    the loop thread at once instead of waiting in the queue, where thousands of them kept the
    garbage collector busy (20,000 chunks: ~15% less CPU for the whole cell)."""
    try:
        if event.text and not (event.is_replace_response or event.is_suggested_reply or event.tool_calls
                               or event.attachment is not None or event.data is not None):
            return event.text
    except AttributeError:  # not a bot message (a Retrying notice, ...)
        pass
    return None


class _Done:
    """Marks the end of one tagged stream (carrying its error, if any)."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


class LiveStream:
    """One request running on the loop thread, its events tagged onto ``events``."""

    def __init__(
        self,
        request: PoeRequest,
        *,
        settings: Settings = default_settings,
        events: queue.SimpleQueue[tuple[Hashable, Any]] | None = None,
        tag: Hashable = 0,
        loop: LoopThread | None = None,
        timeout: float | None = None,
    ) -> None:
        self.request = request
        self.settings = settings
        self.events = events if events is not None else queue.SimpleQueue()
        self.tag = tag
        self.timeout = timeout  # overall seconds for this request, or None
        self.finished = threading.Event()
        self._deadline_error: E.PoeMagicError | None = None
        self._future = (loop or shared_loop()).submit(self._pump())

    async def _pump(self) -> None:
        put, tag = self.events.put, self.tag
        task = asyncio.current_task()
        assert task is not None
        clock = {"last": time.monotonic(), "first": False}
        watchdog = asyncio.ensure_future(self._watch(task, clock))
        error: BaseException | None = None
        events = transport.stream(self.request, self.settings)
        try:
            async with contextlib.aclosing(events):  # on cancel, the HTTP response closes at once
                async for event in events:
                    clock["last"] = time.monotonic()
                    text = _plain_text(event)
                    if text is not None:  # nearly every chunk: only its str crosses threads
                        clock["first"] = True
                        event = text
                    elif type(event) is Retrying:  # the first-token clock restarts after the wait
                        clock["first"], clock["last"] = False, clock["last"] + event.delay
                    elif transport.is_content(event):
                        clock["first"] = True
                    put((tag, event))
        except asyncio.CancelledError:
            error = self._deadline_error or E.StreamInterrupted("the request was cancelled")
        except BaseException as exc:  # delivered to the consumer, never lost on this thread
            error = exc
        finally:
            watchdog.cancel()
            put((tag, _Done(error)))
            self.finished.set()

    async def _watch(self, task: asyncio.Task[Any], clock: dict[str, Any]) -> None:
        """Cancel the stream when it waits too long for its first chunk or between chunks."""
        s, started = self.settings, time.monotonic()
        model = self.request.model
        while True:
            await asyncio.sleep(0.1)
            now = time.monotonic()
            if self.timeout is not None and now - started > self.timeout:
                message, hint = f"{model} did not finish within {self.timeout:g} s (--timeout)", \
                    "raise --timeout to wait longer"
            elif not clock["first"] and now - clock["last"] > s.first_token_timeout:
                message, hint = f"{model} sent nothing for {s.first_token_timeout:g} s (first-token timeout)", \
                    "try again, or raise PoeMagics.first_token_timeout"
            elif clock["first"] and now - clock["last"] > s.stall_timeout:
                message, hint = f"{model} stalled: no data for {s.stall_timeout:g} s (stall timeout)", \
                    "try again, or raise PoeMagics.stall_timeout"
            else:
                continue
            # not retryable: a slow model asked again is slow again (and may charge twice)
            self._deadline_error = E.PoeTimeoutError(message, hint=hint, model=model, retryable=False)
            task.cancel()
            return

    def cancel(self, wait: float = 1.0) -> None:
        """Cancel the request on the loop thread and wait (briefly) until it has stopped."""
        self._future.cancel()
        self.finished.wait(wait)


class Sink(Protocol):
    """Where a live answer goes: a notebook display, a terminal, or nowhere."""

    def start(self, reply: Reply) -> None: ...
    def update(self, reply: Reply) -> None: ...
    def status(self, reply: Reply, text: str) -> None: ...
    def finish(self, reply: Reply) -> None: ...


class Accumulator:
    """Folds one stream's events into its Reply."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.parts: list[str] = []
        self.done = False
        self.notice = ""  # e.g. "retrying in 2 s"
        self.tool_requests: dict[int, dict[str, Any]] = {}  # index -> tool call being streamed

    def apply(self, event: Any) -> bool:
        """Apply one event; return True when the visible text changed."""
        kind = type(event)
        if kind is str:  # plain appended text, see _plain_text
            return self._append(event)
        if kind is _Done:
            self.finish(event.error)
            return True
        if kind is Retrying:
            self.reply.retries = event.attempt
            self.notice = event.notice()
            return True
        text = getattr(event, "text", "")
        if not text and getattr(event, "data", None) is not None:
            text = self._apply_chunk(event.data)
        if getattr(event, "attachment", None) is not None:
            self.reply.attachments.append(event.attachment)
        if getattr(event, "is_suggested_reply", False) or not (text or getattr(event, "is_replace_response", False)):
            return getattr(event, "attachment", None) is not None
        if event.is_replace_response:
            self.parts = []
        return self._append(text)

    def _first_token(self) -> None:
        if self.reply.time_to_first_token is None:
            self.reply.time_to_first_token = time.perf_counter() - self.reply._t0

    def _append(self, text: str) -> bool:
        self._first_token()
        if self.notice:
            self.notice = ""
        self.parts.append(text)
        return True

    def _apply_chunk(self, data: Any) -> str:
        """An OpenAI-style chunk in a ``json`` event (how models stream when sent tools):
        fold its tool-call deltas into ``tool_requests``; return its text content."""
        choices = data.get("choices") if isinstance(data, dict) else None
        if not choices or not isinstance(choices[0], dict):
            return ""
        delta = choices[0].get("delta") or {}
        for piece in delta.get("tool_calls") or []:
            index, function = piece.get("index", 0), piece.get("function") or {}
            call = self.tool_requests.get(index)
            if call is None:
                if not function.get("name"):
                    continue  # like fastapi_poe: a call's first chunk must name the function
                call = self.tool_requests[index] = {
                    "id": piece.get("id") or f"call_{index}", "type": piece.get("type") or "function",
                    "function": {"name": function["name"], "arguments": ""}}
                self._first_token()
            call["function"]["arguments"] += function.get("arguments") or ""
        content = delta.get("content")
        return content if isinstance(content, str) else ""

    def requested_tool_calls(self) -> list[dict[str, Any]]:
        """The complete tool calls the model asked for, OpenAI-shaped, in call order."""
        return [self.tool_requests[i] for i in sorted(self.tool_requests)]

    def text(self) -> str:
        if len(self.parts) > 1:
            self.parts = ["".join(self.parts)]
        return self.parts[0] if self.parts else ""

    def finish(self, error: BaseException | None) -> None:
        self.done = True
        self.reply.text = self.text()
        self.reply.elapsed = time.perf_counter() - self.reply._t0
        self.notice = ""
        if isinstance(error, E.StreamInterrupted):
            self.reply.interrupted = True
        elif isinstance(error, E.PoeMagicError):
            self.reply.error = error.detach()  # kept on the Reply: no frames, no chain to httpx objects
            if self.reply.text:
                error.amend(f"partial answer kept ({plural(len(self.reply.text), 'char')})")
        elif error is not None:
            raise error  # a bug: surface it with its traceback


def consume(streams: dict[Hashable, Accumulator], events: queue.SimpleQueue[Any],
            on_change: Callable[[set[Hashable]], None], cancel: Callable[[], None]) -> bool:
    """Drain ``events`` until every stream is done; call ``on_change`` with the tags that
    changed after each batch (and with an empty set when idle, so throttled sinks flush).
    Returns False when interrupted by Ctrl-C (the streams are cancelled, text kept)."""
    pending = {tag for tag, acc in streams.items() if not acc.done}
    get, get_nowait, Empty = events.get, events.get_nowait, queue.Empty
    kernel_exiting = _kernel_exit_check()
    try:
        while pending:
            if kernel_exiting():
                raise KeyboardInterrupt  # stop as on Ctrl-C: text kept, final display sent
            try:
                batch = [get(timeout=POLL_INTERVAL)]
            except Empty:
                on_change(set())
                continue
            try:
                while len(batch) < 4096:
                    batch.append(get_nowait())
            except Empty:
                pass
            changed: set[Hashable] = set()
            for tag, event in batch:
                acc = streams[tag]
                if acc.apply(event):
                    changed.add(tag)
                if acc.done:
                    pending.discard(tag)
            on_change(changed)
        return True
    except KeyboardInterrupt:
        try:
            cancel()
        except KeyboardInterrupt:  # a second Ctrl-C while stopping: the streams still end below
            pass
        for acc in streams.values():
            if not acc.done:
                acc.finish(E.StreamInterrupted("interrupted by the user"))
        return False


def _kernel_exit_check() -> Callable[[], bool]:
    """A check that turns True once Jupyter asked this kernel to shut down (ipykernel sets
    ``shell.exit_now``). A streaming cell blocks the kernel's loop, so without it the kernel
    would live on until the answer ends, or be killed with its final display unsent."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None or getattr(shell, "kernel", None) is None:
        return lambda: False
    return lambda: bool(shell.exit_now)


def new_reply(request: PoeRequest, prompt: str) -> Reply:
    """An empty Reply for ``request``, its clock started."""
    return Reply(model=request.model, prompt=prompt, params=dict(request.params), system=request.system)


def stream_into(request: PoeRequest, acc: Accumulator, sink: Sink, *, settings: Settings = default_settings,
                timeout: float | None = None, stream: LiveStream | None = None,
                interval: float | None = None) -> bool:
    """Stream one request into ``acc`` (its Reply) with ``sink`` updates throttled to one per
    ``interval`` (default ``settings.throttle_interval``); no start/finish calls, so several
    requests can share one Reply and display (tool rounds). ``stream``: one already started
    (the chat panel starts it where its Stop button can reach it). False when interrupted."""
    reply = acc.reply
    stream = stream or LiveStream(request, settings=settings, timeout=timeout)
    throttle = Throttle(interval or settings.throttle_interval)
    dirty = False

    def changed(tags: set[Hashable]) -> None:
        nonlocal dirty
        dirty = dirty or bool(tags)
        if acc.done or not throttle.ready():
            return
        if acc.notice:
            sink.status(reply, acc.notice)
        elif dirty:
            reply.text = acc.text()  # joined only when shown: O(n) per update, not per chunk
            sink.update(reply)
            dirty = False

    return consume({0: acc}, stream.events, changed, stream.cancel)


