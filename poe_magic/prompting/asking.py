"""The plain-Python API behind the magics: ``ask``, ``send``, ``stream`` and ``astream``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from poe_magic.base import errors as E
from poe_magic.base.config import check_seconds, settings
from poe_magic.catalog.resolve import resolve_model
from poe_magic.core.answer_display import answer_sink
from poe_magic.core.display import SilentSink
from poe_magic.core.reply import Reply
from poe_magic.core.session import remember
from poe_magic.prompting import answer_cache, attachments, media, pipeline, threads
from poe_magic.prompting.attachments import Attach
from poe_magic.prompting.formats import after_reply, check_format
from poe_magic.prompting.pipeline import raise_for
from poe_magic.prompting.schemas import as_schema, show_data, with_instruction
from poe_magic.prompting.threads import Chat
from poe_magic.tools.functions import Tools
from poe_magic.tools.loop import Confirm, tool_set
from poe_magic.wire.request import build_request


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
    schema: Any = None,
    yes: bool = False,
    background: bool = False,
) -> Any:
    """Send ``prompt`` to ``model`` (or the default model) and return the Reply.

    In a notebook the answer streams into the cell as Markdown; in a terminal it is
    printed as it arrives; ``stream=False`` shows nothing. API failures raise a one-line
    :class:`~poe_magic.PoeMagicError` whose ``.reply`` keeps any partial answer.

    ``chat="name"`` (or ``True`` for the thread ``default``) continues a conversation: its
    earlier turns are sent as history (see :mod:`poe_magic.prompting.threads`). ``attach="plot.png"``
    (or a list of paths) uploads files with the prompt. ``cache=True`` answers an identical
    earlier request from the on-disk cache (``None``: ``settings.cache``). ``format`` is
    ``markdown``, ``text``, ``html`` or ``code`` (the code goes into a new cell below).

    ``tools=[f, g]`` (or ``{"name": f}``) lets the model call these functions; they run on
    this thread, each call shown as it happens and kept on ``reply.tool_calls``.
    ``confirm=True`` asks Yes/No before each call (or pass ``confirm=function(call) -> bool``).
    ``force=True`` sends even when the session budget (``set_budget``) is spent.

    ``schema=`` (a pydantic model, dataclass, TypedDict, JSON-schema dict or a mapping like
    ``{"label": str, "score": float}``) asks for a structured answer: ``reply.data`` is the
    validated result; an answer that does not fit gets one repair round, then raises
    :class:`~poe_magic.SchemaError` (text kept). ``yes=True`` sends without asking even when
    the estimate is above ``settings.confirm_above``.

    ``background=True`` returns at once a :class:`~poe_magic.prompting.background.Job` (checks,
    confirmation and budget happen first, here); the answer streams into this cell's output
    while other cells run (``poe_magic.jobs()`` lists the jobs, ``job.stop()`` stops one).
    """
    if background:
        return send(prompt, model, system=system, temperature=temperature, stop=stop, params=params,
                    timeout=timeout, format=format, stream=stream, chat=chat, attach=attach, cache=cache,
                    tools=tools, confirm=confirm, force=force, schema=schema, yes=yes, background=True)
    reply = send(prompt, model, system=system, temperature=temperature, stop=stop, params=params,
                 timeout=timeout, format=format, stream=stream, chat=chat, attach=attach, cache=cache,
                 tools=tools, confirm=confirm, force=force, schema=schema, yes=yes)
    raise_for(reply)
    return reply


def send(prompt: str, model: str | None = None, *, chat: Chat = None, attach: Attach = None,
         cache: bool | None = None, timeout: float | None = None, format: str = "markdown",
         stream: bool = True, tools: Tools | None = None, confirm: Confirm = False, force: bool = False,
         schema: Any = None, yes: bool = False, background: bool = False, **request_options: Any) -> Any:
    """Like :func:`ask`, but API failures stay on ``reply.error`` instead of raising.
    Bad input (no model, empty prompt, no key, a missing file) still raises before anything
    is sent. ``request_options`` are :func:`~poe_magic.wire.request.build_request`'s (system, ...)."""
    answer = _answer_stream(prompt, model, chat=chat, attach=attach, cache=cache, timeout=timeout,
                            format=format, sink=answer_sink(format, stream), tools=tools, confirm=confirm,
                            force=force, request_options=request_options, schema=schema, yes=yes)
    if background:
        from poe_magic.prompting.background import Job

        if tools is not None:
            raise E.PoeUsageError("background=True does not take tools= yet (their calls run on the kernel "
                                  "thread); nothing was sent")
        return Job(answer, prompt).begin()
    return answer.run()


