"""The model catalogue (``GET {root}/v1/models``): fetched, parsed leniently, cached in memory and on disk.

:func:`models` returns one row per model. The catalogue is cached in memory and on disk
(``$POE_MAGIC_HOME/cache/models-*.json``, one file per server root) and reused for
:data:`MAX_AGE` seconds (6 hours); ``models(refresh=True)`` fetches it again at once.

:func:`resolve_name` checks a model name before a request (every request path goes through
``client.resolve_model``): aliases are expanded, a case-insensitive match is corrected with
a one-line note, and an unknown name fails with the closest matches. It never holds a request
up for long: it waits at most :data:`RESOLVE_TIMEOUT` seconds for the catalogue, and when the
catalogue cannot be had the name is sent as typed. Resolution uses plain lists and sets;
pandas is imported only by :func:`models`.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from poe_magic.base import errors as E
from poe_magic.base import notices
from poe_magic.base.config import Settings
from poe_magic.base.config import settings as default_settings
from poe_magic.base.files import write_json_atomic
from poe_magic.base.text import ago
from poe_magic.core.session import current
from poe_magic.wire.http import get_json

MAX_AGE = 6 * 3600  # seconds a cached catalogue is used without asking the server again
RECHECK_AFTER = 300  # an unknown name refetches a catalogue older than this (new models appear)
RESOLVE_TIMEOUT = 2.0  # seconds a request may wait for the catalogue before sending the name as typed
RETRY_FAILED_AFTER = 60  # after a failed fetch, requests do not try again for this long

#: the DataFrame's columns, in order (prices in USD: per token, per image, per request)
COLUMNS = [
    "id", "display_name", "owned_by", "description", "input_modalities", "output_modalities",
    "context_window", "max_output_tokens", "prompt_price", "completion_price", "image_price",
    "request_price", "cache_read_price", "cache_write_price", "features", "created", "api_id",
]
_PRICE_FIELDS = {"prompt_price": "prompt", "completion_price": "completion", "image_price": "image",
                 "request_price": "request", "cache_read_price": "input_cache_read",
                 "cache_write_price": "input_cache_write"}


# -- parsing (lenient: any field may be missing, null or of the wrong type) ------------------------

def parse_models(payload: Any) -> list[dict[str, Any]]:
    """Flat records from a ``/v1/models`` body (or its ``data`` list); bad entries are skipped."""
    data = payload.get("data") if isinstance(payload, dict) else payload
    records = [parse_entry(raw) for raw in (data if isinstance(data, list) else [])]
    return [r for r in records if r is not None]


def parse_entry(raw: Any) -> dict[str, Any] | None:
    """One model as a flat record with every column of :data:`COLUMNS`; None without an id."""
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str) or not raw["id"].strip():
        return None
    arch, meta = _dict(raw.get("architecture")), _dict(raw.get("metadata"))
    window, pricing = _dict(raw.get("context_window")), _dict(raw.get("pricing"))
    modality = _text(arch.get("modality"))
    inputs, _, outputs = modality.partition("->")
    name = name_of(raw)
    record: dict[str, Any] = {
        "id": name,
        "display_name": _text(meta.get("display_name")) or name,
        "owned_by": _text(raw.get("owned_by")),
        "description": _text(raw.get("description")),
        "input_modalities": _modalities(arch.get("input_modalities"), inputs),
        "output_modalities": _modalities(arch.get("output_modalities"), outputs),
        "context_window": _int(window.get("context_length", raw.get("context_length"))),
        "max_output_tokens": _int(window.get("max_output_tokens")),
        "features": ",".join(str(f) for f in raw.get("supported_features") or [] if f),
        "created": _created(raw.get("created")),
        "api_id": raw["id"].strip(),
    }
    for column, key in _PRICE_FIELDS.items():
        record[column] = _float(pricing.get(key))
    return record


def name_of(raw: dict[str, Any]) -> str:
    """The name a model is asked by: the display name (the bot's name, the history's ``bot_name``)
    when it is the id in another case (real ids are lowercase: ``claude-opus-4.6`` /
    ``Claude-Opus-4.6``), else the id (no display name, or one that is not a name: ``Claude Sonnet 4``)."""
    model_id = raw["id"].strip()
    display = _dict(raw.get("metadata")).get("display_name")
    if isinstance(display, str) and display.strip().lower() == model_id.lower():
        return display.strip()
    return model_id


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str:
    return " ".join(value.split()) if isinstance(value, str) else ""


def _modalities(listed: Any, fallback: str) -> str:
    """``["text", "image"]`` -> ``"text,image"``; else what ``"text,image->text"`` says."""
    if isinstance(listed, list) and listed:
        return ",".join(str(m).strip().lower() for m in listed if m)
    return ",".join(m.strip().lower() for m in fallback.split(",") if m.strip())


def _int(value: Any) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _created(value: Any) -> datetime | None:
    """Milliseconds since the epoch (as the API sends) to an aware UTC datetime."""
    try:
        stamp = float(value)
    except (TypeError, ValueError):
        return None
    if stamp <= 0:
        return None
    if stamp > 1e11:  # milliseconds; tolerate seconds too
        stamp /= 1000
    try:
        return datetime.fromtimestamp(stamp, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


# -- fetching and caching -------------------------------------------------------------------------

@dataclass
class Snapshot:
    """One fetched catalogue: the raw entries and the names, for fast lookups.

    ``ids`` are the names models are asked by (:func:`name_of`: ``Claude-Opus-4.6`` for the
    entry ``claude-opus-4.6``); ``api_ids`` maps each catalogue id that differs to its name."""

    root: str
    fetched_at: float  # Unix seconds
    entries: list[dict[str, Any]]
    ids: list[str] = field(init=False)
    api_ids: dict[str, str] = field(init=False, repr=False)
    _lower: dict[str, list[str]] = field(init=False, repr=False)
    _by_name: dict[str, dict[str, Any]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.ids, self.api_ids, self._lower, self._by_name = [], {}, {}, {}
        for raw in self.entries:
            if not (isinstance(raw, dict) and isinstance(raw.get("id"), str) and raw["id"].strip()):
                continue
            name, model_id = name_of(raw), raw["id"].strip()
            self.ids.append(name)
            self._lower.setdefault(name.lower(), []).append(name)
            if model_id != name:
                self.api_ids.setdefault(model_id, name)
            display = _dict(raw.get("metadata")).get("display_name")
            for key in (name, model_id, display):
                if isinstance(key, str) and key.strip():
                    self._by_name.setdefault(key.strip().lower(), raw)

    def entry(self, name: str) -> dict[str, Any] | None:
        """The raw catalogue entry of a model named by its id or its display name (any case)."""
        return self._by_name.get(name.strip().lower())

    @property
    def age(self) -> float:
        return max(0.0, time.time() - self.fetched_at)

    def case_matches(self, name: str) -> list[str]:
        return list(self._lower.get(name.lower(), []))


class _Memory:
    """The session's catalogues in memory (a session state: ``new_session()`` starts clean)."""

    def __init__(self) -> None:
        self.snapshots: dict[str, Snapshot] = {}  # server root -> snapshot
        self.failed_at: dict[str, float] = {}  # server root -> monotonic time of the last failed fetch


