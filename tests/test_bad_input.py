"""Bad input in a real kernel: each is one line (or just works), nothing malformed is sent, and
the kernel is fine afterwards. Options, --param, empty and huge cells, model names with spaces
or slashes, stray braces, odd and non-UTF-8 attachment names, failing uploads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from faultkit import one_line, statuses, usage_line
from harness import Kernel

from poe_magic.server.launch import LocalServer
from poe_magic.server.uploads import UPLOAD_PATH

BAD_INPUT = [
    # cell, IPython UsageError (None) or our error class, fragment
    ("%%poe EchoBot --bogus\nhi", None, "unrecognized arguments: --bogus; %%poe? lists the options"),
    ("%%poe EchoBot --temprature 0.5\nhi", None,
     "unrecognized arguments: --temprature 0.5; did you mean --temperature? (%%poe? lists the options)"),
    ("%%poe EchoBot --no-chache\nhi", None, "unrecognized arguments: --no-chache; did you mean --no-cache?"),
    ("%poe thread", "PoeUsageError", "unknown subcommand 'thread'; did you mean %poe threads?"),
    ("%poe histroy --by bot", "PoeUsageError", "unknown subcommand 'histroy'; did you mean %poe history?"),
    ("%poe thread default", "PoeUsageError", "'thread' is neither a model nor a subcommand; did you mean %poe threads?"),
    ("%poe nosuchthing", "PoeUsageError", "unknown subcommand 'nosuchthing'; %poe help lists them, or ask with"),
    ("%%poe EchoBot --param\nhi", None, "argument -p/--param: expected one argument"),
    ("%%poe EchoBot -t hot\nhi", None, "argument -t/--temperature: invalid float value: 'hot'"),
    ("%%poe EchoBot --param oops\nhi", "PoeUsageError", "--param expects KEY=VALUE, got 'oops'"),
    ("%%poe EchoBot --param =3\nhi", "PoeUsageError", "--param expects KEY=VALUE"),
    ("%%poe EchoBot -t 7\nhi", "PoeUsageError", "--temperature must be between 0 and 2"),
    ("%%poe EchoBot --timeout -1\nhi", "PoeUsageError", "--timeout must be more than 0 seconds"),
    ("%%poe EchoBot -o 1x\nhi", "PoeUsageError", "-o needs a Python variable name"),
    ("%%poe EchoBot\n", None, "the cell body is empty"),  # IPython's own check
    ("%%poe EchoBot\n  \n\t\n", "PoeUsageError", "the prompt is empty"),
    ("%%poe EchoBot\nwhat is {no_such_variable}?", "PoeUsageError", "no_such_variable"),
    ('%%poe "GPT 5"\nhi', "PoeUsageError", "invalid model name 'GPT 5'"),
    ("%%poe openai/gpt-5\nhi", "PoeUsageError", "invalid model name 'openai/gpt-5'"),
    ("%%poe ../usage/current_balance\nhi", "PoeUsageError", "invalid model name '../usage/current_balance'"),
    ("%%poe 'GPT-5?x=1'\nhi", "PoeUsageError", "invalid model name 'GPT-5?x=1'"),
    ("%poe 'GPT 5' what is this", "PoeUsageError", "invalid model name"),
    ("%%poe EchoBot --attach /no/such/file.txt\nhi", "PoeUsageError", "--attach: no such file"),
    ('%%poe EchoBot -s "unclosed\nhi', None, "cannot parse the options: No closing quotation"),
    ('%poe history --by "bot', None, "cannot parse the options: No closing quotation"),
    ("%poe history --dayz 3", "PoeUsageError", "unrecognized arguments: --dayz 3; did you mean --days? (usage:"),
    ('%poe reset "x', "PoeUsageError", "no thread named '\"x'"),
]


@pytest.mark.parametrize("code,ename,fragment", BAD_INPUT, ids=[c[0].splitlines()[0] for c in BAD_INPUT])
def test_bad_input_is_one_line_and_sends_nothing(kernel: Kernel, server: LocalServer, code: str,
                                                 ename: str | None, fragment: str) -> None:
    server.reset()
    result = kernel.run(code)
    line = usage_line(result) if ename is None else one_line(result, ename)
    assert fragment in line
    assert server.requests("/bot/") == [] and server.requests(UPLOAD_PATH) == [], "nothing may be sent"


def test_unknown_model_is_one_line(kernel: Kernel, server: LocalServer) -> None:
    server.reset()
    line = one_line(kernel.run("%%poe NoSuchModel-XYZ\nhi"), "UnknownModelError")
    assert line.count("NoSuchModel-XYZ") == 1 and "not found" not in line
    assert len(server.requests("/bot/")) <= 1  # the catalogue may catch it before any query


def test_stray_braces_are_sent_as_written(kernel: Kernel, server: LocalServer) -> None:
    result = kernel.run_ok('%%poe EchoBot\nunbalanced { here, }} there, {"json": 1} and {{ too')
    assert 'unbalanced { here, }} there, {"json": 1} and { too' in result.markdown()[0]


def test_huge_cell_works_and_the_kernel_stays_well(kernel: Kernel, server: LocalServer) -> None:
    server.reset()
    # about 5 MB, to a model whose catalogue entry lists no context window (GPT-4o-mini's 128k
    # tokens would refuse it before sending: tests/test_features_checked.py)
    body = "Summarise this. " + "lorem ipsum dolor sit amet " * 190_000 + "The end."
    assert len(body) > 5_000_000
    result = kernel.run("%%poe Llama-3.1-405B -o big\n" + body, timeout=120)
    assert result.error is None, result.error
    assert kernel.value("[len(big.prompt), big.error is None]") == [len(body), True]
    assert statuses(server, "Llama-3.1-405B") == [200]
    assert "Summarise this" in result.markdown()[0]
    assert kernel.value("1 + 1") == 2


def test_odd_and_non_utf8_attachment_names(kernel: Kernel, server: LocalServer, tmp_path: Path) -> None:
    odd = tmp_path / "my notes (v2) — résumé 🙂.txt"
    odd.write_text("hello")
    raw = bytes(tmp_path) + b"/caf\xe9-latin1-\xff.txt"  # not UTF-8: only reachable from Python
    with open(raw, "wb") as fh:
        fh.write(b"bytes")
    server.reset()
    result = kernel.run_ok(f'%%poe EchoBot --attach "{odd}"\nwhat is attached?')
    assert f'"name": {json.dumps(odd.name)}' in result.markdown()[0]  # EchoBot's JSON of what it got
    result = kernel.run_ok(f"import os, poe_magic\nr = poe_magic.ask('and now?', 'EchoBot', attach=os.fsdecode({raw!r}))")
    replaced = json.dumps("caf\ufffd-latin1-\ufffd.txt")  # undecodable bytes become U+FFFD, no crash
    assert f'"name": {replaced}' in result.markdown()[0]
    assert statuses(server, "EchoBot") == [200, 200]


@pytest.mark.parametrize("status,ename,fragment,tries", [
    (500, "ServerError", "uploading 'note.txt' failed (HTTP 500): simulated error 500; gave up after 3 retries", 4),
    (401, "AuthError", "the server rejected the API key (401) while uploading 'note.txt'", 1),
    (413, "RequestTooLargeError", "'note.txt' is too large to upload (413)", 1),
])
def test_failing_upload_is_one_line(kernel: Kernel, server: LocalServer, tmp_path: Path, status: int,
                                    ename: str, fragment: str, tries: int) -> None:
    note = tmp_path / "note.txt"
    note.write_text(f"upload fault {status}")  # new bytes each time: not served from the upload memo
    server.reset()
    server.fail_next(UPLOAD_PATH, status, count=tries)  # exactly the tries it should make: none left over
    kernel.run_ok("%config PoeMagics.retry_backoff = 0.01")  # (undone after the test by the isolation fixture)
    line = one_line(kernel.run(f"%%poe EchoBot --attach {note}\nread it"), ename)
    assert fragment in line
    assert len(server.requests(UPLOAD_PATH)) == tries, "5xx retried, 401/413 not"
    assert server.requests("/bot/") == [], "no query without its attachment"
