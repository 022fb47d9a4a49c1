"""``poe_magic.stream`` / ``astream``: an answer as an iterator of text pieces, over real HTTP
against the local server, in this process and in a real kernel (Ctrl-C)."""

from __future__ import annotations

import asyncio
import time

import pytest
from harness import Kernel
from protocols import Protocol, both_protocols

import poe_magic
from poe_magic.server.launch import LocalServer
from poe_magic.wire.loop import shared_loop


@both_protocols
def test_pieces_arrive_as_they_stream_and_end_with_the_reply(activated: LocalServer) -> None:
    started = time.perf_counter()
    answer = poe_magic.stream("chunks=20 delay=0.05 first_delay=0", "SlowBot")
    arrivals: list[tuple[float, str]] = [(time.perf_counter() - started, piece) for piece in answer]
    pieces = [piece for _, piece in arrivals]
    assert len(pieces) >= 5, pieces  # live pieces, not one block at the end
    assert arrivals[0][0] < arrivals[-1][0] - 0.5  # the first came long before the last
    reply = answer.reply
    assert reply is not None and reply.ok
    assert "".join(pieces) == reply.text == "".join(f"word{i} " for i in range(20))
    assert poe_magic.last_reply() is reply  # remembered like any answer
    assert reply.elapsed is not None and reply.time_to_first_token is not None


@both_protocols
def test_a_failure_is_raised_after_the_pieces_and_keeps_them(activated: LocalServer) -> None:
    got: list[str] = []
    with pytest.raises(poe_magic.PoeMagicError) as failed:
        for piece in poe_magic.stream("fail please", "FailingBot"):
            got.append(piece)
    reply = failed.value.reply  # type: ignore[attr-defined]
    assert reply.error is failed.value and "".join(got) == reply.text
    assert "\n" not in str(failed.value)  # one line


def test_bad_input_raises_before_anything_is_sent(activated: LocalServer, protocol: Protocol) -> None:
    activated.reset()
    with pytest.raises(poe_magic.PoeUsageError):
        poe_magic.stream("   ", "EchoBot")
    with pytest.raises(poe_magic.PoeUsageError, match="--timeout"):
        poe_magic.stream("hi", "EchoBot", timeout=float("nan"))
    assert protocol.sent(activated) == []


@both_protocols
def test_leaving_early_stops_the_request(activated: LocalServer) -> None:
    with poe_magic.stream("chunks=200 delay=0.05 first_delay=0", "SlowBot") as answer:
        first = next(answer)
    assert first.startswith("word0")
    deadline = time.monotonic() + 5
    while shared_loop().pending_tasks() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert shared_loop().pending_tasks() == 0  # nothing left running on the loop thread


@both_protocols
def test_astream_gives_the_same_pieces_to_async_code(activated: LocalServer) -> None:
    async def collect() -> list[str]:
        return [piece async for piece in poe_magic.astream("chunks=8 delay=0.02 first_delay=0", "SlowBot")]

    pieces = asyncio.run(collect())
    assert "".join(pieces) == "".join(f"word{i} " for i in range(8))
    assert poe_magic.last_reply() is not None and poe_magic.last_reply().text == "".join(pieces)


@both_protocols
def test_ask_is_built_on_the_same_stream(activated: LocalServer) -> None:
    reply = poe_magic.ask("same path", "EchoBot", stream=False)
    assert reply.ok and "same path" in reply.text and poe_magic.last_reply() is reply


@pytest.mark.kernel
def test_ctrl_c_while_iterating_in_a_kernel_keeps_the_partial_answer(kernel: Kernel) -> None:
    msg_id = kernel.submit("import poe_magic\ngot = []\n"
                           "for piece in poe_magic.stream('chunks=200 delay=0.05 first_delay=0', 'SlowBot'):\n"
                           "    got.append(piece)")
    time.sleep(1.2)
    kernel.interrupt()
    result = kernel.collect(msg_id, timeout=20)
    assert result.error is not None and result.error["ename"] == "StreamInterrupted"
    assert len(result.error["traceback"]) == 1  # one calm line, no traceback wall
    assert kernel.value("[poe_magic.last_reply().interrupted, ''.join(got) == poe_magic.last_reply().text, "
                        "len(got) > 0]") == [True, True, True]
    assert kernel.value("__import__('poe_magic.wire.loop', fromlist=['x']).shared_loop().pending_tasks()") == 0
