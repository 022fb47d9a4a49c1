"""The test suite checks itself: every test checks something, and slow tests say they are slow.

Read with ``ast`` (nothing is run): a test function must contain an ``assert``, a
``pytest.raises``/``pytest.warns``/``pytest.fail``, or a call to a helper that does (found the
same way, across ``tests/*.py``, to any depth: ``Kernel.run_ok`` raises ``AssertionError``,
``faultkit.one_line`` asserts, ...). A test that starts a kernel or a server by hand, rather than
through a fixture, carries the ``kernel``/``http`` mark itself (``conftest.py`` marks the rest from
their fixtures' return annotations, so a fixture that starts one must be annotated with it).
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
TEST_FILES = sorted(TESTS.glob("test_*.py"))

#: Helpers that check without an ``assert`` statement in this repository's code.
CHECKING_HELPERS = {
    "expect",  # playwright: expect(locator).to_have_text(...) waits, then fails the test if it never holds
}
PYTEST_CHECKS = {"raises", "warns", "fail", "deprecated_call"}

#: A call in a test's own body that starts something, and the mark the test must carry for it.
STARTERS = {
    "Kernel": "kernel",  # harness.Kernel: an ipykernel
    "NotebookClient": "kernel",  # nbclient: an ipykernel
    "notebook_client": "kernel",  # harness.notebook_client: nbclient's, over Unix sockets
    "demo.execute": "kernel",  # runs a tutorial notebook in a kernel
    "demo.main": "kernel",
    "local_server": "http",  # a server of its own
}


def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _called_name(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def _dotted(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        return f"{func.value.id}.{func.attr}"
    return _called_name(call)


def _checks_directly(fn: ast.AST) -> bool:
    for node in ast.walk(fn):
        if isinstance(node, ast.Assert):
            return True
        if isinstance(node, ast.Raise) and node.exc is not None:
            exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(exc, ast.Name) and exc.id == "AssertionError":
                return True
        if isinstance(node, ast.Call):
            func = node.func
            if (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "pytest"
                    and func.attr in PYTEST_CHECKS):
                return True
    return False


def _calls(fn: ast.AST) -> set[str]:
    return {_called_name(node) for node in ast.walk(fn) if isinstance(node, ast.Call)}


def _functions(tree: ast.Module) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def checking_helpers() -> set[str]:
    """Names of functions and methods under tests/ that check something, directly or through
    another such helper (a fixpoint), plus :data:`CHECKING_HELPERS`."""
    functions = [fn for path in sorted(TESTS.glob("*.py")) for fn in _functions(_parse(path))
                 if not fn.name.startswith("test_") and not _is_fixture(fn)]  # nobody calls a fixture
    found = set(CHECKING_HELPERS) | {fn.name for fn in functions if _checks_directly(fn)}
    while True:
        more = {fn.name for fn in functions if fn.name not in found and _calls(fn) & found}
        if not more:
            return found
        found |= more


def _is_fixture(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    return any("fixture" in ast.unparse(d) for d in fn.decorator_list)


def _tests(tree: ast.Module) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [fn for fn in _functions(tree) if fn.name.startswith("test_")]


def _marks(fn: ast.FunctionDef | ast.AsyncFunctionDef, tree: ast.Module) -> set[str]:
    """``pytest.mark.X`` names on the function and in the module's ``pytestmark``."""
    nodes: list[ast.AST] = list(fn.decorator_list)
    nodes += [n.value for n in tree.body if isinstance(n, ast.Assign)
              and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in n.targets)]
    marks = set()
    for node in nodes:
        for sub in ast.walk(node):
            if (isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Attribute)
                    and sub.value.attr == "mark"):
                marks.add(sub.attr)
    return marks


def test_every_test_checks_something() -> None:
    helpers = checking_helpers()
    assert {"run_ok", "one_line", "usage_line", "churn"} <= helpers  # the harness's checks are seen
    assertless = [f"{path.name}::{fn.name}" for path in TEST_FILES for fn in _tests(_parse(path))
                  if not _checks_directly(fn) and not (_calls(fn) & helpers)]
    assert assertless == [], f"tests that check nothing: {assertless}"


def test_tests_that_start_a_kernel_or_server_by_hand_are_marked() -> None:
    unmarked = []
    for path in TEST_FILES:
        tree = _parse(path)
        for fn in _tests(tree):
            needs = {STARTERS[name] for node in ast.walk(fn) if isinstance(node, ast.Call)
                     for name in (_dotted(node), _called_name(node)) if name in STARTERS}
            missing = needs - _marks(fn, tree) - ({"http"} if "kernel" in _marks(fn, tree) else set())
            if missing:
                unmarked.append(f"{path.name}::{fn.name} needs {sorted(missing)}")
    assert unmarked == [], unmarked


def test_fixtures_that_start_a_kernel_or_server_say_so() -> None:
    """conftest.py marks tests from their fixtures' return annotations (Kernel, LocalServer); a
    fixture that starts one but returns something else (a Path, say) leaves the mark to its tests."""
    wrong = []
    for path in sorted(TESTS.glob("*.py")):
        tree = _parse(path)
        for fn in _functions(tree):
            if not _is_fixture(fn):
                continue
            starts = {STARTERS[name] for n in ast.walk(fn) if isinstance(n, ast.Call)
                      for name in (_dotted(n), _called_name(n)) if name in STARTERS}
            returns = ast.unparse(fn.returns) if fn.returns else ""
            for mark, cls in (("kernel", "Kernel"), ("http", "LocalServer")):
                if mark not in starts or cls in returns:
                    continue
                users = [t for t in _tests(tree) if fn.name in {a.arg for a in t.args.args}]
                unmarked = [t.name for t in users if mark not in _marks(t, tree)]
                if unmarked:
                    wrong.append(f"{path.name}::{fn.name} starts a {cls} (returns {returns or 'unannotated'}); "
                                 f"mark {unmarked} {mark}")
    assert wrong == [], wrong
