"""The everyday widgets in both frontends that run here: Jupyter Notebook 7 and JupyterLab.

One notebook, run with "Run All Cells" in each frontend (headless Chromium via Playwright, the
local Poe server on 127.0.0.1): a ``%%poe`` cell, the picker composed in a user's ``HBox`` with
a linked Label and an ``observe`` callback, the chat panel, a comparison; then the notebook is
saved, its kernel stopped and the page reloaded: the picked model and the conversation are still
readable (the static snapshots), and the widget state was saved into the notebook (the widget
manager's "save widget state" setting, on here as a user would turn it on).

Each frontend is one test (one server start), so the steps' order never depends on test order.
Without Chromium the tests skip, unless ``POE_MAGIC_REQUIRE_BROWSER=1``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from test_browser import ARTIFACTS, CHROMIUM_ARGS, WAIT_MS, _free_port, _need_browser, send_from_chat

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

FRONTENDS = {  # module, URL path of a notebook, class of the settings dir option
    "notebook7": ("notebook", "/notebooks/"),
    "jupyterlab": ("jupyterlab", "/lab/tree/"),
}


class Frontend:
    """Notebook 7 or JupyterLab in its own process group, private dirs, widget state saved."""

    def __init__(self, kind: str, base: Path, server: LocalServer) -> None:
        module, self.path = FRONTENDS[kind]
        self.kind, self.port, self.token = kind, _free_port(), secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        self.root, private = base / "notebooks", base / "jupyter"
        self.root.mkdir()
        settings = private / "user-settings"
        for plugin, values in {
            "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
            # what a user turns on to keep widgets in saved notebooks (Settings > Widgets)
            "@jupyter-widgets/jupyterlab-manager/plugin": {"saveState": True},
        }.items():
            where = settings / f"{plugin}.jupyterlab-settings"
            where.parent.mkdir(parents=True, exist_ok=True)
            where.write_text(json.dumps(values))
        self.notebook = self.root / "everyday.ipynb"
        import nbformat

        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
        nb.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
        nbformat.write(nb, str(self.notebook))
        env = {**os.environ, **server.env, "POE_MAGIC_HOME": str(base / "poe_home"),
               "JUPYTER_CONFIG_DIR": str(private / "config"), "JUPYTER_DATA_DIR": str(private / "data"),
               "JUPYTER_RUNTIME_DIR": str(private / "runtime"), "IPYTHONDIR": str(private / "ipython"),
               "JUPYTERLAB_SETTINGS_DIR": str(settings), "JUPYTERLAB_WORKSPACES_DIR": str(private / "workspaces"),
               "PYTHONUNBUFFERED": "1"}
        self.log_path = base / f"{kind}.log"
        self._log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", module, "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
             f"--port={self.port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={self.token}",
             f"--ServerApp.root_dir={self.root}"],
            env=env, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        self._wait_ready()

    def api(self, method: str, path: str) -> Any:
        request = urllib.request.Request(self.url + path, method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
            return json.loads(body) if body else None

    def _wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.kind} exited: {self.log()[-3000:]}")
            try:
                self.api("GET", "/api/status")
                return
            except OSError:
                time.sleep(0.25)
        raise RuntimeError(f"{self.kind} did not start in {timeout} s: {self.log()[-3000:]}")

    def stop_kernels(self) -> None:
        for session in self.api("GET", "/api/sessions"):
            self.api("DELETE", f"/api/sessions/{session['id']}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        try:
            self.api("POST", "/api/shutdown")
            self.process.wait(20)
        except (OSError, subprocess.TimeoutExpired):
            for sig in (signal.SIGTERM, signal.SIGKILL):
                if self.process.poll() is not None:
                    break
                os.killpg(self.process.pid, sig)
                try:
                    self.process.wait(10)
                except subprocess.TimeoutExpired:
                    pass
        self._log.close()


def cell(page: Any, i: int) -> Any:
    return page.locator(".jp-Notebook .jp-Cell").nth(i)


def prompt(page: Any, i: int) -> Any:
    return cell(page, i).locator(".jp-InputArea .jp-InputPrompt")


def outputs(page: Any, i: int) -> Any:
    return cell(page, i).locator(".jp-OutputArea-output")


def run_all(page: Any) -> None:
    from playwright.sync_api import expect

    # idle with a kernel: both frontends show the kernel's state in the toolbar indicator
    expect(page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").first).to_have_count(
        1, timeout=90_000)
    page.wait_for_timeout(1500)  # the indicator reads idle a moment before the kernel exists
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    for i in range(len(CELLS)):
        expect(prompt(page, i)).to_have_text(re.compile(r"\[\d+\]:"), timeout=90_000)


def run_cell(page: Any, i: int) -> None:
    from playwright.sync_api import expect

    before = prompt(page, i).inner_text()
    prompt(page, i).click()
    page.keyboard.press("Shift+Enter")
    expect(prompt(page, i)).not_to_have_text(before)
    expect(prompt(page, i)).to_have_text(re.compile(r"\[\d+\]:"))


def pick(picker: Any, typed: str, model: str) -> None:
    """Filter the picker's list and click ``model``, as a person would."""
    from playwright.sync_api import expect

    box = picker.locator("input[type='text']")
    box.click()
    box.fill("")
    box.press_sequentially(typed, delay=40)
    options = picker.locator(".poe-model-list select option")
    # the kernel filters the list: click once it has (a click on the unfiltered list is undone when
    # the filtered one replaces it, which a loaded machine makes likely)
    count = picker.get_by_text(re.compile(r"\d+ of \d+ models"))  # "3 of 26 models" once filtered
    expect(count).to_have_text(re.compile(r"(\d+) of (?!\1 )\d+ models"))
    options.filter(has_text=re.compile(rf"^{model}\s·")).click()


