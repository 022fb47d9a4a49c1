"""Compare models: one prompt to several models at once, one :class:`Comparison` back.

Every model's request is a :class:`~poe_magic.prompting.runner.Call` through the one runner
(all of a round checked and reserved against the budget before any is sent), streaming
concurrently on the one private event loop (all feeding one tagged queue); the kernel thread
drains them with :func:`~poe_magic.core.live.consume` and feeds a side-by-side view
(:mod:`poe_magic.comparison.view`). A failing model keeps its error on its Reply while the others
go on; Ctrl-C stops every stream and keeps every partial answer.

``runs=N`` repeats the comparison N times (one round after another, every model concurrently
within a round) so timings can be judged by their median and spread.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Hashable, Sequence
from typing import Any

from poe_magic.base import errors as E
from poe_magic.base.config import Settings, check_count, check_seconds
from poe_magic.base.config import settings as default_settings
from poe_magic.catalog.resolve import resolve_model
from poe_magic.comparison.result import Comparison
from poe_magic.comparison.view import GridNotebookSink, grid_sink
from poe_magic.core import live
from poe_magic.core.accumulator import Accumulator
from poe_magic.core.display import Throttle
from poe_magic.core.reply import Reply
from poe_magic.core.session import current, remember
from poe_magic.prompting import answer_cache, attachments, confirm, pipeline
from poe_magic.prompting.runner import Call, settle_unsent
from poe_magic.prompting.schemas import as_schema, with_instruction
from poe_magic.spending import calllog, ledger
from poe_magic.wire.request import build_request

MAX_RUNS = 100  # repeated runs measure timings; more than this is a typo


class _Latest:
    """The session's most recent Comparison (a session state)."""

    comparison: Comparison | None = None


# -- running a comparison ------------------------------------------------------------------

def resolve_models(models: Sequence[str] | None, settings: Settings = default_settings) -> list[str]:
    """The models to compare, resolved (aliases, case) and checked: the ones named, else
    ``settings.compare_models``; one-line error for none, an unknown name or a duplicate."""
    if isinstance(models, str):
        models = models.split()
    names = list(models or settings.compare_models or [])
    if not names:
        raise E.PoeUsageError(
            "no models to compare: name them (%%poe MODEL_A MODEL_B ...), or set the comparison "
            "set with %poe use MODEL_A MODEL_B or poe_magic.settings.compare_models"
        )
    resolved: list[str] = []
    for name in names:
        model = resolve_model(name, settings)
        if model in resolved:
            typed = f" (as {name!r})" if name != model else ""
            raise E.PoeUsageError(f"model {model} is named twice{typed}; name each model once (nothing was sent)")
        resolved.append(model)
    return resolved


