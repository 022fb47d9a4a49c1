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
class ServerState:
    api_key: str
    balance: int = 5_000_000
    requests: list[RequestRecord] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)  # oldest first
    faults: list[Fault] = field(default_factory=list)
    bots: dict[str, Any] = field(default_factory=dict)  # name -> PoeBot
    rate_limiter: Any | None = None  # ratelimit.KeyRateLimiter; None: no rate limit
    files: dict[str, Any] = field(default_factory=dict)  # uploads and bot images: id -> uploads.StoredFile
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

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
            "creation_time": int(time.time() * 1_000_000),
            "bot_name": bot_name,
            "query_id": "q_" + secrets.token_hex(8),
            "usage_type": usage_type,
            "cost_points": int(points),
        }
        with self.lock:
            self.history.append(entry)
            self.balance -= int(points)
        return entry
