"""Probe tests for ``tests/test_isolation.py``, collected only when named on the command line
(the file name does not match ``test_*.py``): each is run in a pytest of its own, to see what
the isolation fixture does after it."""

from __future__ import annotations

import os
from pathlib import Path

from poe_magic.base.config import settings
from poe_magic.server.launch import LocalServer
from poe_magic.spending import ledger


def test_leaves_a_fault_queued(server: LocalServer) -> None:
    server.fail_next("/bot/EchoBot", 503, count=2)
    assert len(server.pending_faults()) == 1


def test_changes_everything(server: LocalServer, tmp_path: Path) -> None:
    os.environ["POE_MAGIC_PROBE_VARIABLE"] = "set by a test"
    os.chdir(tmp_path)
    settings.max_retries = 7
    settings.set_api_key("pk-probe-0123456789abcdef")
    ledger.set_budget(5)
    server._call("POST", "/_local/usage_modes", {"history_lag": 30, "error_codes": "string"})
    server.fail_next("/bot/EchoBot", 500)
    server.restore()  # (only so that this probe itself passes: the next probe checks the rest was undone)
    server._call("POST", "/_local/usage_modes", {"history_lag": 30, "error_codes": "string"})
    assert settings.max_retries == 7


def test_finds_everything_as_it_was(server: LocalServer) -> None:
    assert "POE_MAGIC_PROBE_VARIABLE" not in os.environ
    assert os.getcwd() == os.environ["POE_MAGIC_PROBE_CWD"]
    assert settings.max_retries == 3
    assert not settings.has_api_key
    assert ledger.budget() is None
    modes = server._call("POST", "/_local/usage_modes", {})
    assert (modes["history_lag"], modes["error_codes"]) == (0.0, "status")
