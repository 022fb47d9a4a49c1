"""``poe_magic.batch``: every row of a DataFrame x every model, at scale, within limits.

::

    df = pd.DataFrame({"text": documents})
    out = poe_magic.batch(df, "Summarise in one line: {text}", models=["GPT-5", "Claude-Sonnet-4"])
    out.pivot(index="row", columns="model", values="answer")

The result is a tidy frame, one row per (row, model), ordered by row then model: ``row``
(the input's index label), ``model``, ``prompt``, ``answer``, ``error`` (None when fine),
``time_to_first_token`` and ``elapsed`` (seconds), ``chars``, ``points`` (what the answer
cost when it was made, when the server said), ``cached`` (taken from the journal now) and
``retries``.

What it takes care of:

- **Rate limit**: requests are paced by a token bucket shared per API key (default 450/min,
  under the API's ~500/min; ``max_rpm=0`` turns it off); a 429 pauses every worker for
  ``Retry-After`` and slows down, without failing the batch.
- **Budget**: ``budget=N`` refuses a batch whose estimated cost exceeds N points before
  sending anything, and stops cleanly when N is reached mid-run (answers so far kept).
- **Resume**: every answer is journaled on disk the moment it arrives
  (:mod:`poe_magic.batches.journal`); running the same call again after Ctrl-C, a kernel restart
  or failures sends only what is missing (``cache=False`` asks everything again;
  ``poe_magic.batches.journal.BatchStore().forget()`` empties the journal).
- **Progress**: a live bar (done / failed / running, ETA, points), or a text line outside
  notebooks.
- **Background**: ``background=True`` returns a :class:`BatchRun` at once; the kernel stays
  free for other cells while ``.progress`` tells how far it is, ``.result()`` waits for the
  frame and ``.cancel()`` stops it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from poe_magic.base import errors as E
from poe_magic.base.config import check_count, check_points, check_seconds, settings
from poe_magic.base.secrets import mask_pieces
from poe_magic.batches.cost import BudgetGuard, check_estimate, counts_by_model, describe, estimate_costs
from poe_magic.batches.journal import BatchStore
from poe_magic.batches.plan import Job, Template, check_models, plan
from poe_magic.batches.progress import UPDATE_INTERVAL, BatchProgress, progress_sink
from poe_magic.batches.runner import Outcome, Runner
from poe_magic.batches.structured import structure_outcomes, with_fields
from poe_magic.core.session import current
from poe_magic.prompting import confirm
from poe_magic.prompting.schemas import as_schema, with_instruction
from poe_magic.spending import calllog
from poe_magic.wire.loop import shared_loop
from poe_magic.wire.ratelimit import limiter_for
from poe_magic.wire.transport import build_query

if TYPE_CHECKING:
    import concurrent.futures

    import pandas as pd

COLUMNS = ["row", "model", "prompt", "answer", "error", "time_to_first_token", "elapsed", "chars",
           "points", "cached", "retries"]
MAX_CONCURRENCY = 64  # the transport's connection pool size
MAX_RPM = 100_000  # requests per minute: more is a typo (the API allows ~500)
POLL_INTERVAL = 0.05  # the kernel thread's wait; bounds Ctrl-C latency

class _Latest:
    """The session's most recent batch (a session state)."""

    run: BatchRun | None = None


