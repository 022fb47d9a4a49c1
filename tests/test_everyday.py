"""Issue 18 "Everyday use": the bugs a new user hit, each in a real kernel against the local server.

1. Stop (a kernel interrupt) must not stop the server that ``start_local_server()`` started.
2. The chat panel's two status messages (no model / no text) and its preselected model.
3. ``%poe history`` in a terminal IPython prints text, never ``<...Markdown object>``.
4. An interrupted batch's bar tells done / failed / not sent apart.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import Kernel

pytestmark = [pytest.mark.kernel, pytest.mark.http]


@pytest.fixture
def bare_kernel(tmp_path: Path) -> Iterator[Kernel]:
    """A kernel with no server or key in its environment: it starts its own local server."""
    env = {k: v for k, v in os.environ.items() if k not in ("POE_API_KEY", "POE_BASE_URL")}
    env["POE_MAGIC_HOME"] = str(tmp_path / "home")
    saved = {name: os.environ.pop(name, None) for name in ("POE_API_KEY", "POE_BASE_URL")}
    try:
        k = Kernel(env=env)
    finally:
        os.environ.update({n: v for n, v in saved.items() if v is not None})
    yield k
    k.shutdown()


def test_stop_does_not_kill_the_local_server(bare_kernel: Kernel) -> None:
    k = bare_kernel
    k.run_ok("import poe_magic, time\nsrv = poe_magic.start_local_server(quiet=True)")
    pid = k.value("srv.process.pid")
    assert k.value("poe_magic.ask('before', model='EchoBot', stream=False).text") != ""
    msg_id = k.submit("time.sleep(60)")
    time.sleep(2)  # the cell is sleeping
    k.interrupt()  # what Stop and Ctrl-C do: SIGINT to the kernel's process group
    result = k.collect(msg_id, timeout=60)
    assert result.error and result.error["ename"] == "KeyboardInterrupt"
    time.sleep(3)
    assert k.value("srv.process.poll()") is None, "the server died with the interrupt"
    assert k.value("srv.process.pid") == pid
    assert "after" in k.value("poe_magic.ask('after', model='EchoBot', stream=False).text")
