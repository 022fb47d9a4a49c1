"""What every benchmark module shares: the row shape, timing helpers, a server, a kernel.

A benchmark module is ``benchmarks/bench_NAME.py`` exposing ``run() -> list[dict]``; each row
is made with :func:`row` and compares a measured ``value`` with a ``baseline`` measured in the
same run (``ratio = value / baseline``). Benchmarks report; they never fail on a timing.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the kernel harness lives with the tests

from harness import CellResult, Kernel  # noqa: E402,F401  (re-exported for benchmark modules)

from poe_magic.server.launch import LocalServer, local_server  # noqa: E402

Row = dict[str, Any]
FIELDS = ("benchmark", "measure", "value", "baseline", "ratio", "goal", "unit", "notes")


def row(benchmark: str, measure: str, value: float, *, baseline: float | None = None,
        goal: str = "", unit: str = "s", notes: str = "") -> Row:
    """One result row; ``ratio`` is ``value / baseline`` when there is a baseline.

    ``goal`` is free text; the runner checks the forms ``<= 1.1x`` (on the ratio) and
    ``<= 0.5 s`` / ``== 1`` (on the value).
    """
    ratio = value / baseline if baseline else None
    return {"benchmark": benchmark, "measure": measure, "value": float(value),
            "baseline": None if baseline is None else float(baseline),
            "ratio": None if ratio is None else round(ratio, 4), "goal": goal, "unit": unit, "notes": notes}


def median(values: list[float]) -> float:
    return statistics.median(values)


def spread(values: list[float], unit: str = "s") -> str:
    """``min–max unit over n runs`` for the notes column."""
    return f"{min(values):.3g}–{max(values):.3g} {unit} over {len(values)} runs"


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds one call took, and what it returned."""
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


@contextmanager
def server() -> Iterator[LocalServer]:
    """A fresh local Poe server in its own process (sharing our GIL would skew timings)."""
    with local_server() as srv:
        yield srv


@contextmanager
def kernel(srv: LocalServer, *, load: bool = True, **env: str) -> Iterator[Kernel]:
    """A real ipykernel pointed at ``srv`` with a private POE_MAGIC_HOME (``%load_ext`` done
    unless ``load=False``)."""
    with tempfile.TemporaryDirectory(prefix="poe_bench_") as home:
        k = Kernel(env={**srv.env, "POE_MAGIC_HOME": home, **env})
        try:
            if load:
                k.run_ok("%load_ext poe_magic")
            yield k
        finally:
            k.shutdown()


_RSS_PROBE = """
def _poe_bench_rss():
    # /proc's VmHWM starts afresh at exec; ru_maxrss would still count the parent process's
    # memory at fork time (a benchmark runner that grew would inflate every kernel's peak).
    try:
        with open('/proc/self/status') as status:
            fields = dict(line.split(':', 1) for line in status if ':' in line)
        return [int(fields['VmRSS'].split()[0]) / 1024, int(fields['VmHWM'].split()[0]) / 1024]
    except OSError:  # not Linux: ru_maxrss (KB on Linux, bytes on macOS) as the peak
        import resource, sys
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (2**20 if sys.platform == 'darwin' else 2**10)
        return [peak, peak]
"""


def kernel_rss_mb(k: Kernel) -> tuple[float, float]:
    """The kernel process's (current, peak) resident memory in MB, read inside the kernel."""
    k.run_ok(_RSS_PROBE)
    current, peak = k.value("_poe_bench_rss()")
    return float(current), float(peak)


def env_without_key() -> dict[str, str]:
    """This environment minus any real key or server (benchmarks never touch the internet)."""
    return {k: v for k, v in os.environ.items() if k not in ("POE_API_KEY", "POE_BASE_URL")}
