"""The catalogue as a person browses it: real models first, test bots hidden, a DataFrame, a search."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from poe_magic.base.conventions import LOCAL_OWNER, TEST_OWNER
from poe_magic.catalog.store import _PRICE_FIELDS, COLUMNS, catalog, parse_models

if TYPE_CHECKING:
    import pandas as pd


def is_test_bot(record: dict[str, Any]) -> bool:
    """True for the local server's fault/test-only bots (``owned_by`` is :data:`TEST_OWNER`)."""
    return record.get("owned_by") == TEST_OWNER


def for_listing(records: list[dict[str, Any]], all: bool = False) -> list[dict[str, Any]]:
    """Records in the order a person picks from: real models first, then the local server's
    demo bots, then (only with ``all=True``) its test bots; otherwise the catalogue's order."""
    def rank(record: dict[str, Any]) -> int:
        return 2 if is_test_bot(record) else 1 if record.get("owned_by") == LOCAL_OWNER else 0

    return sorted((r for r in records if all or not is_test_bot(r)), key=rank)


def models(refresh: bool = False, *, search: str = "", all: bool = False) -> pd.DataFrame:
    """The catalogue as a DataFrame: one row per model, columns :data:`COLUMNS`, real models
    first; the local server's test-only bots only with ``all=True`` (see :func:`for_listing`).

    ``created`` is a UTC datetime, modalities are comma-separated (``"text,image"``), prices
    are USD floats (per token for prompt/completion/cache, per image, per request), missing
    values are NaN/None. ``search`` keeps rows matching every word (see :func:`matches`).
    ``df.attrs`` holds ``source`` and ``fetched_at``.
    """
    import pandas as pd

    snapshot = catalog(refresh)
    records = [r for r in for_listing(parse_models(snapshot.entries), all=all) if not search or matches(r, search)]
    frame = pd.DataFrame.from_records(records, columns=COLUMNS)
    frame["created"] = pd.to_datetime(frame["created"], utc=True)
    for column in ("context_window", "max_output_tokens"):
        frame[column] = frame[column].astype("Int64")
    for column in _PRICE_FIELDS:
        frame[column] = frame[column].astype("float64")
    frame.attrs.update(source=snapshot.root + "/v1/models",
                       fetched_at=datetime.fromtimestamp(snapshot.fetched_at, tz=timezone.utc))
    return frame


def matches(record: dict[str, Any], search: str) -> bool:
    """Every word of ``search`` occurs (case-insensitively) in the id, display name, owner,
    description, modalities or features of the record (``"image google"``: Google's image
    models; ``"tools"``: the models that take tools)."""
    haystack = " ".join(str(record.get(k) or "") for k in (
        "id", "display_name", "owned_by", "description", "input_modalities", "output_modalities",
        "features")).lower()
    return all(word in haystack for word in search.lower().split())
