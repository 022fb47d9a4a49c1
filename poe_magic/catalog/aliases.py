"""Aliases: short names for models, kept in ``$POE_MAGIC_HOME/config.json``.

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
from typing import Any

from poe_magic.base import errors as E
from poe_magic.base.config import Settings
from poe_magic.base.config import settings as default_settings
from poe_magic.base.files import file_lock, write_text_atomic

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_lock = threading.RLock()
_loaded: dict[str, tuple[int, dict[str, Any]]] = {}  # path -> (mtime, parsed config)


def config_path(settings: Settings = default_settings) -> Path:
    """The config file: ``$POE_MAGIC_HOME/config.json``."""
    return settings.home / "config.json"


def load_config(settings: Settings = default_settings, *, fresh: bool = False) -> dict[str, Any]:
    """The config file's content ({} when absent); a damaged file is a one-line ConfigError.
    ``fresh`` reads the disk even when the memo's mtime matches (inside a read-modify-write:
    two writes within one mtime tick would otherwise look alike)."""
    path = config_path(settings)
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        return {}
    with _lock:
        hit = _loaded.get(str(path))
        if hit is not None and hit[0] == mtime and not fresh:
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


def aliases(settings: Settings = default_settings, *, fresh: bool = False) -> dict[str, str]:
    """Every alias: short name -> model id (``fresh``: read from disk, not the memo)."""
    found = load_config(settings, fresh=fresh).get("aliases")
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


def set_alias(name: str, model: str, settings: Settings = default_settings) -> None:
    """Save ``name`` -> ``model`` (a read-modify-write under the config file's lock, so two
    kernels adding aliases at once both keep theirs)."""
    with file_lock(config_path(settings)):
        _save_aliases({**aliases(settings, fresh=True), name: model}, settings)


def remove_alias(name: str, settings: Settings = default_settings) -> bool:
    """Delete an alias; False when there was none."""
    with _lock, file_lock(config_path(settings)):
        table = aliases(settings, fresh=True)
        if table.pop(name, None) is None:
            return False
        _save_aliases(table, settings)
    return True


def _save_aliases(table: dict[str, str], settings: Settings) -> None:
    """Write the alias table, keeping the config file's other keys. The whole read-modify-write
    holds the config file's lock (other threads and other kernels wait), so no change is lost."""
    with _lock, file_lock(config_path(settings)):
        config = dict(load_config(settings, fresh=True))
        config["aliases"] = table
        save_config(config, settings)


