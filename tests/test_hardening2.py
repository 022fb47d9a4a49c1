"""Hardening, second round (issue 23), in this process against the bundled local server (real
HTTP): the call log private (row 4) and readable from any home path (row 6)."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

import poe_magic
from poe_magic.server.launch import LocalServer
from poe_magic.spending import calllog


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")
def test_a_fresh_home_and_its_call_log_are_private(activated: LocalServer, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "fresh" / "home"
    monkeypatch.setenv("POE_MAGIC_HOME", str(home))
    old = os.umask(0o022)  # the usual umask: files 0644 and folders 0755 unless made private
    try:
        poe_magic.ask("a private note", "EchoBot", stream=False)
        calllog.flush()
        files = {p.name: _mode(p) for p in home.glob("log.sqlite3*")}
        assert {"log.sqlite3", "log.sqlite3-wal", "log.sqlite3-shm"} <= set(files), files
        assert set(files.values()) == {0o600}, {k: oct(v) for k, v in files.items()}
        assert _mode(home) == 0o700
    finally:
        os.umask(old)


@pytest.mark.parametrize("name", ["a#b", "a?b", "x%3Fy", "we#ird?na%3Fme"])
def test_a_home_with_uri_characters_in_its_path_works(activated: LocalServer, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    parent = tmp_path / "parent"
    home = parent / name
    monkeypatch.setenv("POE_MAGIC_HOME", str(home))
    poe_magic.ask(f"logged under {name}", "EchoBot", stream=False)
    calllog.flush()
    log = poe_magic.log()
    assert list(log["prompt"]) == [f"logged under {name}"]
    assert poe_magic.log(search="logged")["id"].tolist() == log["id"].tolist()
    assert poe_magic.log_reply(log["id"].iloc[0]).prompt == f"logged under {name}"
    assert [p.name for p in parent.iterdir()] == [name]  # no stray file made from a cut-off path
