"""The main job: run the quickstart notebook headlessly against the local server.

``python -m poe_magic.demo [NOTEBOOK] [--out DIR]`` executes the notebook in a real kernel
(with no POE_API_KEY set its first cell starts the bundled local server, so no key and no
network are needed), writes the executed copy to ``build/`` and prints what each cell said.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

DEFAULT_NOTEBOOK = Path("notebooks") / "01-quickstart.ipynb"


def run_notebook(path: Path, out_dir: Path, timeout: int = 300) -> Path:
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    env_key = os.environ.pop("POE_API_KEY", None) if os.environ.get("POE_MAGIC_DEMO_OFFLINE", "1") == "1" else None
    try:
        NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    finally:
        if env_key is not None:
            os.environ["POE_API_KEY"] = env_key
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / (path.stem + ".executed.ipynb")
    nbformat.write(notebook, out)
    return out


def summarize(path: Path) -> str:
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    lines = []
    for number, cell in enumerate(notebook.cells, 1):
        if cell.cell_type != "code":
            continue
        first = cell.source.strip().splitlines()[0] if cell.source.strip() else ""
        shown = ""
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            shown = output.get("text") or data.get("text/markdown") or data.get("text/plain") or shown
        shown = " ".join(str(shown).split())[:100]
        lines.append(f"[{number:>2}] {first[:40]:<40} -> {shown}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m poe_magic.demo", description=__doc__)
    parser.add_argument("notebook", nargs="?", type=Path, default=DEFAULT_NOTEBOOK)
    parser.add_argument("--out", type=Path, default=Path("build"), help="where the executed copy goes")
    args = parser.parse_args(argv)
    if not args.notebook.exists():
        print(f"error: {args.notebook} not found (run from the repository root)", file=sys.stderr)
        return 2
    started = time.perf_counter()
    out = run_notebook(args.notebook, args.out)
    print(summarize(out))
    print(f"\nExecuted {args.notebook} offline against the bundled local Poe server in "
          f"{time.perf_counter() - started:.1f} s.\nExecuted copy: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
