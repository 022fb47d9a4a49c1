"""Resource hygiene: many ``%%poe`` cells (answered, failing, interrupted) leave the kernel with
the same threads, no growing file descriptors or sockets, no Replies piling up, nothing left
on the private loop, and bounded memory growth.

The issue's mix: 200 cells, 50 of them interrupted with Ctrl-C once streaming and 50 failing in
five ways (about 10 s). ``python -m benchmarks resources`` runs 200 and 1,000 and reports the
figures.
"""

from __future__ import annotations

import time

from faultkit import churn, resources
from harness import Kernel

from poe_magic.server.launch import LocalServer

#: growth allowed over the warm-up reading: the HTTP pools keep a few idle keep-alive
#: connections (a count that does not grow with the number of cells)
FD_SLACK = 4
RSS_BOUND_MB = 20.0  # resident growth allowed for 200 cells (measured: about 1-3 MB)


def test_many_cells_leave_no_threads_fds_or_replies_behind(kernel: Kernel, server: LocalServer) -> None:
    kernel.run_ok("%config PoeMagics.retry_backoff = 0.01")
    try:
        churn(kernel, server, ok=2, failing=5, interrupted=2)  # warm-up: every code path once
        before = resources(kernel)
        ran = churn(kernel, server, ok=100, failing=50, interrupted=50)
        # costs are found in the background (issue 14): a Reply is kept until its cost is known
        kernel.run_ok("from poe_magic.spending import ledger; ledger.wait_for_costs(30)")
        after = resources(kernel)
        deadline = time.monotonic() + 60  # interrupted and failed calls' costs (not waited for above)
        while after["replies_alive"] > before["replies_alive"] + 1 and time.monotonic() < deadline:
            time.sleep(2)  # are found later on a loaded machine: their Replies go once they are
            after = resources(kernel)
    finally:
        kernel.run_ok("%config PoeMagics.retry_backoff = 1.0")
    assert ran == {"ok": 100, "fail": 50, "int": 50}
    print(f"\nresources after warm-up: {before}\nafter 200 more cells:    {after}")
    assert after["threads"] == before["threads"] and after["os_threads"] == before["os_threads"]
    assert after["fds"] <= before["fds"] + FD_SLACK and after["sockets"] <= before["sockets"] + FD_SLACK
    assert after["loop_tasks"] == 0, "nothing may keep running on the private loop"
    assert after["replies_alive"] <= before["replies_alive"] + 1, "old Replies must not pile up"
    assert after["rss_mb"] - before["rss_mb"] < RSS_BOUND_MB


HELD = """
import gc
from poe_magic.core.answer_display import AnswerNotebookSink
from poe_magic.core.display import NotebookSink

def _held(obj, seen):
    # characters of text an object keeps itself (not through the shell, its cell or the frontend handle)
    if id(obj) in seen or isinstance(obj, (type, type(gc))):
        return 0
    seen.add(id(obj))
    if isinstance(obj, str):
        return len(obj)
    if isinstance(obj, dict):
        return sum(_held(k, seen) + _held(v, seen) for k, v in obj.items())
    if isinstance(obj, (list, tuple, set, frozenset)):
        return sum(_held(v, seen) for v in obj)
    if isinstance(obj, NotebookSink) or type(obj).__module__.startswith('poe_magic.core'):
        skip = {'_shell', '_parent', '_handle', '_lock', '_timer', 'render'}
        return sum(_held(v, seen) for k, v in vars(obj).items() if k not in skip)
    return 0

_sinks = [o for o in gc.get_objects() if isinstance(o, AnswerNotebookSink)]
_kept = [_held(s, set()) for s in _sinks]
"""


def test_answer_displays_keep_no_copy_of_their_answers(kernel: Kernel) -> None:
    """Issue 26 row 4: a finished answer's display lives as long as its reply's cost watchers
    (the reply of ``_poe``, of ``-o`` names, of a chat thread: often the whole session); it keeps
    no copy of the answer (the frontend has it): a fingerprint of what it showed, not the bundle."""
    for i in range(5):
        kernel.run_ok(f"%%poe ChunkBot -o kept_{i}\nchunks=500 size=20")  # 10,000 characters each, kept
    kernel.run_ok("import gc; gc.collect()\n" + HELD)
    kept = kernel.value("_kept")
    assert len(kept) >= 5, "the kept replies' displays should still be alive (their cost watchers)"
    assert max(kept) < 1500, kept  # the footer's text and metadata, not the 10,000-character answer
    kernel.run_ok("del kept_0, kept_1, kept_2, kept_3, kept_4")
