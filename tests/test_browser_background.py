"""Issue 25, behaviour 3 in the frontends that run here (Notebook 7 and JupyterLab, headless
Chromium): a ``%%poe --background`` answer completes in its own cell's output while the next
cell runs and prints, and nothing of it lands in the next cell's output.

The frontends, the browser and the page helpers are ``tests/browser_kit.py``'s.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from browser_kit import ARTIFACTS, FRONTENDS, Frontend, artifacts_on_failure, cell, need_browser, open_browser, run_all

from poe_magic.server.launch import LocalServer

pytestmark = [pytest.mark.browser, pytest.mark.kernel, pytest.mark.http, pytest.mark.timeout(420)]

CELLS = [
    "%load_ext poe_magic\nimport poe_magic",  # 0
    "%%poe SlowBot --background -o later\nchunks=50 delay=0.2",  # 1: ~10 s, returns at once
    "import time\nfor i in range(3):\n    print('next cell', i, flush=True)\n    time.sleep(0.3)",  # 2
]


def area(page: Any, i: int) -> Any:
    """All outputs of cell ``i`` (its output area)."""
    return cell(page, i).locator(".jp-OutputArea").first


@pytest.mark.parametrize("kind", list(FRONTENDS))
def test_a_background_answer_completes_in_its_own_output(kind: str, server: LocalServer, tmp_path: Path) -> None:
    chromium = need_browser()
    from playwright.sync_api import expect

    with Frontend(kind, tmp_path, server) as front, \
            open_browser(chromium, front, height=1200) as page, \
            artifacts_on_failure(page, f"{kind}-background", full_page=True):
        front.write_notebook("background.ipynb", CELLS)
        page.goto(front.page_url("background.ipynb"))
        run_all(page, len(CELLS), kind)  # every cell has its execution count: the next cell ran
        first, second = area(page, 1), area(page, 2)
        expect(second).to_contain_text("next cell 2")
        expect(first).to_contain_text("answers in the background")
        assert "word49" not in first.inner_text(), \
            "the answer was already complete when the next cell ended: not in the background"
        expect(first).to_contain_text("word49", timeout=60_000)
        expect(first).to_contain_text(re.compile(r"SlowBot · .*s"), timeout=30_000)
        assert "word" not in second.inner_text()
        page.screenshot(path=str(ARTIFACTS / f"browser-{kind}-background.png"), full_page=True)
