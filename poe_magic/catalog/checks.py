"""The catalogue's checks before a request is sent (called once per request by the runner's ``Call.check``).

Pure functions of (request, cached catalogue): no request is made here. Without a cached
catalogue, or for a model it does not list, everything passes (the server decides).
"""

from __future__ import annotations

from typing import Any

from poe_magic.base.config import Settings
from poe_magic.base.config import settings as default_settings
from poe_magic.catalog import store
from poe_magic.catalog.parameters import check_params


def check_request(request: Any, settings: Settings = default_settings) -> None:
    """Refuse in one line (nothing sent) a request the model's catalogue entry says it cannot take;
    ``request.params`` are replaced by the values typed per the model's schema."""
    snapshot = store.cached(settings)
    entry = snapshot.entry(request.model) if snapshot is not None else None
    if entry is None:
        return
    if request.params:
        request.params = check_params(request.model, request.params, entry)
