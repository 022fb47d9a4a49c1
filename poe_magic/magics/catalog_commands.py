"""``%poe models / use / alias / pick / chat``: thin parsers over catalog, aliases and widgets."""

from __future__ import annotations

from typing import Any

from poe_magic.base import errors as E
from poe_magic.base.config import settings
from poe_magic.catalog.aliases import aliases, config_path, expand, remove_alias
from poe_magic.catalog.card import model_info
from poe_magic.catalog.choosing import alias, use
from poe_magic.catalog.store import catalog
from poe_magic.catalog.table import model_table
from poe_magic.magics.commands import SUBCOMMANDS
from poe_magic.widgets.chat_panel import chat
from poe_magic.widgets.picker import model_picker


def models_command(magics: Any, arg: str) -> Any:
    """``%poe models [-r|--refresh] [-a|--all] [FILTER ...]``: the catalogue as a table
    (``--all`` also lists the local server's test-only bots); ``%poe models NAME`` naming one
    model exactly (id, display name or alias, any case) shows its card."""

    words = arg.split()
    flags = {"-r": "refresh", "--refresh": "refresh", "-a": "all", "--all": "all"}
    unknown = [w for w in words if w.startswith("-") and w not in flags]
    if unknown:
        raise E.PoeUsageError(f"%poe models takes [--refresh] [--all] [FILTER], not {unknown[0]!r}")
    chosen = {flags[w] for w in words if w in flags}
    named = [w for w in words if not w.startswith("-")]
    if len(named) == 1 and "all" not in chosen and is_model(named[0], refresh="refresh" in chosen):
        from poe_magic.spending.estimator import points_per_usd

        # one model named exactly (id, display name or alias): its card, at this account's rate
        return model_info(named[0], points_per_usd=points_per_usd()[0])
    return model_table(" ".join(w for w in words if not w.startswith("-")),
                       refresh="refresh" in chosen, all="all" in chosen)


def is_model(word: str, refresh: bool = False) -> bool:
    """Whether ``word`` names one model exactly (id, display name or alias; any case)."""
    return catalog(refresh=refresh).entry(expand(word, settings)) is not None


def use_command(magics: Any, arg: str) -> None:
    """``%poe use MODEL`` (default model) or ``%poe use A B C`` (default comparison set)."""

    names = arg.split()
    if names:
        use(*names)
    print(f"Default model: {settings.default_model or '(none)'}")
    if len(names) != 1:
        print(f"Comparison set: {', '.join(settings.compare_models) or '(none)'}")


def alias_command(magics: Any, arg: str) -> Any:
    """``%poe alias NAME MODEL`` defines, ``%poe alias -d NAME`` deletes, ``%poe alias`` lists."""
    from IPython.display import Markdown


    words = arg.split()
    if words[:1] in (["-d"], ["--delete"]):
        if len(words) != 2:
            raise E.PoeUsageError("usage: %poe alias -d NAME")
        if not remove_alias(words[1]):
            raise E.PoeUsageError(f"no alias {words[1]!r}; %poe alias lists them")
        print(f"Removed alias {words[1]} from {config_path()}")
        return None
    if len(words) == 2:
        if words[0] in SUBCOMMANDS:
            raise E.PoeUsageError(f"{words[0]!r} is a %poe subcommand; choose another alias")
        target = alias(words[0], words[1])
        print(f"Alias {words[0]} → {target} (saved in {config_path()})")
        return None
    if len(words) > 2 or (words and words[0].startswith("-")):
        raise E.PoeUsageError("usage: %poe alias NAME MODEL, %poe alias -d NAME, or %poe alias to list")
    table = aliases()
    if words:
        table = {k: v for k, v in table.items() if k == words[0]}
        if not table:
            raise E.PoeUsageError(f"no alias {words[0]!r}; define it with %poe alias {words[0]} MODEL")
    if not table:
        return Markdown(f"No aliases yet: `%poe alias sonnet Claude-Sonnet-4` defines one "
                        f"(kept in `{config_path()}`).")
    rows = "\n".join(f"| `{k}` | `{v}` |" for k, v in sorted(table.items()))
    return Markdown(f"| alias | model |\n|---|---|\n{rows}\n\nKept in `{config_path()}`.")


def pick_command(magics: Any, arg: str) -> Any:
    """``%poe pick`` (default model) or ``%poe pick --multiple`` (comparison set)."""

    if arg.strip() not in ("", "-m", "--multiple"):
        raise E.PoeUsageError("usage: %poe pick [--multiple]")
    return model_picker(multiple=bool(arg.strip()))


def chat_command(magics: Any, arg: str) -> Any:
    """``%poe chat [MODEL] [--thread [NAME]] [-s SYSTEM]``: the chat panel (``--thread``, or
    ``--chat`` as in ``%%poe --chat NAME``: continuing that thread, ``default`` without a name)."""
    import shlex


    usage = 'usage: %poe chat [MODEL] [--thread [NAME]] [-s "SYSTEM PROMPT"]'
    try:
        words = shlex.split(arg)
    except ValueError as error:  # an unclosed quote
        raise E.PoeUsageError(f"{usage} ({error})") from None
    found: dict[str, Any] = {}
    while words:
        word = words.pop(0)
        if word in ("--thread", "--chat"):
            found["thread"] = words.pop(0) if words and not words[0].startswith("-") else True
        elif word in ("-s", "--system") and words:
            found["system"] = words.pop(0)
        elif word.startswith("-") or "model" in found:
            raise E.PoeUsageError(usage)
        else:
            found["model"] = word
    return chat(found.pop("model", None), **found)
