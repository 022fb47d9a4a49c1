"""Shared fixtures: a local Poe server per session, real kernels pointed at it.

Nothing here reaches the internet: every request goes to the local server on 127.0.0.1.
``tests/`` is on ``sys.path`` through ``pythonpath`` in ``[tool.pytest.ini_options]`` (for
``harness`` and ``faultkit``).

Markers (registered in pyproject.toml) are applied here from the fixtures a test uses, so they
stay true without anyone remembering them: a fixture that gives a ``Kernel`` marks ``kernel``, one
that gives a ``LocalServer`` marks ``http``; a kernel always talks to the server, and the browser
tests run a kernel in JupyterLab. Tests that start a kernel or a server by hand carry the mark
themselves (``tests/test_suite_hygiene.py`` checks they do). ``pytest -m "not kernel and not
browser"`` is the fast subset.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import Kernel
from isolation import ProcessState, remember_kernels, restore_kernels, restore_servers
from protocols import protocol  # noqa: F401 - the fixture that runs a test once per protocol (tests/protocols.py)

from poe_magic.server.launch import LocalServer, local_server

# Never let a developer's real key or server leak into a test run.
for _name in ("POE_API_KEY", "POE_BASE_URL"):
    os.environ.pop(_name, None)


_GIVES = {"kernel": re.compile(r"\bKernel\b"), "http": re.compile(r"\bLocalServer\b")}


def _fixture_marks(item: pytest.Item) -> set[str]:
    """``kernel``/``http`` for each fixture in the test's closure whose return annotation is a
    ``Kernel``/``LocalServer`` (``Iterator[...]`` included)."""
    info: Any = getattr(item, "_fixtureinfo", None)
    marks: set[str] = set()
    if info is None:
        return marks
    for name in item.fixturenames:  # type: ignore[attr-defined]
        for fixturedef in info.name2fixturedefs.get(name, ()):
            returns = str(getattr(fixturedef.func, "__annotations__", {}).get("return", ""))
            marks.update(mark for mark, pattern in _GIVES.items() if pattern.search(returns))
    return marks


def pytest_configure(config: pytest.Config) -> None:
    from poe_magic.base.config import settings

    # The suite sends faster than any person (hundreds of calls a minute to one local server and
    # key, in this process): the client's 500/min window is tested on its own
    # (test_ratelimit_window.py), kernels keep the default. The isolation fixture keeps this value.
    settings.max_rpm = 0


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        marks = _fixture_marks(item) | {m.name for m in item.iter_markers() if m.name in ("kernel", "http", "browser")}
        if "browser" in marks:
            marks.add("kernel")  # JupyterLab runs the notebook in a real kernel
        if "kernel" in marks:
            marks.add("http")  # every kernel here is pointed at a local server
        for name in sorted(marks):
            if name not in {m.name for m in item.iter_markers()}:
                item.add_marker(getattr(pytest.mark, name))
        # pytest-xdist (-n 2, pyproject's addopts) hands out whole groups: a module's tests stay
        # together (its kernel and server fixtures start once), and the browser tests run one
        # after another on one worker (each drives a JupyterLab, a kernel and a Chromium).
        item.add_marker(pytest.mark.xdist_group("browser" if "browser" in marks else item.path.name))


@pytest.fixture(scope="session", autouse=True)
def _private_poe_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """No test writes caches or config into the developer's real ~/.poe_magic: the whole run
    (and every kernel it starts) gets a throwaway home unless a test sets its own."""
    saved = os.environ.get("POE_MAGIC_HOME")
    os.environ["POE_MAGIC_HOME"] = str(tmp_path_factory.mktemp("session_poe_home"))
    yield
    if saved is None:
        os.environ.pop("POE_MAGIC_HOME", None)
    else:
        os.environ["POE_MAGIC_HOME"] = saved


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    """Every fixture is set up: note each shared kernel's state once, before its first test."""
    remember_kernels(dict(getattr(item, "funcargs", None) or {}))


@pytest.fixture(autouse=True)
def _undo_what_the_test_changed(request: pytest.FixtureRequest) -> Iterator[None]:
    """Everything a test changed on shared things is undone after it (``tests/isolation.py``);
    a planned fault it left queued on a shared server fails it, by path."""
    process = ProcessState()
    yield
    funcargs = dict(getattr(request.node, "funcargs", None) or {})
    process.restore()
    leaks = restore_servers(funcargs)
    restore_kernels(funcargs)
    if leaks:
        pytest.fail(f"{request.node.nodeid} left planned faults queued on a shared server: {'; '.join(leaks)} "
                    "(plant only the faults the test uses: count=N for N requests)", pytrace=False)


@pytest.fixture(scope="session")
def server() -> Iterator[LocalServer]:
    with local_server() as srv:
        yield srv


@pytest.fixture
def poe_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private POE_MAGIC_HOME for this test (config file, caches)."""
    home = tmp_path / "poe_home"
    monkeypatch.setenv("POE_MAGIC_HOME", str(home))
    return home


@pytest.fixture
def activated(server: LocalServer, monkeypatch: pytest.MonkeyPatch, poe_home: Path) -> LocalServer:
    """This test process points at the local server (and its own POE_MAGIC_HOME)."""
    for name, value in server.env.items():
        monkeypatch.setenv(name, value)
    from poe_magic.base.config import settings

    settings.set_api_key(None)
    settings.base_url = ""
    return server


def kernel_env(server: LocalServer, home: Path, **extra: str) -> dict[str, str]:
    return {**server.env, "POE_MAGIC_HOME": str(home), **extra}


@pytest.fixture(scope="module")
def kernel(server: LocalServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kernel]:
    """A real ipykernel with poe_magic loaded, pointed at the local server (one per module)."""
    k = Kernel(env=kernel_env(server, tmp_path_factory.mktemp("kernel_home")))
    k.run_ok("%load_ext poe_magic")
    yield k
    k.shutdown()


@pytest.fixture
def fresh_kernel(server: LocalServer, tmp_path: Path) -> Iterator[Kernel]:
    """A kernel of its own for tests that change the environment or break things."""
    k = Kernel(env=kernel_env(server, tmp_path / "home"))
    yield k
    k.shutdown()
