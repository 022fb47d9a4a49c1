"""Choosing models: short names (aliases) and the session's default model / comparison set.

Aliases are kept in the package's config file, ``$POE_MAGIC_HOME/config.json`` (default
``~/.poe_magic/config.json``), a small JSON object that other features may add keys to::

    {"aliases": {"sonnet": "Claude-Sonnet-4", "fast": "GPT-4o-mini"}}

``%poe alias NAME MODEL`` / :func:`alias` writes it (atomically, keeping other keys), and
every model name given to a request is looked up there first. The default model and the
comparison set (``%poe use``, :func:`use`, the model picker) last for the session only.
"""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any, Callable, Optional

from . import _errors as E
from ._files import write_text_atomic
from .config import Settings, settings as default_settings

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_lock = threading.RLock()
_loaded: dict[str, tuple[float, dict[str, Any]]] = {}  # path -> (mtime, parsed config)

#: called with ``(default_model, compare_models)`` after :func:`use` changes them (pickers follow)
choice_listeners: list[Callable[[str, list[str]], None]] = []


def config_path(settings: Settings = default_settings) -> Path:
    """The config file: ``$POE_MAGIC_HOME/config.json``."""
    return settings.home / "config.json"


def load_config(settings: Settings = default_settings) -> dict[str, Any]:
    """The config file's content ({} when absent); a damaged file is a one-line ConfigError."""
    path = config_path(settings)
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return {}
    with _lock:
        hit = _loaded.get(str(path))
        if hit is not None and hit[0] == mtime:
            return hit[1]
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise E.ConfigError(f"cannot read {path}: {exc}; fix or delete the file") from None
    if not isinstance(data, dict):
        raise E.ConfigError(f"{path} should hold a JSON object; fix or delete the file")
    with _lock:
        _loaded[str(path)] = (mtime, data)
    return data


def save_config(data: dict[str, Any], settings: Settings = default_settings) -> Path:
    """Write the whole config file atomically."""
    path = config_path(settings)
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
    with _lock:
        _loaded.pop(str(path), None)
    return path


def aliases(settings: Settings = default_settings) -> dict[str, str]:
    """Every alias: short name -> model id."""
    found = load_config(settings).get("aliases")
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def expand(name: str, settings: Settings = default_settings) -> str:
    """The model an alias stands for (exact name first, then ignoring case), else ``name``."""
    table = aliases(settings)
    if not table:
        return name
    if name in table:
        return table[name]
    folded = [model for short, model in table.items() if short.lower() == name.lower()]
    return folded[0] if len(folded) == 1 else name


def alias(name: str, model: str, settings: Settings = default_settings) -> str:
    """Define ``name`` as a short name for ``model`` (checked against the catalogue) and save it
    in the config file. Returns the model id it now stands for."""
    from .catalog import cached, resolve_name

    if not _NAME.match(name or ""):
        raise E.PoeUsageError(f"invalid alias {name!r}: use letters, digits, '.', '_' or '-' (no spaces)")
    target = resolve_name(_check_model(model), settings)  # unknown models fail here, with suggestions
    known = cached(settings)
    if target == name or (known is not None and known.case_matches(name)):
        raise E.PoeUsageError(f"{name!r} is already a model name; choose another alias")
    with _lock:
        _save_aliases({**aliases(settings), name: target}, settings)
    return target


def remove_alias(name: str, settings: Settings = default_settings) -> bool:
    """Delete an alias; False when there was none."""
    with _lock:
        table = aliases(settings)
        if table.pop(name, None) is None:
            return False
        _save_aliases(table, settings)
    return True


def _save_aliases(table: dict[str, str], settings: Settings) -> None:
    """Write the alias table, keeping the config file's other keys (hold ``_lock`` around the
    read-modify-write, so two threads do not lose each other's change)."""
    config = dict(load_config(settings))
    config["aliases"] = table
    save_config(config, settings)


def _check_model(model: str) -> str:
    model = (model or "").strip()
    if not model or any(c.isspace() for c in model) or "/" in model:
        raise E.PoeUsageError(f"invalid model name {model!r}: model names have no spaces or slashes")
    return model


def use(*names: str, settings: Settings = default_settings) -> list[str]:
    """Choose models for the session: one name sets the default model (used when a cell names
    none); several set the default comparison set (``%%poe --compare``, ``compare(prompt)``).
    Names are resolved (aliases, case, unknown-name suggestions). Returns the exact ids."""
    from .catalog import resolve_name

    if not names:
        raise E.PoeUsageError("name a model: use('Claude-Sonnet-4'), or several to compare")
    chosen = [resolve_name(_check_model(n), settings) for n in names]
    if len(chosen) == 1:
        set_choice(default_model=chosen[0], settings=settings)
    else:
        set_choice(compare_models=list(dict.fromkeys(chosen)), settings=settings)
    return chosen


def set_choice(*, default_model: Optional[str] = None, compare_models: Optional[list[str]] = None,
               settings: Settings = default_settings) -> None:
    """Set the default model and/or comparison set (exact ids, no checks) and tell listeners."""
    if default_model is not None:
        settings.default_model = default_model
        _sync_magics_trait(default_model)
    if compare_models is not None:
        settings.compare_models = list(compare_models)
    for listener in list(choice_listeners):
        listener(settings.default_model, list(settings.compare_models))


def _sync_magics_trait(model: str) -> None:
    """Keep ``%config PoeMagics.default_model`` showing the same model as the settings."""
    import sys

    if "IPython" not in sys.modules:
        return
    from IPython import get_ipython

    shell = get_ipython()
    magics = shell.magics_manager.registry.get("PoeMagics") if shell is not None else None
    if magics is not None and getattr(magics, "default_model", model) != model:
        magics.default_model = model  # its observer writes the same value back to settings
