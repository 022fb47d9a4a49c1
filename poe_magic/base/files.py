"""Writing the package's small JSON files (config, caches) so that no one sees half a file."""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from poe_magic.base import notices

#: the longest file name kept from a server (before the extension)
MAX_NAME = 120
_UNSAFE = re.compile(r'[\x00-\x1f\x7f<>:"|?*]')
_thread_locks: dict[str, threading.RLock] = {}
_thread_locks_guard = threading.Lock()
_held = threading.local()  # lock files this thread holds


def safe_name(name: object, *, fallback: str) -> str:
    """A base name safe to create inside a folder from an untrusted ``name`` (a server's): no
    directories (``/`` or ``\\``), drive letters, control or reserved characters, leading dots
    or spaces, capped at :data:`MAX_NAME` characters plus a short extension; ``fallback``
    (e.g. ``file-1.png``) when nothing usable is left. The one check behind every server name
    turned into a path."""
    text = unicodedata.normalize("NFC", str(name or ""))
    text = re.split(r"[/\\]", text)[-1]  # the last path part only
    text = _UNSAFE.sub("", text).strip().lstrip(".").strip()
    stem, dot, ext = text.rpartition(".")
    if not dot or not stem or len(ext) > 10:
        stem, ext = text, ""
    stem = stem[:MAX_NAME].rstrip(". ")
    if not stem or stem in {".", ".."}:
        return fallback
    return f"{stem}.{ext}" if ext else stem


def private_dir(folder: Path) -> None:
    """Create ``folder`` and any missing parents with 0700 permissions (caches hold answers)."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for part in reversed(missing):
        try:
            part.mkdir(mode=0o700)
        except FileExistsError:  # another process made it meanwhile
            pass


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock for a read-modify-write of ``path``, across threads of this
    process and across processes (a :mod:`filelock` lock on ``path`` + ``.lock``: ``flock`` on
    POSIX, ``msvcrt.locking`` on Windows, a lock file elsewhere). The folder is created if needed."""
    private_dir(path.parent)
    lock_path = path.with_name(path.name + ".lock")
    with _thread_locks_guard:
        local = _thread_locks.setdefault(str(lock_path), threading.RLock())
    with local:  # an OS lock is per open file: threads of one process must queue here first
        held = _held.__dict__.setdefault("paths", set())
        if str(lock_path) in held:  # this thread holds it already (a nested read-modify-write)
            yield
            return
        with _os_lock(lock_path):
            held.add(str(lock_path))
            try:
                yield
            finally:
                held.discard(str(lock_path))


def _os_lock(lock_path: Path) -> Any:
    """The cross-process lock on ``lock_path`` (kept after release where the platform allows:
    removing it would race a process about to lock it)."""
    import filelock  # (imported here: only read-modify-writes need it)

    options: dict[str, Any] = {"mode": 0o600, "thread_local": False}
    if filelock.FileLock is not filelock.SoftFileLock:  # a soft lock is released by removing it
        options["preserve_lock_file"] = True
    try:
        return filelock.FileLock(str(lock_path), **options)
    except TypeError:  # an older filelock: it keeps Unix and Windows lock files anyway
        options.pop("preserve_lock_file", None)
        return filelock.FileLock(str(lock_path), **options)


def write_text_atomic(path: Path, text: str) -> None:
    """Replace ``path`` by ``text`` in one step (the folder is created): a reader sees the old
    file or the new one, and a crash leaves the old one. The temporary file beside it has a
    unique name, so threads and processes saving at once do not collide (the last one wins;
    hold :func:`file_lock` around a read-modify-write). Files are 0600, new folders 0700.
    No fsync: these files are caches and settings, not worth a disk flush each."""
    private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_json_atomic(path: Path, obj: Any, **dumps_options: Any) -> None:
    """:func:`write_text_atomic` of ``json.dumps(obj, **dumps_options)`` (``json.dumps``: the C
    encoder, many times faster than ``json.dump`` on big files)."""
    write_text_atomic(path, json.dumps(obj, **dumps_options))


def warn_storage(what: str, exc: BaseException) -> None:
    """Say once per process and cause, in one line on stderr, that ``what`` (e.g. "the answer
    cache") could not be written: a storage failure after an answer never loses the answer."""
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    notices.warn(f"poe_magic: could not write {what} ({reason}); the answer is kept", once=("storage", what, reason))
