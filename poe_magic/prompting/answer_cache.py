"""An opt-in, on-disk answer cache: ``%%poe MODEL --cache`` / ``ask(..., cache=True)`` /
``settings.cache = True``.

An identical request (same server, model, messages with their attachments' bytes, system
prompt, temperature, stop sequences and parameters) is answered from disk instead of spending
points again. Entries live in ``{settings.home}/cache/answers/`` as one JSON file per answer,
named by the SHA-256 of the request, in a folder per account (a hash of the server and the
key; the API key itself is never part of the key nor of any file). Files are 0600, folders
0700; a cache that cannot be written is a one-line warning, never a lost answer.
Only complete answers are stored (no errors, no interruptions, no tool calls).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from poe_magic.base.config import Settings
from poe_magic.base.config import settings as default_settings
from poe_magic.base.files import warn_storage, write_json_atomic
from poe_magic.core.reply import Reply
from poe_magic.prompting.attachments import identity
from poe_magic.prompting.media import ReplyFile
from poe_magic.wire.request import PoeRequest

VERSION = 1  # bump when the key recipe or the entry format changes


def cache_dir(settings: Settings = default_settings) -> Path:
    """This account's cache folder: answers are never shared between keys or servers."""
    return settings.home / "cache" / "answers" / settings.account()


def request_key(request: PoeRequest, settings: Settings = default_settings) -> str:
    """SHA-256 of everything that decides the answer (never the API key)."""
    recipe = {
        "v": VERSION,
        "server": settings.root,  # a local stand-in's answer must not be served for the real model
        "model": request.model,
        "messages": [{"role": m.role, "content": m.content, "parameters": m.parameters,
                      "attachments": [identity(a) for a in m.attachments]} for m in request.messages],
        "temperature": request.temperature,
        "stop": request.stop,
        "params": request.params,
    }
    blob = json.dumps(recipe, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def key_for(request: PoeRequest, wanted: bool | None, settings: Settings = default_settings) -> str | None:
    """The cache key when this request may use the cache (``wanted``, else ``settings.cache``)."""
    use = settings.cache if wanted is None else wanted
    if not use or request.tools:  # tool rounds run the user's functions: never skip them
        return None
    return request_key(request, settings)


def _path(key: str, settings: Settings) -> Path:
    return cache_dir(settings) / key[:2] / f"{key}.json"


def load(key: str | None, request: PoeRequest, prompt: str, settings: Settings = default_settings) -> Reply | None:
    """The cached Reply for ``key`` (marked ``cached``, 0 points), or None."""
    if key is None:
        return None
    try:
        entry = json.loads(_path(key, settings).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # absent or damaged: ask the model again
    if entry.get("version") != VERSION or entry.get("model") != request.model:
        return None

    reply = Reply(model=request.model, prompt=prompt, text=entry.get("text", ""), cached=True, points=0,
                  params=dict(request.params), system=request.system, elapsed=0.0, time_to_first_token=0.0)
    reply.attachments = [ReplyFile.from_dict(a) for a in entry.get("attachments", [])]
    return reply


def save(key: str | None, reply: Reply, settings: Settings = default_settings) -> None:
    """Store a complete answer under ``key`` (atomically: a crash leaves no half file)."""
    if key is None or not reply.ok or reply.cached or reply.tool_calls or not (reply.text or reply.attachments):
        return
    entry = {
        "version": VERSION,
        "model": reply.model,
        "text": reply.text,
        "attachments": [_file_dict(a) for a in reply.attachments],
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "original_seconds": reply.elapsed,
    }
    try:
        write_json_atomic(_path(key, settings), entry, ensure_ascii=False)  # files 0600, folders 0700
    except (OSError, ValueError) as exc:  # an unwritable home never costs the answer
        warn_storage("the answer cache", exc)


def _file_dict(attachment: Any) -> dict[str, Any]:
    # data: URIs are kept (they are the file); fetched bytes of remote files are not
    return {k: getattr(attachment, k, None) for k in ("url", "content_type", "name", "source", "alt")}


def entries(settings: Settings = default_settings) -> list[Path]:
    root = cache_dir(settings)
    return sorted(root.glob("*/*.json")) if root.exists() else []


def clear_cache(settings: Settings = default_settings) -> int:
    """Delete every cached answer; returns how many were deleted."""
    removed = 0
    for path in entries(settings):
        path.unlink(missing_ok=True)
        removed += 1
    return removed


