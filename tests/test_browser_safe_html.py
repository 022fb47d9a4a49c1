"""Issue 23 row 1 in a real browser: a model's raw HTML never runs in JupyterLab or Notebook 7.

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
from browser_kit import (
    ARTIFACTS,
    FRONTENDS,
    WAIT_MS,
    Frontend,
    artifacts_on_failure,
    cell,
    need_browser,
    open_browser,
    outputs,
    run_all,
    send_from_chat,
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


@pytest.mark.parametrize("kind", list(FRONTENDS))
def test_model_html_never_runs_in_cells_grid_chat_and_saved_notebook(kind: str, server: LocalServer,
                                                                     tmp_path: Path) -> None:
    """JupyterLab and Jupyter Notebook 7 (the same page checks); the saved notebook keeps the
    widgets' state too (the chat panel's), as a user's would with Settings > Widgets on."""
    chromium = need_browser()
    with Frontend(kind, tmp_path, server, save_widget_state=True) as front:
        _exercise(chromium, front, front.write_notebook("safe.ipynb", CELLS))


def _saved(path: Path) -> None:
    """Wait (bounded) until the notebook on disk holds the answers' outputs."""
    deadline = time.monotonic() + WAIT_MS / 1000
    while "EchoBot received" not in path.read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "EchoBot received" in path.read_text()


def _exercise(chromium: str, front: Frontend, notebook: Path) -> None:
    from playwright.sync_api import expect

    with open_browser(chromium, front, height=1600) as page, artifacts_on_failure(page, f"safe-html-{front.kind}"):
        page.goto(front.page_url(notebook.name))
        run_all(page, len(CELLS), front.kind)
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
        page.screenshot(path=str(ARTIFACTS / f"browser-safe-html-{front.kind}.png"), full_page=True)
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
