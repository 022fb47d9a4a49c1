"""The one request pipeline: cache -> preflight -> upload -> stream (or the tool loop) -> save -> finish.

``ask``/``send``, ``%%poe``, ``compare``, the chat panel and ``batch`` all go through these
steps, and this module is the one place where features hook into every request:

- :func:`preflight` runs before a request is sent (the session budget may refuse it);
- :func:`finish_reply` completes every finished Reply before its final display (the files a
  model returned are listed, the ledger records the call and finds its cost).
"""

from __future__ import annotations

from typing import Any

from poe_magic.base.config import Settings
from poe_magic.base.config import settings as default_settings
from poe_magic.core.live import Accumulator, Sink, new_reply, stream_into
from poe_magic.core.reply import Reply
from poe_magic.prompting import answer_cache, attachments, media
from poe_magic.spending import ledger
from poe_magic.tools.functions import ToolSet
from poe_magic.tools.loop import Confirm, run_with_tools
from poe_magic.wire.request import PoeRequest


def preflight(request: PoeRequest) -> None:
    """Checks before ``request`` is sent; a PoeMagicError refuses it (nothing is sent)."""
    ledger.check_budget(request)


def finish_reply(reply: Reply) -> None:
    """Complete a finished Reply: its files listed, the call recorded with its cost.

    A Ctrl-C here (the answer is in, its cost is being looked up) marks the Reply interrupted
    rather than escaping as a traceback: the text stays, the cell ends in one line."""
    try:
        media.collect_files(reply)
        ledger.record(reply)
    except KeyboardInterrupt:
        reply.interrupted = True


def run(request: PoeRequest, sink: Sink, *, prompt: str, settings: Settings = default_settings,
        timeout: float | None = None) -> Reply:
    """Stream one request into ``sink`` and return the finished Reply (never raises for
    API errors: they are on ``reply.error``)."""
    preflight(request)
    reply = new_reply(request, prompt)
    sink.start(reply)
    stream_into(request, Accumulator(reply), sink, settings=settings, timeout=timeout)
    finish_reply(reply)
    sink.finish(reply)
    return reply


def answer(request: PoeRequest, sink: Any, *, prompt: str, key: str | None, toolset: ToolSet | None = None,
           confirm: Confirm = False, timeout: float | None = None) -> Reply:
    """From the answer cache when it holds this request (``key``), else from the model (files
    uploaded first; with ``toolset`` through the tool loop); a fresh complete answer is cached."""
    reply = answer_cache.load(key, request, prompt)
    if reply is not None:
        sink.start(reply)
        finish_reply(reply)  # the ledger notes a call at 0 points, files are listed
        sink.finish(reply)
        return reply
    live = attachments.with_uploads(request)
    if toolset is not None:
        return run_with_tools(live, toolset, sink, prompt=prompt, confirm=confirm, timeout=timeout,
                              preflight=preflight, finish=finish_reply)
    reply = run(live, sink, prompt=prompt, timeout=timeout)
    answer_cache.save(key, reply)
    return reply
