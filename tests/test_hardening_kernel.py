"""Hardening (issue 16) in real kernels against the local server: poisonous ``-o`` names, the
key in a prompt, a malformed POE_BASE_URL under ``%xmode Verbose``, and an unwritable home
that must not cost a paid answer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import CellResult, Kernel, loaded_kernel

from poe_magic.server.launch import LocalServer

KEY = "pk-KERNEL-0123456789-KKKEYKK-abcdefWXYZ"  # the test server accepts this one


@pytest.fixture(scope="module")
def srv() -> Iterator[LocalServer]:
    from poe_magic.server.launch import local_server

    with local_server(key=KEY) as server:
        yield server


@pytest.fixture(scope="module")
def k(srv: LocalServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kernel]:
    with loaded_kernel(srv, tmp_path_factory.mktemp("hk_home"), "%load_ext poe_magic\nimport os, poe_magic") as kernel:
        yield kernel


def one_line_error(result: CellResult, name: str = "PoeUsageError") -> str:
    assert result.error is not None and result.error["ename"] == name, result.error
    assert len(result.error["traceback"]) == 1, result.error["traceback"]
    assert KEY not in result.all_text() and KEY[5:25] not in result.all_text()
    return result.error["evalue"]


def bot_requests(srv: LocalServer) -> int:
    return len(srv.requests("/bot/"))


@pytest.mark.parametrize("name", ["__builtins__", "__name__", "Out", "In", "get_ipython", "print", "True",
                                  "None", "class", "_i1"])
def test_poisonous_output_names_are_refused(k: Kernel, srv: LocalServer, name: str) -> None:
    before = bot_requests(srv)
    message = one_line_error(k.run(f"%%poe EchoBot -o {name}\nhello"))
    assert name in message and "nothing was sent" in message
    assert bot_requests(srv) == before
    assert k.value("[len(In) > 0, callable(print), __name__, get_ipython() is not None]") == \
        [True, True, "__main__", True]


def test_the_key_in_an_interpolated_prompt_is_refused(k: Kernel, srv: LocalServer) -> None:
    before = bot_requests(srv)
    for cell in ("%%poe EchoBot --cache\nwhat is {os.environ}", "%%poe EchoBot\nkey: {os.environ['POE_API_KEY']}",
                 "%%poe EchoBot -s {os.environ}\nhi", "poe_magic.ask('hi', 'EchoBot', params={'x': os.environ['POE_API_KEY']})",
                 "poe_magic.ask('hi', 'EchoBot', system='k=' + os.environ['POE_API_KEY'][4:30])"):
        result = k.run(cell)
        assert result.error is not None, cell
        message = one_line_error(result)
        assert message == "the prompt contains your Poe API key; nothing was sent", (cell, message)
    assert bot_requests(srv) == before
    home = Path(k.value("str(poe_magic.settings.home)"))
    leaked = [p for p in home.rglob("*") if p.is_file() and KEY[5:25].encode() in p.read_bytes()]
    assert leaked == []


@pytest.mark.parametrize("url", ["http://[::1", "ftp://example.org", "http://127.0.0.1:99999",
                                 "http://user:pass@127.0.0.1:1", "127.0.0.1:8000"])
def test_a_malformed_base_url_is_one_line_even_verbose(k: Kernel, srv: LocalServer, url: str) -> None:
    result = k.run(f"%xmode Verbose\nos.environ['POE_BASE_URL'] = {url!r}\n%%poe EchoBot\nhi"
                   .replace("\n%%poe EchoBot\nhi", "\nget_ipython().run_cell_magic('poe', 'EchoBot', 'hi')"))
    try:
        message = one_line_error(result, "ConfigError")
        assert "POE_BASE_URL" in message and ":pass@" not in message
    finally:
        k.run_ok(f"%xmode Minimal\nos.environ['POE_BASE_URL'] = {srv.url!r}")


@pytest.mark.kernel
def test_an_unwritable_home_keeps_the_answer(srv: LocalServer, tmp_path: Path) -> None:
    blocker = tmp_path / "home_is_a_file"
    blocker.write_text("not a folder")
    kernel = Kernel(env={**srv.env, "POE_MAGIC_HOME": str(blocker)})
    try:
        kernel.run_ok("%load_ext poe_magic\nimport poe_magic")
        result = kernel.run("%%poe EchoBot --cache -o kept\nkeep this answer")
        assert result.error is None, result.error
        assert "could not write the answer cache" in result.stderr and result.stderr.count("\n") <= 2
        assert kernel.value("[kept is _poe, poe_magic.last_reply() is kept, 'keep this answer' in kept.prompt]") == \
            [True, True, True]
    finally:
        kernel.shutdown()


def test_closing_the_chat_panel_mid_stream_stops_the_stream_and_its_thread(k: Kernel, srv: LocalServer) -> None:
    k.run_ok("import threading, time\n"
             "panel = poe_magic.chat('SlowBot')\n"
             "reply = panel.submit('chunks=400 delay=0.05 go')\n"
             "deadline = time.monotonic() + 30\n"
             "while not reply.text and time.monotonic() < deadline: time.sleep(0.05)\n"
             "panel.close()\n"
             "deadline = time.monotonic() + 10\n"
             "while any(t.name == 'poe_magic-chat' for t in threading.enumerate()) and time.monotonic() < deadline:\n"
             "    time.sleep(0.05)")
    state = k.value("[any(t.name == 'poe_magic-chat' for t in threading.enumerate()), panel.busy, "
                    "bool(reply.text), reply.interrupted or reply.error is not None]")
    assert state == [False, False, True, True], state
    assert k.value("len(reply.text) < len(' '.join(f'word{i}' for i in range(400)))")  # stopped, not streamed to its end
