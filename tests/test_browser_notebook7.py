"""The everyday widgets in both frontends that run here: Jupyter Notebook 7 and JupyterLab.

One notebook, run with "Run All Cells" in each frontend (headless Chromium via Playwright, the
local Poe server on 127.0.0.1): a ``%%poe`` cell, the picker composed in a user's ``HBox`` with
a linked Label and an ``observe`` callback, the chat panel, a comparison; then the notebook is
saved, its kernel stopped and the page reloaded: the picked model and the conversation are still
readable (the static snapshots), and the widget state was saved into the notebook (the widget
manager's "save widget state" setting, on here as a user would turn it on).

Each frontend is one test (one server start), so the steps' order never depends on test order.
The frontends, the browser and the page helpers are ``tests/browser_kit.py``'s; without Chromium
the tests skip, unless ``POE_MAGIC_REQUIRE_BROWSER=1``.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

import pytest
from browser_kit import (
    ARTIFACTS,
    FRONTENDS,
    Frontend,
    artifacts_on_failure,
    cell,
    need_browser,
    open_browser,
    outputs,
    pick,
    prompt,
    run_all,
    run_cell,
    send_from_chat,
)

from poe_magic.server.launch import LocalServer

pytestmark = [pytest.mark.browser, pytest.mark.kernel, pytest.mark.http, pytest.mark.timeout(420)]

CELLS = [
    "%load_ext poe_magic\nimport poe_magic, ipywidgets as w\n%poe use GPT-4o-mini",  # 0
    "%%poe EchoBot\nhello from the frontend",  # 1: a streamed Markdown answer
    "p = poe_magic.model_picker()\nlinked = w.Label('')\nlinked.add_class('poe-linked')\n"
    "w.link((p, 'value'), (linked, 'value'))\nseen = []\np.observe(lambda ch: seen.append(ch['new']), 'value')\n"
    "w.HBox([p, linked])",  # 2: the picker in a user's HBox
    "print('seen:', seen)",  # 3
    "%poe pick",  # 4: the picker on its own (with its snapshot)
    "%poe chat",  # 5: the chat panel (with its snapshot)
    "%%poe SlowBot-1 MarkdownBot --param chunks=12 --param delay=0.05\nCompare these.",  # 6
]

@pytest.mark.parametrize("kind", list(FRONTENDS))
def test_everyday_widgets_in_the_frontend(kind: str, server: LocalServer, tmp_path: Path) -> None:
    chromium = need_browser()
    from playwright.sync_api import expect

    with Frontend(kind, tmp_path, server, save_widget_state=True) as front, \
            open_browser(chromium, front, height=1600) as page:
        notebook = front.write_notebook("everyday.ipynb", CELLS)
        with artifacts_on_failure(page, f"{kind}-open", full_page=True):
            page.goto(front.page_url("everyday.ipynb"))
            run_all(page, len(CELLS), kind)

        with artifacts_on_failure(page, f"{kind}-poe-cell", full_page=True):  # a %%poe cell streams and renders Markdown
            expect(outputs(page, 1).locator("h3")).to_have_text(re.compile(r"EchoBot received 1 message"))
            expect(outputs(page, 1).first).to_contain_text("hello from the frontend")

        # the picker in a user's HBox: a click reaches a linked widget and observe()
        with artifacts_on_failure(page, f"{kind}-hbox", full_page=True):
            composed = cell(page, 2)
            expect(composed.locator(".widget-hbox .poe-model-picker")).to_have_count(1)
            expect(composed.locator(".poe-linked")).to_have_text("GPT-4o-mini")
            pick(composed.locator(".poe-model-picker"), "echo", "EchoBot")
            expect(composed.locator(".poe-linked")).to_have_text("EchoBot")
            run_cell(page, 3)
            expect(outputs(page, 3)).to_contain_text("seen: ['EchoBot']")

        # the standalone picker's snapshot follows the pick
        with artifacts_on_failure(page, f"{kind}-picker-snapshot", full_page=True):
            alone = cell(page, 4)
            pick(alone.locator(".poe-model-picker"), "markdown", "MarkdownBot")
            expect(alone.locator(".poe-picker-snapshot")).to_contain_text("Default model: MarkdownBot")

        with artifacts_on_failure(page, f"{kind}-chat", full_page=True):
            panel = cell(page, 5).locator(".poe-chat")
            send_from_chat(panel, "EchoBot", "a question to keep")
            answer = panel.locator(".poe-chat-answer").first
            expect(answer.locator("h3")).to_have_text(re.compile(r"EchoBot received 1 message"))
            expect(answer).to_contain_text("EchoBot ·")  # finished: its footer
            expect(cell(page, 5).locator(".poe-chat-snapshot summary")).to_contain_text("1 turn")

        with artifacts_on_failure(page, f"{kind}-compare", full_page=True):
            expect(outputs(page, 6).locator(".poe-compare b")).to_have_text(["SlowBot-1", "MarkdownBot"])
            expect(outputs(page, 6).locator(".poe-compare h1")).to_have_text("A Markdown answer")
            page.screenshot(path=str(ARTIFACTS / f"browser-{kind}-everyday.png"), full_page=True)

        with artifacts_on_failure(page, f"{kind}-saved", full_page=True):  # save, stop the kernel, reload: still readable
            prompt(page, 0).click()
            page.keyboard.press("Control+s")
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and "poe-chat-snapshot" not in notebook.read_text():
                time.sleep(0.5)
            saved = json.loads(notebook.read_text())
            assert "a question to keep" in json.dumps(saved["cells"][5]["outputs"])
            assert "application/vnd.jupyter.widget-state+json" in saved["metadata"].get("widgets", {}), \
                "the frontend saved the widget state"
            front.stop_kernels()
            page.reload()
            expect(cell(page, 4).locator(".poe-picker-snapshot")).to_contain_text("Default model: MarkdownBot")
            snapshot = cell(page, 5).locator(".poe-chat-snapshot")
            snapshot.locator("summary").click()  # unfold the conversation
            expect(snapshot).to_contain_text("a question to keep")
            expect(snapshot).to_contain_text("EchoBot received 1 message")
            expect(cell(page, 4)).not_to_contain_text("Current default model: (none)")
            page.screenshot(path=str(ARTIFACTS / f"browser-{kind}-reloaded.png"), full_page=True)


def test_tutorials_open_clean_in_jupyterlab(server: LocalServer, tmp_path: Path) -> None:
    """Opening an unedited tutorial must not mark it modified: its kernelspec metadata is what
    the kernel reports (display name "Python 3 (ipykernel)"), so nothing is rewritten on open."""
    chromium = need_browser()
    from playwright.sync_api import expect

    tutorials = ["01-quickstart.ipynb", "02-compare-models.ipynb", "03-spending.ipynb"]
    notebooks = Path(__file__).resolve().parent.parent / "notebooks"
    with Frontend("jupyterlab", tmp_path, server) as front, open_browser(chromium, front, height=900) as page:
        for name in tutorials:
            shutil.copy(notebooks / name, front.root / name)
        with artifacts_on_failure(page, "tutorials-dirty"):
            for name in tutorials:
                page.goto(front.page_url(name))
                expect(page.locator(".jp-StatusBar-TextItem[title^='Change kernel']").first).to_contain_text(
                    re.compile(r"Python 3.*\| Idle"), timeout=90_000)
                page.wait_for_timeout(1500)  # metadata from the kernel's info lands just after
                tab = page.locator(".lm-TabBar-tab.jp-mod-current")
                expect(tab).to_contain_text(name)
                assert "jp-mod-dirty" not in (tab.get_attribute("class") or ""), f"{name} opened modified"
                front.stop_kernels()