@pytest.mark.parametrize("kind", list(FRONTENDS))
def test_everyday_widgets_in_the_frontend(kind: str, server: LocalServer, tmp_path: Path) -> None:
    chromium = _need_browser()
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=WAIT_MS)
    ARTIFACTS.mkdir(exist_ok=True)
    front = Frontend(kind, tmp_path, server)
    step = "open"
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 1600})
            page.set_default_timeout(WAIT_MS)
            try:
                page.goto(f"{front.url}{front.path}everyday.ipynb?token={front.token}")
                run_all(page)

                step = "poe-cell"  # a %%poe cell streams and renders Markdown
                expect(outputs(page, 1).locator("h3")).to_have_text(re.compile(r"EchoBot received 1 message"))
                expect(outputs(page, 1).first).to_contain_text("hello from the frontend")

                step = "hbox"  # the picker in a user's HBox: a click reaches a linked widget and observe()
                composed = cell(page, 2)
                expect(composed.locator(".widget-hbox .poe-model-picker")).to_have_count(1)
                expect(composed.locator(".poe-linked")).to_have_text("GPT-4o-mini")
                pick(composed.locator(".poe-model-picker"), "echo", "EchoBot")
                expect(composed.locator(".poe-linked")).to_have_text("EchoBot")
                run_cell(page, 3)
                expect(outputs(page, 3)).to_contain_text("seen: ['EchoBot']")

                step = "picker-snapshot"  # the standalone picker's snapshot follows the pick
                alone = cell(page, 4)
                pick(alone.locator(".poe-model-picker"), "markdown", "MarkdownBot")
                expect(alone.locator(".poe-picker-snapshot")).to_contain_text("Default model: MarkdownBot")

                step = "chat"
                panel = cell(page, 5).locator(".poe-chat")
                send_from_chat(panel, "EchoBot", "a question to keep")
                answer = panel.locator(".poe-chat-answer").first
                expect(answer.locator("h3")).to_have_text(re.compile(r"EchoBot received 1 message"))
                expect(answer).to_contain_text("EchoBot ·")  # finished: its footer
                expect(cell(page, 5).locator(".poe-chat-snapshot summary")).to_contain_text("1 turn")

                step = "compare"
                expect(outputs(page, 6).locator(".poe-compare b")).to_have_text(["SlowBot-1", "MarkdownBot"])
                expect(outputs(page, 6).locator(".poe-compare h1")).to_have_text("A Markdown answer")
                page.screenshot(path=str(ARTIFACTS / f"browser-{kind}-everyday.png"), full_page=True)

                step = "saved"  # save, stop the kernel, reload: still readable
                prompt(page, 0).click()
                page.keyboard.press("Control+s")
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline and "poe-chat-snapshot" not in front.notebook.read_text():
                    time.sleep(0.5)
                saved = json.loads(front.notebook.read_text())
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
            except BaseException:
                try:
                    page.screenshot(path=str(ARTIFACTS / f"browser-FAILED-{kind}-{step}.png"), full_page=True)
                finally:
                    (ARTIFACTS / f"browser-FAILED-{kind}-{step}.log").write_text(front.log())
                raise
            finally:
                browser.close()
    finally:
        front.stop()


def test_tutorials_open_clean_in_jupyterlab(server: LocalServer, tmp_path: Path) -> None:
    """Opening an unedited tutorial must not mark it modified: its kernelspec metadata is what
    the kernel reports (display name "Python 3 (ipykernel)"), so nothing is rewritten on open."""
    import shutil

    chromium = _need_browser()
    from playwright.sync_api import expect, sync_playwright

    front = Frontend("jupyterlab", tmp_path, server)
    tutorials = ["01-quickstart.ipynb", "02-compare-models.ipynb", "03-spending.ipynb"]
    notebooks = Path(__file__).resolve().parent.parent / "notebooks"
    for name in tutorials:
        shutil.copy(notebooks / name, front.root / name)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            try:
                for name in tutorials:
                    page.goto(f"{front.url}/lab/tree/{name}?token={front.token}")
                    expect(page.locator(".jp-StatusBar-TextItem[title^='Change kernel']").first).to_contain_text(
                        re.compile(r"Python 3.*\| Idle"), timeout=90_000)
                    page.wait_for_timeout(1500)  # metadata from the kernel's info lands just after
                    tab = page.locator(".lm-TabBar-tab.jp-mod-current")
                    expect(tab).to_contain_text(name)
                    assert "jp-mod-dirty" not in (tab.get_attribute("class") or ""), f"{name} opened modified"
                    front.stop_kernels()
            except BaseException:
                page.screenshot(path=str(ARTIFACTS / "browser-FAILED-tutorials-dirty.png"))
                raise
            finally:
                browser.close()
    finally:
        front.stop()
