import shutil, sys
import poe_magic
srv = poe_magic.start_local_server()
models = sys.argv[1].split(",")
c = poe_magic.compare("Explain recursion in two sentences", models, stream=False)
html = c._repr_html_()
page = f"""<!doctype html><html><head><meta charset="utf-8">
<style>body{{font-family:-apple-system,BlinkMacSystemFont,'Segoe UI',Helvetica,Arial,sans-serif;font-size:14px;margin:16px;background:#fff;color:#1f2328}}
.cell{{border-left:3px solid #1976d2;padding:8px 12px;max-width:1100px}}
table{{border-collapse:collapse;font-size:13px;margin-top:6px}} th,td{{padding:4px 10px;border-bottom:1px solid #e0e0e0}} th{{font-weight:600}} tbody tr:nth-child(odd){{background:#f5f5f5}}
.prompt{{font-family:monospace;color:#555;margin-bottom:8px;white-space:pre}}</style></head><body>
<div class="cell"><div class="prompt">%%poe {' '.join(models)}
Explain recursion in two sentences</div>{html}</div></body></html>"""
open("/tmp/grid.html", "w").write(page)
from playwright.sync_api import sync_playwright
with sync_playwright() as p:
    b = p.chromium.launch(executable_path=shutil.which("chromium"), args="--no-sandbox --disable-gpu --disable-background-networking --disable-component-update --disable-sync --no-first-run --disable-quic".split())
    pg = b.new_page(viewport={"width": 1140, "height": 600}, device_scale_factor=1.5)
    pg.goto("file:///tmp/grid.html")
    pg.locator(".cell").screenshot(path=sys.argv[2])
    b.close()
print(c.to_frame())
