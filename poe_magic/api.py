"""The plain-Python API behind the magics: ``ask`` and ``last_reply``."""

from __future__ import annotations

from typing import Any, Optional

from . import _errors as E
from . import ledger  # counts every call from the kernel's start (cost per call, budget guard)
from . import attachments, media, threads
from . import cache as answer_cache
from ._text import plural
from .attachments import Attach
from .client import build_request, finish_reply, resolve_model, run
from .config import settings
from .formats import after_reply, check_format
from .render import default_sink
from .reply import Reply
from .threads import Chat
from .tool_loop import Confirm, run_with_tools, tool_set
from .tools import Tools

_last_reply: Optional[Reply] = None


def last_reply() -> Optional[Reply]:
    """The most recent Reply of this kernel (also ``_poe`` in the notebook namespace)."""
    return _last_reply


def remember(reply: Reply) -> None:
    """Record a finished reply as the last one (features that need every reply hook into
    ``client.reply_finishers`` instead, which run before the final display)."""
    global _last_reply
    _last_reply = reply


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
    model: Optional[str] = None,
    *,
    system: Optional[str] = None,
    temperature: Optional[float] = None,
    stop: Optional[list[str]] = None,
    params: Optional[dict[str, Any]] = None,
    timeout: Optional[float] = None,
    format: str = "markdown",
    stream: bool = True,
    chat: Chat = None,
    attach: Attach = None,
    cache: Optional[bool] = None,
    tools: Optional[Tools] = None,
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


def send(prompt: str, model: Optional[str] = None, *, chat: Chat = None, attach: Attach = None,
         cache: Optional[bool] = None, timeout: Optional[float] = None, format: str = "markdown",
         stream: bool = True, tools: Optional[Tools] = None, confirm: Confirm = False, force: bool = False,
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
        reply = _answer(request, sink, prompt=prompt, key=key, toolset=toolset, confirm=confirm, timeout=timeout)
    media.present(reply, sink)
    after_reply(format, reply)
    threads.record(chat, request, reply)
    remember(reply)
    return reply


def _answer(request: Any, sink: Any, *, prompt: str, key: Optional[str], toolset: Any, confirm: Confirm,
            timeout: Optional[float]) -> Reply:
    """From the cache when it holds this request, else from the model (files uploaded first)."""
    reply = answer_cache.load(key, request, prompt)
    if reply is not None:
        sink.start(reply)
        finish_reply(reply)  # the ledger notes a call at 0 points, files are listed
        sink.finish(reply)
        return reply
    live = attachments.with_uploads(request)
    if toolset is not None:
        return run_with_tools(live, toolset, sink, prompt=prompt, confirm=confirm, timeout=timeout)
    reply = run(live, sink, prompt=prompt, timeout=timeout)
    answer_cache.save(key, reply)
    return reply
