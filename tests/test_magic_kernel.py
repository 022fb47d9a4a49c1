"""%%poe in a real ipykernel against the local server over real HTTP."""

from __future__ import annotations

import time

import pytest
from harness import Kernel

from poe_magic.server.bots.demo import MARKDOWN_SAMPLE
from poe_magic.server.launch import LocalServer

FAKE_KEY = "pk-FAKE-kernel-0123456789abcdefQRST"


def chunkbot_text(chunks: int, size: int) -> str:
    return "".join(f"{i % 10}" * (size - 1) + " " for i in range(chunks))


def one_line_error(result, name: str) -> str:
    """The cell failed with exactly one traceback line naming ``name``; return it."""
    assert result.error is not None, "the cell should have failed"
    assert result.error["ename"] == name
    assert len(result.error["traceback"]) == 1, result.error["traceback"]
    return result.error["traceback"][0]


def test_cell_streams_exact_full_text_as_markdown(kernel: Kernel) -> None:
    result = kernel.run_ok("%%poe ChunkBot\nchunks=500 size=4")
    final = result.markdown()
    assert len(final) == 2, "the answer, then its footer: each one display, updated in place"
    assert final[0].rstrip() == chunkbot_text(500, 4).rstrip()
    assert final[1].startswith("<sub>ChunkBot ·")  # footer with timings
    assert not result.of_type("execute_result"), "no duplicate Out[]"


def test_markdown_answer_is_rendered_as_markdown(kernel: Kernel) -> None:
    result = kernel.run_ok("%%poe MarkdownBot\nshow me markdown")
    (data, _footer) = result.displays().values()
    assert data["text/markdown"].startswith(MARKDOWN_SAMPLE)


def test_display_updates_are_throttled(kernel: Kernel) -> None:
    # 2,000 chunks spread over ~2+ s: without a throttle this would be ~2,000 updates.
    result = kernel.run_ok("%%poe SlowBot\nchunks=2000 delay=0.001")
    updates = result.update_count
    assert updates >= 3, "the answer should update live, not only at the end"
    assert updates <= result.elapsed / 0.05 + 3, (updates, result.elapsed)
    assert result.markdown()[0].count("word") == 2000


def test_streamed_answers_reuse_one_keep_alive_connection(kernel: Kernel, server: LocalServer) -> None:
    # fastapi_poe stops reading at the 'done' event; unless the rest of the body is read, the
    # connection is dropped and every cell pays a new TCP (and, online, TLS) handshake.
    for i in range(3):
        kernel.run_ok(f"%%poe EchoBot\nkeep-alive {i}")
    ports = [r["client_port"] for r in server.requests("/bot/EchoBot")[-3:]]
    assert ports[0] is not None and len(set(ports)) == 1, ports


def test_output_variable_and_last_reply(kernel: Kernel) -> None:
    kernel.run_ok("%%poe EchoBot -o answer\nremember me")
    assert kernel.value("answer.model") == "EchoBot"
    assert kernel.value("'remember me' in answer.text")
    assert kernel.value("answer is _poe")
    assert kernel.value("__import__('poe_magic').last_reply() is answer")
    assert kernel.value("[answer.error, answer.interrupted, answer.time_to_first_token > 0, answer.elapsed > 0]") == [
        None, False, True, True]


def test_line_magic_one_liner(kernel: Kernel) -> None:
    result = kernel.run_ok("%poe EchoBot what is two plus two")
    assert "what is two plus two" in result.markdown()[0]


def test_usage_errors_are_one_line_and_send_nothing(kernel: Kernel, server: LocalServer) -> None:
    server.reset()
    assert "no model given" in one_line_error(kernel.run("%%poe\nhello"), "PoeUsageError")
    assert "empty" in one_line_error(kernel.run("%%poe EchoBot\n   \n"), "PoeUsageError")
    assert "--param" in one_line_error(kernel.run("%%poe EchoBot --param oops\nhi"), "PoeUsageError")
    bad_option = kernel.run("%%poe EchoBot --bogus\nhi")
    assert bad_option.reply["status"] == "error" and "unrecognized arguments: --bogus" in bad_option.stderr
    assert server.requests("/bot/") == []


