"""Issue 23 row 1 in a real browser: a model's raw HTML never runs in JupyterLab.

EchoBot (the bundled local server) answers with what it was sent, so the prompt is the attack:
an ``<img onerror>``, a ``<script>``, a ``javascript:`` Markdown link and a raw ``<a href=
"javascript:...">``, each of which would set ``window.__pwned``, next to Markdown that must still
render (bold, a table, a code block). The answer is shown in a cell (streamed, then final), in
the comparison grid and in the chat panel; every link is clicked; the notebook is saved and
reloaded (a trusted load) and checked again. A control cell opts in to raw HTML with
``-f html`` and its ``onerror`` does run: the harness can see a script run.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from test_browser import (
    ARTIFACTS,
    CHROMIUM_ARGS,
    WAIT_MS,
    Lab,
    _logs,
    _need_browser,
    artifacts_on_failure,
    cell,
    outputs,
    prompt,
    send_from_chat,
    wait_for_kernel,
)

from poe_magic.server.launch import LocalServer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

SET = "window.__pwned=(window.__pwned||[]).concat"
ATTACK = (f"**bold** <img src=x onerror=\"{SET}('img')\"> <script>{SET}('script')</script> "
          f"[click me](javascript:{SET}('md-link')) <a href=\"javascript:{SET}('a')\">raw link</a>")
CELLS = [
    "%load_ext poe_magic",
    f"%%poe EchoBot\n{ATTACK}\n\n| col | val |\n|-----|-----|\n| one | two |\n\n```python\nx = '<b>code</b>'\n```",
    f"%%poe EchoBot MarkdownBot\n{ATTACK}",
    "%poe chat EchoBot",
    "%%poe EchoBot -f html\n<img src=x onerror=\"window.__optin=1\">",  # the opt-in: raw HTML on purpose
]


def _write(path: Path) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    nbformat.write(nb, str(path))


def _run_all(page: Any, name: str) -> None:
    from playwright.sync_api import expect

    if name == "jupyterlab":
        wait_for_kernel(page)
    else:  # Notebook 7 has no kernel item in a status bar (as test_browser_notebook7.run_all)
        expect(page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").first).to_have_count(
            1, timeout=90_000)
        page.wait_for_timeout(1500)  # the indicator reads idle a moment before the kernel exists
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    for i in range(len(CELLS)):
        expect(prompt(page, i)).to_have_text(re.compile(r"\[\d+\]:"), timeout=90_000)


def _click_every_link(page: Any) -> int:
    """Click each link in the outputs (a javascript: one would run here); returns how many."""
    links = page.locator(".jp-OutputArea-output a, .poe-chat a")
    count = links.count()
    for i in range(count):
        link = links.nth(i)
        if link.is_visible():
            link.click(modifiers=[], no_wait_after=True)
    return count


def _pwned(page: Any) -> Any:
    return page.evaluate("() => window.__pwned === undefined ? null : window.__pwned")


def test_model_html_never_runs_in_cells_grid_chat_and_saved_notebook(server: LocalServer, tmp_path: Path) -> None:
    """JupyterLab."""
    chromium = _need_browser()
    lab = Lab(tmp_path, server)
    _write(tmp_path / "notebooks" / "safe.ipynb")
    try:
        _exercise(chromium, f"{lab.url}/lab/tree/safe.ipynb?token={lab.token}", tmp_path / "notebooks" / "safe.ipynb",
                  (lab, server), "jupyterlab")
    finally:
        lab.stop()


def test_model_html_never_runs_in_notebook7(server: LocalServer, tmp_path: Path) -> None:
    """Jupyter Notebook 7 (the same page checks)."""
    from test_browser_notebook7 import Frontend

    chromium = _need_browser()
    front = Frontend("notebook7", tmp_path, server)
    _write(front.root / "safe.ipynb")
    try:
        _exercise(chromium, f"{front.url}{front.path}safe.ipynb?token={front.token}", front.root / "safe.ipynb",
                  (front, server), "notebook7")
    finally:
        front.stop()


def _saved(path: Path) -> None:
    """Wait (bounded) until the notebook on disk holds the answers' outputs."""
    deadline = time.monotonic() + WAIT_MS / 1000
    while "EchoBot received" not in path.read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "EchoBot received" in path.read_text()


def _exercise(chromium: str, url: str, notebook: Path, logs: Any, name: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=WAIT_MS)
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1600})
        page.set_default_timeout(WAIT_MS)
        _logs[page] = logs
        with artifacts_on_failure(page, f"safe-html-{name}"):
            page.goto(url)
            _run_all(page, name)
            # the answer in a cell: Markdown rendered, nothing of the HTML ran
            answer = outputs(page, 1).first  # (the footer is its own output after it)
            expect(answer.locator("h3")).to_have_text(re.compile("EchoBot received"))
            page.wait_for_timeout(500)  # an onerror or a script would have run by now
            assert _pwned(page) is None, f"the model's HTML ran: {_pwned(page)}"
            expect(answer.locator("strong").filter(has_text="bold")).to_have_count(1)
            expect(answer.locator("table td").filter(has_text="two")).to_have_count(1)
            expect(answer.locator("pre code").filter(has_text="x = '<b>code</b>'")).not_to_have_count(0)
            expect(answer).to_contain_text('img src=x onerror=')  # shown as text, the reader sees it
            expect(answer.locator("img, script")).to_have_count(0)
            expect(answer.locator("a", has_text="click me")).to_have_attribute("href", re.compile(r"^#blocked"))  # a fragment: goes nowhere
            # the grid
            grid = outputs(page, 2).first  # (the summary table is its own output after it)
            expect(grid.locator(".poe-compare b")).to_have_text(["EchoBot", "MarkdownBot"])
            expect(grid.locator("strong").filter(has_text="bold")).not_to_have_count(0)
            expect(grid).to_contain_text("img src=x onerror=")
            expect(grid.locator(".poe-compare img, .poe-compare script")).to_have_count(0)
            # the chat panel: the question and the answer
            panel = cell(page, 3).locator(".poe-chat")
            send_from_chat(panel, "EchoBot", "hi")
            answers = panel.locator(".poe-chat-answer")
            expect(answers.nth(0)).to_contain_text("EchoBot ·")
            panel.locator(".poe-chat-prompt textarea").fill(ATTACK)
            panel.get_by_role("button", name="Send").click()
            expect(answers).to_have_count(2)
            expect(answers.nth(1)).to_contain_text("EchoBot ·")
            expect(answers.nth(1).locator("strong").filter(has_text="bold")).to_have_count(1)
            expect(panel.locator("img, script")).to_have_count(0)
            # the control: -f html is the opt-in, and a script that runs is seen
            expect(outputs(page, 4)).not_to_have_count(0)
            page.wait_for_function("() => window.__optin === 1")
            assert _click_every_link(page) >= 3
            page.wait_for_timeout(500)  # a link's script would have run by now
            assert _pwned(page) is None
            page.screenshot(path=str(ARTIFACTS / f"browser-safe-html-{name}.png"), full_page=True)
            # saved and opened again: the outputs are trusted on load, still nothing runs
            page.keyboard.press("Control+s")
            _saved(notebook)
            page.reload()
            expect(outputs(page, 1).locator("strong").filter(has_text="bold")).to_have_count(1)
            expect(outputs(page, 2).locator(".poe-compare")).to_have_count(1)
            page.wait_for_function("() => window.__optin === 1")  # trusted: the opt-in ran again
            _click_every_link(page)
            page.wait_for_timeout(500)
            assert _pwned(page) is None
        browser.close()
