"""An opt-in, on-disk answer cache: ``%%poe MODEL --cache`` / ``ask(..., cache=True)`` /
``settings.cache = True``.

An identical request (same server, model, messages with their attachments' bytes, system
prompt, temperature, stop sequences and parameters) is answered from disk instead of spending
points again. Entries live in ``{settings.home}/cache/answers/`` as one JSON file per answer,
named by the SHA-256 of the request; the API key is never part of the key nor of any file.
Only complete answers are stored (no errors, no interruptions, no tool calls).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

from . import _errors as E
from ._files import write_json_atomic
from ._text import plural
from .attachments import identity
from .config import Settings, settings as default_settings
from .reply import Reply
from .transport import PoeRequest

VERSION = 1  # bump when the key recipe or the entry format changes


def cache_dir(settings: Settings = default_settings) -> Path:
    return settings.home / "cache" / "answers"


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


def key_for(request: PoeRequest, wanted: Optional[bool], settings: Settings = default_settings) -> Optional[str]:
    """The cache key when this request may use the cache (``wanted``, else ``settings.cache``)."""
    use = settings.cache if wanted is None else wanted
    if not use or request.tools:  # tool rounds run the user's functions: never skip them
        return None
    return request_key(request, settings)


def _path(key: str, settings: Settings) -> Path:
    return cache_dir(settings) / key[:2] / f"{key}.json"


def load(key: Optional[str], request: PoeRequest, prompt: str, settings: Settings = default_settings) -> Optional[Reply]:
    """The cached Reply for ``key`` (marked ``cached``, 0 points), or None."""
    if key is None:
        return None
    try:
        entry = json.loads(_path(key, settings).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # absent or damaged: ask the model again
    if entry.get("version") != VERSION or entry.get("model") != request.model:
        return None
    from .media import ReplyFile

    reply = Reply(model=request.model, prompt=prompt, text=entry.get("text", ""), cached=True, points=0,
                  params=dict(request.params), system=request.system, elapsed=0.0, time_to_first_token=0.0)
    reply.attachments = [ReplyFile.from_dict(a) for a in entry.get("attachments", [])]
    return reply


def save(key: Optional[str], reply: Reply, settings: Settings = default_settings) -> None:
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
    path = _path(key, settings)
    write_json_atomic(path, entry, ensure_ascii=False)


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


def cache_command(magics: Any, arg: str) -> None:
    """``%poe cache [clear | on | off]``: show, empty or switch the answer cache."""
    if arg == "clear":
        removed = clear_cache(default_settings)
        print(f"Deleted {plural(removed, 'cached answer')} from {cache_dir(default_settings)}")
        return
    if arg in ("on", "off"):
        default_settings.cache = arg == "on"
        if magics is not None and hasattr(magics, "cache"):
            magics.cache = default_settings.cache  # keep %config PoeMagics.cache in step
    elif arg:
        raise E.PoeUsageError(f"%poe cache takes clear, on or off, got {arg!r}")
    found = entries(default_settings)
    size = sum(p.stat().st_size for p in found)
    state = "on for every cell" if default_settings.cache else "off (use --cache per cell, or %poe cache on)"
    print(f"Answer cache {state}: {plural(len(found), 'answer')}, {size / 1024:,.1f} KiB "
          f"in {cache_dir(default_settings)}")
