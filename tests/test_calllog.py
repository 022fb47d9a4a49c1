"""The call log ($POE_MAGIC_HOME/log.sqlite3): every kind of call written, never the key,
several kernels writing at once, full-text search, pruning, log_reply, %poe log, log = False.
Real HTTP to the local server; real kernels for the concurrent writers."""

from __future__ import annotations

import os
import sqlite3
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from harness import Kernel
from protocols import both_protocols

import poe_magic
from poe_magic.base import errors as E
from poe_magic.base.config import settings
from poe_magic.server.launch import LocalServer
from poe_magic.spending import calllog


def files_bytes(home: Path) -> bytes:
    return b"".join(p.read_bytes() for p in home.glob("log.sqlite3*"))


@both_protocols
def test_every_kind_is_logged_and_the_key_never_is(activated: LocalServer, poe_home: Path) -> None:
    key = os.environ["POE_API_KEY"]
    poe_magic.ask("please repeat this back", "EchoBot", stream=False)
    echoed = poe_magic.send("hi", "HeaderEchoBot", stream=False, params={"words": 3})  # its error echoes the key
    assert echoed.error is not None
    poe_magic.compare("compare me", ["EchoBot", "JsonBot"], stream=False)
    poe_magic.batch(["row one", "row two"], "{text}", "EchoBot", progress=False)
    frame = pd.DataFrame({"model": ["EchoBot"], "prompt": ["q"], "answer": ["a b c"]})
    poe_magic.grade(frame, judge="JudgeBot", rubric="brevity", progress=False)
    log = poe_magic.log()
    assert sorted(log["kind"].value_counts().items()) == [("ask", 2), ("batch", 2), ("compare", 2), ("grade", 1)]
    assert log["group"][log["kind"] == "compare"].nunique() == 1 and log["group"][log["kind"] == "batch"].nunique() == 1
    asked = log[log["model"] == "EchoBot"].iloc[-1]
    assert asked["prompt"] == "please repeat this back" and asked["kind"] == "ask"
    assert asked["status"] == "ok" and asked["elapsed"] > 0
    failed = log[log["model"] == "HeaderEchoBot"].iloc[0]
    assert failed["status"] == "error" and "upstream refused" in failed["error"] and key not in failed["error"]
    assert failed["answer"] == echoed.text != ""
    assert list(log["time"]) == sorted(log["time"], reverse=True)  # newest first
    calllog.flush()
    assert key.encode() not in files_bytes(poe_home)  # not in the database, nor its WAL


def test_chat_panel_calls_are_logged_as_chat(activated: LocalServer) -> None:
    import threading

    from poe_magic.core.reply import Reply

    reply = Reply("EchoBot", "from the chat panel", text="hi", elapsed=0.1)
    worker = threading.Thread(target=calllog.record, args=(reply,), name="poe_magic-chat")  # as the panel names it
    worker.start()
    worker.join()
    calllog.record(Reply("EchoBot", "from a cell", text="hi", elapsed=0.1))
    with calllog.context("cell"):
        calllog.record(Reply("EchoBot", "from a magic", text="hi", elapsed=0.1))
    kinds = dict(zip(poe_magic.log()["prompt"], poe_magic.log()["kind"]))
    assert kinds == {"from the chat panel": "chat", "from a cell": "ask", "from a magic": "cell"}


def test_points_arrive_in_the_row(activated: LocalServer) -> None:
    import time

    reply = poe_magic.ask("cost me", "PricedBot", stream=False, params={"cost": 37})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        row = poe_magic.log(model="PricedBot", limit=1).iloc[0]
        if row["points"] is not pd.NA:
            break
        time.sleep(0.2)
    assert reply.points == 37 and row["points"] == 37


