"""The one request pipeline: cache -> preflight -> upload -> stream (or the tool loop) -> finish -> save.

``ask``/``send``, ``stream``, ``%%poe``, ``compare``, the chat panel and ``batch`` all go through
these steps, and this module is the one place where features hook into every request:

- :func:`preflight` runs before a request is sent (the session budget may refuse it; above
  ``settings.confirm_above`` the user is asked first, :mod:`poe_magic.prompting.confirm`);
- :func:`finish_reply` completes every finished Reply before its final display (the files a
  model returned are listed, the ledger records the call and finds its cost, the call log
  gets its row).

With ``schema=`` (:mod:`poe_magic.prompting.schemas`) the answer is parsed and validated before
it is finished; one repair round goes back to the model in the same conversation when it
does not fit (:func:`structure`).

:class:`AnswerStream` runs one request through them, as it happens: iterate it for the text
pieces (``poe_magic.stream``), or :meth:`~AnswerStream.run` it with a display sink (``ask`` and
the magics).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from typing import Any

from poe_magic.base import errors as E
from poe_magic.base.config import Settings
from poe_magic.base.config import settings as default_settings
from poe_magic.base.text import plural
from poe_magic.core.accumulator import Accumulator, Sink
from poe_magic.core.display import SilentSink
from poe_magic.core.live import LiveStream, SinkFeed, drain, new_reply, stop
from poe_magic.core.reply import Reply
from poe_magic.prompting import answer_cache, attachments, confirm, media
from poe_magic.prompting.schemas import Schema, repair_prompt, schema_error
from poe_magic.spending import calllog, ledger
from poe_magic.tools.functions import ToolSet
from poe_magic.tools.loop import Confirm, run_with_tools
from poe_magic.wire.request import Message, PoeRequest


def preflight(request: PoeRequest) -> None:
    """Checks before ``request`` is sent; a PoeMagicError refuses it (nothing is sent)."""
    ledger.check_budget(request)
    confirm.check_request(request)


def finish_reply(reply: Reply, request: PoeRequest | None = None) -> None:
    """Complete a finished Reply: its files listed, the call recorded with its cost.

    A Ctrl-C here (the answer is in, its cost is being looked up) marks the Reply interrupted
    rather than escaping as a traceback: the text stays, the cell ends in one line."""
    try:
        media.collect_files(reply)
        ledger.record(reply)
    except KeyboardInterrupt:
        reply.interrupted = True
    calllog.record(reply, request)  # queued: written by the log's own thread


def structure(reply: Reply, request: PoeRequest, schema: Schema, *, settings: Settings = default_settings,
              timeout: float | None = None) -> Reply | None:
    """Parse ``reply``'s answer with ``schema`` into ``reply.data``. When it does not fit, one
    repair round sends the problem back in the same conversation (silently, through this
    pipeline); a fitting repair replaces the text. Still no fit: ``reply.error`` is a one-line
    SchemaError and the text is kept. Returns the repair's Reply (None when none was sent)."""
    if not reply.ok or reply.data is not None:
        return None
    data, problem = schema.parse(reply.text)
    repair: Reply | None = None
    if problem is not None:
        history = [*request.messages, Message("bot", reply.text), Message("user", repair_prompt(problem))]
        again = PoeRequest(model=request.model, messages=history, temperature=request.temperature,
                           stop=list(request.stop), params=dict(request.params))
        try:
            with confirm.approved():  # the call itself was approved: its repair is part of it
                repair = run(again, SilentSink(), prompt=again.messages[-1].content, settings=settings,
                             timeout=timeout)
        except E.PoeMagicError as refused:  # e.g. the budget: the first answer's problem stands
            problem = f"{problem} (repair not sent: {refused})"
        if repair is not None and repair.ok:
            fixed, still = schema.parse(repair.text)
            if still is None:
                reply.text, data, problem = repair.text, fixed, None
            else:
                problem = still
    if problem is None:
        reply.data = data
    else:
        reply.error = schema_error(problem)
    return repair


