"""Traffic to the frontend for long answers (issue 19): bytes sent per byte of answer, updates/s.

A ``%%poe LongBot`` cell streams a 1, 10, 30 and 100 KB Markdown answer at 100 tokens/s
(a realistic model speed; the 100 KB answer streams for about three minutes), then the same at
600 tokens/s (a fast model), in a real kernel
against the local server in its own process. Measured from the kernel's iopub messages: the
bytes of every display message's content (data, metadata, display id: what the frontend
receives and renders; issue 26's measure, goal at most 3x the answer), and the same with each
message's Jupyter envelope (header, parent header, metadata: ~490 bytes a message, whatever it
carries), the number of updates and their rate while text arrives. A short answer (EchoBot) is
weighed against ``print`` of the same text in the same kernel (issue 26: within ~2x). The late update: a 30 KB answer on a server that lists calls
``LAG`` s late, so its cost arrives after the cell ended; the bytes the kernel sends then are read
with a raw iopub listener (nbclient drops them), against the previous design's whole-answer re-send.

Baseline, computed for the same stream (same answer, same duration): what the previous design
sent, one output re-sent whole as ``text/markdown`` and ``text/plain`` every 50 ms while text
arrives (the issue measured that design at 121x to 249x the answer for ~10 s streams). A two-model comparison (``LongBot LongBot-B``) is
measured the same way against the whole grid re-sent each update. The browser's main-thread
time per update is measured by ``tests/test_browser_long_answers.py`` (it needs Chromium); its
figures are added here when that test has written them.
"""

from __future__ import annotations

import json
import queue
import tempfile
import time
from collections.abc import Callable
from typing import Any

from .common import ROOT, Kernel, Row, kernel, local_server, median, row, server

TPS = 100  # tokens per second
THROTTLE, FOOTER = 0.05, 60  # the default throttle_interval; a streaming footer's bytes
SIZES_KB = (1, 10, 30, 100)
FAST_TPS, FAST_SIZES_KB = 600, (1, 10, 30, 100)  # a fast model: the same sizes at 600 tokens/s
LAG = 2.0  # seconds before the lagging server lists a call (its cost is then found after the cell)
BROWSER_FIGURES = ROOT / "test-artifacts" / "long_answers_browser.json"


def displays(cell: Any) -> list[dict[str, Any]]:
    return cell.of_type("display_data", "update_display_data")


def packed(obj: Any) -> int:
    """Bytes of ``obj`` as jupyter_client packs a message part: JSON, UTF-8, non-ASCII characters
    as themselves (``json.dumps``' default \\u escapes would count a "·" as 6 bytes, not 2)."""
    return len(json.dumps(obj, default=str, ensure_ascii=False).encode("utf-8", "surrogateescape"))


def content_bytes(messages: list[dict[str, Any]]) -> int:
    """Bytes of the messages' content (data, metadata, display id), as the issue measured."""
    return sum(packed(m["content"]) for m in messages)


def wire_bytes(messages: list[dict[str, Any]]) -> int:
    """Bytes of the messages with their envelope: header, parent header, metadata and content
    (the HMAC signature and the ZMQ frames add ~70 more each)."""
    return sum(packed({key: m[key] for key in ("header", "parent_header", "metadata", "content")}) for m in messages)


