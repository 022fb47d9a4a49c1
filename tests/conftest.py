"""Shared fixtures: a local Poe server per session, real kernels pointed at it.

Nothing here reaches the internet: every request goes to the local server on 127.0.0.1.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from harness import Kernel  # noqa: E402

from poe_magic.server.launch import LocalServer, local_server  # noqa: E402

# Never let a developer's real key or server leak into a test run.
for _name in ("POE_API_KEY", "POE_BASE_URL"):
    os.environ.pop(_name, None)


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
