"""Compare models: one prompt to several models at once, one :class:`Comparison` back.

Every model's request runs concurrently on the one private event loop (one
:class:`~poe_magic.client.LiveStream` each, all feeding one tagged queue); the kernel thread
drains them with :func:`~poe_magic.client.consume` and feeds a side-by-side view
(:mod:`poe_magic.compare_view`). A failing model keeps its error on its Reply while the others
go on; Ctrl-C stops every stream and keeps every partial answer.

``runs=N`` repeats the comparison N times (one round after another, every model concurrently
within a round) so timings can be judged by their median and spread.
"""

from __future__ import annotations

import queue
import statistics
import time
from typing import Any, Iterator, Optional, Sequence

from . import _errors as E
from . import client
from .config import Settings, settings as default_settings
from .render import Throttle
from .reply import Reply

_last_comparison: Optional["Comparison"] = None

#: to_frame() columns and dtypes (``runs`` and the ``*_spread`` columns only when runs > 1)
FRAME_DTYPES: dict[str, str] = {
    "model": "string",  # the resolved model name
    "status": "string",  # ok | error | interrupted (the worst over the runs)
    "time_to_first_token": "float64",  # seconds (median over the runs); NaN when none came
    "elapsed": "float64",  # seconds from sending to the end of the stream (median over the runs)
    "chars": "Int64",  # characters of the answer (median over the runs)
    "tokens": "Int64",  # tokens when the API reported them, else <NA>
    "points": "Int64",  # points spent (summed over the runs) when known, else <NA>
    "error": "string",  # the one-line error of the last failed run, else <NA>
}
RUNS_DTYPES: dict[str, str] = {
    "runs": "Int64",  # how many runs the model took part in
    "time_to_first_token_spread": "float64",  # max - min over the runs, seconds
    "elapsed_spread": "float64",  # max - min over the runs, seconds
}


class Comparison:
    """The answers of several models to one prompt, with their timings.

    ``replies`` maps model -> :class:`~poe_magic.reply.Reply` (the latest run of each),
    ``all_runs`` maps model -> every run's Reply, :meth:`to_frame` is the summary table as a
    DataFrame, and in a notebook the object renders as static side-by-side columns.
    """

    def __init__(self, prompt: str, models: Sequence[str], runs: int = 1, fmt: str = "markdown") -> None:
        self.prompt = prompt
        self.models = list(models)
        self.runs = runs  # runs asked for
        self.format = fmt
        self.all_runs: dict[str, list[Reply]] = {m: [] for m in self.models}
        self.interrupted = False
        self._view: Any = None  # the live view that showed it (display statistics for benchmarks)

    # -- access ---------------------------------------------------------------------
    @property
    def replies(self) -> dict[str, Reply]:
        """model -> the Reply of its latest run (models that never started are left out)."""
        return {m: runs[-1] for m, runs in self.all_runs.items() if runs}

    @property
    def rounds_done(self) -> int:
        """How many runs have started (fewer than ``runs`` after Ctrl-C or a budget stop)."""
        return max((len(r) for r in self.all_runs.values()), default=0)

    def __getitem__(self, model: str) -> Reply:
        return self.replies[model]

    def __iter__(self) -> Iterator[Reply]:
        return iter(self.replies.values())

    def __len__(self) -> int:
        return len(self.models)

    def __repr__(self) -> str:
        parts = ", ".join(f"{m}: {r.status} {len(r.text)} chars" for m, r in self.replies.items())
        runs = f" x{self.runs} runs" if self.runs > 1 else ""
        return f"<Comparison of {len(self.models)} models{runs}: {parts}>"

    # -- the summary table ---------------------------------------------------------------
    def rows(self) -> list[dict[str, Any]]:
        """The summary table as plain dicts (the data behind :meth:`to_frame` and the HTML)."""
        return [_summary_row(model, runs, self.runs > 1) for model, runs in self.all_runs.items() if runs]

    def to_frame(self) -> Any:
        """The summary table as a pandas DataFrame, one row per model (columns and dtypes
        in :data:`FRAME_DTYPES`, plus :data:`RUNS_DTYPES` when ``runs > 1``)."""
        import pandas as pd

        dtypes = {**FRAME_DTYPES, **(RUNS_DTYPES if self.runs > 1 else {})}
        frame = pd.DataFrame(self.rows(), columns=list(dtypes))
        return frame.astype(dtypes)

    def runs_frame(self) -> Any:
        """One row per model per run (``run`` numbered from 1): the raw timings behind the
        medians, e.g. for a box plot."""
        import pandas as pd

        dtypes = {"run": "Int64", **FRAME_DTYPES}
        rows = [{"run": i, **_summary_row(model, [reply], False)}
                for model, replies in self.all_runs.items() for i, reply in enumerate(replies, 1)]
        return pd.DataFrame(rows, columns=list(dtypes)).astype(dtypes)

    # -- display -------------------------------------------------------------------------
    def _repr_html_(self) -> str:
        from .compare_view import static_html

        return static_html(self)

    def _add(self, reply: Reply) -> None:
        self.all_runs[reply.model].append(reply)


