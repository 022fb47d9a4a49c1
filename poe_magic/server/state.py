"""What the local server remembers: the key, the account's points, a request log."""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RequestRecord:
    """One HTTP request as the server saw it (for tests: counts, retries, timings)."""

    time: float  # Unix seconds when it arrived
    method: str
    path: str
    status: int = 0
    bot: str | None = None
    authorized: bool = False
    client_port: int | None = None  # one port per TCP connection: shows keep-alive reuse


@dataclass
class Fault:
    """A planned failure: the next ``count`` requests to ``path`` get ``status``."""

    path: str
    status: int
    count: int = 1
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class UsageModes:
    """How the usage API imitates the real one's delays and quirks (all off by default).

    ``history_lag``: an entry is listed this many seconds after it was stamped;
    ``provisional_zero``: for this many seconds after it is listed, an entry shows ``cost_points: 0`` and an
    empty ``cost_breakdown_in_points``; ``history_names``: ``display`` (as the catalogue's
    display name) or ``lower`` (lower-cased); ``clock_skew``: this server's clock runs this many
    seconds ahead (negative: behind) in entries and the ``Date`` header; ``usage_latency``: the
    usage routes answer this many seconds late; ``cost_fields``: entries carry ``cost_usd`` and
    ``cost_breakdown_in_points``; ``error_codes``: ``status`` (numbers) or ``string``.
    """

    history_lag: float = 0.0
    provisional_zero: float = 0.0
    history_names: str = "display"
    clock_skew: float = 0.0
    usage_latency: float = 0.0
    cost_fields: bool = False
    error_codes: str = "status"

    def now(self) -> float:
        """This server's clock (Unix seconds), skew included."""
        return time.time() + self.clock_skew

    def update(self, changes: dict[str, Any]) -> None:
        """Set modes from a JSON object; ValueError (nothing changed) for a bad name or value."""
        checked: dict[str, Any] = {}
        for name, value in changes.items():
            if name in ("history_names", "error_codes"):
                allowed = ("display", "lower") if name == "history_names" else ("status", "string")
                if value not in allowed:
                    raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
            elif name == "cost_fields":
                value = bool(value)
            elif name in ("history_lag", "provisional_zero", "clock_skew", "usage_latency"):
                value = float(value)
                if value != value or abs(value) > 86_400 or (value < 0 and name != "clock_skew"):
                    raise ValueError(f"{name} must be a number of seconds (0..86400), got {value!r}")
            else:
                raise ValueError(f"unknown usage mode {name!r}")
            checked[name] = value
        for name, value in checked.items():
            setattr(self, name, value)


@dataclass
class ServerState:
    api_key: str
    balance: int = 5_000_000
    requests: list[RequestRecord] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)  # oldest first
    faults: list[Fault] = field(default_factory=list)
    bots: dict[str, Any] = field(default_factory=dict)  # name -> PoeBot
    rate_limiter: Any | None = None  # ratelimit.KeyRateLimiter; None: no rate limit
    files: dict[str, Any] = field(default_factory=dict)  # uploads and bot images: id -> uploads.StoredFile
    modes: UsageModes = field(default_factory=UsageModes)
    started_modes: dict[str, Any] = field(default_factory=dict)  # the modes as launched: restore() returns to them
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def pending_faults(self) -> list[dict[str, Any]]:
        """The planned faults not used up yet (path, status, how many left)."""
        with self.lock:
            return [{"path": f.path, "status": f.status, "left": f.count} for f in self.faults if f.count > 0]

    def restore(self) -> list[dict[str, Any]]:
        """Back to the server as launched: no planned faults, the usage modes it started with,
        fresh rate-limit buckets (the request log, history and balance stay). Returns the
        faults that were still pending, so a test suite can name the test that left them."""
        left = self.pending_faults()
        with self.lock:
            self.faults.clear()
        self.modes = UsageModes()
        self.modes.update(self.started_modes)
        if self.rate_limiter is not None:
            self.rate_limiter.reset()
        return left

    def record(self, record: RequestRecord) -> None:
        with self.lock:
            self.requests.append(record)

    def take_fault(self, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.path == path and fault.count > 0:
                    fault.count -= 1
                    return fault
        return None

    def charge(self, bot_name: str, points: int, usage_type: str = "API") -> dict[str, Any]:
        """Spend points for one bot call and append it to the points history."""
        entry = {
            "creation_time": int(self.modes.now() * 1_000_000),
            "bot_name": bot_name,
            "query_id": "q_" + secrets.token_hex(8),
            "usage_type": usage_type,
            "cost_points": int(points),
        }
        with self.lock:
            self.history.append(entry)
            self.balance -= int(points)
        return entry