def stream(prompt: str, model: str | None = None, *, chat: Chat = None, attach: Attach = None,
           cache: bool | None = None, timeout: float | None = None, format: str = "markdown",
           tools: Tools | None = None, confirm: Confirm = False, force: bool = False,
           schema: Any = None, yes: bool = False, **request_options: Any) -> pipeline.AnswerStream:
    """The answer of ``model`` (or the default model) to ``prompt``, as an iterator of text
    pieces as they arrive; the same options as :func:`ask`, nothing displayed::

        for piece in poe_magic.stream("Tell me a story", "Claude-Sonnet-4"):
            print(piece, end="", flush=True)

    The iterator's ``.reply`` is the Reply (complete once it ends; also
    :func:`~poe_magic.last_reply`). A failure is raised as one line after the pieces that did
    arrive; Ctrl-C stops the stream and raises :class:`~poe_magic.StreamInterrupted`, the
    partial answer kept. Bad input raises here, before anything is sent. With ``tools`` the
    tool rounds run first and the transcript comes as one piece. ``with poe_magic.stream(...)
    as s:`` stops the request when the block is left early."""
    return _answer_stream(prompt, model, chat=chat, attach=attach, cache=cache, timeout=timeout, format=format,
                          sink=None, tools=tools, confirm=confirm, force=force, request_options=request_options,
                          schema=schema, yes=yes)


async def astream(prompt: str, model: str | None = None, **options: Any) -> AsyncIterator[str]:
    """:func:`stream` for async code: ``async for piece in poe_magic.astream(prompt, model)``.
    The stream runs on poe_magic's own loop thread; cancelling the consuming task stops it."""
    answer = stream(prompt, model, **options)
    answer.confirm_here()  # asked here, on the caller's thread: the pieces come from an executor's
    loop = asyncio.get_running_loop()
    try:
        while True:
            piece = await loop.run_in_executor(None, _next_piece, answer)
            if piece is None:
                return
            yield piece
    finally:
        answer.close()


def publish_last(reply: Reply) -> None:
    """``_poe`` is the last answer, from Python too: written into the notebook's namespace while
    the extension is loaded (the magics then also set ``-o NAME``)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    registry = getattr(getattr(shell, "magics_manager", None), "registry", {})
    if shell is not None and "PoeMagics" in registry:
        shell.user_ns["_poe"] = reply


def _next_piece(answer: pipeline.AnswerStream) -> str | None:
    return next(answer, None)


def _answer_stream(prompt: str, model: str | None, *, chat: Chat, attach: Attach, cache: bool | None,
                   timeout: float | None, format: str, sink: Any, tools: Tools | None, confirm: Confirm,
                   force: bool, request_options: dict[str, Any], schema: Any = None,
                   yes: bool = False) -> pipeline.AnswerStream:
    """Check the input and prepare the request (nothing is sent yet); the answer's stream,
    which on its end shows the files, runs the format's action, records the thread turn and
    remembers the Reply."""
    check_format(format)
    if timeout is not None:
        timeout = check_seconds("--timeout", timeout)
    toolset = tool_set(tools, confirm)
    structured = None if schema is None else as_schema(schema)
    if structured is not None:
        if toolset is not None:
            raise E.PoeUsageError("schema= and tools= cannot be combined yet; ask for the structured answer "
                                  "in a second call (nothing was sent)")
        request_options = {**request_options, "system": with_instruction(request_options.get("system"), structured)}
    model, request_options = threads.continue_thread(chat, model, request_options)
    request = build_request(prompt, resolve_model(model), attachments=attachments.prepare(attach),
                            **request_options)
    settings.api_key()  # fail before drawing anything when there is no key
    key = answer_cache.key_for(request, cache) if toolset is None else None

    shown = sink if sink is not None else SilentSink()

    def on_end(reply: Reply) -> None:  # (names no `answer`: a cycle would keep a dropped stream alive)
        media.present(reply, shown)
        if structured is not None and reply.data is not None:
            show_data(structured, reply.data, shown)
        after_reply(format, reply)
        threads.record(chat, request, reply)
        remember(reply)
        publish_last(reply)

    return pipeline.AnswerStream(request, prompt=prompt, sink=shown, key=key, toolset=toolset, confirm=confirm,
                                 force=force, timeout=timeout, on_end=on_end, schema=structured, yes=yes)