class BatchRun:
    """A batch started on the private loop: progress now, the result frame when done."""

    def __init__(self, jobs: list[Job], runner: Runner, outcomes: dict[str, Outcome], *, title: str,
                 estimate: str, view_enabled: bool, batch_id: str = "") -> None:
        self.jobs, self.runner, self.id = jobs, runner, batch_id
        self._known = outcomes  # slot -> journal hit or unsendable row, decided before starting
        self._slots = {job.slot for job in jobs}  # distinct requests (repeated prompts share one)
        self._cached = sum(1 for o in outcomes.values() if o.cached)
        self.title, self.estimate = title, estimate
        self.started = time.perf_counter()
        self.finished_at: float | None = None
        self.state = "running"
        self._frame: pd.DataFrame | None = None
        self.view = progress_sink(self.progress, view_enabled)
        self.view.metadata = {"poe_magic": {"batch": batch_id}}  # a saved notebook knows which batch this was
        self.schema: Any = None  # set by batch(schema=): fields become columns, misfits get a repair round
        self.concurrency = 8
        self._future: concurrent.futures.Future[None] = shared_loop().submit(self._main())

    # -- loop thread -------------------------------------------------------------------------
    async def _main(self) -> None:
        import asyncio

        ticker = asyncio.ensure_future(self._tick())
        try:
            await self.runner.run()
        finally:
            ticker.cancel()
            self.finished_at = time.perf_counter()
            if self.state == "running":
                reason = self.runner.stop_reason
                self.state = "finished" if reason is None else ("cancelled" if reason == "cancelled" else "stopped")
            self._show()

    async def _tick(self) -> None:
        import asyncio

        while True:
            await asyncio.sleep(UPDATE_INTERVAL)
            self._show()

    def _show(self) -> None:
        try:
            self.view.show(self.progress)
        except Exception as exc:  # a display problem must not stop the batch  # noqa: BLE001
            self.runner.hook_errors.append(f"progress display: {type(exc).__name__}: {exc}")

    # -- any thread ----------------------------------------------------------------------------
    @property
    def progress(self) -> BatchProgress:
        """How far the batch is (a snapshot)."""
        runner = self.runner
        done, failed, running = runner.counts()
        # cut off by a stop (the runner counts them as failed): told apart from real failures
        interrupted = sum(1 for o in list(runner.outcomes.values()) if (o.error or "").startswith("interrupted"))
        failed -= interrupted
        not_sent = len(self._known) - self._cached  # bad rows
        if self.state != "running":
            not_sent += sum(1 for slot in self._slots if slot not in runner.outcomes and slot not in self._known)
        end = self.finished_at or time.perf_counter()
        points: float | None = runner.points if runner.points_known else None
        estimated = False
        if runner.budget is not None and runner.budget.spent:
            points, estimated = runner.budget.spent, runner.budget.estimated
        notes = [runner.stop_reason] if runner.stop_reason not in (None, "cancelled") else []
        gate = runner.gate
        if gate.throttled:
            pace = f", now {gate.rpm:.0f}/min" if math.isfinite(gate.rpm) else ""
            notes.append(f"rate limited (429) {gate.throttled}x{pace}")
        if runner.hook_errors:
            notes.append(f"{len(runner.hook_errors)} hook error(s): see .hook_errors")
        note = " · ".join(str(n) for n in notes)
        return BatchProgress(self.title, len(self._slots), self._cached, done, failed, running,
                             end - self.started, points, estimated, self.estimate, self.state, note,
                             not_sent=not_sent, interrupted=interrupted)

    @property
    def hook_errors(self) -> list[str]:
        """Failures of other features' hooks (points lookup, journal write) during the run."""
        return list(self.runner.hook_errors)

    def done(self) -> bool:
        return self._future.done()

    def cancel(self, wait: float = 5.0) -> None:
        """Stop sending; requests in flight are cancelled (partial answers kept). Everything
        answered so far is in :meth:`result` and in the journal."""
        if not self._future.done():
            shared_loop().call_soon(self.runner.cancel)
            try:
                self._future.result(wait)
            except Exception:  # noqa: BLE001 - result() reports it
                pass

    def result(self, timeout: float | None = None) -> pd.DataFrame:
        """Wait for the batch (Ctrl-C stops waiting, not the batch) and return the frame."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._future.done():
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"the batch is still running: {self.progress.text()}")
            try:
                self._future.result(POLL_INTERVAL)
            except Exception:  # noqa: BLE001 - a timeout of this poll, or the run's error (below)
                pass
        self._future.result()  # a bug in the run: raise it with its traceback
        if self._frame is None:
            self._frame = self._build_frame()
        return self._frame

    def _build_frame(self) -> pd.DataFrame:
        import pandas as pd

        outcomes = {**self.runner.outcomes, **self._known}
        unsent = Outcome(error=f"not sent: {self.runner.stop_reason or 'stopped'}")
        structured = structure_outcomes(self.schema, self.jobs, outcomes, self.concurrency) if self.schema else {}
        records = []
        for job in self.jobs:
            o = outcomes.get(job.slot, unsent)
            records.append((job.row, job.model, mask_pieces(job.prompt), o.answer, o.error, o.time_to_first_token, o.elapsed,
                            len(o.answer), o.points, o.cached, o.retries))
        frame = pd.DataFrame.from_records(records, columns=COLUMNS)
        # error as "string" (like compare's frame): a fine row shows <NA>, not None
        frame = frame.astype({"error": "string", "time_to_first_token": "float64", "elapsed": "float64",
                              "chars": "int64", "points": "Int64", "cached": "bool", "retries": "int64"})
        if self.schema is not None:
            frame = with_fields(frame, self.schema, [structured.get(job.slot) for job in self.jobs])
        frame.attrs["batch"] = self.progress.text()
        frame.attrs["batch_id"] = self.id
        return frame

    def _repr_html_(self) -> str:
        return self.progress.html()

    def __repr__(self) -> str:
        return f"<BatchRun {self.progress.text()}>"


def batch(
    data: Any,
    prompt: Template = "Summarise: {text}",
    models: str | Iterable[str] | None = None,
    *,
    system: str | None = None,
    concurrency: int = 8,
    max_rpm: float | None = None,
    budget: float | None = None,
    cache: bool = True,
    background: bool = False,
    timeout: float | None = None,
    progress: bool = True,
    schema: Any = None,
    yes: bool = False,
    **params: Any,
) -> pd.DataFrame | BatchRun:
    """Ask every ``model`` about every row of ``data`` and return the answers as a DataFrame.

    ``data`` is a DataFrame (template fields are its columns), a Series or a list of texts
    (the field is ``{text}``) or of dicts. ``prompt`` is a ``str.format`` template, or a
    function of the row dict returning the prompt. ``temperature=`` and ``stop=`` are sent as
    such; any other keyword is a model parameter (like ``--param``). ``timeout`` limits each
    request (seconds). ``concurrency`` requests run at once, at most ``max_rpm`` started per
    minute (None: 450, 0: no limit). ``budget`` caps the points this batch may spend.

    ``schema=`` (see :func:`poe_magic.ask`) asks for structured answers: the fields become
    columns next to ``answer`` with their dtypes (``Int64``, ``Float64``, ``boolean``,
    ``string``, ``category`` for a Literal); an answer that does not fit gets one repair round,
    and a row that still does not gets its ``error`` and missing fields. ``yes=True`` skips the
    question above ``settings.confirm_above``.

    Returns the frame, or with ``background=True`` a :class:`BatchRun` handle at once.
    Ctrl-C stops a foreground batch: what was answered is kept (journal), and running the
    same call again sends only the rest.
    """
    return run_batch(data, prompt, models, system=system, concurrency=concurrency, max_rpm=max_rpm, budget=budget,
                     cache=cache, background=background, timeout=timeout, progress=progress, schema=schema, yes=yes,
                     params=params)


def run_batch(data: Any, prompt: Template, models: str | Iterable[str] | None, *, system: str | None,
              concurrency: int, max_rpm: float | None, budget: float | None, cache: bool, background: bool,
              timeout: float | None, progress: bool, schema: Any, yes: bool, params: dict[str, Any],
              kind: str = "batch") -> pd.DataFrame | BatchRun:
    """:func:`batch`, logged as ``kind`` (``grade`` for grading runs)."""
    check_count("concurrency", concurrency, 1, MAX_CONCURRENCY)
    if budget is not None:
        check_points("budget", budget)  # nan would turn the budget off
    if max_rpm is not None and not (isinstance(max_rpm, (int, float)) and not isinstance(max_rpm, bool)
                                    and 0 <= max_rpm <= MAX_RPM):
        raise E.PoeUsageError(f"max_rpm must be 0 (no limit) or a number of requests per minute up to "
                              f"{MAX_RPM:,}, got {max_rpm!r}")
    if timeout is not None:
        timeout = check_seconds("timeout", timeout)
    settings.api_key()  # no key: one line, before anything else
    limiter = limiter_for(settings, max_rpm)
    names = check_models(models, settings)
    structured = None if schema is None else as_schema(schema)
    if structured is not None:
        system = with_instruction(system, structured)
    options = {"temperature": params.pop("temperature", None), "stop": params.pop("stop", None),
               "params": params}
    jobs = plan(data, prompt, names, settings, system=system, request_options=options)

    store = BatchStore()
    known, to_send = _split(jobs, store, cache)
    counts = counts_by_model(to_send)
    costs, history_note = estimate_costs(names, store, use_history=budget is not None and bool(to_send))
    if budget is not None:
        estimate = check_estimate(budget, counts, costs)
    else:
        estimate = describe(counts, costs)[1]
    if history_note:
        estimate = f"{estimate} · {history_note}" if estimate else history_note
    sample = next((job.prompt for job in to_send), "")
    confirm.ask_to_send(confirm.estimate_counts(counts, sample), f"this {kind} of {len(to_send):,} requests",
                        yes=yes, settings=settings)
    if to_send and to_send[0].request is not None:  # import fastapi_poe (~0.5 s) here, not on the loop
        build_query(to_send[0].request)  # where it would hold up the progress bar
    guard = BudgetGuard(budget, costs) if budget is not None else None
    runner = Runner(to_send, settings=settings, concurrency=concurrency, limiter=limiter, budget=guard,
                    store=store, timeout=timeout)
    rows = len({job.row for job in jobs}) if jobs else 0
    title = f"{kind} {rows:,} row{'s' * (rows != 1)} × {len(names)} model{'s' * (len(names) != 1)}"
    batch_id = calllog.new_group()
    calllog.set_thread_context("poe_magic-batch", kind, batch_id)  # the runner's helper thread logs the calls
    run = BatchRun(jobs, runner, known, title=title, estimate=estimate, view_enabled=progress, batch_id=batch_id)
    run.schema, run.concurrency = structured, concurrency
    current().state(_Latest).run = run
    if background:
        return run
    try:
        return run.result()
    except KeyboardInterrupt:
        run.cancel()
        frame = run.result()
        kept = int(frame["error"].isna().sum())
        missing = len(frame) - kept
        error = E.StreamInterrupted(
            f"batch interrupted: {kept:,} of {len(frame):,} answers kept (all saved in the journal); run the "
            f"same call again to send only the {missing:,} missing requests")
        error.frame = frame  # type: ignore[attr-defined]
        raise error from None


def _split(jobs: list[Job], store: BatchStore, cache: bool) -> tuple[dict[str, Outcome], list[Job]]:
    """Give every job its slot; return (outcomes known before sending: journal hits and rows
    that cannot be sent, by slot) and the jobs to send, one per slot. With the cache, rows
    asking the same thing share one slot (one request)."""
    for job in jobs:
        job.slot = f"#{job.position}" if not job.key else (job.key if cache else f"{job.key}#{job.position}")
    known: dict[str, Outcome] = {job.slot: Outcome(error=job.error) for job in jobs if job.error}
    if cache:
        for key, stored in store.get_many(job.key for job in jobs if job.key).items():
            known[key] = Outcome(stored.answer, None, stored.time_to_first_token, stored.elapsed, stored.points,
                                 cached=True)
    to_send: dict[str, Job] = {}
    for job in jobs:
        if job.key and job.slot not in known:
            to_send.setdefault(job.slot, job)
    return known, list(to_send.values())


def last_batch() -> BatchRun | None:
    """The most recent batch of this kernel (running or finished)."""
    return current().state(_Latest).run


