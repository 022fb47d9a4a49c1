"""Assertions shared by the fault-injection and bad-input tests."""

from __future__ import annotations

import re
from typing import Optional

from harness import CellResult

from poe_magic.testing import LocalServer


def one_line(result: CellResult, ename: str, *, model: Optional[str] = None) -> str:
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