def _mem() -> _Memory:
    return current().state(_Memory)


_lock = threading.Lock()


def cache_file(root: str, settings: Settings = default_settings) -> Path:
    """Where the catalogue of ``root`` is cached on disk."""
    host = re.sub(r"[^A-Za-z0-9.-]+", "_", root.split("://")[-1])[:40]
    digest = hashlib.sha256(root.encode()).hexdigest()[:8]
    return settings.home / "cache" / f"models-{host}-{digest}.json"


def clear_cache(disk: bool = False, settings: Settings = default_settings) -> None:
    """Forget the catalogue in memory (and on disk for the current server root)."""
    with _lock:
        _mem().snapshots.clear()
        _mem().failed_at.clear()
    if disk:
        cache_file(settings.root, settings).unlink(missing_ok=True)


def _read_disk(root: str, settings: Settings) -> Snapshot | None:
    try:
        saved = json.loads(cache_file(root, settings).read_text(encoding="utf-8"))
        if saved.get("root") == root and isinstance(saved.get("data"), list):
            return Snapshot(root, float(saved["fetched_at"]), saved["data"])
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        pass  # no cache, or a damaged one: fetch again
    return None


def _write_disk(snapshot: Snapshot, settings: Settings) -> None:
    path = cache_file(snapshot.root, settings)
    try:
        # atomic: a concurrent reader never sees half a file
        write_json_atomic(path, {"root": snapshot.root, "fetched_at": snapshot.fetched_at, "data": snapshot.entries})
    except OSError:
        pass  # a read-only home only costs a refetch next time