def _summary_row(model: str, replies: list[Reply], with_runs: bool) -> dict[str, Any]:
    def median(values: list[Optional[float]]) -> Optional[float]:
        known = [v for v in values if v is not None]
        return statistics.median(known) if known else None

    def spread(values: list[Optional[float]]) -> Optional[float]:
        known = [v for v in values if v is not None]
        return max(known) - min(known) if known else None

    ttft = [r.time_to_first_token for r in replies]
    elapsed = [r.elapsed for r in replies]
    tokens = [getattr(r, "tokens", None) for r in replies]
    points = [r.points for r in replies]
    chars, tok = median([len(r.text) for r in replies]), median(tokens)
    errors = [r.error for r in replies if r.error is not None]
    statuses = {r.status for r in replies}
    status = next((s for s in ("interrupted", "error", "streaming") if s in statuses), "ok")
    row: dict[str, Any] = {
        "model": model,
        "status": status,
        "time_to_first_token": median(ttft),
        "elapsed": median(elapsed),
        "chars": None if chars is None else round(chars),
        "tokens": None if tok is None else round(tok),
        "points": None if any(p is None for p in points) else sum(points),  # type: ignore[misc]
        "error": f"{type(errors[-1]).__name__}: {errors[-1]}" if errors else None,
        "cached": all(r.cached for r in replies),  # answered from the answer cache (not a frame column)
    }
    if with_runs:
        row.update(runs=len(replies), time_to_first_token_spread=spread(ttft), elapsed_spread=spread(elapsed))
    return row


# -- running a comparison ------------------------------------------------------------------

def resolve_models(models: Optional[Sequence[str]], settings: Settings = default_settings) -> list[str]:
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
        model = client.resolve_model(name, settings)
        if model in resolved:
            typed = f" (as {name!r})" if name != model else ""
            raise E.PoeUsageError(f"model {model} is named twice{typed}; name each model once (nothing was sent)")
        resolved.append(model)
    return resolved


