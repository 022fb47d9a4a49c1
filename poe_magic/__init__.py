"""poe_magic: the Poe API as a first-class citizen of Jupyter notebooks.

``%load_ext poe_magic`` gives the ``%%poe`` cell magic and the ``%poe`` line magic; the
same features are plain functions here (``poe_magic.ask``, ``compare``, ``models``, ...).
Public names are imported on first use, so ``%load_ext`` stays fast (no pandas,
matplotlib, ipywidgets or fastapi_poe at load time).
"""

from __future__ import annotations

import importlib
from typing import Any

from poe_magic.base.config import settings
from poe_magic.base.errors import *  # noqa: F403  (small, dependency-free)
from poe_magic.base.errors import __all__ as _error_names
from poe_magic.base.version import __version__  # noqa: E402,F401  (public)

# public name -> module that defines it (imported lazily by __getattr__). No module is named
# like a public function, so importing a module never shadows one of these names.
_LAZY: dict[str, str] = {
    "ask": "poe_magic.prompting.asking",
    "send": "poe_magic.prompting.asking",
    "stream": "poe_magic.prompting.asking",
    "astream": "poe_magic.prompting.asking",
    "new_session": "poe_magic.core.session",
    "last_reply": "poe_magic.core.session",
    "Reply": "poe_magic.core.reply",
    "list_threads": "poe_magic.prompting.threads",
    "get_thread": "poe_magic.prompting.threads",
    "reset_thread": "poe_magic.prompting.threads",
    "clear_cache": "poe_magic.prompting.answer_cache",
    "batch": "poe_magic.batches.run",
    "last_batch": "poe_magic.batches.run",
    "compare": "poe_magic.comparison.run",
    "Comparison": "poe_magic.comparison.result",
    "last_comparison": "poe_magic.comparison.run",
    "ToolCall": "poe_magic.tools.functions",
    "tool_schema": "poe_magic.tools.functions",
    "LocalServer": "poe_magic.server.launch",
    "local_server": "poe_magic.server.launch",
    "start_local_server": "poe_magic.server.launch",
    "models": "poe_magic.catalog.listing",
    "model_info": "poe_magic.catalog.card",
    "model_table": "poe_magic.catalog.table",
    "use": "poe_magic.catalog.choosing",
    "alias": "poe_magic.catalog.choosing",
    "model_picker": "poe_magic.widgets.picker",
    "chat": "poe_magic.widgets.chat_panel",
    "current_balance": "poe_magic.spending.history",
    "points_history": "poe_magic.spending.history",
    "spending_summary": "poe_magic.spending.history",
    "plot_spending": "poe_magic.spending.plots",
    "set_budget": "poe_magic.spending.ledger",
    "session_ledger": "poe_magic.spending.ledger",
    "session_spend": "poe_magic.spending.ledger",
    "wait_for_costs": "poe_magic.spending.ledger",
    "jobs": "poe_magic.prompting.background",
    "doctor": "poe_magic.prompting.checkup",
    "estimate": "poe_magic.spending.estimating",
    "estimate_cost": "poe_magic.spending.estimating",
    "log": "poe_magic.spending.calllog_view",
    "log_reply": "poe_magic.spending.calllog_view",
    "notebook_costs": "poe_magic.spending.provenance",
    "grade": "poe_magic.comparison.grading",
    "leaderboard": "poe_magic.comparison.ranking",
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


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext poe_magic``: register ``%poe`` / ``%%poe``."""
    from poe_magic.magics import load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext poe_magic``: remove the magics again."""
    from poe_magic.magics import unload

    unload(ipython)