def add_repair_points(reply: Reply, repair: Reply | None) -> None:
    """The answer's points include its repair round's, once both are known."""
    if repair is None:
        return

    def total(_: Reply) -> None:
        if reply.points is not None and repair.points is not None and not getattr(reply, "_repair_added", False):
            reply._repair_added = True  # type: ignore[attr-defined]
            reply.set_points(reply.points + repair.points)

    repair.watch_points(total)
    reply.watch_points(total)


def raise_for(reply: Reply, kept_in: str = "poe_magic.last_reply()") -> None:
    """Raise the reply's failure, if any, with the Reply attached as ``.reply``. A stop
    (Ctrl-C) is raised too, as one calm line saying where the partial answer is (``kept_in``:
    ``_poe`` for the magics), so that Run All stops there."""
    if reply.interrupted:
        kept = (f"partial answer ({plural(len(reply.text), 'char')}) kept in {kept_in}"
                if reply.text else "no answer had arrived yet")
        error: E.PoeMagicError = E.StreamInterrupted(f"stopped by you after {reply.elapsed or 0:.1f} s; {kept}")
    elif reply.error is not None:
        error = reply.error
    else:
        return
    error.reply = reply  # type: ignore[attr-defined]
    raise error


def run(request: PoeRequest, sink: Sink, *, prompt: str, settings: Settings = default_settings,
        timeout: float | None = None) -> Reply:
    """Stream one request into ``sink`` and return the finished Reply (never raises for
    API errors: they are on ``reply.error``)."""
    return AnswerStream(request, prompt=prompt, sink=sink, settings=settings, timeout=timeout).run()


