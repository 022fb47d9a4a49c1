"""Unit tests: settings, key masking and scrubbing, option parsing, the loop thread."""

from __future__ import annotations

import asyncio
import re
import threading
import time

import pytest

from poe_magic.base import errors as E
from poe_magic.base.config import Settings, settings
from poe_magic.base.secrets import mask_key, scrub
from poe_magic.catalog.resolve import resolve_model
from poe_magic.core.reply import Reply, closed_markdown
from poe_magic.magics.parsing import parse_params
from poe_magic.wire.loop import LoopThread
from poe_magic.wire.request import build_request

FAKE_KEY = "pk-FAKE-0123456789abcdefWXYZ"


def test_mask_key_shows_only_prefix_and_last_four() -> None:
    assert mask_key(FAKE_KEY) == "pk-…WXYZ"
    assert mask_key("short") == "…****"
    assert mask_key(None) == ""


def test_scrub_removes_the_current_key_and_bearer_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POE_API_KEY", FAKE_KEY)
    text = scrub(f"failed with key {FAKE_KEY}; header Authorization: Bearer abcdefghijklmnop")
    assert FAKE_KEY not in text and "abcdefghijklmnop" not in text
    assert "pk-…WXYZ" in text


def test_errors_are_one_line_and_scrubbed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POE_API_KEY", FAKE_KEY)
    err = E.ServerError(f"boom\n  with {FAKE_KEY}\n")
    assert "\n" not in str(err) and FAKE_KEY not in str(err)
    import IPython

    monkeypatch.setattr(IPython, "get_ipython", lambda: None)  # no shell (as in plain Python): no colour codes
    assert err._render_traceback_() == [f"ServerError: {err}"]


def test_settings_key_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    s = Settings()
    monkeypatch.delenv("POE_API_KEY", raising=False)
    with pytest.raises(E.ConfigError, match="POE_API_KEY"):
        s.api_key()
    monkeypatch.setenv("POE_API_KEY", FAKE_KEY)
    assert s.api_key() == FAKE_KEY
    s.set_api_key("pk-other-key-1234567")
    assert s.api_key() == "pk-other-key-1234567"
    assert FAKE_KEY not in repr(s) and "pk-other-key-1234567" not in repr(s)
    assert s.public()["api_key"] == "pk-…4567"


def test_settings_root_and_bot_url(monkeypatch: pytest.MonkeyPatch) -> None:
    s = Settings()
    monkeypatch.delenv("POE_BASE_URL", raising=False)
    assert s.bot_url == "https://api.poe.com/bot/"
    monkeypatch.setenv("POE_BASE_URL", "http://127.0.0.1:9/")
    assert s.root == "http://127.0.0.1:9" and s.bot_url == "http://127.0.0.1:9/bot/"
    s.base_url = "http://localhost:1"
    assert s.root == "http://localhost:1"


def test_parse_params_json_values_and_errors() -> None:
    assert parse_params(["thinking_budget=2048", "style=terse", "flags=[1,2]", "on=true"]) == {
        "thinking_budget": 2048, "style": "terse", "flags": [1, 2], "on": True}
    for bad in ["novalue", "=3", "a b=1"]:
        with pytest.raises(E.PoeUsageError, match="--param"):
            parse_params([bad])


def test_resolve_model_and_build_request(monkeypatch: pytest.MonkeyPatch, activated: object) -> None:
    # activated: names are checked against the local server's catalogue, never api.poe.com's
    monkeypatch.setattr(settings, "default_model", "")
    with pytest.raises(E.PoeUsageError, match="no model"):
        resolve_model(None)
    monkeypatch.setattr(settings, "default_model", "GPT-5")
    assert resolve_model(None) == "GPT-5" and resolve_model("Grok-4") == "Grok-4"
    with pytest.raises(E.PoeUsageError, match="invalid model name"):
        resolve_model("bad name")
    with pytest.raises(E.PoeUsageError, match="empty"):
        build_request("  \n", "GPT-5")
    with pytest.raises(E.PoeUsageError, match="temperature"):
        build_request("hi", "GPT-5", temperature=3)
    request = build_request("hi", "GPT-5", system="be brief", stop=["END"])
    assert [m.role for m in request.messages] == ["system", "user"] and request.stop == ["END"]


def test_reply_footer_and_markdown() -> None:
    reply = Reply(model="GPT-5", prompt="p", text="```python\nx = 1", elapsed=1.234, time_to_first_token=0.2)
    reply.points = 1200
    assert reply.footer() == "GPT-5 · 1.23 s · first token 0.20 s · 1,200 points"
    assert closed_markdown(reply.text).endswith("\n```")
    reply.interrupted = True
    assert "interrupted" in reply.footer() and reply.status == "interrupted"