def test_search_filters_and_hostile_text(activated: LocalServer) -> None:
    poe_magic.ask("the zebra crossing", "EchoBot", stream=False)
    poe_magic.ask("an aardvark walks", "EchoBot", stream=False, system="Be brief")
    assert list(poe_magic.log("zebra")["prompt"]) == ["the zebra crossing"]
    assert list(poe_magic.log("aardvark walks")["system"]) == ["Be brief"]
    assert poe_magic.log("zebra aardvark").empty  # every word must appear
    for hostile in ['"', "AND OR NOT", "*", "zebra)", "NEAR(", "'; DROP TABLE calls; --", "\x00"]:
        poe_magic.log(hostile)  # no FTS5 syntax error, no SQL: plain words
    assert len(poe_magic.log(since=timedelta(minutes=5))) == 2
    assert poe_magic.log(until="2000-01-01").empty
    assert len(poe_magic.log(model="EchoBot", limit=1)) == 1
    with pytest.raises(E.PoeUsageError):
        poe_magic.log(since="yesterday-ish")
    with pytest.raises(E.PoeUsageError):
        poe_magic.log(limit=0)


@both_protocols
def test_log_reply_rebuilds_the_reply(activated: LocalServer) -> None:
    original = poe_magic.ask("rebuild me", "EchoBot", stream=False, temperature=0.5)
    row_id = poe_magic.log(limit=1)["id"].iloc[0]
    again = poe_magic.log_reply(row_id)
    assert (again.model, again.prompt, again.text) == (original.model, original.prompt, original.text)
    assert again.params == {**original.params, "temperature": 0.5} and again.status == "ok"
    assert poe_magic.log_reply(row_id[:12]).text == original.text  # as %poe log shows the id
    with pytest.raises(E.PoeUsageError):
        poe_magic.log_reply("0" * 32)


def test_log_off_writes_nothing(activated: LocalServer, poe_home: Path) -> None:
    settings.log = False
    try:
        poe_magic.ask("not logged", "EchoBot", stream=False)
    finally:
        settings.log = True
    assert poe_magic.log("logged").empty


def test_pruning_keeps_the_newest(tmp_path: Path) -> None:
    db = calllog.connect(tmp_path / "log.sqlite3")
    rows = [(f"id{i}", "t", float(i), "ask", "M", "p" * 2000, None, "{}", None, "a" * 2000, None, "ok", None,
             None, 1.0, 1, None, "", "", 0, 0, None) for i in range(2000)]
    with db:
        db.executemany(f"INSERT INTO calls ({', '.join(calllog.COLUMNS)}) VALUES ({', '.join('?' * len(calllog.COLUMNS))})", rows)
    deleted = calllog.prune(db, 4.0)  # about 8 MB of text: the oldest go until under 4 MB
    left = [r[0] for r in db.execute("SELECT ts FROM calls ORDER BY ts")]
    assert deleted > 0 and len(left) == 2000 - deleted and left[0] == 2000 - len(left)
    db.execute("INSERT INTO calls_fts(calls_fts) VALUES ('integrity-check')")  # the index followed the deletes
    with pytest.raises(Exception):  # noqa: B017, PT011 - the settings refuse a nonsense size
        settings.log_max_mb = 0


def test_the_writer_prunes_past_log_max_mb(activated: LocalServer, poe_home: Path) -> None:
    from poe_magic.core.reply import Reply

    earlier = calllog.write_errors()  # other tests' writers (an unwritable home, on purpose)
    settings.log_max_mb = 0.2
    try:
        for i in range(calllog.PRUNE_EVERY + 10):
            calllog.record(Reply("EchoBot", f"prompt {i} " + "x" * 1000, text="y" * 1000, elapsed=0.1))
        calllog.flush()
    finally:
        settings.log_max_mb = 200
    assert calllog.write_errors() == earlier  # this writer failed at nothing
    kept = poe_magic.log(limit=10_000)
    assert 0 < len(kept) < calllog.PRUNE_EVERY  # about 1 MB written, 0.2 MB kept
    assert kept["prompt"].iloc[0].startswith(f"prompt {calllog.PRUNE_EVERY + 9} ")  # the newest stay


@pytest.fixture
def shared_home(tmp_path: Path) -> Path:
    return tmp_path / "shared_home"


