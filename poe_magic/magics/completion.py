"""Tab completion for ``%%poe`` and ``%poe`` (an IPython matcher, registered by ``%load_ext``).

What completes where (case-insensitive prefixes):

- ``%%poe cla<TAB>``, ``%poe use cla<TAB>``, ``%poe models cla<TAB>``, ``--judge cla<TAB>``:
  model names (the name a model is asked by, its catalogue id) and aliases;
- ``%poe <TAB>``: the subcommands, then model names;
- ``%%poe ... --<TAB>``: the options of ``%%poe``; ``-f <TAB>``: the output formats;
- ``--param <TAB>`` / ``--param th<TAB>``: ``thinking_budget=`` ... of the model named on the
  line (else the default model); ``--param output_effort=<TAB>``: its choices (``true``/``false``
  for a boolean).

Only the catalogue already in memory (or on disk) is read: no request is made while typing.
A per-catalogue index (sorted lower-case names, searched with ``bisect``) is built once.
"""

from __future__ import annotations

import bisect
import re
import shlex
from typing import Any

from poe_magic.base.config import settings
from poe_magic.catalog import store
from poe_magic.catalog.aliases import aliases, expand
from poe_magic.catalog.parameters import parameters_of

_MODEL_OPTIONS = {"--judge"}
_SPLIT = re.compile(r"[\s=]")


class _Index:
    """Sorted (lower-case name, name) pairs of one catalogue, for prefix search."""

    def __init__(self, snapshot: store.Snapshot | None) -> None:
        self.key = (id(snapshot), snapshot.fetched_at if snapshot else 0.0)
        names = set(snapshot.ids) | set(snapshot.api_ids) if snapshot else set()
        self.pairs = sorted((n.lower(), n) for n in names)
        self.lowered = [p[0] for p in self.pairs]

    def starting(self, prefix: str) -> list[str]:
        low = prefix.lower()
        start = bisect.bisect_left(self.lowered, low)
        out = []
        for lowered, name in self.pairs[start:]:
            if not lowered.startswith(low):
                break
            out.append(name)
        return out


_index: _Index | None = None


def _models(prefix: str) -> list[str]:
    global _index
    snapshot = store.cached(settings)
    key = (id(snapshot), snapshot.fetched_at if snapshot else 0.0)
    if _index is None or _index.key != key:
        _index = _Index(snapshot)
    names = _index.starting(prefix)
    shown = set(names)
    low = prefix.lower()
    named = [a for a in aliases(settings) if a.lower().startswith(low) and a not in shown]
    # the names models are asked by first (Claude-Sonnet-4), then catalogue ids and aliases
    asked = set(snapshot.ids) if snapshot else set()
    return [n for n in names if n in asked] + [n for n in names if n not in asked] + sorted(named)


def _options() -> list[str]:
    from poe_magic.magics.poe import PoeMagics

    parser = PoeMagics.poe.parser
    return sorted({s for action in parser._actions for s in action.option_strings if s.startswith("--")})


def _formats() -> list[str]:
    from poe_magic.magics.poe import PoeMagics

    for action in PoeMagics.poe.parser._actions:
        if "--format" in action.option_strings:
            return list(action.choices or [])
    return []


def _model_of(words: list[str]) -> str | None:
    """The first word of a ``%%poe`` line naming a model the catalogue lists, else the default."""
    snapshot = store.cached(settings)
    skip = False
    for word in words[1:]:
        if skip:
            skip = False
            continue
        if word.startswith("-"):
            skip = word in {"-o", "--output", "-s", "--system", "-t", "--temperature", "--stop", "-p", "--param",
                            "--timeout", "--runs", "-f", "--format", "-a", "--attach", "--tools", "--schema",
                            "--judge", "--rubric"}
            continue
        if snapshot is not None and snapshot.entry(expand(word, settings)) is not None:
            return expand(word, settings)
    return settings.default_model or None


def _param_completions(words: list[str], typed: str) -> list[str]:
    model = _model_of(words)
    snapshot = store.cached(settings)
    entry = snapshot.entry(model) if snapshot is not None and model else None
    listed = parameters_of(entry)
    name, eq, value = typed.partition("=")
    if not eq:
        return [f"{p['name']}=" for p in listed if p["name"].lower().startswith(name.lower())]
    schema = next((p["schema"] for p in listed if p["name"] == name), None)
    if schema is None:
        return []
    choices = schema.get("enum") if isinstance(schema.get("enum"), list) else (
        [True, False] if schema.get("type") == "boolean" else [])
    shown = ["true" if c is True else "false" if c is False else str(c) for c in choices]
    return [c for c in shown if c.lower().startswith(value.lower())]


def complete_line(line: str) -> tuple[list[str], str] | None:
    """(completions, the text they replace) for a ``%%poe`` / ``%poe`` line typed up to the
    cursor; None when the line is not ours."""
    if not line.lstrip().startswith(("%%poe", "%poe")):
        return None
    try:
        words = shlex.split(line)
    except ValueError:
        words = line.split()
    if line[-1:].isspace() or not words:
        words.append("")
    typed, previous = words[-1], words[-2] if len(words) > 1 else ""
    magic = words[0]
    if magic not in ("%%poe", "%poe"):
        return None
    if previous in ("-p", "--param"):
        token = typed.partition("=")[2] if "=" in typed else typed
        return _param_completions(words[:-1], typed), token
    if previous in ("-f", "--format"):
        return [f for f in _formats() if f.startswith(typed)], typed
    if typed.startswith("-"):
        return [o for o in _options() if o.startswith(typed)], typed
    if previous in _MODEL_OPTIONS:
        return _models(typed), typed
    if magic == "%%poe":
        return _models(typed), typed
    if magic == "%poe":
        from poe_magic.magics.commands import SUBCOMMANDS

        if len(words) == 2:
            return [s for s in SUBCOMMANDS if s.startswith(typed.lower())] + _models(typed), typed
        if words[1] in ("use", "models") or previous in _MODEL_OPTIONS:
            return _models(typed), typed
    return None


def poe_matcher(context: Any) -> Any:
    """The IPython (v2) matcher: completions for ``%%poe`` / ``%poe`` lines, else nothing."""
    from IPython.core.completer import SimpleCompletion

    # a plain dict: IPython's SimpleMatcherResult TypedDict gained required keys in 9.x (the
    # optional ones are read with .get), so building one would tie us to one IPython version
    found = complete_line(context.text_until_cursor)
    if found is None:
        return {"completions": [], "suppress": False}
    names, token = found
    # IPython replaces the token it split off; ours is cut on spaces and "=" as IPython's is
    if token != context.token:
        shift = len(context.token) - len(token)
        names = [context.token[:shift] + n for n in names] if shift > 0 else names
    return {"completions": [SimpleCompletion(n, type="poe") for n in names], "suppress": bool(names)}


def register(ipython: Any) -> None:
    from IPython.core.completer import context_matcher

    matcher = context_matcher()(poe_matcher)
    completer = ipython.Completer
    completer.custom_matchers[:] = [m for m in completer.custom_matchers if getattr(m, "__name__", "") != "poe_matcher"]
    completer.custom_matchers.append(matcher)


def unregister(ipython: Any) -> None:
    completer = getattr(ipython, "Completer", None)
    if completer is not None:
        completer.custom_matchers[:] = [m for m in completer.custom_matchers
                                        if getattr(m, "__name__", "") != "poe_matcher"]
