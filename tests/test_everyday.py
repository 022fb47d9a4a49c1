"""Issue 18 "Everyday use": the bugs a new user hit, each in a real kernel against the local server.

1. Stop (a kernel interrupt) must not stop the server that ``start_local_server()`` started.
2. The chat panel's two status messages (no model / no text) and its preselected model.
3. ``%poe history`` in a terminal IPython prints text, never ``<...Markdown object>``.
4. An interrupted batch's bar tells done / failed / not sent apart.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import Kernel, loaded_kernel

from poe_magic.server.launch import LocalServer

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


@pytest.fixture(scope="module")
def everyday_kernel(server: LocalServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kernel]:
    with loaded_kernel(server, tmp_path_factory.mktemp("everyday_home"), "%load_ext poe_magic\nimport poe_magic") as k:
        yield k


def test_chat_panel_without_a_default_model(everyday_kernel: Kernel) -> None:
    k = everyday_kernel
    k.run_ok("poe_magic.settings.default_model = ''\npanel = poe_magic.chat()")
    first = k.value("panel.model.options[0][1]")
    assert k.value("panel.model.value") == first, "with no default model the first listed one is preselected"
    k.run_ok("panel.model.value = None\npanel.submit('a typed question')")
    assert "Pick a model first." in k.value("panel.status.value")
    k.run_ok("panel.model.value = 'EchoBot'\npanel.submit('   ')")
    assert "Type a message first." in k.value("panel.status.value")
    assert k.value("len(panel.replies)") == 0


def test_interrupted_batch_tells_done_failed_and_not_sent_apart(everyday_kernel: Kernel) -> None:
    k = everyday_kernel
    msg_id = k.submit("r = poe_magic.batch([f'delay=0.3 chunks=10 row {i}' for i in range(8)], '{text}', "
                      "models='SlowBot', concurrency=2)")
    time.sleep(4)  # two requests are streaming (3 s each), six wait
    k.interrupt()
    result = k.collect(msg_id, timeout=60)
    assert result.error is not None
    bars = [m["content"]["data"] for m in result.messages
            if m["header"]["msg_type"] in ("display_data", "update_display_data")
            and "poe-batch" in m["content"]["data"].get("text/html", "")]
    final = bars[-1]["text/plain"]
    # e.g. "0/8 done · 2 interrupted · 6 not sent": never "8/8 · 8 failed"
    assert "8/8" not in final and "not sent" in final and " failed" not in final, final
    done = int(final.split(": ", 1)[1].split("/")[0])
    counts = {word: int(final.split(f" {word}")[0].rsplit("· ", 1)[1]) for word in ("interrupted", "not sent")
              if f" {word}" in final}
    assert done + sum(counts.values()) == 8, final
    assert counts["not sent"] >= 4, final
    assert "not sent: 9ca3af" not in bars[-1]["text/html"] and 'title="not sent:' in bars[-1]["text/html"]


def test_terminal_history_prints_text(server: LocalServer, tmp_path: Path) -> None:
    script = tmp_path / "session.ipy"
    script.write_text("%load_ext poe_magic\n%poe EchoBot a call to list\n%poe history\n%poe budget 100\n"
                      "%poe budget off\nh = %poe help\nprint(repr(h))\n%poe use NoSuchModelQq\n")
    env = {**os.environ, **server.env, "POE_MAGIC_HOME": str(tmp_path / "home"),
           "IPYTHONDIR": str(tmp_path / "ipython")}
    done = subprocess.run([sys.executable, "-m", "IPython", "--no-banner", "--colors=NoColor", str(script)],
                          capture_output=True, text=True, env=env, timeout=120)
    out = done.stdout + done.stderr
    assert "Points history (all history):" in out and "EchoBot" in out, out
    assert "object>" not in out and "**Points" not in out, out
    assert "plot_spending" in out  # says how to get the chart instead of a repr
    assert "Budget removed" in out, out
    assert "%poe history  spending summary and plot; --days N, --by bot|day|type" in out, out  # help as text
    assert "UnknownModelError: unknown model 'NoSuchModelQq'" in out
    assert "\x1b[" not in out, "--colors=NoColor: no ANSI colour codes"


# -- friction 7-9: one-liners with the default model, `?`, one count -----------------------------

def echoed(result: Any) -> str:
    """The last message EchoBot says it received, from the cell's Markdown."""
    text = "\n".join(result.markdown()) or result.stdout
    assert "EchoBot received" in text, text
    return text.split("**last message**: ", 1)[1].split("\n", 1)[0]


