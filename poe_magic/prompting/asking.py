"""The plain-Python API behind the magics: ``ask`` and ``last_reply``."""

from __future__ import annotations

from typing import Any

from poe_magic.base import errors as E
from poe_magic.base.config import settings
from poe_magic.base.text import plural
from poe_magic.catalog.resolve import resolve_model
from poe_magic.core.display import default_sink
from poe_magic.core.reply import Reply
from poe_magic.core.session import remember
from poe_magic.prompting import answer_cache, attachments, media, pipeline, threads
from poe_magic.prompting.attachments import Attach
from poe_magic.prompting.formats import after_reply, check_format
from poe_magic.prompting.threads import Chat
from poe_magic.spending import ledger  # counts every call from the kernel's start (cost per call, budget guard)
from poe_magic.tools.functions import Tools
from poe_magic.tools.loop import Confirm, tool_set
from poe_magic.wire.request import build_request


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


def ask(
    prompt: str,
    model: str | None = None,
    *,
    system: str | None = None,
    temperature: float | None = None,
    stop: list[str] | None = None,
    params: dict[str, Any] | None = None,
    timeout: float | None = None,
    format: str = "markdown",
    stream: bool = True,
    chat: Chat = None,
    attach: Attach = None,
    cache: bool | None = None,
    tools: Tools | None = None,
    confirm: Confirm = False,
    force: bool = False,
) -> Reply:
    """Send ``prompt`` to ``model`` (or the default model) and return the Reply.

    In a notebook the answer streams into the cell as Markdown; in a terminal it is
    printed as it arrives; ``stream=False`` shows nothing. API failures raise a one-line
    :class:`~poe_magic.PoeMagicError` whose ``.reply`` keeps any partial answer.

    ``chat="name"`` (or ``True`` for the thread ``default``) continues a conversation: its
    earlier turns are sent as history (see :mod:`poe_magic.threads`). ``attach="plot.png"``
    (or a list of paths) uploads files with the prompt. ``cache=True`` answers an identical
    earlier request from the on-disk cache (``None``: ``settings.cache``). ``format`` is
    ``markdown``, ``text``, ``html`` or ``code`` (the code goes into a new cell below).

    ``tools=[f, g]`` (or ``{"name": f}``) lets the model call these functions; they run on
    this thread, each call shown as it happens and kept on ``reply.tool_calls``.
    ``confirm=True`` asks Yes/No before each call (or pass ``confirm=function(call) -> bool``).
    ``force=True`` sends even when the session budget (``set_budget``) is spent.
    """
    reply = send(prompt, model, system=system, temperature=temperature, stop=stop, params=params,
                 timeout=timeout, format=format, stream=stream, chat=chat, attach=attach, cache=cache,
                 tools=tools, confirm=confirm, force=force)
    raise_for(reply)
    return reply


def send(prompt: str, model: str | None = None, *, chat: Chat = None, attach: Attach = None,
         cache: bool | None = None, timeout: float | None = None, format: str = "markdown",
         stream: bool = True, tools: Tools | None = None, confirm: Confirm = False, force: bool = False,
         **request_options: Any) -> Reply:
    """Like :func:`ask`, but API failures stay on ``reply.error`` instead of raising.
    Bad input (no model, empty prompt, no key, a missing file) still raises before anything
    is sent. ``request_options`` are :func:`~poe_magic.client.build_request`'s (system, ...)."""
    check_format(format)
    if timeout is not None and timeout <= 0:
        raise E.PoeUsageError(f"--timeout must be more than 0 seconds, got {timeout:g}")
    toolset = tool_set(tools, confirm)
    model, request_options = threads.continue_thread(chat, model, request_options)
    request = build_request(prompt, resolve_model(model), attachments=attachments.prepare(attach),
                            **request_options)
    settings.api_key()  # fail before drawing anything when there is no key
    sink = default_sink(format, stream)
    key = answer_cache.key_for(request, cache) if toolset is None else None
    with ledger.budget_override(force):
        reply = pipeline.answer(request, sink, prompt=prompt, key=key, toolset=toolset, confirm=confirm, timeout=timeout)
    media.present(reply, sink)
    after_reply(format, reply)
    threads.record(chat, request, reply)
    remember(reply)
    return reply