def compare(
    prompt: str,
    models: Optional[Sequence[str]] = None,
    *,
    runs: int = 1,
    timeout: Optional[float] = None,
    attach: Any = None,
    format: str = "markdown",
    stream: bool = True,
    force: bool = False,
    cache: Optional[bool] = None,
    settings: Settings = default_settings,
    **request_options: Any,
) -> Comparison:
    """Send ``prompt`` to every model concurrently and return the :class:`Comparison`.

    ``models`` defaults to ``settings.compare_models`` (``%poe use A B C``). The
    ``request_options`` are a single prompt's: ``system``, ``temperature``, ``stop``,
    ``params``, ``history`` (see :func:`poe_magic.client.build_request`); ``attach`` names
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
    """
    from . import attachments, ledger
    from . import cache as answer_cache
    from .compare_view import default_view

    if not isinstance(runs, int) or runs < 1:
        raise E.PoeUsageError(f"--runs must be a whole number of at least 1, got {runs!r}")
    if timeout is not None and timeout <= 0:
        raise E.PoeUsageError(f"--timeout must be a positive number of seconds, got {timeout:g}")
    if format not in ("markdown", "text"):
        raise E.PoeUsageError(f"a comparison shows answers as markdown or text, not {format!r}")
    if cache and runs > 1:
        raise E.PoeUsageError("--cache does not apply with --runs: repeated runs measure live answers "
                              "(nothing was sent)")
    names = resolve_models(models, settings)
    files = attachments.prepare(attach) + list(request_options.pop("attachments", None) or [])  # missing: one line
    requests = {name: client.build_request(prompt, name, attachments=files, **request_options) for name in names}
    settings.api_key()  # fail before drawing anything when there is no key
    keys = {name: answer_cache.key_for(r, cache if runs == 1 else False, settings) for name, r in requests.items()}
    cached = {name: reply for name, r in requests.items()
              if (reply := answer_cache.load(keys[name], r, prompt, settings)) is not None}
    requests = {name: r for name, r in requests.items() if name not in cached}  # the ones to send

    global _last_comparison
    comparison = _last_comparison = Comparison(prompt, names, runs, format)
    view = default_view(stream, format, settings.throttle_interval)
    comparison._view = view
    started = time.perf_counter()
    settled: set[int] = set()
    try:
        with ledger.budget_override(force):
            for round_no in range(runs):
                for request in requests.values():  # all checked before any of the round is sent
                    client.preflight(request)
                if round_no == 0:  # each distinct file is uploaded once per session
                    requests = {name: attachments.with_uploads(r, settings) for name, r in requests.items()}
                finished = _run_round(comparison, requests, view, round_no, settings, timeout, cached)
                _settle(comparison, settled)  # points and the ledger known before the next preflight
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
        _settle(comparison, settled)
        view.finish(comparison)
    if comparison.interrupted:
        error = E.StreamInterrupted(
            f"interrupted after {time.perf_counter() - started:.1f} s; every partial answer is kept "
            "(the comparison is _poe in the notebook, poe_magic.last_comparison() in Python)")
        error.comparison = comparison  # type: ignore[attr-defined]
        raise error
    return comparison


def _run_round(comparison: Comparison, requests: dict[str, Any], view: Any, round_no: int,
               settings: Settings, timeout: Optional[float], cached: dict[str, Reply]) -> bool:
    """One concurrent round over every model (``cached`` ones answered from the cache, the
    ``requests`` streamed); False when Ctrl-C stopped it."""
    events: "queue.SimpleQueue[Any]" = queue.SimpleQueue()
    accumulators: dict[str, client.Accumulator] = {}
    streams: list[client.LiveStream] = []
    view.start_round(comparison, round_no)
    for reply in cached.values():
        comparison._add(reply)
    if cached:
        view.update(comparison, set(cached), {})
    try:
        for name, request in requests.items():
            reply = client.new_reply(request, comparison.prompt)  # its clock starts now
            comparison._add(reply)
            accumulators[name] = client.Accumulator(reply)
            streams.append(client.LiveStream(request, settings=settings, events=events, tag=name,
                                             timeout=timeout))
    except BaseException:
        _cancel(streams)
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
        return client.consume(accumulators, events, changed, lambda: _cancel(streams))
    except BaseException:  # a bug while folding events: stop the other streams first
        _cancel(streams)
        raise


def _settle(comparison: Comparison, settled: set[int]) -> None:
    """Finish (points, files) and remember (ledger, last reply) each ended reply, once."""
    from .api import remember

    for replies in comparison.all_runs.values():
        for reply in replies:
            if id(reply) not in settled and reply.elapsed is not None:
                settled.add(id(reply))
                client.finish_reply(reply)
                remember(reply)


def _cancel(streams: list[client.LiveStream]) -> None:
    """Cancel every stream at once, then wait (briefly) until each has stopped."""
    for stream in streams:
        stream.cancel(wait=0)
    for stream in streams:
        stream.finished.wait(1.0)


def last_comparison() -> Optional[Comparison]:
    """The most recent Comparison of this kernel (also ``_poe`` after a comparing cell)."""
    return _last_comparison
