"""The Reply: one model's answer to one prompt, live while streaming, inspectable after."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from poe_magic.base.config import settings
from poe_magic.base.errors import PoeMagicError
from poe_magic.base.secrets import scrub
from poe_magic.base.text import plural
from poe_magic.base.version import __version__

#: hex digits of the prompt's SHA-256 a saved notebook keeps (64 bits: enough to tell the calls of a
#: model within two seconds apart, which is all :func:`~poe_magic.notebook_costs` compares)
PROMPT_DIGITS = 16


@dataclass(eq=False)
class Reply:
    """What a model answered, how long it took and what it cost.

    ``text`` grows while the answer streams. After the stream ends, ``error`` is None on
    success, ``interrupted`` tells whether the user stopped it, and the partial text is kept
    either way.
    """

    model: str
    prompt: str
    text: str = ""
    started_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    time_to_first_token: float | None = None  # seconds
    elapsed: float | None = None  # seconds, set when the stream ends
    error: PoeMagicError | None = None
    interrupted: bool = False
    attachments: list[Any] = field(default_factory=list)  # files/images the model returned
    points: int | None = None  # points this call spent, when known
    points_pending: bool = False  # its cost is being looked up in the points history (footer: "points pending")
    estimated_points: int | None = None  # the catalogue price x tokens, at once (footer "≈ N points" until billed)
    usage: dict[str, Any] | None = None  # tokens as the protocol reported them (prompt/completion/cached), if it did
    tool_calls: list[Any] = field(default_factory=list)
    retries: int = 0
    cached: bool = False  # served from the on-disk cache, no points spent
    thread: str | None = None  # conversation name when sent with --chat
    system: str | None = None
    params: dict[str, Any] = field(default_factory=dict)  # the bot's own parameters (--param)
    temperature: float | None = None  # as sent
    stop: list[str] = field(default_factory=list)  # stop sequences, as sent
    data: Any = None  # the structured answer when asked with schema= (poe_magic.prompting.schemas)
    _t0: float = field(default_factory=time.perf_counter, repr=False)
    _points_watchers: list[Callable[[Reply], None]] = field(default_factory=list, repr=False)

    def add_usage(self, usage: dict[str, int]) -> None:
        """Count a request's token usage into this reply (a tool loop's rounds add up: each was billed)."""
        total = dict(self.usage or {})
        for name, count in usage.items():
            total[name] = total.get(name, 0) + count
        self.usage = total

    # -- cost, known late -------------------------------------------------------------------
    def watch_points(self, callback: Callable[[Reply], None]) -> None:
        """Call ``callback(reply)`` when :meth:`set_points` gives this reply its cost (at once
        when it is already known). The cost may arrive after the answer, from another thread:
        a display uses this to update its footer in place."""
        self._points_watchers.append(callback)
        if self.points is not None:
            callback(self)

    def wait_points(self, timeout: float = 60.0) -> int | None:
        """Block until this reply's cost is known (or given up on), at most ``timeout`` seconds;
        return the points (None when not known by then). For a notebook that prints the cost
        in the next cell; ``poe_magic.wait_for_costs(timeout)`` waits for every call."""
        import threading

        known = threading.Event()
        self.watch_points(lambda _: known.set())  # also told when the cost is given up on (None)
        known.wait(timeout)
        return self.points

    def set_points(self, points: int | None) -> None:
        """Record what this call cost and tell the watchers (a watcher's failure is not this
        reply's problem: it is dropped, never raised into whoever found the cost)."""
        self.points = points
        for callback in list(self._points_watchers):
            try:
                callback(self)
            except Exception:  # noqa: BLE001 - a display gone away must not break cost-keeping
                self._points_watchers.remove(callback)

    def output_metadata(self) -> dict[str, Any]:
        """What a saved notebook keeps about this answer (``metadata["poe_magic"]`` of its
        output): model, points (None until known), timings, parameters, system prompt, the
        SHA-256 of the prompt sent (its first :data:`PROMPT_DIGITS` hex digits), the package
        version and, where the protocol reported them, the tokens used (``usage``). Never the key.

        A key whose value is None, False or empty is left out (``points`` excepted): it is sent
        with every short answer, and issue 26 weighs those against a ``print``; a reader takes a
        missing key as None (``cached``: False)."""
        full = {
            "time": self.started_at.isoformat(timespec="seconds"),
            "elapsed": None if self.elapsed is None else round(self.elapsed, 3),
            "time_to_first_token": None if self.time_to_first_token is None else round(self.time_to_first_token, 3),
            "status": self.status,
            "cached": self.cached,
            # scrubbed like the call log; settings.metadata_prompts = False keeps them out altogether
            "params": _scrubbed(dict(self.params)) if settings.metadata_prompts else sorted(self.params),
            "temperature": self.temperature,
            "stop": list(self.stop),
            "system": _scrubbed(self.system) if settings.metadata_prompts else None,
            "prompt_sha256": hashlib.sha256(self.prompt.encode("utf-8", "surrogatepass")).hexdigest()[:PROMPT_DIGITS],
            "version": __version__,
            "usage": dict(self.usage) if self.usage else None,  # tokens, where the protocol reports them
        }
        kept = {key: value for key, value in full.items() if value is not None and value is not False and value != {}
                and value != [] and value != ""}
        return {"model": self.model, "points": self.points, **kept}

    @property
    def ok(self) -> bool:
        return self.error is None and not self.interrupted

    @property
    def status(self) -> str:
        if self.interrupted:
            return "interrupted"
        if self.error is not None:
            return "error"
        if self.elapsed is None:
            return "streaming"
        return "ok"

    def footer(self, brief: bool = False) -> str:
        """One line: model, timings, points, and what went wrong if anything did.

        ``brief``: the failure as a short status (``⚠ timed out``, ``⚠ ServerError``,
        ``⏹ stopped``), for a display with the one-line error printed right under it."""
        bits = [self.model]
        if self.cached:
            bits.append("from cache, 0 points")
        if self.elapsed is not None and not self.cached:
            bits.append(f"{self.elapsed:.2f} s")
            if self.time_to_first_token is not None:
                bits.append(f"first token {self.time_to_first_token:.2f} s")
        if self.points is not None and not self.cached:
            bits.append(f"{self.points:,} points")
        elif self.estimated_points is not None and not self.cached:
            bits.append(f"≈ {self.estimated_points:,} points")  # replaced by the billed cost when it lands
        elif self.points_pending and not self.cached:
            bits.append("points pending")
        if self.retries:
            bits.append(plural(self.retries, "retry", "retries"))
        if self.interrupted:
            bits.append("⏹ stopped" if brief else f"⏹ interrupted, partial answer kept ({plural(len(self.text), 'char')})")
        elif self.error is not None:
            name = type(self.error).__name__
            if brief:
                bits.append("⚠ timed out" if name == "PoeTimeoutError" else f"⚠ {name}")
            else:
                bits.append(f"⚠ {name}: {self.error}")
        return " · ".join(bits)

    def _repr_markdown_(self) -> str:
        from poe_magic.core.safe_markdown import safe_markdown  # (imports nothing of the package)

        return closed_markdown(safe_markdown(self.text)) + f"\n\n<sub>{safe_markdown(self.footer())}</sub>"

    def __str__(self) -> str:
        return self.text

    def __getstate__(self) -> dict[str, Any]:
        # the watchers are live displays of this kernel (sinks holding the shell): a pickled or
        # copied Reply (and an error carrying it as .reply) is the answer, without them
        state = dict(self.__dict__)
        state["_points_watchers"] = []
        return state

    def __repr__(self) -> str:
        preview = self.text[:60].replace("\n", " ")
        more = "…" if len(self.text) > 60 else ""
        return f"<Reply {self.model} {self.status} {len(self.text)} chars: {preview!r}{more}>"


def _scrubbed(value: Any) -> Any:
    """``value`` with every string in it through :func:`~poe_magic.base.secrets.scrub`."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {k: _scrubbed(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrubbed(v) for v in value]
    return value


def closed_markdown(text: str) -> str:
    """Close a code fence left open by a partial answer, so what follows renders normally."""
    if text.count("```") % 2:
        return text + "\n```"
    return text
