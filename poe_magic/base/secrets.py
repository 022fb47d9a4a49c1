"""The API key kept out of sight: masking it, and scrubbing it (and anything credential-like) from text before it is shown."""

from __future__ import annotations

import os
import re
from typing import Any


def mask_key(key: str | None) -> str:
    """``pk-…abcd`` style: enough to recognise a key, not enough to use it."""
    if not key:
        return ""
    if len(key) < 12:
        return "…" + "*" * 4
    return f"{key[:3]}…{key[-4:]}"


# A credential-looking value after "Bearer "/"Basic " (one with a digit, or long), or any value
# after api_key=, token:, "Authorization": ... (headers and URLs a server or proxy echoes in errors).
_SECRET = re.compile(
    r"""(?: (\b(?:bearer|basic)(?:\s+|%20|\+)) (?=[A-Za-z._~+/=-]*[0-9]|[A-Za-z0-9._~+/=-]{12})
          | (\b(?:api[_-]?key|access[_-]?key|token|secret|password|authorization)["']?\s*[=:]\s*["']?
             (?!bearer\b|basic\b)) )
        [A-Za-z0-9._~+/=-]{6,}""",
    re.IGNORECASE | re.VERBOSE,
)


_known: set[str] = set()  # keys given in this process (``%poe login``), besides $POE_API_KEY


def remember_key(key: str) -> None:
    """Scrub ``key`` from every text shown from now on (it was entered in this session)."""
    if key:
        _known.add(key)


def scrub(text: str) -> str:
    """Mask every known key, and any credential-looking value after Bearer, api_key=,
    Authorization: ..., in text before it is shown."""
    for key in {*_known, os.environ.get("POE_API_KEY")}:
        if key and len(key) >= 4 and key in text:
            text = text.replace(key, mask_key(key))
    text = mask_pieces(text)
    return _SECRET.sub(lambda m: (m.group(1) or m.group(2)) + "…", text)


#: a run of this many characters of a key found in a text counts as the key (a pasted piece)
KEY_PIECE = 16


def known_keys() -> set[str]:
    """Every key this process knows: $POE_API_KEY and those given with ``%poe login``."""
    env = os.environ.get("POE_API_KEY", "").strip()
    return {k for k in {*_known, env} if k}


def contains_key(text: str) -> bool:
    """Whether ``text`` holds a known key, or any :data:`KEY_PIECE`-character run of one."""
    if not text:
        return False
    for key in known_keys():
        if len(key) <= KEY_PIECE:
            if len(key) >= 8 and key in text:
                return True
            continue
        if any(key[i:i + KEY_PIECE] in text for i in range(len(key) - KEY_PIECE + 1)):
            return True
    return False


def mask_known(text: str) -> str:
    """``text`` with every known key masked (what a server echoes back; unlike :func:`scrub`
    it leaves other credential-like words alone: an answer may show example code), and every
    :data:`KEY_PIECE`-character piece of one too (:func:`mask_pieces`)."""
    for key in known_keys():
        if len(key) >= 8 and key in text:
            text = text.replace(key, mask_key(key))
    return mask_pieces(text)


_pieces: tuple[frozenset[str], re.Pattern[str] | None] = (frozenset(), None)


def _piece_pattern(keys: frozenset[str]) -> re.Pattern[str] | None:
    """One regex matching any :data:`KEY_PIECE`-character window of the keys (cached per key set)."""
    global _pieces
    if _pieces[0] != keys:
        windows = {key[i:i + KEY_PIECE] for key in keys if len(key) > KEY_PIECE
                   for i in range(len(key) - KEY_PIECE + 1)}
        windows |= {key for key in keys if 8 <= len(key) <= KEY_PIECE}
        pattern = re.compile("|".join(map(re.escape, sorted(windows, key=len, reverse=True)))) if windows else None
        _pieces = (keys, pattern)
    return _pieces[1]


def mask_pieces(text: str) -> str:
    """``text`` with every run of :data:`KEY_PIECE` or more characters of a known key (what the
    guard refuses to send) replaced by the masked key: a tool result, a batch row, a log line."""
    if not isinstance(text, str) or len(text) < 8:
        return text
    keys = frozenset(known_keys())
    pattern = _piece_pattern(keys) if keys else None
    if pattern is None:
        return text
    out: list[str] = []
    pos = 0
    for start in (m.start() for m in pattern.finditer(text)):
        if start < pos:
            continue  # inside a run masked already
        key = max((k for k in keys if text[start:start + min(len(k), KEY_PIECE)] in k), key=len)
        end = start + min(len(key), KEY_PIECE)
        while end < len(text) and text[start:end + 1] in key:  # the whole run, not just the window
            end += 1
        out += [text[pos:start], mask_key(key)]
        pos = end
    return "".join(out) + text[pos:] if out else text


class Secret:
    """Holds a key so that nothing shows it: its repr is masked, and it neither pickles nor
    copies its value (``vars(settings)``, a pickle or a traceback's locals show ``pk-…abcd``)."""

    __slots__ = ("_value",)

    def __init__(self, value: str | None) -> None:
        self._value = value

    @property
    def value(self) -> str | None:
        return self._value

    def __repr__(self) -> str:
        return f"<Secret {mask_key(self._value) or 'unset'}>"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Secret, (None,))  # a pickled settings object carries no key
