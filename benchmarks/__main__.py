"""Run the benchmarks and write the results table.

    python -m benchmarks                 # every benchmarks/bench_*.py
    python -m benchmarks streaming import    # only bench_streaming.py and bench_import.py
    python -m benchmarks --list

Each module's ``run()`` returns rows (see :mod:`benchmarks.common`). Results go to
``benchmarks/results/latest.json`` and ``latest.md``; benchmarks not run this time keep their
previous rows (with the time they were measured), so a partial run never erases the table.
A benchmark that crashes is reported in the table and makes the exit status 1; a missed
goal never does (benchmarks report, they do not fail on timings).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import re
import subprocess
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def discover() -> list[str]:
    """Names of the benchmark modules, e.g. ``["import", "streaming"]``."""
    return sorted(p.stem[len("bench_"):] for p in HERE.glob("bench_*.py"))


def machine() -> dict[str, Any]:
    """Where the figures were measured."""
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.machine()}",
        "cpus": os.cpu_count(),
    }
    try:
        from importlib.metadata import version

        info["fastapi_poe"] = version("fastapi-poe")
        info["ipykernel"] = version("ipykernel")
    except Exception:  # noqa: BLE001 - informational only
        pass
    try:
        info["commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, text=True,
                                        capture_output=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def run_one(name: str) -> dict[str, Any]:
    """Import and run ``bench_<name>``; a crash becomes an ``error`` entry, not an exception."""
    started = time.perf_counter()
    entry: dict[str, Any] = {"measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                             "rows": [], "error": None}
    saved_env = dict(os.environ)
    try:
        module = importlib.import_module(f"benchmarks.bench_{name}")
        entry["rows"] = list(module.run())
    except Exception:  # noqa: BLE001 - reported in the table, the other benchmarks still run
        entry["error"] = traceback.format_exc(limit=8)
    finally:  # what one benchmark set in the environment must not leak into the next one's kernels
        os.environ.clear()
        os.environ.update(saved_env)
    entry["seconds"] = round(time.perf_counter() - started, 1)
    return entry


_GOAL = re.compile(r"^\s*(<=|>=|==|<|>)\s*([0-9.]+)\s*(x?)")


def goal_met(r: dict[str, Any]) -> bool | None:
    """Whether a row meets its goal, for goals like ``<= 1.1x`` (ratio) or ``<= 0.5 s`` (value)."""
    match = _GOAL.match(r.get("goal") or "")
    if not match:
        return None
    op, bound, on_ratio = match.group(1), float(match.group(2)), bool(match.group(3))
    measured = r.get("ratio") if on_ratio else r.get("value")
    if measured is None:
        return None
    return {"<=": measured <= bound, ">=": measured >= bound, "==": measured == bound,
            "<": measured < bound, ">": measured > bound}[op]


def fmt(value: float | None) -> str:
    if value is None:
        return ""
    if value == int(value) and abs(value) >= 1:
        return f"{int(value):,}"
    return f"{value:.3g}" if abs(value) < 100 else f"{value:,.1f}"


def to_markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [
        "# poe_magic benchmarks",
        "",
        f"Latest run: {results['updated_at']} on {m.get('platform')}, {m.get('cpus')} CPUs, "
        f"Python {m.get('python')}, fastapi-poe {m.get('fastapi_poe', '?')}, commit {m.get('commit', '?')}. "
        "Each ratio is `value / baseline`, both measured in the same run. Produced by `python -m benchmarks`; "
        "benchmarks report figures and never fail on a timing.",
        "",
        "| benchmark | measure | value | baseline | ratio | goal | met | notes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, entry in sorted(results["benchmarks"].items()):
        if entry.get("error"):
            last = entry["error"].strip().splitlines()[-1]
            lines.append(f"| {name} | **crashed** | | | | | ✗ | `{last.replace('|', '/')}` |")
        for r in entry.get("rows", []):
            met = goal_met(r)
            unit = f" {r['unit']}" if r.get("unit") else ""
            cells = [r["benchmark"], r["measure"], fmt(r["value"]) + unit,
                     (fmt(r["baseline"]) + unit) if r.get("baseline") is not None else "",
                     f"{r['ratio']:.2f}x" if r.get("ratio") is not None else "", r.get("goal", ""),
                     {True: "✓", False: "✗", None: ""}[met], r.get("notes", "")]
            lines.append("| " + " | ".join(str(c).replace("|", "/").replace("\n", " ") for c in cells) + " |")
    lines += ["", "Measured at (UTC): " + ", ".join(
        f"{name} {entry['measured_at']} ({entry['seconds']} s)" for name, entry in sorted(results["benchmarks"].items())),
        ""]
    return "\n".join(lines)


def load_previous(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def main(argv: list[str] | None = None) -> int:
    available = discover()
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default: all of {', '.join(available)})")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results directory (default benchmarks/results)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(available))
        return 0
    names = [n[len("bench_"):] if n.startswith("bench_") else n for n in args.names] or available
    unknown = [n for n in names if n not in available]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; available: {', '.join(available)}")
    for name in ("POE_API_KEY", "POE_BASE_URL"):  # local server only: never spend real points
        os.environ.pop(name, None)

    args.out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = args.out / "latest.json", args.out / "latest.md"
    results = load_previous(json_path)
    results.setdefault("benchmarks", {})
    results = {"benchmarks": {n: e for n, e in results["benchmarks"].items() if n in available}}
    crashed = False
    for name in names:
        print(f"== {name}", flush=True)
        entry = run_one(name)
        results["benchmarks"][name] = entry
        if entry["error"]:
            crashed = True
            print(entry["error"], file=sys.stderr)
        for r in entry["rows"]:
            ratio = f" ({r['ratio']:.2f}x {r.get('goal') or ''})" if r.get("ratio") is not None else ""
            print(f"   {r['measure']}: {fmt(r['value'])} {r.get('unit', '')}{ratio}", flush=True)
        results["updated_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        results["machine"] = machine()
        json_path.write_text(json.dumps(results, indent=1) + "\n")  # written after each: nothing lost
        md_path.write_text(to_markdown(results))
    print(f"\nResults: {md_path} and {json_path.name}")
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