class AnswerStream:
    """One request through the pipeline, as it happens.

    Iterate it for the answer's text as it arrives (each piece is the text added since the
    previous one; after the rare bot that replaces its answer, ``replaced`` is True and the
    piece is the whole new answer); a failure or a Ctrl-C is raised as one line once the
    pieces are out, the partial answer kept on ``.reply``. Or :meth:`run` it to the end with a
    display sink. ``.reply`` is the Reply, complete once the stream has ended; ``on_end`` is
    called with it then (threads, the last reply, ...)."""

    def __init__(self, request: PoeRequest, *, prompt: str, sink: Any = None, key: str | None = None,
                 toolset: ToolSet | None = None, confirm: Confirm = False, force: bool = False,
                 settings: Settings = default_settings, timeout: float | None = None,
                 on_end: Callable[[Reply], None] | None = None, interval: float | None = None,
                 schema: Schema | None = None, yes: bool = False) -> None:
        self.request, self.prompt, self.schema, self.yes = request, prompt, schema, yes
        self.sink = sink if sink is not None else SilentSink()
        self.key, self.toolset, self.confirm, self.force = key, toolset, confirm, force
        self.settings, self.timeout, self.on_end = settings, timeout, on_end
        self.interval = interval or settings.throttle_interval  # seconds between display updates
        self.reply: Reply | None = None
        self.replaced = False
        self._acc: Accumulator | None = None
        self._live: LiveStream | None = None
        self._steps: Iterator[set[Hashable]] | None = None
        self._feed: SinkFeed | None = None
        self._whole = ""  # an answer that came at once (the cache, the tool loop): its one piece
        self._started = self._ended = False
        self.schema_repair: Reply | None = None  # the repair round's Reply, when one was sent

    # -- the steps ---------------------------------------------------------------------------
    def start(self) -> Reply:
        """Begin: answer from the cache when it holds this request, else upload files, check
        (a refusal raises here, nothing sent) and start streaming; returns the live Reply. With
        a toolset the whole tool loop runs here. Iterating or :meth:`run` start it if needed."""
        if not self._started:
            self._begin()
        assert self.reply is not None
        return self.reply

    def _begin(self) -> None:
        self._started = True
        with ledger.budget_override(self.force), confirm.approved(self.yes):
            cached = answer_cache.load(self.key, self.request, self.prompt)
            if cached is not None:
                self.reply = cached
                self.sink.start(cached)
                if self.schema is not None:
                    self.schema_repair = structure(cached, self.request, self.schema, settings=self.settings,
                                                   timeout=self.timeout)
                finish_reply(cached, self.request)  # the ledger notes a call at 0 points, files are listed
                self.sink.finish(cached)
                return self._end(cached.text)
            request = attachments.with_uploads(self.request, self.settings)
            if self.toolset is not None:
                self.reply = run_with_tools(request, self.toolset, self.sink, prompt=self.prompt,
                                            confirm=self.confirm, settings=self.settings, timeout=self.timeout,
                                            preflight=preflight, finish=finish_reply)
                return self._end(self.reply.text)
            preflight(request)
        self.reply = reply = new_reply(request, self.prompt)
        self.sink.start(reply)
        self._acc = Accumulator(reply)
        self._live = LiveStream(request, settings=self.settings, timeout=self.timeout)
        self._steps = drain({0: self._acc}, self._live.events)
        self._feed = SinkFeed(self._acc, self.sink, self.interval)

    def _advance(self) -> bool:
        """Fold the next batch of events into the Reply and (throttled) the sink; False once
        the stream has ended."""
        assert self._steps is not None and self._feed is not None
        try:
            changed = next(self._steps)
        except StopIteration:
            self._finish_live()
            return False
        self._feed(changed)
        return True

    def _interrupt(self) -> None:
        """Ctrl-C: stop the request, keep the text, end as interrupted."""
        if self._acc is None or self._live is None:
            raise KeyboardInterrupt  # before anything streamed: nothing to keep
        stop({0: self._acc}, self._live.cancel)
        self._finish_live()

    def _finish_live(self) -> None:
        assert self.reply is not None
        repair = None
        with ledger.budget_override(self.force):  # (a forced call's budget note is not a warning)
            if self.schema is not None:
                repair = self.schema_repair = structure(self.reply, self.request, self.schema,
                                                        settings=self.settings, timeout=self.timeout)
            finish_reply(self.reply, self.request)
        add_repair_points(self.reply, repair)
        self.sink.finish(self.reply)
        answer_cache.save(self.key, self.reply)
        self._end()

    def _end(self, whole: str = "") -> None:
        if self._ended:
            return
        self._ended, self._whole = True, whole
        if self.on_end is not None and self.reply is not None:
            self.on_end(self.reply)

    # -- driving it ----------------------------------------------------------------------------
    def run(self) -> Reply:
        """Stream to the end (Ctrl-C stops it, the text kept) and return the Reply; API errors
        stay on ``reply.error``."""
        try:
            if not self._started:
                self._begin()
            while not self._ended and self._advance():
                pass
        except KeyboardInterrupt:
            self._interrupt()
        assert self.reply is not None
        return self.reply

    def __iter__(self) -> AnswerStream:
        return self

    def __next__(self) -> str:
        if not self._started:
            self._begin()
        while True:
            if self._whole:
                piece, self._whole = self._whole, ""
                return piece
            if self._acc is not None:
                piece, replaced = self._acc.take_fresh()
                if piece:
                    self.replaced = replaced
                    return piece
            if self._ended:
                assert self.reply is not None
                raise_for(self.reply)
                raise StopIteration
            try:
                self._advance()
            except KeyboardInterrupt:
                self._interrupt()

    def close(self) -> None:
        """Stop the request if it still runs (its partial text stays on ``.reply``)."""
        if self._live is not None and not self._ended:
            self._live.cancel(wait=0)

    def __enter__(self) -> AnswerStream:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:  # an abandoned iterator leaves nothing running on the loop
        live = getattr(self, "_live", None)
        if live is not None and not getattr(self, "_ended", True):
            live.cancel(wait=0)

    def __repr__(self) -> str:
        state = "ended" if self._ended else "streaming" if self._started else "not started"
        return f"<AnswerStream {self.request.model} {state}>"


__all__ = ["AnswerStream", "finish_reply", "preflight", "raise_for", "run", "structure"]
