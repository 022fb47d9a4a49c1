"""Writing the package's small JSON files (config, caches) so that no one sees half a file."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_text_atomic(path: Path, text: str) -> None:
    """Replace ``path`` by ``text`` in one step (the folder is created): a reader sees the old
    file or the new one, and a crash leaves the old one. The temporary file beside it has a
    unique name, so threads and processes saving at once do not collide (the last one wins).
    No fsync: these files are caches and settings, not worth a disk flush each."""
    path.parent.mkdir(parents=True, exist_ok=True)
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
