"""The widgets in a real browser: JupyterLab on 127.0.0.1, headless Chromium via Playwright.

One JupyterLab (pointed at the session's local Poe server) serves the whole module; the
notebook below is opened once and run with "Run All Cells", then each test clicks and types
as a person would. Screenshots land in ``test-artifacts/`` (always), plus the JupyterLab and
local-server logs when a test fails.

Without Chromium the tests skip, unless ``POE_MAGIC_REQUIRE_BROWSER=1`` (set by ``.ci/run``),
where a missing browser is a failure.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from poe_magic.server.launch import LocalServer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
WAIT_MS = 30_000  # generous: a loaded 2-core CI box renders slowly
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]

CELLS = [
    "%load_ext poe_magic\n%poe use GPT-4o-mini",  # 0: a default that is not EchoBot
    "%%poe MarkdownBot\nShow me some Markdown.",  # 1: heading + code block
    "%poe pick",  # 2: the picker
    "%%poe\nWhich bot answers a cell that names no model?",  # 3: uses the default
    "%poe chat",  # 4: the chat panel
    "import threading\nprint('kernel free, threads:', threading.active_count())",  # 5: run while chat streams
    "%%poe SlowBot-1 SlowBot-2 SlowBot-3 MarkdownBot --param chunks=38 --param delay=0.06 --param style=markdown\n"
    "Compare these models.",  # 6: side by side (lanes of 2.3 s, 3.4 s, 4.6 s, and a quick one)
    "%poe models anthropic",  # 7: prices with two "$" per row (MathJax must leave them alone)
]
COMPARED = ["SlowBot-1", "SlowBot-2", "SlowBot-3", "MarkdownBot"]


def _need_browser() -> str:
    """The chromium path, or skip (fail when POE_MAGIC_REQUIRE_BROWSER is set)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    problem = None
    if chromium is None:
        problem = "chromium is not installed (apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "playwright is not installed (pip install playwright)"
    if problem:
        if os.environ.get("POE_MAGIC_REQUIRE_BROWSER"):
            pytest.fail(f"browser tests required (POE_MAGIC_REQUIRE_BROWSER is set) but {problem}")
        pytest.skip(f"browser test skipped: {problem}")
    assert chromium is not None
    return chromium


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _write_notebook(path: Path) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    nbformat.write(nb, str(path))