def answer_figures(cell: Any, answer: str) -> tuple[int, int, float, int]:
    """(bytes sent, the old design's bytes for the same stream, display messages/s, outputs)."""
    messages = displays(cell)
    sent = content_bytes(messages)
    outputs = len({m["content"].get("transient", {}).get("display_id") for m in messages})
    seconds = max(0.05, (messages[-1]["header"]["date"] - messages[0]["header"]["date"]).total_seconds())
    # the old design: every 50 ms the whole answer so far as Markdown and text, plus the footer
    ticks = int(seconds / THROTTLE) or 1
    old = sum(2 * (len(answer) * k // ticks + FOOTER) for k in range(1, ticks + 1))
    return sent, old, len(messages) / seconds, outputs


def late_messages(k: Kernel, until: Callable[[list[dict[str, Any]]], bool], timeout: float) -> list[dict[str, Any]]:
    """Display messages the kernel sends after the cell went idle (a raw iopub read: nbclient
    and the harness stop at idle), until ``until(messages)`` or ``timeout`` s."""
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while not until(got) and time.monotonic() < deadline:
        try:
            msg = k.client.get_iopub_msg(timeout=0.5)
        except queue.Empty:
            continue
        if msg["header"]["msg_type"] in ("display_data", "update_display_data"):
            got.append(msg)
    return got


def _priced(msgs: list[dict[str, Any]]) -> bool:
    return any((m["content"].get("metadata") or {}).get("poe_magic", {}).get("points") is not None for m in msgs)


def late_update(kb: int = 30) -> Row:
    """Bytes sent after the cell ended, when the cost arrives (a server listing calls LAG s late)."""
    from poe_magic.core.answer_display import markdown_bundle
    from poe_magic.server.bots.long import long_markdown

    answer = long_markdown(kb * 1024)
    with local_server(args=["--history-lag", str(LAG)]) as srv, tempfile.TemporaryDirectory() as home:
        k = Kernel(env={**srv.env, "POE_MAGIC_HOME": home})
        try:
            k.run_ok("%load_ext poe_magic")
            cell = k.run_ok(f"%%poe LongBot\nkb={kb} tps={FAST_TPS}", timeout=600)
            late = late_messages(k, _priced, LAG + 30)
        finally:
            k.shutdown()
    sent = content_bytes(late)
    meta = next((m["content"].get("metadata") for m in reversed(displays(cell) + late)
                 if (m["content"].get("metadata") or {}).get("poe_magic")), {})
    old = packed({"data": markdown_bundle(answer, "LongBot · 1.00 s · 1,000 points"), "metadata": meta})
    return row("traffic", f"{kb} KB answer: bytes sent after the cell ended, when its cost arrives", sent,
               baseline=old, goal="<= 0.05x", unit="B",
               notes=f"{len(late)} late message(s), priced: {_priced(late)}; the old design re-sent the whole "
                     f"answer as Markdown and text with the footer ({old:,} bytes, computed)")


SHORT = "%%poe EchoBot -o short_reply\nhello there"


def short_answer(repeats: int = 5) -> list[Row]:
    """A short answer's output messages vs ``print`` of the same text, in the same kernel."""
    ours: list[tuple[int, int, int]] = []
    printed: list[tuple[int, int, int]] = []
    kinds = ("display_data", "update_display_data", "stream", "execute_result")
    with server() as srv, kernel(srv) as k:
        k.run_ok(SHORT)  # warm
        text = k.value("short_reply.text")
        for _ in range(repeats):  # interleaved
            for code, into in ((SHORT, ours), (f"print({text!r})", printed)):
                messages = k.run_ok(code).of_type(*kinds)
                into.append((content_bytes(messages), wire_bytes(messages), len(messages)))
    (c, w, n), (pc, pw, pn) = (tuple(median([f[i] for f in figs]) for i in range(3)) for figs in (ours, printed))
    return [
        row("traffic", "short answer (EchoBot): output bytes vs print() of the same text", c, baseline=pc,
            goal="<= 2.2x", unit="B", notes=f"{len(text)} characters; {n:.0f} messages vs {pn:.0f}; median of "
                                            f"{repeats}, interleaved; the answer's output and the footer's (with the metadata)"),
        row("traffic", "short answer with the message envelopes vs print()", w, baseline=pw, unit="B",
            notes="header, parent header and metadata counted too"),
    ]


def run() -> list[Row]:
    from poe_magic.server.bots.long import long_markdown

    rows: list[Row] = []
    with server() as srv, kernel(srv) as k:
        for tps, sizes in ((TPS, SIZES_KB), (FAST_TPS, FAST_SIZES_KB)):
            for kb in sizes:
                answer = long_markdown(kb * 1024)
                cell = k.run_ok(f"%%poe LongBot\nkb={kb} tps={tps}", timeout=600)
                sent, old, rate, outputs = answer_figures(cell, answer)
                rows.append(row("traffic", f"{kb} KB answer at {tps} tokens/s: bytes sent / answer size",
                                sent / len(answer), baseline=old / len(answer), goal="<= 3", unit="x",
                                notes=f"{sent:,} bytes for {len(answer):,} characters in {outputs} outputs, "
                                      f"{len(displays(cell))} display messages ({sent // len(displays(cell)):,} "
                                      f"bytes each on average, {rate:.1f} per second); the old design: {old:,} bytes"))
                rows.append(row("traffic", f"{kb} KB answer at {tps} tokens/s: with the message envelopes, "
                                "bytes / answer size", wire_bytes(displays(cell)) / len(answer), unit="x",
                                notes="header, parent header and metadata of each message counted too"))
                rows.append(row("traffic", f"{kb} KB answer at {tps} tokens/s: display messages per second "
                                "while it streams", rate, goal=">= 0.8", unit="1/s"))
        answers = long_markdown(15 * 1024) + long_markdown(15 * 1024, 20)
        cell = k.run_ok("%%poe LongBot LongBot-B\nkb=15 seconds=10", timeout=600)
        sent = content_bytes(displays(cell))
        grid = displays(cell)
        rows.append(row("traffic", "two-model comparison, 2 x 15 KB over 10 s: bytes sent / answers' size",
                        sent / len(answers), goal="<= 8", unit="x",
                        notes=f"{sent:,} bytes in {len(grid)} display messages for {len(answers):,} characters"))
    rows.extend(short_answer())
    rows.append(late_update())
    if BROWSER_FIGURES.exists():
        for figure in json.loads(BROWSER_FIGURES.read_text()):
            rows.append(row("traffic", figure["measure"], figure["value"], baseline=figure.get("baseline"),
                            goal=figure.get("goal", ""), unit=figure.get("unit", "ms"), notes=figure.get("notes", "")))
    return rows
