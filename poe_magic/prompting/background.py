"""Background answers: ``%%poe MODEL --background`` and ``ask(..., background=True)``.

Everything that may ask or refuse happens in the cell, on the kernel thread: the request is
built and checked, the confirmation asked (:meth:`~poe_magic.prompting.pipeline.AnswerStream.confirm_here`),
and :meth:`~poe_magic.prompting.pipeline.AnswerStream.start` reserves the budget and starts the
stream through the one runner (a refusal raises in the cell, nothing sent). Then the cell
returns and a daemon thread ``poe_magic-bg-N`` drives :meth:`AnswerStream.run` to the end: the
answer keeps streaming into the cell's own output (the display keeps that cell's parent) while
other cells run; the call is settled, logged and remembered (``_poe``) as any other.

:func:`jobs` lists the running and recent ones; :meth:`Job.stop` stops one (its text kept).
"""

from __future__ import annotations

import html
import itertools
import threading
import time
from collections.abc import Callable
from typing import Any

from poe_magic.base import errors as E
from poe_magic.core.reply import Reply
from poe_magic.core.session import current
from poe_magic.prompting.pipeline import AnswerStream
from poe_magic.spending import calllog

RECENT = 20  # finished jobs kept for jobs()
_numbers = itertools.count(1)


class Job:
    """One answer streaming in the background: ``id``, ``model``, ``prompt``, ``started``,
    ``elapsed``, ``reply`` (live), ``done``, :meth:`stop`, :meth:`wait`."""

    def __init__(self, answer: AnswerStream, prompt: str) -> None:
        self.id = next(_numbers)
        self.answer, self.prompt = answer, prompt
        self.model = answer.request.model
        self.started = time.time()
        self._began = time.monotonic()
        self._ended: float | None = None
        self._callbacks: list[Callable[[Reply], Any]] = []
        self._thread = threading.Thread(target=self._run, name=f"poe_magic-bg-{self.id}", daemon=True)
        self.stopped = False

    # -- lifecycle --------------------------------------------------------------------------
    def begin(self) -> Job:
        """On the calling thread: ask, check and reserve (a refusal raises here), start the
        stream; then hand it to the job's thread."""
        self.answer.confirm_here()
        self.answer.start()
        _jobs().add(self)
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            with calllog.context("cell"):
                self.answer.run()
        except BaseException as exc:  # noqa: BLE001 - a background thread has no one to raise to
            reply = self.answer.reply
            if reply is not None and reply.error is None and isinstance(exc, E.PoeMagicError):
                reply.error = exc
        finally:
            self._ended = time.monotonic()
        reply = self.answer.reply
        for callback in self._callbacks:
            if reply is not None:
                try:
                    callback(reply)
                except Exception:  # noqa: BLE001, S110 - a callback's failure must not hide the answer
                    pass

    def on_done(self, callback: Callable[[Reply], Any]) -> None:
        """Call ``callback(reply)`` on the job's thread when the answer has ended."""
        self._callbacks.append(callback)

    def stop(self) -> None:
        """Stop the request; the partial text stays on ``reply`` (status ``interrupted``)."""
        if not self.done:
            self.stopped = True
            self.answer.close()

    def wait(self, timeout: float | None = None) -> Reply | None:
        """Block until the answer has ended (at most ``timeout`` seconds); the Reply."""
        self._thread.join(timeout)
        return self.reply

    # -- state --------------------------------------------------------------------------------
    @property
    def reply(self) -> Reply | None:
        return self.answer.reply

    @property
    def done(self) -> bool:
        return self._ended is not None

    @property
    def elapsed(self) -> float:
        return (self._ended or time.monotonic()) - self._began

    @property
    def status(self) -> str:
        if not self.done:
            return "running"
        reply = self.reply
        return "stopped" if self.stopped else (reply.status if reply is not None else "failed")

    def __repr__(self) -> str:
        words = " ".join(self.prompt.split())
        return (f"<poe_magic job {self.id}: {self.model} {self.status} after {self.elapsed:.1f} s, "
                f"{words[:40]!r}>")

    def _repr_html_(self) -> str:
        return f"<code>{html.escape(repr(self))}</code>"


class _Jobs:
    """This session's background jobs: the running ones and the last :data:`RECENT` finished."""

    def __init__(self) -> None:
        self._jobs: list[Job] = []
        self._lock = threading.Lock()

    def add(self, job: Job) -> None:
        with self._lock:
            finished = [j for j in self._jobs if j.done]
            drop = {id(j) for j in finished[:-RECENT]} if len(finished) > RECENT else set()
            self._jobs = [j for j in self._jobs if id(j) not in drop] + [job]

    def all(self) -> list[Job]:
        with self._lock:
            return list(self._jobs)

    def close(self) -> None:
        """A session ending stops its running jobs."""
        for job in self.all():
            job.stop()


def _jobs() -> _Jobs:
    return current().state(_Jobs)


def jobs() -> list[Job]:
    """The background answers of this session: running ones and recent finished ones, oldest first."""
    return _jobs().all()


def find(number: int) -> Job:
    for job in jobs():
        if job.id == number:
            return job
    raise E.PoeUsageError(f"no background job {number}; %poe jobs lists them")


__all__ = ["Job", "find", "jobs"]
