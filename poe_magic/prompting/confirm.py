"""Ask before an expensive call: ``settings.confirm_above`` points, ``--yes`` / ``yes=True``.

A single request is checked in the pipeline's preflight (:func:`check_request`, on the kernel
thread only: a comparison, a batch or a grading run asks once for all of its requests with
:func:`ask_to_send` and marks them :func:`approved`). The question is a Yes/No ``input()``, as
``--confirm`` does for tools; where no one can answer (no stdin, e.g. a headless nbclient run)
the call is refused in one line naming ``--yes`` / ``yes=True``.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from poe_magic.base import errors as E
from poe_magic.base.config import Settings
from poe_magic.base.config import settings as default_settings

_approved: contextvars.ContextVar[bool] = contextvars.ContextVar("poe_magic_approved", default=False)


@contextmanager
def approved(yes: bool = True) -> Iterator[None]:
    """Requests sent inside this block are not asked about again (``yes=False``: no change)."""
    if not yes:
        yield
        return
    token = _approved.set(True)
    try:
        yield
    finally:
        _approved.reset(token)


def check_request(request: Any, settings: Settings = default_settings) -> None:
    """Preflight: ask about one request whose estimate is above ``confirm_above``."""
    if settings.confirm_above <= 0 or _approved.get() or threading.current_thread() is not threading.main_thread():
        return
    from poe_magic.spending.estimator import per_call

    prompt = "\n".join(m.content for m in request.messages)
    estimate = per_call(request.model, prompt)
    ask_to_send(estimate.points, f"this call to {request.model}", settings=settings)


def ask_to_send(points: float | None, what: str, *, yes: bool = False, settings: Settings = default_settings) -> None:
    """Ask Yes/No when ``points`` (an estimate) is above ``confirm_above``; a PoeUsageError
    when the answer is No or no one can answer. Unknown estimates are not asked about."""
    limit = settings.confirm_above
    if yes or _approved.get() or limit <= 0 or points is None or points <= limit:
        return
    question = f"poe_magic: {what} is estimated at {points:,.0f} points (confirm_above = {limit:,.0f}). Send it? [y/N] "
    try:
        answer = input(question)
    except (EOFError, NotImplementedError, RuntimeError):  # StdinNotImplementedError: no one can answer here
        raise E.PoeUsageError(
            f"{what} is estimated at {points:,.0f} points, above confirm_above = {limit:,.0f}, and this frontend "
            "cannot ask; pass --yes (or yes=True) to send it (nothing was sent)") from None
    if answer.strip().lower() not in ("y", "yes"):
        raise E.PoeUsageError(f"not sent: you declined {what} (estimated at {points:,.0f} points)")



def estimate_total(models: list[str], prompt: str, rows: int = 1,
                   settings: Settings = default_settings) -> float | None:
    """Estimated points of ``rows`` calls to each model (see :func:`estimate_counts`)."""
    return estimate_counts({m: rows for m in models}, prompt, settings)


def estimate_counts(counts: dict[str, int], prompt: str, settings: Settings = default_settings) -> float | None:
    """Estimated points of ``counts[model]`` calls to each model with ``prompt`` (None when no
    model's cost is known); not looked up at all when ``confirm_above`` is off."""
    if settings.confirm_above <= 0 or _approved.get() or not counts:
        return None
    from poe_magic.spending.estimator import per_call

    known = [(e.points, n) for m, n in counts.items() if (e := per_call(m, prompt)).points is not None]
    return sum(p * n for p, n in known) if known else None
