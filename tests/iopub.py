"""A raw iopub reader for what a kernel sends after a cell went idle (nbclient and the
harness stop reading at idle, so a cost found later and shown in place is invisible to them)."""

from __future__ import annotations

import json
import queue
import time
from collections.abc import Callable
from typing import Any

from harness import Kernel

Message = dict[str, Any]


def late_messages(kernel: Kernel, until: Callable[[list[Message]], bool], timeout: float = 30.0) -> list[Message]:
    """The display messages the kernel sends from now on (after the cell went idle), read
    until ``until(messages)`` holds or ``timeout`` seconds passed."""
    got: list[Message] = []
    deadline = time.monotonic() + timeout
    while not until(got) and time.monotonic() < deadline:
        try:
            msg = kernel.client.get_iopub_msg(timeout=max(0.01, min(0.5, deadline - time.monotonic())))
        except queue.Empty:
            continue
        if msg["header"]["msg_type"] in ("display_data", "update_display_data"):
            got.append(msg)
    return got


def display_id(msg: Message) -> str | None:
    return msg["content"].get("transient", {}).get("display_id")


def size(msg: Message) -> int:
    """Bytes of a display message's content (data, metadata, display id)."""
    return len(json.dumps(msg["content"]))


def shares_text(msg: Message, text: str, width: int = 40) -> bool:
    """Whether the message carries any ``width``-character piece of ``text``."""
    body = json.dumps(msg["content"], ensure_ascii=False)
    raw = "".join(str(v) for v in msg["content"].get("data", {}).values())
    return any(text[i:i + width] in raw or json.dumps(text[i:i + width])[1:-1] in body
               for i in range(0, max(1, len(text) - width + 1), max(1, width // 4)))