def test_with_a_default_model_any_line_is_a_question(everyday_kernel: Kernel) -> None:
    k = everyday_kernel
    k.run_ok("%poe use EchoBot")
    assert echoed(k.run_ok("%poe what is two plus two")) == "what is two plus two"
    assert echoed(k.run_ok("%poe what is 2**10")) == "what is 2**10"  # 'what' is close to 'chat': still a question
    assert echoed(k.run_ok('%poe -s "Be brief" why is the sky blue')) == "why is the sky blue"
    assert echoed(k.run_ok("%poe MarkdownBot-not-a-model explain")) == "MarkdownBot-not-a-model explain"
    # a model named first is asked; a subcommand runs
    assert "MarkdownBot" in k.run_ok("%poe MarkdownBot hello").all_text()
    assert "points spent" in k.run_ok("%poe budget").stdout
    # a near-miss with that subcommand's options (or nothing after it) is still a typo
    for line in ("%poe histroy --days 7", "%poe histroy"):
        error = k.run(line).error
        assert error is not None and error["ename"] == "PoeUsageError" and "did you mean %poe history" in \
            error["traceback"][0], error
    k.run_ok("%poe use EchoBot")


def test_without_a_default_model_unknown_words_say_there_is_none(everyday_kernel: Kernel) -> None:
    k = everyday_kernel
    k.run_ok("poe_magic.settings.default_model = ''")
    try:
        error = k.run("%poe what is two plus two").error  # issue 25: not "did you mean %poe chat"
        assert error is not None and "no default model: `%poe use MODEL`" in error["traceback"][0], error
    finally:
        k.run_ok("%poe use EchoBot")


def test_a_trailing_question_mark_asks_instead_of_help(everyday_kernel: Kernel) -> None:
    k = everyday_kernel
    k.run_ok("%poe use EchoBot")
    assert echoed(k.run_ok("%poe what is two plus two?")) == "what is two plus two?"
    assert echoed(k.run_ok("%poe EchoBot is this a question??")) == "is this a question??"
    assert echoed(k.run_ok("x = 1\nif x:\n    %poe indented, still asked?")) == "indented, still asked?"
    # help is still help
    helped = k.run_ok("%poe?")
    assert "EchoBot received" not in helped.all_text() and "poe" in helped.all_text().lower()
    assert "EchoBot received" not in k.run_ok("%poe models?").all_text()
    k.run_ok("%reload_ext poe_magic")  # reloading adds no second transformer
    n = k.value("sum(getattr(f, '__name__', '') == 'keep_question_marks' for f in get_ipython().input_transformers_cleanup)")
    assert n == 1


def test_unknown_model_error_counts_like_the_models_table(everyday_kernel: Kernel) -> None:
    k = everyday_kernel
    headline = k.run_ok("%poe models").displays()["#0"]["text/plain"].splitlines()[0]
    shown, total = headline.split(" models")[0].split(" of ")
    hidden = headline.split("(")[1].split(" test bots hidden")[0]
    error = k.run("%%poe NoSuchModelAtAllQq\nhi").error
    assert error is not None
    assert f"lists the {total} models ({hidden} test bots hidden: --all)" in error["traceback"][0], (headline, error)
    assert "UTC (" in headline  # the fetch time, not only "just now" frozen into a saved notebook
