"""Settings, declared once and checked where they are set; the API key kept out of sight.

Every setting is a traitlet of :class:`SettingTraits`. The process-wide :data:`settings`
object is a :class:`Settings`; the ``%%poe`` magic (``PoeMagics``) inherits the same traits
and is linked to it, so ``%config PoeMagics.default_model = "GPT-5"``, ``ipython_config.py``
and ``poe_magic.settings.default_model = "GPT-5"`` all change one value. A bad value (nan,
inf, a negative timeout, a huge retry count) is refused in one line where it is set.

Environment:

- ``POE_API_KEY``: the API key (or ``%poe login`` / :meth:`Settings.set_api_key`, memory only).
- ``POE_BASE_URL``: server root, default ``https://api.poe.com``.
- ``POE_MAGIC_HOME``: folder for the config file (aliases) and caches, default ``~/.poe_magic``.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from traitlets import Bool, Float, HasTraits, Int, List, Unicode, validate

from poe_magic.base import notices
from poe_magic.base.errors import ConfigError, PoeUsageError
from poe_magic.base.secrets import Secret, mask_key, remember_key

DEFAULT_BASE_URL = "https://api.poe.com"
#: the longest wait any timeout setting or option accepts (a day): more is a typo, not a plan
MAX_SECONDS = 86_400.0


def check_seconds(name: str, value: Any, *, allow_zero: bool = False, error: type = PoeUsageError) -> float:
    """``value`` as seconds, or a one-line error naming ``name``: a number, finite, more than 0
    (or 0 with ``allow_zero``) and at most :data:`MAX_SECONDS`. The one check behind every
    timeout and interval, settings and options alike."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise error(f"{name} must be a number of seconds, got {value!r}")
    seconds = float(value)
    low_ok = seconds >= 0 if allow_zero else seconds > 0
    if math.isnan(seconds) or not low_ok or seconds > MAX_SECONDS:
        least = "0 or more" if allow_zero else "more than 0"
        raise error(f"{name} must be {least} seconds and at most {MAX_SECONDS:,.0f}, got {value!r}")
    return seconds


def check_count(name: str, value: Any, low: int, high: int, *, error: type = PoeUsageError) -> int:
    """``value`` as a whole number from ``low`` to ``high``, or a one-line error naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise error(f"{name} must be a whole number from {low:,} to {high:,}, got {value!r}")
    return value


#: the wire protocols a request can go by (``settings.protocol``): fastapi_poe's bot protocol, or
#: the OpenAI-compatible ``/v1/chat/completions``
PROTOCOLS = ("poe", "openai")

#: the most points any budget or cost accepts (a trillion): more is a typo, not a plan
MAX_POINTS = 10**12


def check_points(name: str, value: Any, *, error: type = PoeUsageError) -> float:
    """``value`` as a number of points, or a one-line error naming ``name``: finite, 0 or more
    and at most :data:`MAX_POINTS` (nan would turn a budget off, inf or 1e30 means none)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise error(f"{name} must be a number of points, got {value!r}")
    if not (0 <= value <= MAX_POINTS):  # also False for nan
        raise error(f"{name} must be 0 or more points and at most {MAX_POINTS:,}, got {value!r}")
    return value


def check_base_url(url: str, *, name: str = "base_url") -> str:
    """The server root ``url`` without surrounding whitespace or a trailing slash, or a
    one-line ConfigError naming what is wrong (checked once, when set: a malformed root would
    otherwise fail deep inside httpx with a raw ValueError)."""
    given = str(url).strip()
    root = given.rstrip("/")
    shown = given if "@" not in given else given.split("://", 1)[0] + "://…@" + given.rsplit("@", 1)[-1]
    where = f"{name} {shown!r}"  # never repeat a password given in the URL
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in root):
        raise ConfigError(f"{where} contains a space or control character")
    try:
        parts = urlsplit(root)
    except ValueError as exc:
        raise ConfigError(f"{where} is not a valid URL ({exc})") from None
    try:
        _ = parts.port  # raises for a port that is not a number or is over 65535
    except ValueError:
        raise ConfigError(f"{where} has a port that is not a number from 1 to 65535") from None
    if parts.scheme not in ("http", "https"):
        raise ConfigError(f"{where} must start with http:// or https://")
    if not parts.hostname:
        raise ConfigError(f"{where} has no host")
    if parts.username is not None or parts.password is not None:
        raise ConfigError(f"{where} must not contain user:password@ (the key is sent in a header)")
    if parts.query or parts.fragment:
        raise ConfigError(f"{where} must not have a ?query or #fragment")
    return root


