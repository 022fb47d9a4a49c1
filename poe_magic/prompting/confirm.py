"""Ask before an expensive call: ``settings.confirm_above`` points, ``--yes`` / ``yes=True``.

Every request is checked by the runner (:func:`check_request`, on every path; a comparison, a
batch or a grading run asks once for all of its requests with :func:`ask_to_send` and marks
them :func:`approved`; a request made off the kernel's thread that would need asking is
refused in one line). The question is a Yes/No ``input()``, as
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
    """The runner's check: ask about one request whose estimate is above ``confirm_above``, on
    any path. Only the kernel's own thread can ask: elsewhere (``astream``'s executor, a thread
    of the user's) such a request is refused in one line naming ``yes=True``."""
    if settings.confirm_above <= 0 or _approved.get():
        return
    from poe_magic.spending.estimator import per_call

    prompt = "\n".join(m.content for m in request.messages)
    estimate = per_call(request.model, prompt)
    on_kernel_thread = threading.current_thread() is threading.main_thread()
    ask_to_send(estimate.points, f"this call to {request.model}", settings=settings, can_ask=on_kernel_thread)


def ask_to_send(points: float | None, what: str, *, yes: bool = False, settings: Settings = default_settings,
                can_ask: bool = True) -> None:
    """Ask Yes/No when ``points`` (an estimate) is above ``confirm_above``; a PoeUsageError
    when the answer is No or no one can answer (``can_ask=False``: not the kernel's thread, or
    a widget's callback). Unknown estimates are not asked about."""
    limit = settings.confirm_above
    if yes or _approved.get() or limit <= 0 or points is None or points <= limit:
        return
    cannot = E.PoeUsageError(
        f"{what} is estimated at {points:,.0f} points, above confirm_above = {limit:,.0f}, and "
        f"{'this frontend' if can_ask else 'this thread'} cannot ask; pass --yes (or yes=True) to send it "
        "(nothing was sent)")
    if not can_ask:
        raise cannot
    question = f"poe_magic: {what} is estimated at {points:,.0f} points (confirm_above = {limit:,.0f}). Send it? [y/N] "
    try:
        answer = input(question)
    except (EOFError, NotImplementedError, RuntimeError, OSError):  # StdinNotImplementedError, captured stdin: no one can answer
        raise cannot from None
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