def compare(
    prompt: str,
    models: Sequence[str] | None = None,
    *,
    runs: int = 1,
    timeout: float | None = None,
    attach: Any = None,
    format: str = "markdown",
    stream: bool = True,
    force: bool = False,
    cache: bool | None = None,
    settings: Settings = default_settings,
    schema: Any = None,
    yes: bool = False,
    judge: str | None = None,
    rubric: str | None = None,
    **request_options: Any,
) -> Comparison:
    """Send ``prompt`` to every model concurrently and return the :class:`Comparison`.

    ``models`` defaults to ``settings.compare_models`` (``%poe use A B C``). The
    ``request_options`` are a single prompt's: ``system``, ``temperature``, ``stop``,
    ``params``, ``history`` (see :func:`poe_magic.wire.request.build_request`); ``attach`` names
    local files to send with the prompt (uploaded once, shared by every model); ``timeout``
    applies to each model; ``runs`` repeats the whole comparison for stable timings;
    ``force=True`` passes the session budget. ``cache=True`` (``None``: ``settings.cache``)
    answers each model from the answer cache when it holds this exact request (0 points, no
    request sent, "from cache" in its column) and stores the fresh answers; timings of
    repeated ``runs`` are live, so the cache is not used with them. In a notebook the answers stream side by side
    (``stream=False`` shows nothing); ``format="text"`` shows them unrendered.

    API failures stay on each model's Reply (``comparison[model].error``). Bad input (no
    models, a duplicate or unknown name, an empty prompt, no key) raises before anything is
    sent; Ctrl-C stops every stream and raises :class:`~poe_magic.StreamInterrupted` whose
    ``.comparison`` keeps every partial answer (also :func:`last_comparison`).

    ``schema=`` asks every model for a structured answer (see :func:`poe_magic.ask`): each
    Reply's ``.data``, and the fields as columns of :meth:`Comparison.to_frame`. ``judge=MODEL``
    with ``rubric=TEXT`` grades every answer afterwards (:func:`poe_magic.grade`): ``score`` and
    ``reason`` columns. ``yes=True`` skips the question above ``settings.confirm_above``.
    """

    check_count("--runs", runs, 1, MAX_RUNS)
    if timeout is not None:
        timeout = check_seconds("--timeout", timeout)
    if format not in ("markdown", "text"):
        raise E.PoeUsageError(f"a comparison shows answers as markdown or text, not {format!r}")
    if cache and runs > 1:
        raise E.PoeUsageError("--cache does not apply with --runs: repeated runs measure live answers "
                              "(nothing was sent)")
    if (judge is None) != (rubric is None):
        raise E.PoeUsageError("--judge and --rubric go together: the judge model and what it scores (nothing was sent)")
    structured = None if schema is None else as_schema(schema)
    if structured is not None:
        request_options["system"] = with_instruction(request_options.get("system"), structured)
    names = resolve_models(models, settings)
    files = attachments.prepare(attach) + list(request_options.pop("attachments", None) or [])  # missing: one line
    requests = {name: build_request(prompt, name, attachments=files, **request_options) for name in names}
    settings.api_key()  # fail before drawing anything when there is no key
    keys = {name: answer_cache.key_for(r, cache if runs == 1 else False, settings) for name, r in requests.items()}
    cached = {name: reply for name, r in requests.items()
              if (reply := answer_cache.load(keys[name], r, prompt, settings)) is not None}
    asked = dict(requests)  # every model's request (the repair round of a structured answer continues it)
    requests = {name: r for name, r in requests.items() if name not in cached}  # the ones to send
    confirm.ask_to_send(confirm.estimate_total(list(requests), prompt, runs), f"this comparison of {len(names)} models",
                        yes=yes, settings=settings)

    comparison = current().state(_Latest).comparison = Comparison(prompt, names, runs, format)
    comparison.schema = structured
    with calllog.context("compare", comparison.id), confirm.approved():
        _compare(comparison, requests, asked, cached, keys, force, runs, stream, format, settings, timeout)
    if judge is not None and rubric is not None and not comparison.interrupted:
        from poe_magic.comparison.grading import grade_comparison

        grade_comparison(comparison, judge, rubric, settings=settings)
        if isinstance(comparison._view, GridNotebookSink):  # the grid's summary gains score and reason, in place
            comparison._view.finish(comparison)
    return comparison


def _compare(comparison: Comparison, requests: dict[str, Any], asked: dict[str, Any], cached: dict[str, Reply],
             keys: dict[str, Any], force: bool, runs: int, stream: bool, format: str, settings: Settings,
             timeout: float | None) -> None:
    """Run the rounds into ``comparison`` (see :func:`compare`)."""
    view = grid_sink(stream, format, settings.throttle_interval)
    comparison._view = view
    started = time.perf_counter()
    settled: set[int] = set()
    calls: dict[int, Call] = {}  # id(reply) -> its call through the runner
    try:
        with ledger.budget_override(force):
            for round_no in range(runs):
                round_calls = _reserve_all(requests, comparison.prompt, settings, timeout)
                if round_no == 0:  # each distinct file is uploaded once per session
                    try:
                        requests = {name: attachments.with_uploads(r, settings) for name, r in requests.items()}
                    except BaseException:
                        for call in round_calls.values():
                            call.release()
                        raise
                finished = _run_round(comparison, requests, round_calls, calls, view, round_no, settings, cached)
                _settle(comparison, settled, calls, asked, settings, timeout)  # the ledger knows before the next round
                for name in requests:  # complete answers only (see cache.save); no key: not cached
                    answer_cache.save(keys[name], comparison.all_runs[name][-1], settings)
                if not finished:
                    comparison.interrupted = True
                    break
    except E.PoeMagicError as refused:  # e.g. the budget ran out before run 2: keep runs done
        if comparison.rounds_done:
            refused.comparison = comparison  # type: ignore[attr-defined]
        raise
    finally:
        _settle(comparison, settled, calls, asked, settings, timeout)
        view.finish(comparison)
    if comparison.interrupted:
        error = E.StreamInterrupted(
            f"interrupted after {time.perf_counter() - started:.1f} s; every partial answer is kept "
            "(the comparison is _poe in the notebook, poe_magic.last_comparison() in Python)")
        error.comparison = comparison  # type: ignore[attr-defined]
        raise error


