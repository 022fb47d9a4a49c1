"""What ``%load_ext poe_magic`` costs, next to ``import IPython`` alone.

Each repetition is a fresh interpreter (no warm module cache): one times ``import IPython``,
the other builds an IPython shell first and then times ``%load_ext poe_magic`` alone, and
reports which heavy packages that pulled in. ``python -X importtime`` gives poe_magic's own
cumulative import time.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile

from .common import ROOT, Row, env_without_key, median, row, spread

REPEATS = 7
HEAVY = ("pandas", "matplotlib", "ipywidgets", "fastapi_poe", "fastapi", "pydantic", "httpx", "numpy")

IMPORT_IPYTHON = """
import time
t = time.perf_counter()
import IPython
print(time.perf_counter() - t)
"""

LOAD_EXT = """
import json, sys, time
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
t = time.perf_counter()
shell.run_line_magic("load_ext", "poe_magic")
seconds = time.perf_counter() - t
assert "poe" in shell.magics_manager.magics["cell"], "the %%poe magic was not registered"
heavy = [m for m in HEAVY if m in sys.modules]
print(json.dumps([seconds, heavy]))
"""


def python(code: str, *flags: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="poe_bench_ipython_") as ipython_dir:
        env = {**env_without_key(), "IPYTHONDIR": ipython_dir, "POE_MAGIC_HOME": ipython_dir}
        done = subprocess.run([sys.executable, *flags, "-c", code], cwd=ROOT, env=env, text=True,
                              capture_output=True, timeout=120)
    if done.returncode:
        raise RuntimeError(f"benchmark subprocess failed:\n{done.stderr[-2000:]}")
    return done


OWN_IMPORTS = """
import sys
import IPython
before = set(sys.modules)
import poe_magic, poe_magic.magics
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def own_import_ms() -> tuple[float, list[str]]:
    """poe_magic's cumulative import time per ``-X importtime`` (IPython already imported),
    and the slowest other modules it pulled in."""
    done = python("import json\n" + OWN_IMPORTS, "-X", "importtime")
    new = {name for name in json.loads(done.stdout.strip()) if not name.startswith("poe_magic")}
    cumulative: dict[str, int] = {}
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|\s*(\S+)", line)
        if match:
            cumulative[match.group(3)] = int(match.group(2))
    total = sum(us for name, us in cumulative.items() if name in ("poe_magic", "poe_magic.magics"))
    slowest = sorted(((us, name) for name, us in cumulative.items() if name in new), reverse=True)[:3]
    return total / 1000, [f"{name} {us / 1000:.1f} ms" for us, name in slowest]


def run() -> list[Row]:
    ipython_times, load_times, heavy_found = [], [], set()
    for _ in range(REPEATS):
        ipython_times.append(float(python(IMPORT_IPYTHON).stdout.strip()))
        seconds, heavy = json.loads(python(f"HEAVY = {HEAVY!r}\n" + LOAD_EXT).stdout.strip())
        load_times.append(seconds)
        heavy_found.update(heavy)
    own_ms, slowest = own_import_ms()
    ipy, load = median(ipython_times) * 1000, median(load_times) * 1000
    return [
        row("import", "%load_ext poe_magic vs import IPython", load, baseline=ipy, unit="ms",
            goal="<= 0.1x", notes=f"fresh interpreter each time, median of {REPEATS}; load_ext "
                                   f"{spread([t * 1000 for t in load_times], 'ms')}, import IPython "
                                   f"{spread([t * 1000 for t in ipython_times], 'ms')}"),
        row("import", "poe_magic's own imports (python -X importtime, cumulative)", own_ms, unit="ms",
            notes="poe_magic + poe_magic.magics after IPython; slowest dependencies it pulled in: "
                  + (", ".join(slowest) or "none")),
        row("import", "heavy packages imported by %load_ext", len(heavy_found), unit="modules", goal="== 0",
            notes="checked: " + ", ".join(HEAVY) + (f"; found: {', '.join(sorted(heavy_found))}" if heavy_found else "")),
    ]
