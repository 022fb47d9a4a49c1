"""%poe threads / reset / cache: thin parsers over conversation threads and the answer cache."""

from __future__ import annotations

from typing import Any

from poe_magic.base import errors as E
from poe_magic.base.config import settings as default_settings
from poe_magic.base.text import plural
from poe_magic.prompting.answer_cache import cache_dir, clear_cache, entries
from poe_magic.prompting.threads import DEFAULT_THREAD, ThreadTable, get_thread, list_threads, reset_thread


def threads_command(magics: Any, arg: str) -> Any:
    """``%poe threads [NAME]``: list the threads, or show one thread's transcript."""
    if not arg:
        return ThreadTable(list_threads())
    thread = get_thread(arg)
    if thread is None:
        raise E.PoeUsageError(f"no thread named {arg!r}; %poe threads lists them")
    return thread


def reset_command(magics: Any, arg: str) -> None:
    """``%poe reset [NAME | --all]``: forget a thread (``default`` without a name)."""
    if len(arg.split()) > 1:
        raise E.PoeUsageError("%poe reset takes one thread name (or --all)")
    names = reset_thread(all=True) if arg == "--all" else reset_thread(arg or None)
    if names:
        print(f"Forgot {plural(len(names), 'thread')}: {', '.join(names)}")
    else:
        print("No threads to forget." if arg == "--all" else f"No thread {DEFAULT_THREAD!r} to forget.")


def cache_command(magics: Any, arg: str) -> None:
    """``%poe cache [clear | on | off]``: show, empty or switch the answer cache."""
    if arg == "clear":
        removed = clear_cache(default_settings)
        print(f"Deleted {plural(removed, 'cached answer')} from {cache_dir(default_settings)}")
        return
    if arg in ("on", "off"):
        default_settings.cache = arg == "on"
    elif arg:
        raise E.PoeUsageError(f"%poe cache takes clear, on or off, got {arg!r}")
    found = entries(default_settings)
    size = sum(p.stat().st_size for p in found)
    state = "on for every cell" if default_settings.cache else "off (use --cache per cell, or %poe cache on)"
    print(f"Answer cache {state}: {plural(len(found), 'answer')}, {size / 1024:,.1f} KiB "
          f"in {cache_dir(default_settings)}")
