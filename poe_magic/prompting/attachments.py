"""Local files sent with a prompt: ``%%poe MODEL --attach PATH`` / ``ask(..., attach=[...])``.

Files are read and checked before anything is sent (a missing file is a one-line error and
nothing goes out). They are uploaded with fastapi_poe's ``upload_file`` only when a request
really goes out (an answer served from the cache needs no upload), and each distinct file
(same bytes, same name, same server) is uploaded once per kernel session.
"""

from __future__ import annotations

import base64
import hashlib
import mimetypes
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Union

from poe_magic.base import errors as E
from poe_magic.base import notices
from poe_magic.base.config import Settings
from poe_magic.base.config import settings as default_settings
from poe_magic.base.secrets import contains_key
from poe_magic.core.session import current
from poe_magic.wire import transport
from poe_magic.wire.loop import shared_loop
from poe_magic.wire.request import PoeRequest, check_sendable

#: client-side guard: files above this are refused before reading them into the kernel
MAX_ATTACHMENT_BYTES = 100 * 1024 * 1024

PathLike = Union[str, "os.PathLike[str]"]
Attach = Union[None, PathLike, Iterable[PathLike]]  # what ``ask(..., attach=)`` takes  # noqa: UP007 (runtime alias; 3.10 cannot | a string)


@dataclass(frozen=True, repr=False)
class LocalFile:
    """A file read from disk, not yet uploaded."""

    path: Path
    name: str
    content_type: str
    sha256: str
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        return f"<LocalFile {self.name} {self.content_type} {self.size:,} bytes>"


#: (server root, sha256, name) -> fastapi_poe Attachment already uploaded this session
class Uploads(dict[tuple[str, str, str], Any]):
    """(server root, sha256, name) -> the Attachment uploaded this session (a session state)."""


def prepare(paths: Attach) -> list[LocalFile]:
    """Read every file named in ``paths`` (one path or several); a one-line
    :class:`~poe_magic.PoeUsageError` names the first that is missing or unreadable."""
    if paths is None:
        return []
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    return [_read(Path(os.path.expanduser(os.fspath(p)))) for p in paths]


def _read(path: Path) -> LocalFile:
    shown = os.fsencode(path).decode("utf-8", "replace")  # non-UTF-8 names must not break the message
    if not path.exists():
        raise E.PoeUsageError(f"--attach: no such file {shown!r} (nothing was sent)")
    if not path.is_file():
        raise E.PoeUsageError(f"--attach: {shown!r} is not a file (nothing was sent)")
    size = path.stat().st_size
    if size > MAX_ATTACHMENT_BYTES:
        raise E.PoeUsageError(f"--attach: {shown!r} is {size / 2**20:,.0f} MB; the limit is "
                              f"{MAX_ATTACHMENT_BYTES // 2**20} MB (nothing was sent)")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise E.PoeUsageError(f"--attach: cannot read {shown!r}: {exc.strerror} (nothing was sent)") from None
    name = os.fsencode(path.name).decode("utf-8", "replace")
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    form = key_inside(data)
    if form is not None:  # a warning, not a refusal: the user chose the file (and the guard cannot see every form)
        notices.warn(f"poe_magic: {name} contains your Poe API key{form}; it is sent with the message "
                     "(the key guard refuses prompts, not files)", once=("attached key", str(path), len(data)))
    return LocalFile(path, name, content_type, hashlib.sha256(data).hexdigest(), data)


#: how much of an attachment is searched for the key (a .env or notes file is far smaller)
KEY_SCAN_BYTES = 5 * 2**20
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]{20,}")


def key_inside(data: bytes) -> str | None:
    """How a known key (or a 16-character piece of one) appears in an attachment's bytes:
    None (not found), ``""`` (as is), ``" (reversed)"`` or ``" (base64)"``; the first
    :data:`KEY_SCAN_BYTES` are searched."""
    text = data[:KEY_SCAN_BYTES].decode("latin-1")  # (never fails; an ASCII key reads as itself)
    if contains_key(text):
        return ""
    if contains_key(text[::-1]):
        return " (reversed)"
    for i, run in enumerate(_BASE64.finditer(text)):
        if i >= 10_000:
            break
        chunk = run.group().replace("-", "+").replace("_", "/")
        for start in range(4):
            part = chunk[start:][: (len(chunk) - start) // 4 * 4]
            try:
                decoded = base64.b64decode(part, validate=True).decode("latin-1")
            except ValueError:
                continue
            if contains_key(decoded):
                return " (base64)"
    return None


def with_uploads(request: PoeRequest, settings: Settings = default_settings) -> PoeRequest:
    """A copy of ``request`` whose :class:`LocalFile` attachments are uploaded Attachments.
    The original keeps its LocalFiles, so threads and cache keys stay tied to the bytes.
    The request is checked first (the key, what cannot be encoded): a refusal uploads nothing."""
    check_sendable(request)
    if not any(isinstance(f, LocalFile) for m in request.messages for f in m.attachments):
        return request
    messages = [replace(m, attachments=[_upload(f, settings) if isinstance(f, LocalFile) else f
                                        for f in m.attachments]) for m in request.messages]
    return replace(request, messages=messages)


def _upload(file: LocalFile, settings: Settings) -> Any:

    memo = (settings.root, file.sha256, file.name)
    uploaded = current().state(Uploads)
    attachment = uploaded.get(memo)
    if attachment is None:
        try:
            attachment = shared_loop().run(transport.upload(file.data, file.name, settings))
        except KeyboardInterrupt:
            raise E.StreamInterrupted(f"interrupted while uploading {file.name!r}; nothing was sent") from None
        uploaded[memo] = attachment
    return attachment


def identity(attachment: Any) -> dict[str, str | None]:
    """What identifies an attachment's content in a cache key: the bytes' hash for a local
    file (stable across sessions), the URL for an uploaded one."""
    if isinstance(attachment, LocalFile):
        return {"sha256": attachment.sha256, "name": attachment.name, "type": attachment.content_type}
    return {"url": getattr(attachment, "url", None), "name": getattr(attachment, "name", None),
            "type": getattr(attachment, "content_type", None)}