class Lab:
    """A JupyterLab server in its own process group, with private Jupyter and poe_magic dirs."""

    def __init__(self, base: Path, server: LocalServer) -> None:
        self.port, self.token = _free_port(), secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        root, private = base / "notebooks", base / "jupyter"
        root.mkdir()
        settings_dir = private / "user-settings" / "@jupyterlab" / "apputils-extension"
        settings_dir.mkdir(parents=True)
        # no "news" toast or update check: nothing may cover the cells
        (settings_dir / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False}))
        _write_notebook(root / "widgets.ipynb")
        env = {**os.environ, **server.env, "POE_MAGIC_HOME": str(base / "poe_home"),
               "JUPYTER_CONFIG_DIR": str(private / "config"), "JUPYTER_DATA_DIR": str(private / "data"),
               "JUPYTER_RUNTIME_DIR": str(private / "runtime"), "IPYTHONDIR": str(private / "ipython"),
               "PYTHONUNBUFFERED": "1"}
        self.log_path = base / "jupyterlab.log"
        self._log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
             f"--port={self.port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={self.token}",
             f"--ServerApp.root_dir={root}", f"--LabApp.workspaces_dir={private / 'workspaces'}",
             f"--LabApp.user_settings_dir={private / 'user-settings'}"],
            env=env, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        self._wait_ready()

    def _api(self, method: str, path: str) -> int:
        request = urllib.request.Request(self.url + path, method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status

    def _wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited: {self.log()[-3000:]}")
            try:
                if self._api("GET", "/api/status") == 200:
                    return
            except OSError:
                pass
            time.sleep(0.25)
        raise RuntimeError(f"JupyterLab did not start in {timeout} s: {self.log()[-3000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        try:
            self._api("POST", "/api/shutdown")  # stops the kernels too
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


@pytest.fixture(scope="module")
def page(server: LocalServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The notebook open in JupyterLab with every cell run once."""
    chromium = _need_browser()
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=WAIT_MS)
    ARTIFACTS.mkdir(exist_ok=True)
    lab = Lab(tmp_path_factory.mktemp("lab"), server)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 1400})
            page.set_default_timeout(WAIT_MS)
            _logs[page] = (lab, server)  # for the failure artifacts
            with artifacts_on_failure(page, "setup"):
                page.goto(f"{lab.url}/lab/tree/widgets.ipynb?token={lab.token}")
                wait_for_kernel(page)
                page.get_by_role("menuitem", name="Run", exact=True).click()
                page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
                for i in range(len(CELLS)):
                    expect(prompt(page, i)).to_have_text(re.compile(r"\[\d+\]:"), timeout=90_000)
            yield page
            browser.close()
    finally:
        lab.stop()


_logs: dict[Any, tuple[Lab, LocalServer]] = {}


@contextmanager
def artifacts_on_failure(page: Any, name: str) -> Iterator[None]:
    """On any failure keep a screenshot, the JupyterLab log and the local server's log."""
    try:
        yield
    except BaseException:
        try:
            page.screenshot(path=str(ARTIFACTS / f"browser-FAILED-{name}.png"))
        except Exception:  # the page itself may be gone; the logs still help
            pass
        lab, server = _logs[page]
        (ARTIFACTS / f"browser-FAILED-{name}-jupyterlab.log").write_text(lab.log())
        (ARTIFACTS / f"browser-FAILED-{name}-server.log").write_text(server.log())
        raise


def wait_for_kernel(page: Any) -> None:
    """Idle *with a kernel*: the toolbar reads idle a moment before the kernel exists."""
    from playwright.sync_api import expect

    expect(page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")).to_have_count(1, timeout=90_000)
    expect(page.locator(".jp-StatusBar-TextItem[title^='Change kernel']").first).to_contain_text(
        re.compile(r"Python 3.*\| Idle"), timeout=90_000)


def cell(page: Any, i: int) -> Any:
    return page.locator(".jp-Notebook .jp-Cell").nth(i)


def prompt(page: Any, i: int) -> Any:
    return cell(page, i).locator(".jp-InputArea .jp-InputPrompt")


def outputs(page: Any, i: int) -> Any:
    return cell(page, i).locator(".jp-OutputArea-output")


def run_cell(page: Any, i: int) -> None:
    """Select cell ``i`` by its prompt (never the notebook body: that adds a cell) and run it."""
    from playwright.sync_api import expect

    before = prompt(page, i).inner_text()
    prompt(page, i).click()
    page.keyboard.press("Shift+Enter")
    expect(prompt(page, i)).not_to_have_text(before)
    expect(prompt(page, i)).to_have_text(re.compile(r"\[\d+\]:"))


def test_markdown_answer_renders_heading_and_code_block(page: Any) -> None:
    from playwright.sync_api import expect

    with artifacts_on_failure(page, "markdown"):
        shown = outputs(page, 1)
        expect(shown).to_have_count(2)  # the answer (one display, updated in place), then its footer
        expect(shown.first.locator("h1")).to_have_text(re.compile("A Markdown answer"))
        expect(shown.first.locator("pre").first).to_contain_text("def greet(name: str) -> str:")
        expect(shown.first.locator("table td").first).to_have_text("local")
        page.screenshot(path=str(ARTIFACTS / "browser-notebook.png"))


def test_model_table_prices_are_not_typeset_as_math(page: Any) -> None:
    from playwright.sync_api import expect

    with artifacts_on_failure(page, "models"):
        table = outputs(page, 7)
        expect(table).to_contain_text("Claude-Sonnet-4")
        page.wait_for_timeout(1500)  # MathJax typesets asynchronously (it loads on first use)
        expect(table.locator("td").filter(has_text="Claude-Sonnet-4")).to_have_count(1)
        expect(table).to_contain_text("$3.00 in / $15.00 out per M tokens")
        expect(table.locator("mjx-container, .MathJax")).to_have_count(0)
        table.screenshot(path=str(ARTIFACTS / "browser-models.png"))


def test_picker_choice_is_used_by_the_next_cell(page: Any) -> None:
    from playwright.sync_api import expect

    with artifacts_on_failure(page, "picker"):
        # before the choice (this test is the one that changes it): cell 3 was answered by cell 0's default
        expect(outputs(page, 3).last).to_contain_text("GPT-4o-mini")  # the footer names the model
        picker = cell(page, 2).locator(".poe-model-picker")
        expect(picker.locator(".poe-picker-status")).to_contain_text("GPT-4o-mini")
        picker.locator("input[type='text']").click()
        picker.locator("input[type='text']").press_sequentially("echo", delay=40)
        listing = picker.locator(".poe-model-list select option")
        expect(listing.filter(has_not_text=re.compile("echo", re.IGNORECASE))).to_have_count(0)
        echo = listing.filter(has_text=re.compile(r"^EchoBot\s·"))  # ipywidgets writes labels with &nbsp;
        expect(echo).to_have_count(1)
        echo.click()
        expect(picker.locator(".poe-picker-status")).to_contain_text("Default model: EchoBot")
        picker.screenshot(path=str(ARTIFACTS / "browser-picker.png"))

        run_cell(page, 3)
        answer = outputs(page, 3).first
        expect(answer).to_contain_text("EchoBot received 1 message(s)")
        expect(answer).to_contain_text("Which bot answers a cell that names no model?")
        expect(answer.locator("h3")).to_have_text(re.compile("EchoBot received"))


def test_chat_streams_markdown_stops_and_leaves_the_kernel_free(page: Any) -> None:
    from playwright.sync_api import expect

    with artifacts_on_failure(page, "chat"):
        panel = cell(page, 4).locator(".poe-chat")
        answers = panel.locator(".poe-chat-answer")
        send, stop = panel.get_by_role("button", name="Send"), panel.get_by_role("button", name="Stop")

        # 1. a Markdown answer from EchoBot
        send_from_chat(panel, "EchoBot", "hello from the browser")
        expect(answers).to_have_count(1)
        expect(answers.nth(0).locator("h3")).to_have_text(re.compile(r"EchoBot received 1 message\(s\)"))
        expect(answers.nth(0)).to_contain_text("hello from the browser")
        expect(panel.locator(".poe-chat-status")).to_contain_text("points spent")

        # 2. a long answer: watch it stream, run a cell meanwhile, then Stop it
        send_from_chat(panel, "SlowBot", "chunks=2000 delay=0.05")  # 100 s: stopped long before
        expect(answers).to_have_count(2)
        streaming = answers.nth(1)
        expect(streaming).to_contain_text("word5")
        expect(streaming).to_contain_text("streaming…")  # partial text shown while it streams
        expect(stop).to_be_enabled()
        run_cell(page, 5)  # the kernel answers while the chat streams
        expect(outputs(page, 5)).to_contain_text("kernel free")
        expect(streaming).to_contain_text("streaming…")
        panel.screenshot(path=str(ARTIFACTS / "browser-chat-streaming.png"))
        stop.click()
        expect(streaming).to_contain_text("interrupted, partial answer kept")
        expect(send).to_be_enabled()
        expect(stop).to_be_disabled()
        assert "word1999" not in streaming.inner_text()

        # 3. the conversation continues with its history, and a system prompt from the collapsed field
        panel.get_by_text("System prompt (none)").click()  # unfold it
        panel.locator(".poe-chat-system textarea").fill("Be brief")
        send_from_chat(panel, "EchoBot", "what came before?")
        expect(panel.get_by_text("System prompt: Be brief")).to_be_visible()
        expect(answers).to_have_count(3)
        expect(answers.nth(2).locator("h3")).to_have_text(re.compile(r"EchoBot received 5 message\(s\)"))
        expect(answers.nth(2)).to_contain_text("system: Be brief")
        expect(answers.nth(2)).to_contain_text("last message: what came before?")  # every keystroke arrived
        expect(panel.locator(".poe-chat-prompt textarea")).to_have_value("")  # cleared for the next one
        # the conversation scrolls inside the panel, pinned to the newest answer
        scroller = panel.locator(".poe-chat-scroll")
        expect(answers.nth(2)).to_contain_text("EchoBot ·")  # its footer: finished, full height
        sizes = scroller.evaluate("e => [e.scrollHeight, e.clientHeight, e.getBoundingClientRect().bottom]")
        assert sizes[0] > sizes[1] > 0, sizes  # taller than the panel shows: a scroll bar
        newest = answers.nth(2).bounding_box()
        assert newest is not None and newest["y"] + newest["height"] <= sizes[2] + 1, (newest, sizes)
        panel.scroll_into_view_if_needed()
        panel.screenshot(path=str(ARTIFACTS / "browser-chat.png"))


def send_from_chat(panel: Any, model: str, text: str) -> None:
    """Pick ``model`` in the chat's dropdown (opened first, as a person would), type ``text``
    into the prompt box and click Send."""
    dropdown = panel.locator(".poe-chat-model select")
    dropdown.click()
    label = next(t for t in dropdown.locator("option").all_inner_texts()
                 if t.replace("\xa0", " ").startswith(model + " ·"))  # labels use &nbsp;
    dropdown.select_option(label=label)
    box = panel.locator(".poe-chat-prompt textarea")
    box.click()
    box.press_sequentially(text, delay=20)
    panel.get_by_role("button", name="Send").click()


def test_comparison_streams_side_by_side_and_ends_static(page: Any) -> None:
    from playwright.sync_api import expect

    with artifacts_on_failure(page, "compare"):
        shown = outputs(page, 6)
        columns = shown.locator(".poe-compare > div:last-child > div")
        status = shown.locator(".poe-compare b + span")
        # live: re-run the cell and watch the columns fill in while the lanes stream
        prompt(page, 6).click()
        page.keyboard.press("Shift+Enter")
        expect(status.filter(has_text=re.compile(r"streaming… [\d,]+ chars"))).not_to_have_count(0)
        expect(shown).to_have_count(1)  # one display, updated in place
        expect(columns).to_have_count(len(COMPARED))
        assert_not_clipped(status)  # "streaming… 1,234 chars" wraps under the name when narrow
        cell(page, 6).screenshot(path=str(ARTIFACTS / "browser-compare-streaming.png"))
        expect(prompt(page, 6)).to_have_text(re.compile(r"\[\d+\]:"))
        # static: every column finished, rendered Markdown in the columns, the summary table below
        expect(shown).to_have_count(2)  # the grid, then the summary table as its own output (issue 26)
        expect(shown.locator(".poe-compare b")).to_have_text(COMPARED)
        expect(status).to_have_text([re.compile(r"^✓ \d+\.\d\d s$")] * len(COMPARED))
        for i in range(len(COMPARED)):
            expect(columns.nth(i).locator("h1")).to_have_text("A Markdown answer")
            expect(columns.nth(i).locator("pre")).to_contain_text("def greet(name: str) -> str:")
        # narrow columns: headings sized for a column, code scrolls sideways, headers not clipped
        page_h1 = outputs(page, 1).locator("h1").evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
        column_h1 = columns.nth(0).locator("h1").evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
        assert column_h1 < 0.8 * page_h1, (column_h1, page_h1)
        code = columns.nth(0).locator("pre").evaluate(
            "e => [getComputedStyle(e).whiteSpace, getComputedStyle(e).overflowX]")
        assert code == ["pre", "auto"], code
        assert_not_clipped(status)
        summary = shown.last  # the summary table: its own output under the grid (issue 26)
        expect(summary.locator("table tbody tr")).to_have_count(len(COMPARED))
        expect(summary.locator("table th")).to_contain_text(["model", "status", "first token", "total"])
        # side by side: columns of a row share their top edge, none overlaps, none is squeezed
        boxes = [columns.nth(i).bounding_box() for i in range(len(COMPARED))]
        assert all(b is not None and b["width"] >= 219 for b in boxes), boxes
        first_row = [b for b in boxes if abs(b["y"] - boxes[0]["y"]) < 1]
        assert len(first_row) >= 2, boxes
        assert all(a["x"] + a["width"] <= b["x"] for a, b in zip(first_row, first_row[1:])), boxes
        cell(page, 6).screenshot(path=str(ARTIFACTS / "browser-compare.png"))


def assert_not_clipped(status: Any) -> None:
    """No column header's status text reaches past its column's right edge."""
    overflow = status.evaluate_all("spans => spans.map(e => e.getBoundingClientRect().right - "
                                   "e.closest('.poe-compare > div:last-child > div').getBoundingClientRect().right)")
    assert overflow and max(overflow) <= 0.5, overflow
