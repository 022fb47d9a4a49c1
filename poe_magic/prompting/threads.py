"""Conversations: ``%%poe MODEL --chat [NAME]`` / ``ask(..., chat=NAME)``.

A thread is a named list of finished turns (user message, bot answer) kept in the kernel's
memory only. Each ``--chat`` turn sends the thread's earlier turns again as history; a plain
``%%poe`` is a single turn and never touches a thread. Rules:

- ``--chat`` without a name uses the thread named ``default``.
- The thread remembers its model and system prompt: a later turn that names no model (or no
  ``--system``) reuses them; naming another model switches model and keeps the history.
- A turn is recorded only once its answer has ended, in one step: a complete answer as a
  normal turn, an interrupted or failed answer that has some text as a turn marked
  ``partial``, and a failure with no text not at all. A thread is never left half-written.

The chat panel (``chat(thread=NAME)``, ``%poe chat --thread NAME``) continues and records
into these same threads; its default is a private :class:`Thread` of its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from poe_magic.base import errors as E
from poe_magic.base.text import plural, table_cell
from poe_magic.core.reply import Reply
from poe_magic.core.session import current
from poe_magic.wire.request import Message, PoeRequest

DEFAULT_THREAD = "default"
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")

Chat = bool | str | None


@dataclass
class Turn:
    """One exchange of a thread."""

    model: str
    prompt: str
    answer: str
    attachments: list[Any] = field(default_factory=list)  # the files sent with the prompt
    partial: bool = False  # the answer was interrupted or failed part-way
    at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))


@dataclass
class Thread:
    """A named conversation: its turns, the model of its last turn, its system prompt."""

    name: str
    model: str = ""
    system: str | None = None
    turns: list[Turn] = field(default_factory=list)

    def history(self) -> list[Message]:
        """The turns as messages to send before the next prompt."""
        messages: list[Message] = []
        for turn in self.turns:
            messages.append(Message("user", turn.prompt, attachments=list(turn.attachments)))
            messages.append(Message("bot", turn.answer))
        return messages

    def next_turn(self, model: str | None, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """The model and request options of the next turn: the history is added, and the
        thread's model and system prompt fill what is not given."""
        options = dict(options)
        if not options.get("system"):
            options["system"] = self.system
        options["history"] = self.history()
        return model or self.model, options

    def add(self, request: PoeRequest, reply: Reply) -> Turn | None:
        """Append the finished exchange (see the module docstring for the rules) and return
        its Turn; None when nothing came back, and the thread stays as it was."""
        partial = not reply.ok
        if partial and not reply.text:
            return None
        prompt = request.messages[-1]
        turn = Turn(model=reply.model, prompt=prompt.content, answer=reply.text,
                    attachments=list(prompt.attachments), partial=partial)
        self.model, self.system = reply.model, request.system
        self.turns.append(turn)  # one append: the thread is never half-updated
        return turn

    @property
    def partial_turns(self) -> int:
        return sum(turn.partial for turn in self.turns)

    def __len__(self) -> int:
        return len(self.turns)

    def __repr__(self) -> str:
        return f"<Thread {self.name!r} {self.model} {plural(len(self.turns), 'turn')}>"

    def _repr_markdown_(self) -> str:
        lines = [f"**Thread `{self.name}`** · {self.model} · {plural(len(self.turns), 'turn')}"]
        if self.system:
            lines.append(f"\n*system:* {_quote(self.system)}")
        for i, turn in enumerate(self.turns, 1):
            files = f" (+{plural(len(turn.attachments), 'file')})" if turn.attachments else ""
            mark = " ⏹ *partial*" if turn.partial else ""
            lines.append(f"\n**{i}. you**{files}: {_quote(turn.prompt)}\n\n**{turn.model}**{mark}: "
                         f"{_quote(turn.answer)}")
        return "\n".join(lines)


def _quote(text: str, limit: int = 300) -> str:
    text = table_cell(text)  # one line, safe inside a Markdown table
    return text if len(text) <= limit else text[:limit] + "…"


class ThreadBook(dict[str, Thread]):
    """This session's threads by name (a session state, see :mod:`poe_magic.core.session`)."""


def _threads() -> ThreadBook:
    return current().state(ThreadBook)


def thread_name(chat: Chat) -> str | None:
    """``True`` -> ``"default"``, a name -> itself (checked), ``None``/``False`` -> no thread."""
    if chat is None or chat is False:
        return None
    if chat is True:
        return DEFAULT_THREAD
    if not isinstance(chat, str) or not _NAME.match(chat):
        raise E.PoeUsageError(f"--chat takes a thread name of letters, digits, '_', '-', '.', got {chat!r}")
    return chat


def get_thread(name: str = DEFAULT_THREAD) -> Thread | None:
    """The thread called ``name``, or None."""
    return _threads().get(name)


def list_threads() -> list[Thread]:
    """Every thread of this kernel, oldest first."""
    return list(_threads().values())


def reset_thread(name: str | None = None, *, all: bool = False) -> list[str]:
    """Forget one thread (``default`` when no name is given), or every thread with
    ``all=True``; returns the names forgotten. An unknown explicit name is an error."""
    if all:
        names = list(_threads())
        _threads().clear()
        return names
    key = name or DEFAULT_THREAD
    if key not in _threads():
        if name:  # (a name that is not a valid thread name cannot be one either)
            raise E.PoeUsageError(f"no thread named {key!r}; %poe threads lists them")
        return []
    del _threads()[key]
    return [key]


def continue_thread(chat: Chat, model: str | None, options: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """The model and request options of the next turn of ``chat`` (unchanged without one):
    the thread's history is added, and its model and system prompt fill what is not given."""
    name = thread_name(chat)
    thread = _threads().get(name) if name else None
    return (model, options) if thread is None else thread.next_turn(model, options)


def record(chat: Chat, request: PoeRequest, reply: Reply) -> Turn | None:
    """Add the finished exchange to its thread (see the module docstring for the rules);
    returns the Turn added, if any."""
    name = thread_name(chat)
    if name is None:
        return None
    reply.thread = name
    thread = _threads().get(name)
    thread = Thread(name) if thread is None else thread  # (an empty Thread is falsy: no `or`)
    turn = thread.add(request, reply)
    if turn is not None:  # a new thread is listed only once it has a turn
        _threads().setdefault(name, thread)
    return turn


class ThreadTable:
    """``%poe threads``: name, model, turns of every thread."""

    def __init__(self, items: list[Thread]) -> None:
        self.items = items

    def _repr_markdown_(self) -> str:
        if not self.items:
            return "No conversation threads yet: start one with `%%poe MODEL --chat [NAME]`."
        rows = "\n".join(
            f"| `{t.name}` | {table_cell(t.model)} | {len(t)}"
            + (f" ({t.partial_turns} partial)" if t.partial_turns else "")
            + f" | {t.turns[-1].at.astimezone():%H:%M:%S} | {_quote(t.system or '', 60)} |"
            for t in self.items)
        return ("| thread | model | turns | last turn | system prompt |\n|---|---|---|---|---|\n" + rows
                + "\n\nContinue with `%%poe --chat NAME`, show one with `%poe threads NAME`, "
                "forget with `%poe reset NAME`.")

    def __repr__(self) -> str:
        return "\n".join(f"{t.name}: {t.model}, {plural(len(t), 'turn')}" for t in self.items) or "no threads"


