"""Settings, API-key lookup and masking. No IPython, no network.

One process-wide :data:`settings` object holds what every layer reads. The magics class
mirrors its options as traitlets (``%config PoeMagics.default_model = "GPT-5"``), the
Python API changes it directly (``poe_magic.settings.default_model = "GPT-5"``).

Environment:

- ``POE_API_KEY``: the API key (or ``%poe login`` / :func:`set_api_key`, memory only).
- ``POE_BASE_URL``: server root, default ``https://api.poe.com``.
- ``POE_MAGIC_HOME``: folder for the config file (aliases) and caches,
  default ``~/.poe_magic``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Optional

from ._errors import ConfigError

DEFAULT_BASE_URL = "https://api.poe.com"


@dataclass
class Settings:
    """What poe_magic does by default; change fields freely at run time."""

    base_url: str = ""  # "" means: POE_BASE_URL, else the real API
    default_model: str = ""  # used when a cell names no model
    compare_models: list[str] = field(default_factory=list)  # `%%poe --compare` set
    throttle_interval: float = 0.05  # seconds between live display updates (20/s)
    connect_timeout: float = 10.0  # seconds to open a connection
    first_token_timeout: float = 120.0  # seconds from request to first chunk
    stall_timeout: float = 120.0  # seconds of silence allowed between chunks
    max_retries: int = 3  # retries of 429/5xx/connection errors before the first token
    retry_backoff: float = 1.0  # first backoff in seconds, doubled each retry
    cache: bool = False  # reuse identical earlier answers from the on-disk cache
    max_tool_rounds: int = 5  # cap on tool-call rounds per request
    _api_key: Optional[str] = field(default=None, repr=False)

    # -- derived -------------------------------------------------------------------
    @property
    def root(self) -> str:
        """Server root without a trailing slash."""
        root = self.base_url or os.environ.get("POE_BASE_URL") or DEFAULT_BASE_URL
        return root.rstrip("/")

    @property
    def bot_url(self) -> str:
        """What fastapi_poe calls ``base_url``: it appends the bot name directly."""
        return self.root + "/bot/"

    @property
    def upload_url(self) -> str:
        """What fastapi_poe's ``upload_file`` calls ``base_url``: the real service takes uploads
        on www.quora.com, any other server (e.g. the local one) at ``{root}/poe_api/``."""
        if self.root == DEFAULT_BASE_URL:
            return "https://www.quora.com/poe_api/"
        return self.root + "/poe_api/"

    @property
    def home(self) -> Path:
        return Path(os.environ.get("POE_MAGIC_HOME") or Path.home() / ".poe_magic")

    # -- the key ---------------------------------------------------------------------
    @property
    def has_api_key(self) -> bool:
        return bool(self._api_key or os.environ.get("POE_API_KEY"))

    def api_key(self) -> str:
        """The key to send; raises a one-line ConfigError when there is none."""
        key = self._api_key or os.environ.get("POE_API_KEY", "").strip()
        if not key:
            raise ConfigError(
                "no Poe API key: set the POE_API_KEY environment variable or run %poe login"
            )
        return key

    def set_api_key(self, key: Optional[str]) -> None:
        """Keep a key in memory only (``None`` forgets it and falls back to POE_API_KEY)."""
        self._api_key = key.strip() if key else None

    def public(self) -> dict[str, Any]:
        """The settings as a dict fit to show: the key masked."""
        shown = {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}
        shown["base_url"] = self.root
        shown["api_key"] = mask_key(self._api_key or os.environ.get("POE_API_KEY")) or "(not set)"
        shown["home"] = str(self.home)
        return shown


settings = Settings()


def mask_key(key: Optional[str]) -> str:
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


def scrub(text: str) -> str:
    """Mask every known key, and any credential-looking value after Bearer, api_key=,
    Authorization: ..., in text before it is shown."""
    for key in {settings._api_key, os.environ.get("POE_API_KEY")}:
        if key and len(key) >= 4 and key in text:
            text = text.replace(key, mask_key(key))
    return _SECRET.sub(lambda m: (m.group(1) or m.group(2)) + "…", text)
