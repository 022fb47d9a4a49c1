"""``%poe SUBCOMMAND ...`` and ``%poe MODEL question``: the line magic's dispatcher.

Subcommands live in the module of their feature and are imported only when used, so
``%load_ext`` stays light. Each is ``fn(magics, argline) -> object to display or None``.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable
from typing import Any

from poe_magic.base import errors as E
from poe_magic.base.config import settings
from poe_magic.base.text import table_cell
from poe_magic.magics.cell import run_cell
from poe_magic.magics.parsing import parse_options, split_leading_options, strip_comment
from poe_magic.wire import transport

#: subcommand -> ("module", "function", one-line help)
SUBCOMMANDS: dict[str, tuple[str, str, str]] = {
    "help": ("poe_magic.magics.commands", "help_command", "list the subcommands"),
    "login": ("poe_magic.magics.commands", "login_command", "enter the API key (kept in memory only)"),
    "logout": ("poe_magic.magics.commands", "logout_command", "forget the key entered with %poe login"),
    "config": ("poe_magic.magics.commands", "config_command", "show the settings (key masked)"),
    "models": ("poe_magic.magics.catalog_commands", "models_command",
               "the model catalogue; `%poe models image` filters by name, owner, description, modality; "
               "`--all` adds the local server's test bots"),
    "use": ("poe_magic.magics.catalog_commands", "use_command",
            "`%poe use MODEL` sets the default model; `%poe use A B C` the comparison set"),
    "alias": ("poe_magic.magics.catalog_commands", "alias_command",
              "`%poe alias NAME MODEL` defines a short name (saved in config.json); `-d NAME` deletes"),
    "pick": ("poe_magic.magics.catalog_commands", "pick_command",
             "a searchable model picker (`--multiple`: the comparison set)"),
    "chat": ("poe_magic.magics.catalog_commands", "chat_command", "a chat panel with streaming answers; `--thread NAME` shares a `%%poe --chat` thread, `-s` a system prompt"),
    "balance": ("poe_magic.magics.spending_commands", "balance_command", "the account's points balance"),
    "history": ("poe_magic.magics.spending_commands", "history_command",
                "spending summary and plot; `--days N`, `--by bot|day|type`, `--refresh` rebuilds the cache"),
    "session": ("poe_magic.magics.spending_commands", "session_command", "this kernel's calls and what each cost"),
    "budget": ("poe_magic.magics.spending_commands", "budget_command",
               "`%poe budget N` caps this session's spend (`off` removes it); `%%poe --force` overrides"),
    "doctor": ("poe_magic.magics.spending_commands", "doctor_command",
               "`%poe doctor [MODEL]`: a self-check (key, balance, catalogue, clock, a test call, its cost) for bug reports"),
    "threads": ("poe_magic.magics.prompting_commands", "threads_command",
                "conversation threads (name, model, turns); `%poe threads NAME` shows one"),
    "reset": ("poe_magic.magics.prompting_commands", "reset_command", "`%poe reset [NAME]` forgets a thread (`--all`: every one)"),
    "cache": ("poe_magic.magics.prompting_commands", "cache_command", "the answer cache: `%poe cache clear`, `on`, `off`"),
    "log": ("poe_magic.magics.log_commands", "log_command", "`%poe log [TEXT] [--model M] [--days N]`: every call logged (all kernels), newest first"),
    "jobs": ("poe_magic.magics.jobs_commands", "jobs_command",
             "background answers (`%%poe MODEL --background`) with their elapsed time; `%poe jobs stop N` stops one"),
    "batch": ("poe_magic.magics.batch_commands", "batch_command",
              "`%poe batch DF MODEL... -p '{col} ...'`: every row x model, rate-limited, resumable"),
}


def dispatch(magics: Any, line: str) -> Any:
    """The rule: a subcommand runs; a model or alias is asked the rest of the line; with a
    default model set, any other line is a question for it (``%poe what is 2**10``), unless it
    reads as a mistyped subcommand with its options (``%poe histroy --days 7``: did-you-mean);
    without a default model, an unknown first word gets a did-you-mean as before."""
    word, _, rest = line.strip().partition(" ")
    if not strip_comment(word):  # `%poe` alone, or `%poe # a note`
        return help_command(magics, "")
    entry = SUBCOMMANDS.get(word)
    if entry is None:
        rest = rest.strip()
        if settings.default_model and not _typo_with_options(word, rest) and not _names_model(word):
            return ask_default(magics, line.strip())
        return ask_line(magics, word, rest)
    module, function, _ = entry
    fn: Callable[[Any, str], Any] = getattr(importlib.import_module(module), function)
    return fn(magics, strip_comment(rest).strip())  # `%poe use GPT-5  # the default model`


def _typo_with_options(word: str, rest: str) -> bool:
    """``histroy`` + ``--days 7`` (or nothing): a subcommand mistyped, not a question."""
    return near_subcommand(word) is not None and (not rest or rest.startswith("-"))


def _names_model(word: str) -> bool:
    """True when ``word`` is a model id or alias (or cannot be checked: no catalogue)."""
    from poe_magic.catalog.resolve import resolve_name

    if word.startswith("-"):
        return False  # options for the default model: `%poe -s "Be brief" why is the sky blue`
    try:
        transport.check_model_name(word)
        resolve_name(word)
    except E.PoeMagicError:
        return False
    return True


def ask_default(magics: Any, line: str) -> None:
    """``%poe [options] question`` with a default model: the whole line is the question."""
    from IPython.core.error import UsageError

    options, question = _options_and_question(magics, line)
    try:
        args = parse_options(magics.poe.parser, options)
    except UsageError as exc:
        if not str(exc).startswith("unrecognized arguments:"):
            raise
        raise UsageError(f"{exc}; a question that starts with - goes after --") from None
    if not question:
        raise E.PoeUsageError("no question after the options: %poe [options] QUESTION "
                              "(put -- before a question that starts with -)")
    run_cell(magics, args, question)


def _options_and_question(magics: Any, line: str) -> tuple[str, str]:
    """The leading options and the question; a ``#`` word where the question would start is a
    comment (``%poe GPT-5 --chat  # later``). The question itself is sent verbatim (``C#``)."""
    options, question = split_leading_options(magics.poe.parser, line)
    return strip_comment(options), "" if question.startswith("#") else question


def near_subcommand(word: str) -> str | None:
    """The subcommand ``word`` looks like a typo of (``thread`` -> ``threads``), or None."""
    near = difflib.get_close_matches(word.lower(), list(SUBCOMMANDS), n=1, cutoff=0.75)
    return near[0] if near else None


def ask_line(magics: Any, model: str, question: str) -> None:
    """``%poe MODEL [options] question``: a one-line question to MODEL, with the options of
    ``%%poe`` before it (``%poe GPT-5 -s "Be brief" --chat ideas what is a monad``; ``--``
    before a question that starts with ``-``), run exactly as a cell with that question.

    A first word that is no subcommand but looks like one (``%poe histroy``, ``%poe thread
    default``) gets a did-you-mean, unless it names a model: nothing is sent."""
    import shlex

    from IPython.core.error import UsageError


    near = near_subcommand(model)
    if not question or (near and question.startswith("-")):  # `%poe histroy --by bot`: options, no question
        raise E.PoeUsageError(f"unknown subcommand {model!r}; " + (
            f"did you mean %poe {near}?" if near else "%poe help lists them, or ask with %poe MODEL question"))
    options, question = _options_and_question(magics, question)
    try:
        args = parse_options(magics.poe.parser, f"{shlex.quote(model)} {options}")
    except UsageError as exc:
        if not str(exc).startswith("unrecognized arguments:"):
            raise
        raise UsageError(f"{exc}; a question that starts with - goes after --") from None
    if not question:
        raise E.PoeUsageError(f"no question after the options: %poe {model} {options} QUESTION "
                              "(put -- before a question that starts with -)")
    try:
        run_cell(magics, args, question)
    except E.UnknownModelError as unknown:  # found so before sending: maybe a mistyped subcommand
        if getattr(unknown, "reply", None) is not None:
            raise
        if not settings.default_model and not _very_near(model, near) and "did you mean" not in str(unknown):
            # `%poe what is 2**10` (not "did you mean %poe chat"); `%poe thread default` keeps its did-you-mean
            raise E.PoeUsageError(f"no default model: `%poe use MODEL` sets one, or ask with `%poe MODEL question` "
                                  f"({model!r} is not a model; nothing was sent)", model=model) from None
        if near is None:
            raise
        raise E.PoeUsageError(f"{model!r} is neither a model nor a subcommand; did you mean %poe {near}?",
                              model=model) from None


def _very_near(word: str, near: str | None) -> bool:
    """``thread`` / ``threads``, ``histroy`` / ``history``: a typo of that subcommand, not a question."""
    import difflib

    return near is not None and difflib.SequenceMatcher(None, word.lower(), near).ratio() >= 0.85


class TextTable:
    """A two-column table shown as Markdown in a notebook and as aligned plain text in a
    terminal (where a Markdown object would print as ``<...Markdown object>``, and ``\\|``
    escapes would show)."""

    def __init__(self, intro: str, header: tuple[str, str], rows: list[tuple[str, str]], outro: str = "") -> None:
        self.intro, self.header, self.rows, self.outro = intro, header, rows, outro

    @property
    def data(self) -> str:
        """The Markdown text (as ``IPython.display.Markdown(...).data``)."""
        return self._repr_markdown_()

    def _repr_markdown_(self) -> str:
        body = "\n".join(f"| {table_cell(a)} | {table_cell(b)} |" for a, b in self.rows)
        table = f"| {self.header[0]} | {self.header[1]} |\n|---|---|\n{body}"
        return "\n\n".join(part for part in (self.intro, table, self.outro) if part)

    def __repr__(self) -> str:
        width = max(len(a) for a, _ in [self.header, *self.rows])
        lines = [f"{a.ljust(width)}  {b}" for a, b in [self.header, *self.rows]]
        plain = "\n\n".join(part for part in (self.intro, "\n".join(lines), self.outro) if part)
        return plain.replace("`", "").replace("**", "")


def help_command(magics: Any, arg: str) -> Any:
    return TextTable(
        "**poe_magic**: `%%poe MODEL [options]` sends the cell to MODEL (`%%poe?` lists options); "
        "`%poe MODEL [options] question` asks a one-liner (with a default model: `%poe question`).",
        ("subcommand", "what it does"), [(f"`%poe {name}`", text) for name, (_, _, text) in sorted(SUBCOMMANDS.items())])


def login_command(magics: Any, arg: str) -> None:
    import getpass

    if arg:
        raise E.PoeUsageError("%poe login takes no argument: it asks for the key (never type a key into a cell)")
    key = getpass.getpass("Poe API key (kept in memory for this kernel only): ")
    if not key.strip():
        raise E.ConfigError("no key entered; nothing changed")
    settings.set_api_key(key)
    print("API key set for this kernel session:", settings.public()["api_key"])


def logout_command(magics: Any, arg: str) -> None:
    settings.set_api_key(None)
    print("Forgot the key entered with %poe login" + (" (POE_API_KEY still set)" if settings.has_api_key else ""))


def config_command(magics: Any, arg: str) -> Any:
    return TextTable("", ("setting", "value"), [(f"`{k}`", f"`{v!r}`") for k, v in settings.public().items()],
                     "Change with `%config PoeMagics.<setting> = ...` or `poe_magic.settings.<setting> = ...`")
