"""poe_magic: the Poe API as a first-class citizen of Jupyter notebooks.

``%load_ext poe_magic`` gives the ``%%poe`` cell magic and the ``%poe`` line magic; the
same features are plain functions here (``poe_magic.ask``, ``compare``, ``models``, ...).
Public names are imported on first use, so ``%load_ext`` stays fast (no pandas,
matplotlib, ipywidgets or fastapi_poe at load time).
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

from ._errors import *  # noqa: F403  (small, dependency-free)
from ._errors import __all__ as _error_names
from .config import settings

__version__ = "0.1.0"

# public name -> module that defines it (imported lazily by __getattr__)
_LAZY: dict[str, str] = {
    "ask": "poe_magic.api",
    "last_reply": "poe_magic.api",
    "send": "poe_magic.api",
    "Reply": "poe_magic.reply",
    "list_threads": "poe_magic.threads",
    "get_thread": "poe_magic.threads",
    "reset_thread": "poe_magic.threads",
    "clear_cache": "poe_magic.cache",
    "batch": "poe_magic.batch",
    "last_batch": "poe_magic.batch",
    "compare": "poe_magic.compare",
    "Comparison": "poe_magic.compare",
    "last_comparison": "poe_magic.compare",
    "ToolCall": "poe_magic.tools",
    "tool_schema": "poe_magic.tools",
    "local_server": "poe_magic.testing",
    "start_local_server": "poe_magic.testing",
    "models": "poe_magic.catalog",
    "model_table": "poe_magic.catalog_view",
    "use": "poe_magic.aliases",
    "alias": "poe_magic.aliases",
    "model_picker": "poe_magic.widgets",
    "chat": "poe_magic.widgets",
    "current_balance": "poe_magic.usage",
    "points_history": "poe_magic.usage",
    "spending_summary": "poe_magic.usage",
    "plot_spending": "poe_magic.plots",
    "set_budget": "poe_magic.ledger",
    "session_ledger": "poe_magic.ledger",
    "session_spend": "poe_magic.ledger",
}

__all__ = ["settings", "load_ipython_extension", "unload_ipython_extension", *_LAZY, *_error_names]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'poe_magic' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


class _Package(types.ModuleType):
    """Keeps a public function named like its module (``compare``, ``batch``) bound to the
    function: importing ``poe_magic.compare`` would otherwise rebind the name to the module."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and _LAZY.get(name) == value.__name__:
            value = getattr(value, name, value)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext poe_magic``: register ``%poe`` / ``%%poe``."""
    from .magics import load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext poe_magic``: remove the magics again."""
    from .magics import unload

    unload(ipython)
