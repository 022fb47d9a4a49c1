"""Regenerate docs/images/compare-grid.png: a screenshot of a real JupyterLab running a
``%%poe A B C`` comparison cell against the bundled local server (not part of the mkdocs build).

    python docs/hooks/compare_grid_screenshot.py [MODEL,MODEL,...] [OUT.png]

Needs the test extras (JupyterLab, playwright) and a ``chromium`` on PATH; no key, no network:
JupyterLab, its kernel and the local server all run on 127.0.0.1 with private settings folders.
JupyterLab and Chromium are started by the browser tests' harness, ``tests/browser_kit.py``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

PROMPT = "Explain recursion in two sentences."
TESTS = Path(__file__).resolve().parents[2] / "tests"


def main(models: list[str], out: Path) -> None:
    from playwright.sync_api import expect

    sys.path.insert(0, str(TESTS))  # the browser tests' harness, as pytest's pythonpath = ["tests"] has it
    from browser_kit import Frontend, cell, find_chromium, open_browser, outputs, run_all

    from poe_magic.server.launch import local_server

    chromium = find_chromium()
    if chromium is None:
        raise SystemExit("chromium is not installed (apt-get install chromium)")
    cells = ["%load_ext poe_magic", f"%%poe {' '.join(models)}\n{PROMPT}"]
    with tempfile.TemporaryDirectory() as tmp, local_server() as server, \
            Frontend("jupyterlab", Path(tmp), server) as lab, \
            open_browser(chromium, lab, height=900, timeout=90_000, device_scale_factor=1.5) as page:
        lab.write_notebook("compare.ipynb", cells)
        page.goto(lab.page_url("compare.ipynb"))
        run_all(page, len(cells))
        summary = outputs(page, 1).locator("table").last
        expect(summary).to_contain_text(models[-1])
        expect(summary).to_contain_text("points", timeout=30_000)  # the costs land in place
        cell(page, 0).click()  # no cursor or selection in the shot
        page.wait_for_timeout(500)
        cell(page, 1).screenshot(path=str(out))
    print(f"{out}: {out.stat().st_size:,} bytes")


if __name__ == "__main__":
    if {"-h", "--help"} & set(sys.argv[1:]):
        print(__doc__)
        raise SystemExit(0)
    names = (sys.argv[1] if len(sys.argv) > 1 else "Claude-Sonnet-4,GPT-5,Gemini-2.5-Pro").split(",")
    main(names, Path(sys.argv[2] if len(sys.argv) > 2 else "docs/images/compare-grid.png"))
