"""Regenerate docs/images/compare-grid.png: a screenshot of a real JupyterLab running a
``%%poe A B C`` comparison cell against the bundled local server (not part of the mkdocs build).

    python docs/hooks/compare_grid_screenshot.py [MODEL,MODEL,...] [OUT.png]

Needs the test extras (JupyterLab, playwright) and a ``chromium`` on PATH; no key, no network:
JupyterLab, its kernel and the local server all run on 127.0.0.1 with private settings folders.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

PROMPT = "Explain recursion in two sentences."
ARGS = ("--no-sandbox --disable-gpu --disable-background-networking --disable-component-update "
        "--disable-sync --no-first-run --disable-quic").split()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _notebook(models: list[str]) -> dict:
    cells = ["%load_ext poe_magic", f"%%poe {' '.join(models)}\n{PROMPT}"]
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {"kernelspec": {
        "name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}},
        "cells": [{"cell_type": "code", "id": f"c{i}", "metadata": {}, "execution_count": None, "outputs": [],
                   "source": source} for i, source in enumerate(cells)]}


def _lab(base: Path, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    """A JupyterLab on 127.0.0.1 with private config (no news toast covering the cells)."""
    port, token = _free_port(), secrets.token_hex(16)
    private = base / "jupyter"
    settings = private / "user-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false",
                                                                            "checkForUpdates": False}))
    env = {**env, "JUPYTER_CONFIG_DIR": str(private / "config"), "JUPYTER_DATA_DIR": str(private / "data"),
           "JUPYTER_RUNTIME_DIR": str(private / "runtime"), "IPYTHONDIR": str(private / "ipython")}
    process = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
         f"--port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
         f"--ServerApp.root_dir={base / 'notebooks'}", f"--LabApp.workspaces_dir={private / 'workspaces'}",
         f"--LabApp.user_settings_dir={private / 'user-settings'}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(480):
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=5)
            return process, f"{url}/lab/tree/compare.ipynb?token={token}"
        except OSError:
            time.sleep(0.25)
    process.kill()
    raise SystemExit("JupyterLab did not start")


def main(models: list[str], out: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    from poe_magic.server.launch import local_server

    with tempfile.TemporaryDirectory() as tmp, local_server() as server:
        base = Path(tmp)
        (base / "notebooks").mkdir()
        (base / "notebooks" / "compare.ipynb").write_text(json.dumps(_notebook(models)))
        lab, url = _lab(base, {**os.environ, **server.env, "POE_MAGIC_HOME": str(base / "home")})
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=shutil.which("chromium"), args=ARGS)
                page = browser.new_page(viewport={"width": 1280, "height": 900}, device_scale_factor=1.5)
                page.set_default_timeout(90_000)
                page.goto(url)
                expect(page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")).to_have_count(1)
                expect(page.locator(".jp-StatusBar-TextItem[title^='Change kernel']").first).to_contain_text(
                    re.compile(r"Python 3.*\| Idle"))  # idle *with* a kernel
                page.get_by_role("menuitem", name="Run", exact=True).click()
                page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
                cell = page.locator(".jp-Notebook .jp-Cell").nth(1)
                expect(cell.locator(".jp-InputPrompt")).to_have_text(re.compile(r"\[\d+\]:"))
                summary = cell.locator(".jp-OutputArea-output table").last
                expect(summary).to_contain_text(models[-1])
                expect(summary).to_contain_text("points", timeout=30_000)  # the costs land in place
                page.locator(".jp-Notebook .jp-Cell").nth(0).click()  # no cursor or selection in the shot
                page.wait_for_timeout(500)
                cell.screenshot(path=str(out))
                browser.close()
        finally:
            lab.terminate()
            lab.wait(20)
    print(f"{out}: {out.stat().st_size:,} bytes")


if __name__ == "__main__":
    names = (sys.argv[1] if len(sys.argv) > 1 else "Claude-Sonnet-4,GPT-5,Gemini-2.5-Pro").split(",")
    main(names, Path(sys.argv[2] if len(sys.argv) > 2 else "docs/images/compare-grid.png"))