def _reserve_all(requests: dict[str, Any], prompt: str, settings: Settings,
                 timeout: float | None) -> dict[str, Call]:
    """Every model's call of one round checked and reserved before any is sent (one refusal:
    none is sent, the others' reservations released)."""
    calls: dict[str, Call] = {}
    try:
        for name, request in requests.items():
            call = Call(request, prompt=prompt, settings=settings, timeout=timeout)
            call.reserve()
            calls[name] = call
    except BaseException:
        for call in calls.values():
            call.release()
        raise
    return calls


def _run_round(comparison: Comparison, requests: dict[str, Any], round_calls: dict[str, Call],
               calls: dict[int, Call], view: Any, round_no: int, settings: Settings,
               cached: dict[str, Reply]) -> bool:
    """One concurrent round over every model (``cached`` ones answered from the cache, the
    ``requests`` streamed through their reserved calls); False when Ctrl-C stopped it."""
    events: queue.SimpleQueue[Any] = queue.SimpleQueue()
    accumulators: dict[Hashable, Accumulator] = {}
    streams: list[live.LiveStream] = []
    view.start_round(comparison, round_no)
    for reply in cached.values():
        comparison._add(reply)
    if cached:
        view.update(comparison, set(cached), {})
    try:
        for name, request in requests.items():
            reply = live.new_reply(request, comparison.prompt)  # its clock starts now
            comparison._add(reply)
            accumulators[name] = Accumulator(reply)
            calls[id(reply)] = round_calls[name]
            streams.append(round_calls[name].send(reply, events=events, tag=name, request=request))
    except BaseException:
        _cancel(streams)
        for call in round_calls.values():
            if call.reply is None:
                call.release()
        raise

    throttle = Throttle(settings.throttle_interval)
    dirty: set[str] = set()

    def changed(tags: set[Any]) -> None:
        dirty.update(tags)
        if not (dirty or view.behind) or not throttle.ready():
            return
        for tag in dirty:
            accumulators[tag].reply.text = accumulators[tag].text()  # joined only when shown
        view.update(comparison, dirty, {t: a.notice for t, a in accumulators.items() if a.notice})
        dirty.clear()

    try:
        return live.consume(accumulators, events, changed, lambda: _cancel(streams))
    except BaseException:  # a bug while folding events: stop the other streams first
        _cancel(streams)
        raise


def _settle(comparison: Comparison, settled: set[int], calls: dict[int, Call], requests: dict[str, Any],
            settings: Settings, timeout: float | None) -> None:
    """Finish (structured data) and settle (files, ledger, log) each ended reply, once; remember it."""

    for model, replies in comparison.all_runs.items():
        for reply in replies:
            if id(reply) not in settled and reply.elapsed is not None:
                settled.add(id(reply))
                repair = None
                if comparison.schema is not None:
                    repair = pipeline.structure(reply, requests[model], comparison.schema, settings=settings,
                                                timeout=timeout)
                call = calls.pop(id(reply), None)
                if call is not None:
                    call.settle(reply)
                else:  # answered from the cache: no request was sent
                    settle_unsent(reply, requests[model])
                pipeline.add_repair_points(reply, repair)
                remember(reply)


def _cancel(streams: list[live.LiveStream]) -> None:
    """Cancel every stream at once, then wait (briefly) until each has stopped."""
    for stream in streams:
        stream.cancel(wait=0)
    for stream in streams:
        stream.finished.wait(1.0)


def last_comparison() -> Comparison | None:
    """The most recent Comparison of this kernel (also ``_poe`` after a comparing cell)."""
    return current().state(_Latest).comparison
