"""The model catalogue (``GET {root}/v1/models``): a DataFrame, a cache, and name resolution.

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

import difflib
import hashlib
import json
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from . import _errors as E
from ._files import write_json_atomic
from .config import Settings, settings as default_settings

if TYPE_CHECKING:
    import pandas as pd

MAX_AGE = 6 * 3600  # seconds a cached catalogue is used without asking the server again
RECHECK_AFTER = 300  # an unknown name refetches a catalogue older than this (new models appear)
RESOLVE_TIMEOUT = 2.0  # seconds a request may wait for the catalogue before sending the name as typed
RETRY_FAILED_AFTER = 60  # after a failed fetch, requests do not try again for this long

#: the DataFrame's columns, in order (prices in USD: per token, per image, per request)
COLUMNS = [
    "id", "display_name", "owned_by", "description", "input_modalities", "output_modalities",
    "context_window", "max_output_tokens", "prompt_price", "completion_price", "image_price",
    "request_price", "cache_read_price", "cache_write_price", "features", "created",
]
#: ``owned_by`` of the local server's fault and test-only bots (DropBot, SlowBot-1..8, ...): they answer
#: by name but lists a person picks from hide them unless asked (``models(all=True)``)
TEST_OWNER = "poe_magic-tests"
#: ``owned_by`` of the local server's demo bots (EchoBot, SlowBot, ToolBot, ...): listed after real models
LOCAL_OWNER = "poe_magic"
_PRICE_FIELDS = {"prompt_price": "prompt", "completion_price": "completion", "image_price": "image",
                 "request_price": "request", "cache_read_price": "input_cache_read",
                 "cache_write_price": "input_cache_write"}


# -- parsing (lenient: any field may be missing, null or of the wrong type) ------------------------

def parse_models(payload: Any) -> list[dict[str, Any]]:
    """Flat records from a ``/v1/models`` body (or its ``data`` list); bad entries are skipped."""
    data = payload.get("data") if isinstance(payload, dict) else payload
    records = [parse_entry(raw) for raw in (data if isinstance(data, list) else [])]
    return [r for r in records if r is not None]


def parse_entry(raw: Any) -> Optional[dict[str, Any]]:
    """One model as a flat record with every column of :data:`COLUMNS`; None without an id."""
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str) or not raw["id"].strip():
        return None
    arch, meta = _dict(raw.get("architecture")), _dict(raw.get("metadata"))
    window, pricing = _dict(raw.get("context_window")), _dict(raw.get("pricing"))
    modality = _text(arch.get("modality"))
    inputs, _, outputs = modality.partition("->")
    record: dict[str, Any] = {
        "id": raw["id"].strip(),
        "display_name": _text(meta.get("display_name")) or raw["id"].strip(),
        "owned_by": _text(raw.get("owned_by")),
        "description": _text(raw.get("description")),
        "input_modalities": _modalities(arch.get("input_modalities"), inputs),
        "output_modalities": _modalities(arch.get("output_modalities"), outputs),
        "context_window": _int(window.get("context_length", raw.get("context_length"))),
        "max_output_tokens": _int(window.get("max_output_tokens")),
        "features": ",".join(str(f) for f in raw.get("supported_features") or [] if f),
        "created": _created(raw.get("created")),
    }
    for column, key in _PRICE_FIELDS.items():
        record[column] = _float(pricing.get(key))
    return record


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str:
    return " ".join(value.split()) if isinstance(value, str) else ""


def _modalities(listed: Any, fallback: str) -> str:
    """``["text", "image"]`` -> ``"text,image"``; else what ``"text,image->text"`` says."""
    if isinstance(listed, list) and listed:
        return ",".join(str(m).strip().lower() for m in listed if m)
    return ",".join(m.strip().lower() for m in fallback.split(",") if m.strip())


def _int(value: Any) -> Optional[int]:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def _float(value: Any) -> Optional[float]:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _created(value: Any) -> Optional[datetime]:
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


def is_test_bot(record: dict[str, Any]) -> bool:
    """True for the local server's fault/test-only bots (``owned_by`` is :data:`TEST_OWNER`)."""
    return record.get("owned_by") == TEST_OWNER


