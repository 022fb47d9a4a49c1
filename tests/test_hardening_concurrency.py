"""Two processes writing every shared file of one POE_MAGIC_HOME at once (issue 16 bug 7):
config.json aliases, the answer cache, the history cache, the batch journal and the call log.
Each process runs the same workload with its own names; afterwards nothing is lost or torn."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from poe_magic.server.launch import LocalServer

N = 30  # aliases, cached answers and batch rows per process

WORKER = """
import os, sys, time, poe_magic
from poe_magic.spending import calllog
tag = sys.argv[1]
poe_magic.settings.max_retries = 5
poe_magic.alias(f"{{tag}}_warm", "EchoBot")  # imports and the catalogue done before the start line
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))  # both start writing at the same moment
for i in range({n}):
    poe_magic.alias(f"{{tag}}_{{i}}", "EchoBot")
for i in range({n}):
    poe_magic.ask(f"cached {{tag}} {{i}}", "EchoBot", stream=False, cache=True)
poe_magic.batch([f"row {{tag}} {{i}}" for i in range({n})], "{{text}}", "EchoBot", progress=False, concurrency=4)
poe_magic.points_history(refresh=True)
calllog.flush()
print("done", tag)
"""


@pytest.mark.slow
def test_two_processes_lose_nothing(activated: LocalServer, poe_home: Path) -> None:
    env = {**os.environ, **activated.env, "POE_MAGIC_HOME": str(poe_home)}
    script = WORKER.format(n=N)
    start = str(time.time() + 8)  # after both have started (imports take a few seconds under load)
    workers = [subprocess.Popen([sys.executable, "-c", script, tag, start], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for tag in ("a", "b")]
    for worker in workers:
        out, err = worker.communicate(timeout=300)
        assert worker.returncode == 0 and "done" in out, err[-3000:]
        assert "could not write" not in err, err  # no storage warning: every write went through

    aliases = json.loads((poe_home / "config.json").read_text())["aliases"]
    # without the file lock, 60 aliases each lost 52 of 122 (measured once by hand)
    assert len(aliases) == 2 * N + 2, f"{2 * N + 2 - len(aliases)} aliases lost"

    answers = list((poe_home / "cache" / "answers").glob("*/*/*.json"))
    assert len(answers) == 2 * N and all(json.loads(p.read_text())["text"] for p in answers)

    (journal,) = (poe_home / "batch").glob("*/journal.sqlite3")
    with sqlite3.connect(journal) as db:
        assert db.execute("SELECT COUNT(*) FROM answers").fetchone()[0] == 2 * N

    (history,) = (poe_home / "cache" / "points_history").glob("*.json")
    assert json.loads(history.read_text())  # whole, not torn

    log = poe_home / "log.sqlite3"
    with sqlite3.connect(log) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        table = "calls" if "calls" in tables else tables[0]
        assert db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] >= 2 * (2 * N)  # asks + batch rows

    modes = {p: p.stat().st_mode & 0o777 for p in [*answers, journal]}
    assert all(mode == 0o600 for mode in modes.values()), modes
    for folder in (answers[0].parent.parent, journal.parent):
        assert folder.stat().st_mode & 0o777 == 0o700, folder
