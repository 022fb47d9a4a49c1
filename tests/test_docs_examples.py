"""Issue 25, behaviour 1: every example of README.md and docs/*.md runs as written.

Each page runs in a fresh kernel against the bundled local server, its example blocks one cell
each, in order (a block may use what an earlier one of the same page defined), after the
prelude ``%load_ext poe_magic`` / ``import poe_magic``. A failing block is named with its page,
block number and line. Which blocks are examples, and how one is marked "not run (reason)", is
in ``tests/docs_examples.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from docs_examples import examples
from harness import Kernel

from poe_magic.server.launch import LocalServer

pytestmark = [pytest.mark.kernel, pytest.mark.http, pytest.mark.slow]

PAGES = {page: found for page, found in examples().items() if found}


def test_every_page_with_examples_is_checked() -> None:
    assert "README.md" in PAGES and len(PAGES) >= 8, sorted(PAGES)


@pytest.mark.parametrize("page", sorted(PAGES))
def test_the_examples_of_a_page_run_as_written(page: str, server: LocalServer, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    kernel = Kernel(env={**server.env, "POE_MAGIC_HOME": str(tmp_path / "home")})
    failures = []
    try:
        kernel.run_ok(f"import os\nos.chdir({str(work)!r})\n%load_ext poe_magic\nimport poe_magic")
        for block in PAGES[page]:
            if block.skipped is not None:
                continue
            result = kernel.run(block.code, timeout=180)
            if result.error is not None:
                failures.append(f"{block.where()}: {result.error['ename']}: {result.error['evalue']}")
            elif "Traceback" in result.all_text() or "ERROR:root" in result.stderr:
                failures.append(f"{block.where()}: printed a traceback or an error: {result.stderr[:300]}")
    finally:
        kernel.shutdown()
    assert not failures, "\n".join(failures)
