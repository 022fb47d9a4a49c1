"""The plain-Python API behind the magics: ``ask`` and ``last_reply``."""

from __future__ import annotations

from typing import Any, Callable, Optional

from . import _errors as E
from .client import build_request, resolve_model, run
from .config import settings
from .render import default_sink
from .reply import Reply
from .tool_loop import Confirm, run_with_tools, tool_set
from .tools import Tools

_last_reply: Optional[Reply] = None

#: called with every finished Reply (the spending ledger, threads, ... subscribe here)
reply_listeners: list[Callable[[Reply], None]] = []


def last_reply() -> Optional[Reply]:
    """The most recent Reply of this kernel (also ``_poe`` in the notebook namespace)."""
    return _last_reply


def remember(reply: Reply) -> None:
    """Record a finished reply as the last one and tell the listeners."""
    global _last_reply
    _last_reply = reply
    for listener in list(reply_listeners):
        listener(reply)


def raise_for(reply: Reply) -> None:
    """Raise the reply's failure, if any, with the Reply attached as ``.reply``."""
    if reply.interrupted:
        error: E.PoeMagicError = E.StreamInterrupted(
            f"interrupted after {reply.elapsed or 0:.1f} s; the partial answer "
            f"({len(reply.text):,} chars) is kept in poe_magic.last_reply()"
        )
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
    tools: Optional[Tools] = None,
    confirm: Confirm = False,
) -> Reply:
    """Send ``prompt`` to ``model`` (or the default model) and return the Reply.

    In a notebook the answer streams into the cell as Markdown; in a terminal it is
    printed as it arrives; ``stream=False`` shows nothing. API failures raise a one-line
    :class:`~poe_magic.PoeMagicError` whose ``.reply`` keeps any partial answer.

    ``tools=[f, g]`` (or ``{"name": f}``) lets the model call these functions; they run on
    this thread, each call shown as it happens and kept on ``reply.tool_calls``.
    ``confirm=True`` asks Yes/No before each call (or pass ``confirm=function(call) -> bool``).
    """
    reply = send(prompt, model, system=system, temperature=temperature, stop=stop, params=params,
                 timeout=timeout, format=format, stream=stream, tools=tools, confirm=confirm)
    raise_for(reply)
    return reply


def send(prompt: str, model: Optional[str] = None, *, timeout: Optional[float] = None,
         format: str = "markdown", stream: bool = True, tools: Optional[Tools] = None,
         confirm: Confirm = False, **request_options: Any) -> Reply:
    """Like :func:`ask`, but API failures stay on ``reply.error`` instead of raising.
    Bad input (no model, empty prompt, no key) still raises before anything is sent.
    ``request_options`` are :func:`~poe_magic.client.build_request`'s (system, temperature, ...)."""
    toolset = tool_set(tools, confirm)
    name = resolve_model(model)
    request = build_request(prompt, name, **request_options)
    settings.api_key()  # fail before drawing anything when there is no key
    if toolset is not None:
        reply = run_with_tools(request, toolset, default_sink(format, stream), prompt=prompt,
                               confirm=confirm, timeout=timeout)
    else:
        reply = run(request, default_sink(format, stream), prompt=prompt, timeout=timeout)
    remember(reply)
    return reply
