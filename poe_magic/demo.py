"""The main job: run the tutorial notebooks headlessly against the local server.

``python -m poe_magic.demo [NOTEBOOK ...] [--all] [--out DIR | --in-place]`` executes each
notebook in a real kernel and prints what each cell said. POE_API_KEY is removed from the
kernel's environment, so the notebook's first cell starts the bundled local server: no key,
no network, no points. Executed copies go to ``build/`` (``--in-place`` rewrites the
notebooks themselves, which is how the committed outputs are refreshed).

Costs are found after an answer ends (the points history lists a call a little later); the
demo's kernel waits for them at the end of each cell (``poe_magic.wait_for_costs``), so the
executed copy's footers and printed costs show points, not "points pending".
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

#: the tutorial notebooks of the checkout this package runs from (any working directory)
NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
#: an IPython startup file for the demo's kernel: each cell ends once its calls' costs are known
WAIT_FOR_COSTS = """\
def _poe_magic_wait_for_costs(*_):
    import sys
    ledger = sys.modules.get("poe_magic.spending.ledger")
    if ledger is not None:
        ledger.wait_for_costs(30)

get_ipython().events.register("post_run_cell", _poe_magic_wait_for_costs)
"""
DEFAULT_NOTEBOOK = NOTEBOOKS / "01-quickstart.ipynb"
#: what must never appear in a committed notebook: machine paths and keys
#: stderr that means trouble (poe_magic's own notices, e.g. a budget warning, are fine)
SUSPECT_STDERR = re.compile(r"Traceback|Error|Warning|Exception")
LEAK_PATTERNS = re.compile(r"/root/|/home/|/tmp/|/Users/|\blocal-[0-9a-f]{8,}|\bpk-[A-Za-z0-9_-]{12,}")


@contextmanager
def _offline() -> Iterator[None]:
    """Hide POE_API_KEY/POE_BASE_URL from the kernel and give it a throwaway POE_MAGIC_HOME
    (caches of a throwaway local server are worth nothing), unless POE_MAGIC_DEMO_OFFLINE=0."""
    if os.environ.get("POE_MAGIC_DEMO_OFFLINE", "1") != "1":
        yield
        return
    saved = {name: os.environ.pop(name) for name in ("POE_API_KEY", "POE_BASE_URL", "POE_MAGIC_HOME")
             if name in os.environ}
    try:
        with tempfile.TemporaryDirectory(prefix="poe_magic_demo_") as home:
            os.environ["POE_MAGIC_HOME"] = home
            yield
    finally:
        os.environ.pop("POE_MAGIC_HOME", None)
        os.environ.update(saved)


@contextmanager
def _waiting_for_costs() -> Iterator[None]:
    """The kernel's IPython reads :data:`WAIT_FOR_COSTS` at start (a throwaway IPYTHONDIR)."""
    saved = os.environ.get("IPYTHONDIR")
    with tempfile.TemporaryDirectory(prefix="poe_magic_demo_ipython_") as ipython_dir:
        startup = Path(ipython_dir) / "profile_default" / "startup"
        startup.mkdir(parents=True)
        (startup / "00-poe-magic-wait-for-costs.py").write_text(WAIT_FOR_COSTS, encoding="utf-8")
        os.environ["IPYTHONDIR"] = ipython_dir
        try:
            yield
        finally:
            if saved is None:
                os.environ.pop("IPYTHONDIR", None)
            else:
                os.environ["IPYTHONDIR"] = saved


def execute(path: Path, timeout: int = 300) -> Any:
    """Run the notebook at ``path`` top to bottom in a fresh kernel; return the executed
    notebook (an nbformat node). A failing cell raises nbclient's CellExecutionError."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    with _offline(), _waiting_for_costs():
        NotebookClient(notebook, timeout=timeout, kernel_name="python3", record_timing=False,
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    return notebook


def run_notebook(path: Path, out_dir: Path | None, timeout: int = 300) -> Path:
    """Execute ``path`` and write the executed copy to ``out_dir`` (``None``: over ``path``)."""
    import nbformat

    notebook = execute(path, timeout)
    if out_dir is None:
        out = path
    else:
        out_dir.mkdir(parents=True, exist_ok=True)
        out = out_dir / (path.stem + ".executed.ipynb")
    nbformat.write(notebook, out)
    return out


def problems(notebook: Any) -> list[str]:
    """What is wrong with an executed notebook: error outputs, tracebacks or warnings on
    stderr, machine paths or keys anywhere in the outputs."""
    found = []
    for number, cell in enumerate(notebook.cells, 1):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                found.append(f"cell {number}: {output.get('ename')}: {output.get('evalue')}")
            elif output.get("output_type") == "stream" and output.get("name") == "stderr" \
                    and SUSPECT_STDERR.search(output.get("text", "")):
                found.append(f"cell {number}: stderr: {output.get('text', '')[:200]}")
            found += [f"cell {number}: leaks {leak!r}" for leak in LEAK_PATTERNS.findall(str(output))]
    return found


def summarize(notebook: Any) -> str:
    """One line per code cell: its first line and the start of what it showed."""
    lines = []
    for number, cell in enumerate(notebook.cells, 1):
        if cell.cell_type != "code":
            continue
        first = cell.source.strip().splitlines()[0] if cell.source.strip() else ""
        shown = ""
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            shown = (output.get("text") or data.get("text/markdown") or data.get("text/plain")
                     or ("[image]" if "image/png" in data else "") or shown)
        shown = " ".join(str(shown).split())[:100]
        lines.append(f"[{number:>2}] {first[:40]:<40} -> {shown}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import nbformat

    parser = argparse.ArgumentParser(prog="python -m poe_magic.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=Path, help=f"default: {DEFAULT_NOTEBOOK}")
    parser.add_argument("--all", action="store_true", help=f"every notebook in {NOTEBOOKS}/")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--out", type=Path, default=Path("build"), help="where executed copies go (default build/)")
    where.add_argument("--in-place", action="store_true", help="overwrite the notebooks with their executed versions")
    args = parser.parse_args(argv)
    paths = sorted(NOTEBOOKS.glob("*.ipynb")) if args.all else (args.notebooks or [DEFAULT_NOTEBOOK])
    missing = [p for p in paths if not p.exists()]
    if missing or not paths:
        print(f"error: {missing[0] if missing else NOTEBOOKS} not found (the notebooks come with a checkout "
              "of the repository: pip install -e . from it)", file=sys.stderr)
        return 2
    status = 0
    for path in paths:
        started = time.perf_counter()
        out = run_notebook(path, None if args.in_place else args.out)
        executed = nbformat.read(out, as_version=4)
        print(summarize(executed))
        for problem in problems(executed):
            print(f"problem: {problem}", file=sys.stderr)
            status = 1
        print(f"\nExecuted {path} offline against the bundled local Poe server in "
              f"{time.perf_counter() - started:.1f} s.\nExecuted copy: {out}\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