@pytest.mark.kernel
def test_two_kernels_write_at_once_and_a_third_searches(server: LocalServer, shared_home: Path) -> None:
    env = {**server.env, "POE_MAGIC_HOME": str(shared_home)}
    writers = [Kernel(env=env), Kernel(env=env)]
    try:
        for k in writers:
            k.run_ok("import poe_magic")
        code = ("for i in range(25):\n"
                "    poe_magic.ask(f'kernel {name} call {{i}} marmalade', 'EchoBot', stream=False)\n"
                "poe_magic.batch([f'{name} batch {{i}}' for i in range(20)], '{{text}}', 'EchoBot', progress=False)\n"
                "from poe_magic.spending import calllog; calllog.flush(); print(calllog.write_errors())")
        ids = [k.submit(code.format(name=name)) for k, name in zip(writers, ("A", "B"))]
        for k, msg_id in zip(writers, ids):
            result = k.collect(msg_id, timeout=300)
            assert result.error is None, result.error and result.error["traceback"]
            assert result.stdout.strip().splitlines()[-1] == "[]"  # no write failed (busy, locked)
    finally:
        for k in writers:
            k.shutdown()
    reader = Kernel(env=env)
    try:
        reader.run_ok("%load_ext poe_magic\nimport poe_magic")
        assert reader.value("len(poe_magic.log(limit=10_000))") == 90
        assert reader.value("len(poe_magic.log('marmalade'))") == 50
        assert reader.value("sorted(poe_magic.log('kernel A')['prompt'].str.slice(0, 8).unique())") == ["kernel A"]
        assert reader.value("poe_magic.log(kind='batch')['group'].nunique()") == 2
        shown = reader.run_ok("%poe log marmalade --model EchoBot --days 1 --limit 5")
        html = shown.of_type("execute_result")[0]["content"]["data"]["text/html"]
        assert html.count("marmalade") == 5 and "EchoBot" in html
        result = reader.run("%poe log --days nan")
        assert result.error is not None and len(result.error["traceback"]) == 1
    finally:
        reader.shutdown()
    db = sqlite3.connect(shared_home / "log.sqlite3")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@both_protocols
def test_the_tokens_a_protocol_reports_are_logged(activated: LocalServer, protocol: object) -> None:
    reply = poe_magic.ask("count my tokens", "EchoBot", stream=False)
    row = poe_magic.log("count my tokens", limit=1).iloc[0]
    if settings.protocol == "openai":  # /v1/chat/completions reports usage
        assert reply.usage and reply.usage["completion_tokens"] > 0
        assert row["usage"] == reply.usage
        assert poe_magic.log_reply(row["id"]).usage == reply.usage
    else:  # the bot protocol reports none
        assert reply.usage is None and row["usage"] is None


def test_a_log_made_before_the_usage_column_is_read_and_then_upgraded(activated: LocalServer,
                                                                       poe_home: Path) -> None:
    poe_home.mkdir(parents=True, exist_ok=True)
    old = sqlite3.connect(poe_home / calllog.FILE_NAME)
    old_columns = [c for c in calllog.COLUMNS if c != "usage"]  # the table as the first release made it
    old.execute(f"CREATE TABLE calls ({', '.join(old_columns)})")
    old.execute(f"INSERT INTO calls ({', '.join(old_columns)}) VALUES ({', '.join('?' * len(old_columns))})",
                [{"id": "a" * 32, "time": "2026-01-01T00:00:00+00:00", "ts": 1767225600.0, "model": "EchoBot",
                  "prompt": "an old call", "status": "ok", "cached": 0, "retries": 0}.get(c) for c in old_columns])
    old.commit()
    old.close()
    before = poe_magic.log()
    assert list(before["prompt"]) == ["an old call"] and before["usage"].isna().all()
    assert poe_magic.log_reply("a" * 32).usage is None
    settings.protocol = "openai"
    try:
        poe_magic.ask("a new call", "EchoBot", stream=False)
    finally:
        settings.protocol = "poe"
    after = poe_magic.log()
    assert list(after["prompt"]) == ["a new call", "an old call"]
    assert after["usage"].iloc[0]["completion_tokens"] > 0 and after["usage"].iloc[1] is None
