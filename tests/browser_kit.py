"""The one browser harness: a JupyterLab or Notebook 7 server, headless Chromium, and the page helpers.

Used by every ``tests/test_browser*.py`` module and by ``docs/hooks/compare_grid_screenshot.py``
(which puts ``tests/`` on ``sys.path`` as pytest's ``pythonpath`` does). Importing it needs
neither pytest nor playwright: they are imported where they are used.

- :func:`need_browser` finds Chromium (and playwright): a test skips without them, unless
  ``POE_MAGIC_REQUIRE_BROWSER`` is set (``.ci/run`` sets it), where a missing browser fails.
- :class:`Frontend` starts ``jupyterlab`` or ``notebook`` (Notebook 7) on a free port of
  127.0.0.1, with a token and private Jupyter, JupyterLab-settings and poe_magic folders,
  pointed at a local Poe server; ``write_notebook`` puts a notebook in its root.
- :func:`open_browser` launches Chromium with :data:`CHROMIUM_ARGS` and gives a page;
  :func:`artifacts_on_failure` keeps a screenshot, the frontend's log and the local server's log
  in ``test-artifacts/`` when the block fails.
- ``cell``/``prompt``/``outputs``/``run_cell``/``run_all``/``wait_for_kernel``/``pick``/
  ``send_from_chat`` click and type as a person would; where JupyterLab and Notebook 7 differ,
  ``kind`` says which it is.
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
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from poe_magic.server.launch import LocalServer

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
WAIT_MS = 30_000  # generous: a loaded 2-core CI box renders slowly
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
FRONTENDS = {  # kind: (module run with python -m, URL path of a notebook)
    "notebook7": ("notebook", "/notebooks/"),
    "jupyterlab": ("jupyterlab", "/lab/tree/"),
}
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def find_chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def need_browser() -> str:
    """The chromium path, or skip (fail when POE_MAGIC_REQUIRE_BROWSER is set)."""
    import pytest

    chromium = find_chromium()
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_notebook(path: Path, cells: list[str]) -> Path:
    """A notebook of code cells (not run) with the kernelspec the kernel reports."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    nbformat.write(nb, str(path))
    return path


