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
    it leaves other credential-like words alone: an answer may show example code)."""
    for key in known_keys():
        if len(key) >= 8 and key in text:
            text = text.replace(key, mask_key(key))
    return text


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