def test_brief_footer_names_the_failure_and_raise_for_says_the_rest() -> None:
    from poe_magic.prompting.pipeline import raise_for

    reply = Reply(model="SlowBot", prompt="p", text="word0 ", elapsed=1.04)
    reply.error = E.PoeTimeoutError("SlowBot did not finish within 1 s (--timeout)", hint="raise --timeout")
    assert reply.footer(brief=True) == "SlowBot · 1.04 s · ⚠ timed out"  # the notebook display
    assert reply.footer().endswith("⚠ PoeTimeoutError: SlowBot did not finish within 1 s (--timeout); raise --timeout")
    reply.error = E.ServerError("SlowBot reported an error: boom")
    assert reply.footer(brief=True).endswith(" · ⚠ ServerError") and "boom" not in reply.footer(brief=True)
    reply.error, reply.interrupted = None, True
    assert reply.footer(brief=True) == "SlowBot · 1.04 s · ⏹ stopped"
    with pytest.raises(E.StreamInterrupted) as raised:
        raise_for(reply)
    assert str(raised.value) == "stopped by you after 1.0 s; partial answer (6 chars) kept in poe_magic.last_reply()"
    assert raised.value.reply is reply  # type: ignore[attr-defined]
    with pytest.raises(E.StreamInterrupted, match=r"; partial answer \(6 chars\) kept in _poe$"):
        raise_for(reply, kept_in="_poe")
    reply.text = ""
    with pytest.raises(E.StreamInterrupted, match=r"^stopped by you after 1.0 s; no answer had arrived yet$"):
        raise_for(reply)


def _cells(row: str) -> list[str]:
    """A Markdown table row's cells as a renderer splits them: every unescaped ``|`` ends one."""
    return re.split(r"(?<!\\)\|", row.strip())[1:-1]


def test_markdown_tables_escape_pipes_in_cells(monkeypatch: pytest.MonkeyPatch) -> None:
    from poe_magic.magics.commands import config_command, help_command
    from poe_magic.prompting.threads import Thread, ThreadTable, Turn

    monkeypatch.setattr(settings, "default_model", "A|B")
    thread = Thread("t", model="X|Y", system="be | terse", turns=[Turn("X|Y", "q|1", "a|2")])
    help_text = help_command(None, "").data
    for table in (help_text, config_command(None, "").data, ThreadTable([thread])._repr_markdown_()):
        rows = [line for line in table.splitlines() if line.startswith("|")]
        assert len(rows) > 2 and {len(_cells(row)) for row in rows} == {len(_cells(rows[0]))}, table
    assert "`--by bot\\|day\\|type`" in help_text  # the whole history row, the pipes escaped
    assert "`'A\\|B'`" in config_command(None, "").data


def test_counted_words_are_singular_or_plural() -> None:
    from poe_magic.base.text import plural
    from poe_magic.prompting.threads import Thread, ThreadTable, Turn

    assert [plural(1, "turn"), plural(0, "turn"), plural(1, "retry", "retries"), plural(3, "retry", "retries"),
            plural(1200, "char")] == ["1 turn", "0 turns", "1 retry", "3 retries", "1,200 chars"]
    one = Thread("t", model="M", turns=[Turn("M", "q", "a", attachments=["f"])])
    assert repr(one) == "<Thread 't' M 1 turn>" and repr(ThreadTable([one])) == "t: M, 1 turn"
    assert "· M · 1 turn\n" in one._repr_markdown_() and "(+1 file)" in one._repr_markdown_()
    reply = Reply(model="M", prompt="p", text="x", elapsed=1.0, retries=1, interrupted=True)
    assert reply.footer() == "M · 1.00 s · 1 retry · ⏹ interrupted, partial answer kept (1 char)"


def test_loop_thread_runs_cancels_and_stops() -> None:
    loop = LoopThread("test-loop")
    before = threading.active_count()
    assert loop.run(asyncio.sleep(0, result=42)) == 42
    assert threading.active_count() == before + 1

    started = threading.Event()

    async def forever() -> None:
        started.set()
        await asyncio.sleep(3600)

    future = loop.submit(forever())
    assert started.wait(5)
    assert loop.pending_tasks() == 1
    future.cancel()
    deadline = time.monotonic() + 5
    while loop.pending_tasks() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert loop.pending_tasks() == 0
    loop.stop()
    assert not loop.running and threading.active_count() == before
    assert loop.run(asyncio.sleep(0, result="restarted")) == "restarted"  # restarts on demand
    loop.stop()


def test_every_magics_setting_mirrors_a_settings_field(monkeypatch: pytest.MonkeyPatch) -> None:
    # the traitlets repeat Settings' fields: same defaults, and %config changes reach settings
    from poe_magic.magics.poe import PoeMagics

    defaults = {name: trait.default() for name, trait in Settings.class_traits().items() if trait.metadata.get("config")}
    assert {n: PoeMagics.class_traits()[n].default() for n in PoeMagics.class_trait_names(config=True)} == defaults
    magics = PoeMagics(shell=None)
    for name in PoeMagics.class_trait_names(config=True):
        assert getattr(magics, name) == getattr(settings, name), name  # starts from what settings hold
        monkeypatch.setattr(settings, name, getattr(settings, name))  # restored after the test
        new = {bool: True, int: 7, float: 0.5, str: "X", list: ["X"]}[type(defaults[name])]
        if name == "base_url":
            new = "http://127.0.0.1:9"  # a root must be a URL (a bad one is refused when set)
        if name == "protocol":
            new = "openai"  # one of two names (another is refused when set)
        setattr(magics, name, new)
        assert getattr(settings, name) == new, f"%config PoeMagics.{name} does not reach settings"