def for_listing(records: list[dict[str, Any]], all: bool = False) -> list[dict[str, Any]]:
    """Records in the order a person picks from: real models first, then the local server's
    demo bots, then (only with ``all=True``) its test bots; otherwise the catalogue's order."""
    def rank(record: dict[str, Any]) -> int:
        return 2 if is_test_bot(record) else 1 if record.get("owned_by") == LOCAL_OWNER else 0

    return sorted((r for r in records if all or not is_test_bot(r)), key=rank)


# -- fetching and caching -------------------------------------------------------------------------

@dataclass
class Snapshot:
    """One fetched catalogue: the raw entries and the ids, for fast lookups."""

    root: str
    fetched_at: float  # Unix seconds
    entries: list[dict[str, Any]]
    ids: list[str] = field(init=False)
    _lower: dict[str, list[str]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.ids = [e["id"].strip() for e in self.entries
                    if isinstance(e, dict) and isinstance(e.get("id"), str) and e["id"].strip()]
        self._lower = {}
        for model_id in self.ids:
            self._lower.setdefault(model_id.lower(), []).append(model_id)

    @property
    def age(self) -> float:
        return max(0.0, time.time() - self.fetched_at)

    def case_matches(self, name: str) -> list[str]:
        return list(self._lower.get(name.lower(), []))


_memory: dict[str, Snapshot] = {}  # server root -> snapshot
_failed_at: dict[str, float] = {}  # server root -> monotonic time of the last failed fetch
_lock = threading.Lock()


def cache_file(root: str, settings: Settings = default_settings) -> Path:
    """Where the catalogue of ``root`` is cached on disk."""
    host = re.sub(r"[^A-Za-z0-9.-]+", "_", root.split("://")[-1])[:40]
    digest = hashlib.sha256(root.encode()).hexdigest()[:8]
    return settings.home / "cache" / f"models-{host}-{digest}.json"


def clear_cache(disk: bool = False, settings: Settings = default_settings) -> None:
    """Forget the catalogue in memory (and on disk for the current server root)."""
    with _lock:
        _memory.clear()
        _failed_at.clear()
    if disk:
        cache_file(settings.root, settings).unlink(missing_ok=True)


def _read_disk(root: str, settings: Settings) -> Optional[Snapshot]:
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


def fetch(settings: Settings = default_settings, timeout: Optional[float] = None) -> Snapshot:
    """GET the catalogue now (no key needed), cache it, and return it; one-line error on failure."""
    # urllib, not httpx: one short request with "Connection: close" takes ~3 ms on loopback,
    # where a fresh httpx client spends ~70 ms (SSL context, delayed ACK on keep-alive).
    import socket
    import urllib.error
    import urllib.request

    root = settings.root
    url = root + "/v1/models"
    request = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": "poe_magic"})
    try:
        with urllib.request.urlopen(request, timeout=timeout or max(settings.connect_timeout, 30.0)) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        cls = E.ServerError if exc.code >= 500 else E.PoeAPIError
        raise _failed(root, cls(f"the server answered {exc.code} for {url}", status=exc.code)) from None
    except (socket.timeout, TimeoutError):
        raise _failed(root, E.PoeTimeoutError(f"timed out fetching the model catalogue from {url}")) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise _failed(root, E.ServerError(f"cannot fetch the model catalogue from {url}: {reason}",
                                          status=None)) from None
    try:
        data = json.loads(body)["data"]
        if not isinstance(data, list):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise _failed(root, E.PoeAPIError(f"{url} did not return a model list")) from None
    snapshot = Snapshot(root, time.time(), data)
    with _lock:
        _memory[root] = snapshot
        _failed_at.pop(root, None)
    _write_disk(snapshot, settings)
    return snapshot


def _failed(root: str, error: E.PoeMagicError) -> E.PoeMagicError:
    with _lock:
        _failed_at[root] = time.monotonic()
    return error


def cached(settings: Settings = default_settings) -> Optional[Snapshot]:
    """The newest catalogue we have for the current root (memory, else disk), however old."""
    root = settings.root
    with _lock:
        snapshot = _memory.get(root)
    if snapshot is None:
        snapshot = _read_disk(root, settings)
        if snapshot is not None:
            with _lock:
                snapshot = _memory.setdefault(root, snapshot)
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
        print(f"note: {error}; showing the catalogue cached {_ago(snapshot.age)}", file=sys.stderr)
        return snapshot


def _quick(settings: Settings, max_age: float) -> tuple[Optional[Snapshot], bool]:
    """(catalogue, trusted) for a request: fetched with a short timeout when older than
    ``max_age``; ``trusted`` is False when only a stale copy (or none) could be had."""
    snapshot = cached(settings)
    if snapshot is not None and snapshot.age < max_age:
        return snapshot, True
    with _lock:
        failed_at = _failed_at.get(settings.root)
    if failed_at is not None and time.monotonic() - failed_at < RETRY_FAILED_AFTER:
        return snapshot, False  # the server had no catalogue a moment ago: do not wait again
    try:
        return fetch(settings, timeout=min(RESOLVE_TIMEOUT, settings.connect_timeout)), True
    except E.PoeMagicError:
        return snapshot, False


def models(refresh: bool = False, *, search: str = "", all: bool = False) -> "pd.DataFrame":
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
    description or modalities of the record (``"image google"``: Google's image models)."""
    haystack = " ".join(str(record.get(k) or "") for k in (
        "id", "display_name", "owned_by", "description", "input_modalities", "output_modalities")).lower()
    return all(word in haystack for word in search.lower().split())


def _ago(seconds: float) -> str:
    if seconds < 90:
        return "just now"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 172800:
        return f"{seconds / 3600:.0f} h ago"
    return f"{seconds / 86400:.0f} days ago"


# -- name resolution ------------------------------------------------------------------------------

_noted: set[tuple[str, str]] = set()


def resolve_name(name: str, settings: Settings = default_settings) -> str:
    """The exact model id for ``name``: alias expanded, case corrected (with a note, once per
    name), or :class:`~poe_magic.UnknownModelError` with the closest matches. When the
    catalogue cannot be fetched the name is returned as typed."""
    from .aliases import expand

    name = expand(name, settings)
    snapshot, trusted = _quick(settings, MAX_AGE)
    if snapshot is None:
        return name
    found = _match(name, snapshot)
    if found is None and trusted and snapshot.age > RECHECK_AFTER:
        snapshot, trusted = _quick(settings, RECHECK_AFTER)  # a model may have appeared since
        found = _match(name, snapshot) if snapshot is not None else None
    if found is not None:
        if found != name and (name, found) not in _noted:
            _noted.add((name, found))
            # stdout: a note, not a warning (JupyterLab shows stderr as an error-coloured band)
            print(f"note: using model '{found}' for '{name}' (model names are case-sensitive)")
        return found
    if not trusted or snapshot is None:
        return name  # cannot confirm either way: let the server decide
    raise unknown_model_error(name, snapshot.ids, ambiguous=snapshot.case_matches(name))


def _match(name: str, snapshot: Snapshot) -> Optional[str]:
    if name in snapshot.ids:
        return name
    same = snapshot.case_matches(name)
    return same[0] if len(same) == 1 else None


def closest(name: str, ids: list[str], n: int = 3) -> list[str]:
    """The ids most like ``name``: close spellings first, then ids containing it."""
    lowered = {i.lower(): i for i in ids}
    near = [lowered[m] for m in difflib.get_close_matches(name.lower(), list(lowered), n=n, cutoff=0.6)]
    contains = [i for i in ids if len(name) >= 3 and name.lower() in i.lower() and i not in near]
    return (near + contains)[:n]


def unknown_model_error(name: str, ids: list[str], ambiguous: Optional[list[str]] = None) -> E.UnknownModelError:
    """``unknown model 'claude-sonet-4'; did you mean Claude-Sonnet-4?`` (one line)."""
    options = ambiguous or closest(name, ids)
    if ambiguous:
        message = f"model name '{name}' is ambiguous; did you mean {_either(options)}?"
    elif options:
        message = f"unknown model '{name}'; did you mean {_either(options)}?"
    else:
        message = f"unknown model '{name}'; %poe models lists the {len(ids)} available models"
    return E.UnknownModelError(message, model=name)


def _either(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
