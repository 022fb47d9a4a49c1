"""Regenerate docs/images/compare-grid.png: a real comparison against the local server,
rendered by headless Chromium (not part of the mkdocs build).

    python docs/hooks/compare_grid_screenshot.py [MODEL,MODEL,...] [OUT.png]

Needs playwright (Python) and a ``chromium`` on PATH; no key, no network.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import poe_magic

PROMPT = "Explain recursion in two sentences"
ARGS = ("--no-sandbox --disable-gpu --disable-background-networking --disable-component-update "
        "--disable-sync --no-first-run --disable-quic").split()
# close to JupyterLab's look: output area with a blue left bar, striped summary table
STYLE = """
body{font-family:-apple-system,BlinkMacSystemFont,'Segoe UI',Helvetica,Arial,sans-serif;font-size:14px;
     margin:16px;background:#fff;color:#1f2328}
.cell{border-left:3px solid #1976d2;padding:8px 12px;max-width:1100px}
table{border-collapse:collapse;font-size:13px;margin-top:6px}
th,td{padding:4px 10px;border-bottom:1px solid #e0e0e0} th{font-weight:600}
tbody tr:nth-child(odd){background:#f5f5f5}
.prompt{font-family:monospace;color:#555;margin-bottom:8px;white-space:pre}
"""


def main(models: list[str], out: Path) -> None:
    from playwright.sync_api import sync_playwright

    poe_magic.start_local_server()
    comparison = poe_magic.compare(PROMPT, models, stream=False)
    page_html = (f"<!doctype html><html><head><meta charset='utf-8'><style>{STYLE}</style></head><body>"
                 f"<div class='cell'><div class='prompt'>%%poe {' '.join(models)}\n{PROMPT}</div>"
                 f"{comparison._repr_html_()}</div></body></html>")
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        html = Path(tmp) / "grid.html"
        html.write_text(page_html, encoding="utf-8")
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=ARGS)
        page = browser.new_page(viewport={"width": 1140, "height": 600}, device_scale_factor=1.5)
        page.goto(html.as_uri())
        page.locator(".cell").screenshot(path=str(out))
        browser.close()
    print(f"{out}: {out.stat().st_size:,} bytes")


if __name__ == "__main__":
    names = (sys.argv[1] if len(sys.argv) > 1 else "Claude-Sonnet-4,GPT-5,Gemini-2.5-Pro").split(",")
    main(names, Path(sys.argv[2] if len(sys.argv) > 2 else "docs/images/compare-grid.png"))