def test_missing_and_wrong_key_errors_never_show_the_key(fresh_kernel: Kernel, server: LocalServer) -> None:
    k = fresh_kernel
    k.run_ok("%load_ext poe_magic\nimport os\ndel os.environ['POE_API_KEY']")
    missing = one_line_error(k.run("%%poe EchoBot\nhi"), "ConfigError")
    assert "POE_API_KEY" in missing and "%poe login" in missing
    k.run_ok(f"os.environ['POE_API_KEY'] = '{FAKE_KEY}'")
    wrong = k.run("%%poe EchoBot\nhi")
    assert "rejected the API key (401)" in one_line_error(wrong, "AuthError")
    config = k.run_ok("%poe config")
    for result in (wrong, config):
        assert FAKE_KEY not in result.all_text() and "0123456789abcdef" not in result.all_text()
    assert "pk-…QRST" in config.markdown()[0]


def test_interrupt_keeps_partial_text_and_next_cell_works(kernel: Kernel) -> None:
    kernel.run_ok("%%poe EchoBot\nfirst")  # the loop thread is started by a kernel's first answer, not by Ctrl-C
    kernel.run_ok("__import__('poe_magic.wire.loop', fromlist=['x']).wait_warm_up()")  # (a %load_ext's warm-up thread ends by itself)
    threads_before = kernel.value("__import__('threading').active_count()")
    msg_id = kernel.submit("%%poe SlowBot -o partial\nchunks=200 delay=0.05")
    time.sleep(1.0)
    interrupted_at = time.perf_counter()
    kernel.interrupt()
    result = kernel.collect(msg_id)
    stop_latency = time.perf_counter() - interrupted_at
    assert stop_latency < 2.0, stop_latency  # the issue asks 0.5 s; generous for loaded CI boxes
    assert "partial answer" in one_line_error(result, "StreamInterrupted")
    final = "\n\n".join(result.markdown())  # the answer, then its footer
    assert "word0 word1" in final and final.endswith(" · ⏹ stopped</sub>")
    assert kernel.value("[partial.interrupted, partial.text.startswith('word0 word1')]") == [True, True]
    # nothing left running on the loop thread, no extra threads
    assert kernel.value("__import__('poe_magic.wire.loop', fromlist=['x']).shared_loop().pending_tasks()") == 0
    assert kernel.value("__import__('threading').active_count()") == threads_before
    assert "EchoBot" in kernel.run_ok("%%poe EchoBot\nstill alive?").markdown()[0]


def test_reload_and_unload_extension(kernel: Kernel) -> None:
    kernel.run_ok("%reload_ext poe_magic")
    assert "again" in kernel.run_ok("%%poe EchoBot\nagain").markdown()[0]
    kernel.run_ok("%unload_ext poe_magic")
    gone = kernel.run("%%poe EchoBot\nhi")
    assert gone.reply["status"] == "error" and "not found" in gone.stderr
    kernel.run_ok("%load_ext poe_magic")


def test_load_ext_imports_no_heavy_modules(fresh_kernel: Kernel) -> None:
    fresh_kernel.run_ok("%load_ext poe_magic")
    heavy = fresh_kernel.value(
        "[m for m in ('pandas', 'matplotlib', 'ipywidgets', 'fastapi_poe') if m in __import__('sys').modules]")
    assert heavy == []


@pytest.mark.kernel
def test_terminal_ipython_prints_the_stream_as_plain_text(server: LocalServer, tmp_path) -> None:
    import subprocess
    import sys

    script = tmp_path / "session.ipy"
    script.write_text("%load_ext poe_magic\n%poe EchoBot hello from a terminal\n%poe FailingBot hi\n")
    env = {**__import__("os").environ, **server.env, "POE_MAGIC_HOME": str(tmp_path / "home"),
           "IPYTHONDIR": str(tmp_path / "ipython")}
    done = subprocess.run([sys.executable, "-m", "IPython", "--no-banner", "--colors=NoColor", str(script)],
                          capture_output=True, text=True, env=env, timeout=120)
    out = done.stdout + done.stderr
    assert "hello from a terminal" in out and "-- EchoBot ·" in out  # streamed text, then the footer
    assert "partial0 partial1" in out and "⚠ ServerError" in out  # partial text kept, failure named briefly
    assert out.count("simulated failure mid-stream") == 1, out  # the message is said once, by the error line
    assert "Traceback" not in out
