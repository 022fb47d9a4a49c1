"""Issue 25, behaviour 3: background cells, in a real kernel against the local server.

``%%poe MODEL --background`` returns at once; the answer keeps streaming into that cell's
output (``update_display_data`` with the first cell's parent) while the next cell runs and
prints; ``-o NAME`` and ``_poe`` are set when it ends; ``%poe jobs`` lists it and
``%poe jobs stop N`` stops one (text kept); a budget refusal is raised in the cell, nothing sent.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator
from typing import Any

import pytest
from harness import Kernel, loaded_kernel

from poe_magic.server.launch import LocalServer

pytestmark = [pytest.mark.kernel, pytest.mark.http]


@pytest.fixture(scope="module")
def k(server: LocalServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kernel]:
    with loaded_kernel(server, tmp_path_factory.mktemp("background_home"), "%load_ext poe_magic\nimport poe_magic") as kernel:
        yield kernel


def read_until(k: Kernel, done: Any, timeout: float = 60.0) -> list[dict[str, Any]]:
    """Every iopub message (of any cell) until ``done(messages)`` holds."""
    messages: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while not done(messages):
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout} s; got {[m['header']['msg_type'] for m in messages]}")
        try:
            messages.append(k.client.get_iopub_msg(timeout=0.5))
        except queue.Empty:
            continue
    return messages


def idle(msg_id: str) -> Any:
    return lambda messages: any(m["parent_header"].get("msg_id") == msg_id and m["header"]["msg_type"] == "status"
                                and m["content"]["execution_state"] == "idle" for m in messages)


def shell_reply(k: Kernel, msg_id: str) -> dict[str, Any]:
    reply = k.client.get_shell_msg(timeout=30)
    while reply["parent_header"].get("msg_id") != msg_id:
        reply = k.client.get_shell_msg(timeout=30)
    return reply["content"]


def test_a_background_answer_streams_into_its_cell_while_the_next_cell_runs(k: Kernel) -> None:
    first = k.submit("%%poe SlowBot --background -o later\nchunks=12 delay=0.25")
    messages = read_until(k, idle(first))
    assert shell_reply(k, first)["status"] == "ok"
    said = "".join(m["content"].get("text", "") for m in messages if m["header"]["msg_type"] == "stream")
    assert "answers in the background" in said and "%poe jobs stop" in said, said
    second = k.submit("print('meanwhile, another cell')")
    messages += read_until(k, idle(second))
    assert shell_reply(k, second)["status"] == "ok"
    ended = lambda ms: any(m["parent_header"].get("msg_id") == first and m["header"]["msg_type"] ==  # noqa: E731
                           "update_display_data" and "word11" in str(m["content"]["data"]) for m in ms)
    messages += read_until(k, ended)
    printed = next(i for i, m in enumerate(messages) if m["header"]["msg_type"] == "stream"
                   and "meanwhile" in m["content"].get("text", ""))
    later_updates = [m for m in messages[printed:] if m["header"]["msg_type"] == "update_display_data"
                     and m["parent_header"].get("msg_id") == first]
    # the first cell's display kept updating after the second cell printed (in its own output)
    assert len(later_updates) >= 3, [m["header"]["msg_type"] for m in messages[printed:]]
    assert k.value("poe_magic.jobs()[-1].wait(60).status") == "ok"
    text = k.value("later.text")
    assert text.split() == [f"word{i}" for i in range(12)], text
    assert k.value("_poe is later") is True
    listed = k.run_ok("%poe jobs").all_text()
    assert "SlowBot" in listed and "ok" in listed, listed


def test_a_background_answer_can_be_stopped_and_keeps_its_text(k: Kernel) -> None:
    k.run_ok("%%poe SlowBot --background -o partial\nchunks=200 delay=0.1")
    number = k.value("poe_magic.jobs()[-1].id")
    k.run_ok("import time; time.sleep(1.5)")
    said = k.run_ok(f"%poe jobs stop {number}").stdout
    assert f"stopped job {number}" in said, said
    job = "poe_magic.jobs()[-1]"
    assert k.value(f"[{job}.status, {job}.reply.interrupted]") == ["stopped", True]
    words = k.value("partial.text").split()
    assert 0 < len(words) < 200, words


def test_a_refusal_is_raised_in_the_cell_and_nothing_is_sent(k: Kernel) -> None:
    before = k.value("len(poe_magic.jobs())")
    k.run_ok("%poe budget 1")
    try:
        k.run_ok("poe_magic.ask('spend a little first', 'EchoBot', stream=False)")
        result = k.run("%%poe GPT-5 --background\nhello")
        assert result.error is not None and "budget" in result.error["evalue"].lower(), result.all_text()
        assert k.value("len(poe_magic.jobs())") == before
        error = k.run("%%poe EchoBot MarkdownBot --background\nhello").error
        assert error is not None and "--background runs one model" in error["evalue"]
    finally:
        k.run_ok("%poe budget off")


def test_python_background_returns_a_job(k: Kernel) -> None:
    k.run_ok("job = poe_magic.ask('chunks=5 delay=0.1', 'SlowBot', background=True)")
    assert k.value("type(job).__name__") == "Job"
    assert k.value("job.wait(30).text.split()") == [f"word{i}" for i in range(5)]
    assert k.value("job.done and job.elapsed > 0") is True