class Frontend:
    """JupyterLab or Notebook 7 in its own process group, with private Jupyter and poe_magic dirs.

    ``save_widget_state`` turns on what a user turns on to keep widgets in saved notebooks
    (Settings > Widgets). Use it as a context manager, or call :meth:`stop`.
    """

    def __init__(self, kind: str, base: Path, server: LocalServer, *, save_widget_state: bool = False) -> None:
        module, self.path = FRONTENDS[kind]
        self.kind, self.server, self.port, self.token = kind, server, free_port(), secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        self.root, private = base / "notebooks", base / "jupyter"
        self.root.mkdir()
        settings = private / "user-settings"
        plugins: dict[str, dict[str, Any]] = {  # no "news" toast or update check: nothing may cover the cells
            "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False}}
        if save_widget_state:
            plugins["@jupyter-widgets/jupyterlab-manager/plugin"] = {"saveState": True}
        for plugin, values in plugins.items():
            where = settings / f"{plugin}.jupyterlab-settings"
            where.parent.mkdir(parents=True, exist_ok=True)
            where.write_text(json.dumps(values))
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
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def __enter__(self) -> Frontend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def write_notebook(self, name: str, cells: list[str]) -> Path:
        """``name`` in the server's root, holding ``cells``."""
        return write_notebook(self.root / name, cells)

    def page_url(self, name: str) -> str:
        """Where the notebook ``name`` opens in this frontend (token included)."""
        return f"{self.url}{self.path}{name}?token={self.token}"

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
        if self._log.closed:
            return
        try:
            self.api("POST", "/api/shutdown")  # stops the kernels too
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


_fronts: dict[Any, Frontend] = {}  # page -> the frontend it shows, for the failure artifacts


@contextmanager
def open_browser(chromium: str, front: Frontend, *, height: int, timeout: float = WAIT_MS,
                 **page_options: Any) -> Iterator[Any]:
    """Headless Chromium with :data:`CHROMIUM_ARGS`, one page 1280 px wide (nothing loaded yet)."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=WAIT_MS)
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": height}, **page_options)
        page.set_default_timeout(timeout)
        _fronts[page] = front
        try:
            yield page
        finally:
            _fronts.pop(page, None)
            browser.close()


@contextmanager
def artifacts_on_failure(page: Any, name: str, *, full_page: bool = False) -> Iterator[None]:
    """On any failure keep a screenshot, the frontend's log and the local server's log."""
    try:
        yield
    except BaseException:
        try:
            page.screenshot(path=str(ARTIFACTS / f"browser-FAILED-{name}.png"), full_page=full_page)
        except Exception:  # the page itself may be gone; the logs still help
            pass
        front = _fronts[page]
        (ARTIFACTS / f"browser-FAILED-{name}-{front.kind}.log").write_text(front.log())
        (ARTIFACTS / f"browser-FAILED-{name}-server.log").write_text(front.server.log())
        raise


def cell(page: Any, i: int) -> Any:
    return page.locator(".jp-Notebook .jp-Cell").nth(i)


def prompt(page: Any, i: int) -> Any:
    return cell(page, i).locator(".jp-InputArea .jp-InputPrompt")


def outputs(page: Any, i: int) -> Any:
    return cell(page, i).locator(".jp-OutputArea-output")


def wait_for_kernel(page: Any, kind: str = "jupyterlab") -> None:
    """Idle *with a kernel*: the toolbar reads idle a moment before the kernel exists. JupyterLab's
    status bar names the kernel; Notebook 7 has no status bar, so it waits that moment out."""
    from playwright.sync_api import expect

    idle = page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")
    if kind == "jupyterlab":
        expect(idle).to_have_count(1, timeout=90_000)
        expect(page.locator(".jp-StatusBar-TextItem[title^='Change kernel']").first).to_contain_text(
            re.compile(r"Python 3.*\| Idle"), timeout=90_000)
    else:
        expect(idle.first).to_have_count(1, timeout=90_000)
        page.wait_for_timeout(1500)


def run_all(page: Any, cells: int, kind: str = "jupyterlab") -> None:
    """Once the kernel is there, Run > Run All Cells, then wait until each of the first ``cells``
    cells has its execution count."""
    from playwright.sync_api import expect

    wait_for_kernel(page, kind)
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    for i in range(cells):
        expect(prompt(page, i)).to_have_text(re.compile(r"\[\d+\]:"), timeout=90_000)


def run_cell(page: Any, i: int, timeout: float | None = None) -> None:
    """Select cell ``i`` by its prompt (never the notebook body: that adds a cell), run it and wait
    (``timeout`` ms, playwright's default when None) until it has finished."""
    from playwright.sync_api import expect

    before = prompt(page, i).inner_text()
    prompt(page, i).click()
    page.keyboard.press("Shift+Enter")
    expect(prompt(page, i)).not_to_have_text(before)
    expect(prompt(page, i)).to_have_text(re.compile(r"\[\d+\]:"), timeout=timeout)


def filter_picker(picker: Any, typed: str) -> Any:
    """Type ``typed`` into the model picker's search box and wait until the kernel has filtered
    the list (its count reads "3 of 26 models"); returns the listed options."""
    from playwright.sync_api import expect

    box = picker.locator("input[type='text']")
    box.click()
    box.fill("")
    box.press_sequentially(typed, delay=40)
    # a click on the unfiltered list is undone when the filtered one replaces it, which a loaded
    # machine makes likely: the caller clicks once this holds
    count = picker.get_by_text(re.compile(r"\d+ of \d+ models"))
    expect(count).to_have_text(re.compile(r"(\d+) of (?!\1 )\d+ models"))
    return picker.locator(".poe-model-list select option")


def pick(picker: Any, typed: str, model: str) -> None:
    """Filter the picker's list and click ``model``, as a person would."""
    filter_picker(picker, typed).filter(has_text=re.compile(rf"^{model}\s·")).click()


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