def insecure_warning(root: str) -> str | None:
    """The warning for a root that would send the key unencrypted (plain http:// to a host
    that is not loopback), or None. Decided from the URL alone, before connecting."""
    parts = urlsplit(root)
    if parts.scheme != "http":
        return None
    host = (parts.hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return None
    try:
        if ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        pass
    return (f"poe_magic: {root} is plain http to a host that is not this machine: "
            "the API key would travel unencrypted (use https://)")


_checked_roots: dict[str, str] = {}  # raw value -> checked root (the check runs once per value)


def _checked_root(raw: str, name: str) -> str:
    root = _checked_roots.get(raw)
    if root is None:
        root = check_base_url(raw, name=name)
        warning = insecure_warning(root)
        if warning:
            notices.warn(warning)  # once per value: later calls hit the memo
        _checked_roots[raw] = root
    return root


class SettingTraits(HasTraits):
    """Every setting, declared once (``PoeMagics`` inherits these as its ``%config`` options)."""

    base_url = Unicode("", help="Server root (default: $POE_BASE_URL, else https://api.poe.com).").tag(config=True)
    default_model = Unicode("", help="Model used when a cell names none.").tag(config=True)
    compare_models = List(Unicode(), default_value=[],
                          help="Models compared by `%%poe --compare` (set with %poe use A B C).").tag(config=True)
    throttle_interval = Float(0.05, help="Seconds between live display updates.").tag(config=True)
    connect_timeout = Float(10.0, help="Seconds to open a connection.").tag(config=True)
    first_token_timeout = Float(120.0, help="Seconds to wait for the first token.").tag(config=True)
    stall_timeout = Float(120.0, help="Seconds of silence allowed between chunks.").tag(config=True)
    max_retries = Int(3, help="Retries of rate-limit/server errors before the first token.").tag(config=True)
    retry_backoff = Float(1.0, help="First wait between retries in seconds, doubled each retry "
                                    "(a server's Retry-After wins).").tag(config=True)
    cache = Bool(False, help="Reuse identical earlier answers from the on-disk cache.").tag(config=True)
    max_tool_rounds = Int(5, help="Cap on tool-call rounds per request.").tag(config=True)
    max_rpm = Float(500.0, help="Requests per minute this kernel starts on one server and key, every "
                                "call counted (batches share it); 0: no client-side limit.").tag(config=True)
    max_prompt_chars = Int(20_000_000, help="Longest text one `{interpolation}` field may put into a "
                                            "prompt, in characters (more is refused, nothing sent).").tag(config=True)

    @validate("throttle_interval", "connect_timeout", "first_token_timeout", "stall_timeout")
    def _check_seconds(self, proposal: Any) -> float:
        return check_seconds(proposal["trait"].name, proposal["value"], error=ConfigError)

    @validate("retry_backoff")
    def _check_backoff(self, proposal: Any) -> float:
        return check_seconds("retry_backoff", proposal["value"], allow_zero=True, error=ConfigError)

    @validate("max_retries")
    def _check_retries(self, proposal: Any) -> int:
        return check_count("max_retries", proposal["value"], 0, 20, error=ConfigError)

    @validate("max_rpm")
    def _check_max_rpm(self, proposal: Any) -> float:
        value = proposal["value"]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1_000_000:
            raise ConfigError(f"max_rpm must be 0 (no limit) or a number of requests per minute up to "
                              f"1,000,000, got {value!r}")
        return float(value)

    @validate("max_tool_rounds")
    def _check_tool_rounds(self, proposal: Any) -> int:
        return check_count("max_tool_rounds", proposal["value"], 0, 100, error=ConfigError)

    @validate("max_prompt_chars")
    def _check_prompt_chars(self, proposal: Any) -> int:
        return check_count("max_prompt_chars", proposal["value"], 1, 500_000_000, error=ConfigError)

    @validate("base_url")
    def _check_base_url(self, proposal: Any) -> str:
        value = str(proposal["value"]).strip()
        return _checked_root(value, "base_url") if value else ""

    log = Bool(True, help="Write every call to $POE_MAGIC_HOME/log.sqlite3 (poe_magic.log(), %poe log).").tag(config=True)
    log_max_mb = Float(200.0, help="Size of the call log (MB) above which the oldest calls are pruned.").tag(config=True)
    confirm_above = Float(0.0, help="Ask Yes/No before a call estimated above this many points "
                                    "(0: never; --yes / yes=True skips the question).").tag(config=True)

    @validate("log_max_mb")
    def _check_log_max_mb(self, proposal: Any) -> float:
        value = proposal["value"]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1_000_000:
            raise ConfigError(f"log_max_mb must be more than 0 and at most 1,000,000 MB, got {value!r}")
        return float(value)

    @validate("confirm_above")
    def _check_confirm_above(self, proposal: Any) -> float:
        value = proposal["value"]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
            raise ConfigError(f"confirm_above must be a number of points, 0 or more (0: off), got {value!r}")
        return float(value)

    metadata_prompts = Bool(True, help="Keep the system prompt and parameter values (scrubbed) in the "
                                       "metadata of saved notebooks (off: parameter names only).").tag(config=True)
    protocol = Unicode("poe", help="How answers are asked for: 'poe' (the bot protocol, POST /bot/MODEL) or "
                                   "'openai' (POST /v1/chat/completions, usage reported).").tag(config=True)

    @validate("protocol")
    def _check_protocol(self, proposal: Any) -> str:
        value = str(proposal["value"]).strip().lower()
        if value not in PROTOCOLS:  # one line, not traitlets' enum dump
            raise ConfigError(f"protocol must be one of {', '.join(map(repr, PROTOCOLS))}, got {proposal['value']!r}")
        return value

    answer_html = Bool(False, help="Render the raw HTML in models' Markdown answers, scripts included "
                                   "(off: shown as text; -f html does it for one call).").tag(config=True)

    @classmethod
    def setting_names(cls) -> list[str]:
        """The settings' names, in declaration order."""
        return list(SettingTraits.class_own_traits())


class Settings(SettingTraits):
    """What poe_magic does by default; change attributes freely at run time."""

    def __init__(self, **values: Any) -> None:
        super().__init__(**values)
        self._key = Secret(None)  # the key given in this process (None: $POE_API_KEY)

    # -- derived -------------------------------------------------------------------
    @property
    def root(self) -> str:
        """Server root without a trailing slash."""
        if self.base_url:
            return self.base_url.rstrip("/")
        raw = os.environ.get("POE_BASE_URL", "")
        return _checked_root(raw, "POE_BASE_URL") if raw.strip() else DEFAULT_BASE_URL

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

    def copy(self, **changes: Any) -> Settings:
        """A copy with ``changes`` applied (the key included), e.g. ``copy(max_retries=0)``."""
        values = {name: getattr(self, name) for name in self.setting_names()}
        values["compare_models"] = list(self.compare_models)
        clone = Settings(**{**values, **changes})
        clone._key = self._key
        return clone

    # -- the key ---------------------------------------------------------------------
    def account(self) -> str:
        """A short hash of the server root and the key: the folder name that keeps one
        account's caches apart from another's (``no-key`` without a key)."""
        if not self.has_api_key:
            return "no-key"
        return hashlib.sha256(f"{self.root}\n{self.api_key()}".encode()).hexdigest()[:24]

    @property
    def has_api_key(self) -> bool:
        return bool(self._key.value or os.environ.get("POE_API_KEY", "").strip())

    def api_key(self) -> str:
        """The key to send; raises a one-line ConfigError when there is none."""
        key = self._key.value or os.environ.get("POE_API_KEY", "").strip()
        if not key:
            raise ConfigError("no Poe API key: set the POE_API_KEY environment variable or run %poe login")
        return key

    def set_api_key(self, key: str | None) -> None:
        """Keep a key in memory only (``None`` forgets it and falls back to POE_API_KEY)."""
        value = key.strip() if key else None
        self._key = Secret(value)
        if value:
            remember_key(value)

    def public(self) -> dict[str, Any]:
        """The settings as a dict fit to show: the key masked."""
        shown: dict[str, Any] = {name: getattr(self, name) for name in self.setting_names()}
        shown["base_url"] = self.root
        shown["api_key"] = mask_key(self._key.value or os.environ.get("POE_API_KEY")) or "(not set)"
        shown["home"] = str(self.home)
        return shown

    def __repr__(self) -> str:
        return f"<Settings {self.public()}>"


settings = Settings()