def fetch(settings: Settings = default_settings, timeout: float | None = None, *, retry: bool = True) -> Snapshot:
    """GET the catalogue now (no key needed), cache it, and return it; one-line error on failure.

    Retried like every plain request (:mod:`poe_magic.wire.http`); name resolution passes a
    short ``timeout`` and ``retry=False``: a request must not wait long for the catalogue."""
    root = settings.root
    try:
        body = get_json(root + "/v1/models", what="the model catalogue", auth=False, timeout=timeout,
                        retry=retry, settings=settings)
    except E.PoeMagicError as error:
        raise _failed(root, error) from None
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        raise _failed(root, E.PoeAPIError(f"{root}/v1/models did not return a model list", hint="check POE_BASE_URL"))
    snapshot = Snapshot(root, time.time(), data)
    with _lock:
        _mem().snapshots[root] = snapshot
        _mem().failed_at.pop(root, None)
    _write_disk(snapshot, settings)
    return snapshot


def _failed(root: str, error: E.PoeMagicError) -> E.PoeMagicError:
    with _lock:
        _mem().failed_at[root] = time.monotonic()
    return error


def cached(settings: Settings = default_settings) -> Snapshot | None:
    """The newest catalogue we have for the current root (memory, else disk), however old."""
    root = settings.root
    with _lock:
        snapshot = _mem().snapshots.get(root)
    if snapshot is None:
        snapshot = _read_disk(root, settings)
        if snapshot is not None:
            with _lock:
                snapshot = _mem().snapshots.setdefault(root, snapshot)
    return snapshot


def catalog(refresh: bool = False, settings: Settings = default_settings) -> Snapshot:
    """The catalogue, from the cache when younger than :data:`MAX_AGE`, else fetched.
    When fetching fails but an older copy exists, that copy is returned with a note."""
    snapshot = None if refresh else cached(settings)
    if snapshot is not None and snapshot.age < MAX_AGE:
        return snapshot
    try:
        return fetch(settings)
    except E.PoeMagicError as error:
        if snapshot is None:
            raise
        notices.warn(f"note: {error}; showing the catalogue cached {ago(snapshot.age)}")
        return snapshot


def _quick(settings: Settings, max_age: float) -> tuple[Snapshot | None, bool]:
    """(catalogue, trusted) for a request: fetched with a short timeout when older than
    ``max_age``; ``trusted`` is False when only a stale copy (or none) could be had."""
    snapshot = cached(settings)
    if snapshot is not None and snapshot.age < max_age:
        return snapshot, True
    with _lock:
        failed_at = _mem().failed_at.get(settings.root)
    if failed_at is not None and time.monotonic() - failed_at < RETRY_FAILED_AFTER:
        return snapshot, False  # the server had no catalogue a moment ago: do not wait again
    try:
        return fetch(settings, timeout=min(RESOLVE_TIMEOUT, settings.connect_timeout), retry=False), True
    except E.PoeMagicError:
        return snapshot, False




# -- name resolution ------------------------------------------------------------------------------


