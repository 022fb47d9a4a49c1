"""The shape of the package, checked by machine: layers, cycles, sizes, the public API."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

import poe_magic

PACKAGE = Path(poe_magic.__file__).parent


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected groups of modules (Tarjan), imports inside functions included."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def test_no_import_cycles_counting_imports_inside_functions() -> None:
    assert _cycles(grimp.build_graph("poe_magic")) == []


def test_the_layers_contract_holds() -> None:
    result = subprocess.run([sys.executable, "-c", "from importlinter.cli import lint_imports_command; "
                             "lint_imports_command()"], capture_output=True, text=True,
                            cwd=PACKAGE.parent)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_the_top_level_shows_the_layers() -> None:
    entries = [p.name for p in PACKAGE.iterdir() if p.name != "__pycache__"]
    assert len(entries) <= 16, sorted(entries)
    for folder in (p for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"):
        doc = importlib.import_module(f"poe_magic.{folder.name}").__doc__ or ""
        assert doc.strip(), f"poe_magic.{folder.name} has no docstring saying what it owns"


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_module_stays_under_400_lines(path: Path) -> None:
    assert len(path.read_text(encoding="utf-8").splitlines()) < 400


def test_no_module_shares_a_public_name() -> None:
    modules = {p.stem for p in PACKAGE.rglob("*.py")} | {p.name for p in PACKAGE.rglob("*") if p.is_dir()}
    assert not modules & set(poe_magic.__all__)
    for name in poe_magic.__all__:  # every public name resolves, to what it says
        assert getattr(poe_magic, name) is not None, name
    importlib.import_module("poe_magic.comparison.run")  # importing a module never rebinds a public name
    assert callable(poe_magic.compare) and not isinstance(poe_magic.compare, type(poe_magic))


def _calls_to(name: str) -> dict[str, int]:
    """Modules of the package that call ``name(...)`` (a plain or attribute call, or
    ``owner.attr`` for exactly that), with counts."""
    import ast

    found: dict[str, int] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                func = node.func
                called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and "." in name:
                    called = f"{func.value.id}.{func.attr}"
                if called == name:
                    key = str(path.relative_to(PACKAGE))
                    found[key] = found.get(key, 0) + 1
    return found


def test_one_send_path_reaches_the_transport() -> None:
    """Issue 22: a bot request is sent only by the runner's send step (a LiveStream is made
    nowhere else), and only the LiveStream calls the streaming transport."""
    assert _calls_to("LiveStream") == {"prompting/runner.py": 1}
    assert _calls_to("transport.stream") == {"core/live.py": 1}
    # issue 24: the openai protocol is one more way of making one try, chosen inside the transport
    assert _calls_to("openai_stream.answer") == {"wire/transport.py": 1}
    assert "preflight" not in _calls_to("preflight") and _calls_to("finish_reply") == {}


def test_one_retry_policy_decides_every_retry() -> None:
    """Streaming, uploads, plain HTTP and batch rows all ask wire.retry.RetryPolicy."""
    makers = {**_calls_to("RetryPolicy"), **_calls_to("of")}
    assert {"wire/transport.py", "wire/http.py", "batches/runner.py"} <= set(makers)
    assert _calls_to("next_retry") == {"wire/retry.py": 2}


def test_the_version_is_written_in_one_place() -> None:
    """pyproject.toml holds the version; the package reads it from its installed metadata."""
    import re

    written = re.search(r'^version = "([^"]+)"', (PACKAGE.parent / "pyproject.toml").read_text(), re.M)
    assert written is not None and poe_magic.__version__ == written.group(1)
    assert '"0.' not in (PACKAGE / "base" / "version.py").read_text()


def test_delayed_display_work_runs_on_the_loop_not_a_thread_per_timer() -> None:
    """ipykernel gives each thread that shows output its own iopub pipe (a zmq socket and an
    eventfd, swept every 10 s): a ``threading.Timer`` per paced update held file descriptors
    (a CI run saw +14 over 200 cells). Delays go through ``LoopThread.call_later``."""
    offenders = [str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py")
                 if "threading.Timer(" in path.read_text(encoding="utf-8")]
    assert offenders == []
