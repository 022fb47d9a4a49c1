"""Assertions shared by the fault-injection and bad-input tests."""

from __future__ import annotations

import re

from harness import CellResult, Kernel

from poe_magic.server.launch import LocalServer


def one_line(result: CellResult, ename: str, *, model: str | None = None) -> str:
    """The cell failed with exactly one line naming ``ename``, saying nothing twice; return it."""
    assert result.error is not None, "the cell should have failed"
    assert (result.error["ename"], len(result.error["traceback"])) == (ename, 1), result.error["traceback"]
    line = result.error["evalue"]
    assert "\n" not in line and "Traceback" not in line
    clauses = [c.strip().lower() for c in re.split(r"[;:]", line) if c.strip()]
    assert len(clauses) == len(set(clauses)), f"a clause repeats: {line}"
    if model:
        assert line.count(model) == 1, f"the model is named {line.count(model)} times: {line}"
    return line


def usage_line(result: CellResult) -> str:
    """IPython's own UsageError (option parsing): one line on stderr, no traceback."""
    assert result.reply["status"] == "error" and result.error is None
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("UsageError: "), lines
    return lines[0]


def statuses(server: LocalServer, bot: str) -> list[int]:
    """HTTP statuses of the requests the server saw for ``bot``, in order."""
    return [r["status"] for r in server.requests(f"/bot/{bot}")]


# -- resource hygiene: a mixed workload of cells and what the kernel holds afterwards ----------

_PROBE = '''
def _poe_resources():
    import gc, os, threading
    from poe_magic.wire.loop import shared_loop, wait_warm_up
    from poe_magic.core.reply import Reply
    wait_warm_up()  # a %load_ext's warm-up thread ends by itself: not counted
    gc.collect()
    fds, sockets = os.listdir('/proc/self/fd'), 0
    for fd in fds:
        try:
            sockets += os.readlink(f'/proc/self/fd/{fd}').startswith('socket:')
        except OSError:  # the fd listdir itself used, closed since
            pass
    pages = int(open('/proc/self/statm').read().split()[1])
    return {"threads": threading.active_count(), "os_threads": len(os.listdir('/proc/self/task')),
            "fds": len(fds), "sockets": sockets, "rss_mb": pages * os.sysconf('SC_PAGE_SIZE') / 2**20,
            "loop_tasks": shared_loop().pending_tasks(),
            "replies_alive": sum(1 for o in gc.get_objects() if isinstance(o, Reply))}
'''

#: failing cells, in turn: an error event mid-stream, a dropped connection, an answer cut
#: short, an error event before any text, a 500 retried then given up (planned per cell)
FAILING_CELLS = ["%%poe FailingBot\nwords=3", "%%poe DropBot\nwords=2", "%%poe TruncateBot\nwords=2",
                 "%%poe FlakyBot\nretry=0", "%%poe EchoBot\nplanned 500"]
OK_CELL = "%%poe ChunkBot\nchunks=200 size=10"
SLOW_CELL = "%%poe SlowBot\nchunks=400 delay=0.02 first_delay=0"


def resources(kernel: Kernel) -> dict[str, float]:
    """What the kernel process holds now (after a gc): threads, fds, sockets, RSS, live Replies."""
    kernel.run_ok(_PROBE)
    return kernel.value("_poe_resources()")


def interrupt_when_streaming(kernel: Kernel, code: str, showing: str = "") -> CellResult:
    """Run ``code`` and press Ctrl-C once its answer has started to show (a display update:
    text, or a retry notice; with ``showing``, one that contains it), not after a fixed time (a
    first call in a fresh kernel is slower); the result keeps every message of the cell, those
    seen before the Ctrl-C too."""
    import json
    import queue
    import time

    msg_id = kernel.submit(code)
    early: list[dict[str, object]] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            msg = kernel.client.get_iopub_msg(timeout=1)
        except queue.Empty:
            continue
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        early.append(msg)
        content = json.dumps(msg["content"])  # (an answer's first output may be its text or a notice,
        if msg["header"]["msg_type"] in ("display_data", "update_display_data") and showing in content \
                and "waiting for the first token" not in content:  # or, when slow, the wait)
            break
    kernel.interrupt()
    result = kernel.collect(msg_id)
    result.messages[:0] = early
    return result


def churn(kernel: Kernel, server: LocalServer, *, ok: int, failing: int, interrupted: int) -> dict[str, int]:
    """Run ``ok`` answered, ``failing`` failed and ``interrupted`` Ctrl-C'd ``%%poe`` cells,
    interleaved; check each ended as it should; return how many of each ran."""
    plan = ["ok"] * ok + ["fail"] * failing + ["int"] * interrupted
    plan = [plan[i] for i in sorted(range(len(plan)), key=lambda i: (i * 7919) % len(plan))]  # interleave
    done = {"ok": 0, "fail": 0, "int": 0}
    for kind in plan:
        if kind == "ok":
            kernel.run_ok(OK_CELL)
        elif kind == "fail":
            code = FAILING_CELLS[done["fail"] % len(FAILING_CELLS)]
            if "planned 500" in code:
                server.fail_next("/bot/EchoBot", 500, count=4)  # the first try and 3 retries
            result = kernel.run(code)
            assert result.error is not None and result.error["ename"] in (
                "ServerError", "PoeConnectionError"), result.error
        else:
            result = interrupt_when_streaming(kernel, SLOW_CELL)
            assert result.error is not None and result.error["ename"] == "StreamInterrupted", result.error
        done[kind] += 1
    return done
