"""The engine of a batch: its requests, run concurrently on the private event loop.

``concurrency`` workers take requests in order. Each waits for the shared
:class:`~poe_magic.wire.ratelimit.RateLimiter`, books the request's cost with the
:class:`~poe_magic.batches.cost.BudgetGuard` (when the batch has a budget of its own), and runs
it as a :class:`~poe_magic.prompting.runner.Call` through the one runner (checked, reserved
against the session budget, sent, settled: the same lifecycle as ``%%poe``), folding events
into a Reply with the client's :class:`~poe_magic.core.accumulator.Accumulator`. Nothing here blocks the loop: the reply finishers,
reply listeners and the journal write run on one helper thread, in order.

Points are looked up in bulk, not per request (that would double the requests against the
rate limit): the session ledger lists each call with its lookup deferred, and one history
page prices every :data:`PRICE_EVERY` finished requests (or after :data:`PRICE_INTERVAL`
seconds, and at the end). With a budget (the batch's or the session's) each finished request
is priced at once, coalesced with whatever else finished meanwhile, since the guard needs real
costs to stop in time. Each lookup passes through the rate limiter too.

Retries happen here, not in the transport, so each one passes through the rate limiter, but
by the one :class:`~poe_magic.wire.retry.RetryPolicy` every request uses: a 429 pauses *every*
worker for its wait; other retryable failures before the first token are retried
``settings.max_retries`` times with backoff.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import math
import sqlite3
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar

from poe_magic.base import errors as E
from poe_magic.base.config import Settings
from poe_magic.batches.cost import BudgetGuard
from poe_magic.batches.journal import BatchStore, stored_from
from poe_magic.batches.plan import Job
from poe_magic.core.accumulator import Accumulator
from poe_magic.core.live import LiveStream, new_reply
from poe_magic.core.reply import Reply
from poe_magic.prompting import confirm
from poe_magic.prompting.runner import Call
from poe_magic.spending import ledger
from poe_magic.wire.ratelimit import RateLimiter
from poe_magic.wire.retry import MAX_RETRY_AFTER, RetryPolicy

T = TypeVar("T")

PRICE_EVERY = 50  # finished requests per bulk cost lookup (one history page of 100 entries covers them)
PRICE_INTERVAL = 10.0  # seconds a finished request waits for its cost at most (about), in a slow batch


@dataclass
class Outcome:
    """What one request ended with (one row of the result frame, minus the row's own data)."""

    answer: str = ""
    error: str | None = None
    time_to_first_token: float | None = None
    elapsed: float | None = None
    points: int | None = None
    cached: bool = False
    retries: int = 0

    @classmethod
    def of(cls, reply: Reply) -> Outcome:
        if reply.interrupted:
            error: str | None = "interrupted (partial answer kept)" if reply.text else "interrupted"
        elif reply.error is not None:
            error = f"{type(reply.error).__name__}: {reply.error}"
        else:
            error = None
        return cls(reply.text, error, reply.time_to_first_token, reply.elapsed, reply.points,
                   retries=reply.retries)


@dataclass
class _Unpriced:
    """A finished request whose cost is still to be looked up."""

    job: Job
    reply: Reply
    outcome: Outcome
    call: ledger.Call
    finished: float  # time.monotonic() when it finished


class _Fold:
    """Stands in for LiveStream's queue: folds each event into the Reply on the loop thread."""

    def __init__(self, acc: Accumulator) -> None:
        self.acc = acc
        self.ended = asyncio.Event()
        self.bug: BaseException | None = None

    def put(self, item: tuple[Any, Any]) -> None:
        if self.acc.done:  # already ended (cancelled before its task started)
            return
        try:
            self.acc.apply(item[1])
        except BaseException as exc:  # an unexpected error: re-raised by the worker, with its traceback
            self.bug = exc
            self.acc.done = True
        if self.acc.done:
            self.ended.set()


def _reserve_approved(call: Call) -> None:
    """The runner's check and reserve for one row (the batch was confirmed as a whole)."""
    with confirm.approved():
        call.reserve()


class Runner:
    """Runs the given jobs; ``outcomes[job.slot]`` fills in as they end. Loop-thread object:
    :meth:`cancel` and :meth:`snapshot` are called through the loop or read-only."""

    def __init__(self, jobs: list[Job], *, settings: Settings, concurrency: int,
                 limiter: RateLimiter | None, budget: BudgetGuard | None, store: BatchStore,
                 timeout: float | None = None) -> None:
        self.jobs = jobs
        # Retries happen here (through the limiter), so the transport must not retry on its own.
        self.settings = settings.copy(max_retries=0, max_rpm=0)  # the gate below books each start, not the transport
        self.original_settings = settings  # its max_retries and retry_backoff drive the one retry policy here
        self.concurrency = concurrency
        self.budget, self.store, self.timeout = budget, store, timeout
        # Without a rate limit the gate does not pace, but a 429 still pauses every worker.
        self.gate = limiter if limiter is not None else RateLimiter(math.inf)
        self.outcomes: dict[str, Outcome] = {}
        self.running = self.done = self.failed = 0
        self.points = 0.0
        self.points_known = False
        self.stop_reason: str | None = None
        self.hook_errors: list[str] = []
        self._queue: collections.deque[Job] = collections.deque(jobs)
        self._live: dict[int, LiveStream] = {}
        self._calls: dict[int, Call] = {}  # job position -> its call through the runner (reserved, not settled)
        self._idle: set[asyncio.Task[Any]] = set()  # workers sleeping (limiter, backoff, probe)
        self._post: list[asyncio.Future[Any]] = []
        self._unpriced: list[_Unpriced] = []  # finished, cost not looked up yet
        self._closing = False
        self._wake = asyncio.Event()  # a request finished: the pricer may have work (loop-bound on first use)
        self._helper = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="poe_magic-batch")

    # -- control (loop thread) ---------------------------------------------------------------
    def stop(self, reason: str) -> None:
        """Send nothing more; requests in flight finish."""
        if self.stop_reason is None:
            self.stop_reason = reason
        for task in list(self._idle):
            task.cancel()

    def cancel(self) -> None:
        """Stop now: requests in flight are cancelled, their partial answers kept."""
        self.stop("cancelled")
        for live in list(self._live.values()):
            live.cancel(wait=0)

    # -- the run ------------------------------------------------------------------------------
    async def run(self) -> None:
        pricer = asyncio.ensure_future(self._pricer())
        workers = [asyncio.ensure_future(self._worker()) for _ in range(min(self.concurrency, len(self.jobs)))]
        try:
            await asyncio.gather(*workers)
        finally:
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*self._post, return_exceptions=True)
            self._closing = True  # the pricer prices what is left, then ends
            self._wake.set()
            await asyncio.gather(pricer, return_exceptions=True)
            self._helper.shutdown(wait=False)

    async def _worker(self) -> None:
        while self._queue and self.stop_reason is None:
            job = self._queue.popleft()
            if not await self._admit(job):
                self._queue.appendleft(job)
                return
            reply = await self._send(job)
            if reply is None:  # stopped while waiting to send
                if self.budget is not None:
                    self.budget.release(job.position, job.model)
                self._calls.pop(job.position).release()
                self._queue.appendleft(job)
                return
            self._post.append(asyncio.ensure_future(self._finish(job, reply)))

    async def _unless_stopped(self, waiting: Awaitable[T]) -> tuple[bool, T | None]:
        """Await ``waiting`` as an idle worker (a stop cancels it): (False, None) when stopped."""
        task = asyncio.current_task()
        assert task is not None
        self._idle.add(task)
        try:
            return True, await waiting
        except asyncio.CancelledError:
            if self.stop_reason is None:
                raise
            return False, None
        finally:
            self._idle.discard(task)

    async def _sleep(self, seconds: float) -> bool:
        """Sleep unless the batch stops meanwhile; False when it did."""
        slept, _ = await self._unless_stopped(asyncio.sleep(seconds))
        return slept and self.stop_reason is None

    async def _admit(self, job: Job) -> bool:
        """The batch budget, then the runner's check and reserve; False stops the batch (the job stays unsent)."""
        if self.budget is not None:
            admitted, reason = await self._unless_stopped(self.budget.reserve(job.position, job.model))
            if not admitted:
                return False
            if reason is not None:
                self.stop(reason)
                return False
        assert job.request is not None
        call = Call(job.request, prompt=job.prompt, settings=self.settings, timeout=self.timeout)
        try:  # the runner's check and reserve (the session budget) may wait on I/O, so not on the loop
            await asyncio.get_running_loop().run_in_executor(None, _reserve_approved, call)
        except E.PoeMagicError as exc:
            if self.budget is not None:
                self.budget.release(job.position, job.model)
            self.stop(str(exc))
            return False
        self._calls[job.position] = call
        return True

    async def _send(self, job: Job) -> Reply | None:
        """Stream the job, retrying what may be retried; None when stopped before sending."""
        policy = RetryPolicy.of(self.original_settings, bulk=True)  # the one policy, as every request
        while True:
            wait = self.gate.reserve()
            if wait > 0 and not await self._sleep(wait):
                return None
            reply = await self._stream_once(job)
            reply.retries = policy.retries
            error = reply.error
            if error is None or reply.interrupted:
                return reply
            asked = getattr(error, "retry_after", None) if isinstance(error, E.RateLimitError) else None
            if asked is not None and asked > MAX_RETRY_AFTER:  # a quota, not a burst: stop, the journal keeps what came
                self.stop(f"rate limited: the server asks to wait {asked:.0f} s; run the same call later "
                          "to send the rest")
                return reply
            delay = policy.next_delay(error, may_retry=not reply.text)
            if delay is None:
                return reply
            if isinstance(error, E.RateLimitError):
                self.gate.pause(delay)  # every worker waits, not only this one
                continue
            if not await self._sleep(delay):
                return reply

    async def _stream_once(self, job: Job) -> Reply:
        assert job.request is not None
        loop = asyncio.get_running_loop()
        reply = new_reply(job.request, job.prompt)
        fold = _Fold(Accumulator(reply))
        self.running += 1
        live = self._calls[job.position].send(reply, events=fold)
        # A stream cancelled before its task started never reports its end: notice that too.
        live.when_done(lambda: loop.call_soon_threadsafe(fold.ended.set))
        self._live[job.position] = live
        try:
            await fold.ended.wait()
        finally:
            self.running -= 1
            self._live.pop(job.position, None)
        if fold.bug is not None:
            raise fold.bug
        if not fold.acc.done:
            fold.acc.finish(E.StreamInterrupted("cancelled before it started"))
        return reply

    async def _finish(self, job: Job, reply: Reply) -> None:
        """Hooks and journal on the helper thread, then the books (loop thread)."""
        call: ledger.Call | None = None
        try:
            call = await asyncio.get_running_loop().run_in_executor(self._helper, self._after, job, reply)
        finally:
            outcome = Outcome.of(reply)
            self.outcomes[job.slot] = outcome
            if outcome.error is None:
                self.done += 1
            else:
                self.failed += 1
            if call is not None and call.points is None:  # its cost is looked up later, with others
                self._unpriced.append(_Unpriced(job, reply, outcome, call, time.monotonic()))
                self._wake.set()
            else:
                self._book(job, reply)

    def _book(self, job: Job, reply: Reply) -> None:
        """Count what the request cost (loop thread); the budget guard settles it."""
        if reply.points is not None:
            self.points += reply.points
            self.points_known = True
        if self.budget is not None:
            self.budget.settle(job.position, job.model, reply.points, charged=bool(reply.text) or reply.ok)

    def _after(self, job: Job, reply: Reply) -> ledger.Call | None:
        """Helper thread: let the finishers record the call (cost lookup deferred) and
        journal it; returns the ledger's entry of the call."""
        with ledger.deferred_lookups() as recorded:
            try:
                self._calls.pop(job.position).settle(reply)  # the runner's settle, with the job's request
            except Exception as exc:  # another feature's bug must not lose this answer
                self.hook_errors.append(f"settle: {type(exc).__name__}: {exc}")
        if reply.ok:
            try:
                self.store.put(stored_from(job.key, reply))
            except (OSError, sqlite3.Error) as exc:  # the answer stays in the result frame
                self.hook_errors.append(f"journal: {type(exc).__name__}: {exc}")
        return recorded[0] if recorded else None

    # -- points, in bulk ----------------------------------------------------------------------
    async def _pricer(self) -> None:
        """Look up the costs of finished requests whenever a bulk lookup is due; at the end,
        once for whatever is left."""
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), PRICE_INTERVAL)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()
            closing = self._closing  # set once every request has finished: none comes after
            if closing or self._pricing_due():
                await self._price()
            if closing:
                return

    def _pricing_due(self) -> bool:
        if not self._unpriced:
            return False
        return (len(self._unpriced) >= PRICE_EVERY or self.budget is not None or ledger.budget() is not None
                or time.monotonic() - self._unpriced[0].finished >= PRICE_INTERVAL)

    async def _price(self) -> None:
        """One bulk lookup (helper thread) for every request waiting for its cost, then the books."""
        waiting, self._unpriced = self._unpriced, []
        if not waiting:
            return
        wait = self.gate.reserve()  # a history request counts against the rate limit too
        if wait > 0 and not self._closing:  # the last one does not wait out a 429 pause
            await asyncio.sleep(wait)
        try:
            await asyncio.get_running_loop().run_in_executor(self._helper, self._fill_points, waiting)
        finally:
            for item in waiting:
                item.outcome.points = item.reply.points
                self._book(item.job, item.reply)

    def _fill_points(self, waiting: list[_Unpriced]) -> None:
        """Helper thread: price the calls in the ledger, copy the points to the replies and the journal."""
        ledger.price([item.call for item in waiting])
        for item in waiting:
            if item.reply.points is None:
                item.reply.set_points(item.call.points)
        try:
            self.store.set_points((item.job.key, item.reply.points) for item in waiting
                                  if item.reply.ok and item.reply.points is not None)
        except (OSError, sqlite3.Error) as exc:
            self.hook_errors.append(f"journal: {type(exc).__name__}: {exc}")

    def counts(self) -> tuple[int, int, int]:
        """(done, failed, running), readable from any thread."""
        return self.done, self.failed, self.running
