"""The OpenAI-compatible protocol (issue 24 row 8): what only it does, and that it keeps every
guarantee of the bot protocol. Over real HTTP against the local server's
``/v1/chat/completions``; the shared suites run over both protocols through the ``protocol``
fixture (``tests/protocols.py``)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from harness import Kernel
from protocols import CHAT, Protocol

import poe_magic
from poe_magic.base import errors as E
from poe_magic.base.config import PROTOCOLS, settings
from poe_magic.server.errors import error_body
from poe_magic.server.launch import LocalServer
from poe_magic.spending import estimator
from poe_magic.wire import openai_stream
from poe_magic.wire.request import Message, PoeRequest, build_request

PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8cf"
                    "c0f01f0005000201a5f1a8f40000000049454e44ae426082")


@pytest.fixture
def openai(activated: LocalServer) -> LocalServer:
    """This process asks the local server over ``/v1/chat/completions``."""
    settings.protocol = "openai"
    activated.reset()
    return activated


def received(reply: Any) -> dict[str, Any]:
    """What EchoBot says it received (its JSON block)."""
    return json.loads(reply.text.split("```json\n")[1].split("\n```")[0])


# -- the setting ------------------------------------------------------------------------------

def test_the_setting_is_checked_in_one_line_and_shown() -> None:
    assert settings.protocol == "poe"  # the default
    settings.protocol = " OpenAI "
    assert settings.protocol == "openai" and settings.public()["protocol"] == "openai"
    with pytest.raises(E.ConfigError) as caught:
        settings.protocol = "grpc"
    assert str(caught.value) == "protocol must be one of 'poe', 'openai', got 'grpc'"
    assert settings.protocol == "openai"  # unchanged
    assert settings.copy().protocol == "openai"


# -- the body ---------------------------------------------------------------------------------

def test_the_body_maps_turns_parameters_images_and_tool_rounds() -> None:
    image = type("Attachment", (), {"url": "https://f.example/a.png", "content_type": "image/png", "name": "a.png"})
    doc = type("Attachment", (), {"url": "https://f.example/b.pdf", "content_type": "application/pdf", "name": "b.pdf"})
    request = build_request("and now?", "GPT-5", system="be brief", temperature=0.4, stop=["END"],
                            params={"reasoning_effort": "high", "thinking_budget": 2000},
                            history=[Message("user", "hi"), Message("bot", "hello")], attachments=[image(), doc()])
    request.tools = [{"type": "function", "function": {"name": "add", "parameters": {"type": "object"}}}]
    request.tool_calls = [{"id": "c1", "type": "function", "function": {"name": "add", "arguments": "{}"}}]
    request.tool_results = [{"role": "tool", "name": "add", "tool_call_id": "c1", "content": "3"}]
    body = openai_stream.chat_body(request)
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["reasoning_effort"] == "high" and body["thinking_budget"] == 2000  # typed, top-level (extra_body)
    assert body["temperature"] == 0.4 and body["stop"] == ["END"] and body["tools"] == request.tools
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "user", "assistant", "tool"]
    assert body["messages"][3]["content"] == [
        {"type": "text", "text": "and now?"}, {"type": "image_url", "image_url": {"url": "https://f.example/a.png"}},
        {"type": "text", "text": "[b.pdf](https://f.example/b.pdf)"}]
    assert body["messages"][4] == {"role": "assistant", "content": None, "tool_calls": request.tool_calls}
    assert body["messages"][5] == {"role": "tool", "tool_call_id": "c1", "content": "3"}
    with pytest.raises(E.PoeUsageError, match="--param stream cannot be sent over the openai protocol"):
        openai_stream.chat_body(PoeRequest("GPT-5", [Message("user", "x")], params={"stream": False}))


def test_usage_blocks_are_read_leniently() -> None:
    assert openai_stream.usage_of({"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10,
                                   "prompt_tokens_details": {"cached_tokens": 4},
                                   "completion_tokens_details": {"reasoning_tokens": 2}}) == {
        "prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10, "cached_tokens": 4, "reasoning_tokens": 2}
    assert openai_stream.usage_of({"prompt_tokens": "7", "completion_tokens": True, "total_tokens": -1,
                                   "prompt_tokens_details": None}) == {}
    assert openai_stream.usage_of(None) == {}


# -- against the local server -------------------------------------------------------------------

def test_the_server_hands_parameters_to_the_bot_and_reports_usage_in_the_real_shape(server: LocalServer) -> None:
    body = {"model": "EchoBot", "messages": [{"role": "user", "content": "hi"}], "stream": True,
            "stream_options": {"include_usage": True}, "reasoning_effort": "medium", "thinking_budget": 100,
            "extra_body": {"aspect": "16:9"}, "max_tokens": 50, "top_p": 0.5}
    with httpx.stream("POST", server.url + CHAT, json=body, headers={"Authorization": f"Bearer {server.key}"},
                      timeout=30) as response:
        payloads = [line[len("data: "):] for line in response.iter_lines() if line]
    assert payloads[-1] == "[DONE]"
    chunks = [json.loads(p) for p in payloads[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert json.loads(text.split("```json\n")[1].split("\n```")[0])["parameters"] == {
        "reasoning_effort": "medium", "thinking_budget": 100, "aspect": "16:9"}  # OpenAI's own fields are not
    usage = chunks[-1]["usage"]
    assert chunks[-1]["choices"] == [] and usage["prompt_tokens_details"] == {"cached_tokens": 0}
    assert usage["completion_tokens_details"] == {"reasoning_tokens": 0}



def test_usage_lands_on_the_reply_and_prices_the_estimate(openai: LocalServer) -> None:
    reply = poe_magic.ask("count my tokens please", "GPT-4o-mini", stream=False, system="be brief")
    usage = reply.usage
    assert usage is not None and set(usage) >= {"prompt_tokens", "completion_tokens", "total_tokens", "cached_tokens"}
    assert usage["prompt_tokens"] == -(-len("be brief" + "count my tokens please") // 4)  # the server's count
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0
    assert reply.estimated_points is not None and "≈" in reply.footer()
    assert reply.output_metadata()["usage"] == usage  # the saved notebook keeps the tokens too
    assert "usage" not in poe_magic.Reply(model="m", prompt="").output_metadata()  # none reported: no key
    request = build_request("count my tokens please", "GPT-4o-mini", system="be brief")
    bigger = poe_magic.Reply(model="GPT-4o-mini", prompt="", text=reply.text,
                             usage={**usage, "completion_tokens": usage["completion_tokens"] * 1000})
    assert estimator.from_answer(bigger, request) > reply.estimated_points  # priced from usage, not the text
    assert [r["path"] for r in openai.requests("/bot/")] == []  # nothing went by the bot protocol
    assert [r["bot"] for r in openai.requests(CHAT)] == ["GPT-4o-mini"]


def test_parameters_and_reasoning_effort_reach_the_bot(openai: LocalServer) -> None:
    reply = poe_magic.ask("what arrived?", "EchoBot", stream=False, temperature=0.2, stop=["Z"],
                          params={"reasoning_effort": "low", "rounds": 3, "web_search": True})
    got = received(reply)
    assert got["parameters"] == {"reasoning_effort": "low", "rounds": 3, "web_search": True}  # typed, as sent
    assert got["temperature"] == 0.2 and got["stop_sequences"] == ["Z"]
    typed = poe_magic.send("hi", "GPT-5", params={"reasoning_effort": "high"}, stream=False)
    assert typed.ok and typed.params == {"reasoning_effort": "high"}
    with pytest.raises(E.PoeUsageError, match="GPT-5 takes one of minimal, low, medium, high"):
        poe_magic.ask("hi", "GPT-5", params={"reasoning_effort": "extreme"}, stream=False)
    assert len(openai.requests(CHAT)) == 2  # the refused one was not sent


def test_threads_and_system_prompt_are_sent_as_messages(openai: LocalServer) -> None:
    poe_magic.ask("first question", "EchoBot", stream=False, chat="t24", system="stay calm")
    second = poe_magic.ask("second question", "EchoBot", stream=False, chat="t24")
    got = received(second)
    assert got["system"] == "stay calm"
    assert [t["role"] for t in got["turns"]] == ["user", "bot", "user"]
    assert got["turns"][0]["content"] == "first question" and got["turns"][-1]["content"] == "second question"


def test_an_image_goes_as_an_image_url_part(openai: LocalServer, tmp_path: Path) -> None:
    picture = tmp_path / "dot.png"
    picture.write_bytes(PNG)
    got = received(poe_magic.ask("what is this?", "EchoBot", attach=[picture], stream=False))
    (attachment,) = got["attachments"]
    assert attachment["content_type"] == "image/png" and attachment["url"].startswith(openai.url)


def test_tool_rounds_add_up_their_usage(openai: LocalServer) -> None:
    def add(a: int, b: int) -> int:
        return a + b

    reply = poe_magic.ask("call add a=2 b=40", "ToolBot", tools=[add], stream=False)
    assert [(c.name, c.result) for c in reply.tool_calls] == [("add", 42)]
    assert "add (call_r1_0) returned: 42" in reply.text
    assert len(openai.requests(CHAT)) == 2  # the call, then the result
    assert reply.usage is not None and reply.usage["prompt_tokens"] > 0
    assert reply.usage["total_tokens"] == reply.usage["prompt_tokens"] + reply.usage["completion_tokens"]


def test_errors_read_as_on_the_bot_protocol(activated: LocalServer) -> None:
    """The same causes give the same line on both protocols, and the key is in none of them."""
    settings.retry_backoff = 0.01  # over openai a bot's "no retry" error before output is an HTTP 500, which is retried
    lines = {}
    for protocol in ("poe", "openai"):
        settings.protocol = protocol
        got = []
        for prompt, model in [("fail please", "FailingBot"), ("retry=0", "FlakyBot"),
                              ("error_type=insufficient_fund retry=0", "FlakyBot")]:
            reply = poe_magic.send(prompt, model, stream=False)
            got.append((type(reply.error).__name__, str(reply.error), reply.text))
        lines[protocol] = got
    assert lines["openai"][0] == lines["poe"][0]  # after output: the error event, the partial text kept
    assert [g[0] for g in lines["openai"]] == [g[0] for g in lines["poe"]]
    settings.protocol = "openai"
    key = os.environ["POE_API_KEY"]
    settings.set_api_key("wrong-key-123456")
    wrong = poe_magic.send("hi", "EchoBot", stream=False)
    assert isinstance(wrong.error, E.AuthError) and str(wrong.error).startswith(
        "the server rejected the API key (401) asking EchoBot")
    settings.set_api_key(None)
    echoed = poe_magic.send("hi", "HeaderEchoBot", params={"words": 2}, stream=False)
    assert echoed.error is not None and key not in str(echoed.error) and key not in echoed.text
    assert all("\n" not in line for got in lines.values() for _, line, _ in got)


@pytest.mark.parametrize("status", [401, 402, 403, 404, 408, 413, 429, 500, 503])
def test_each_http_status_reads_the_same_on_both_protocols(activated: LocalServer, status: int) -> None:
    settings.max_retries = 0  # the first failure is the line
    lines = {}
    for name in PROTOCOLS:
        settings.protocol = name
        activated.fail_next(Protocol(name).path("EchoBot"), status, body=error_body(status, "planted"))
        reply = poe_magic.send("hi", "EchoBot", stream=False)
        lines[name] = (type(reply.error).__name__, str(reply.error))
    assert lines["openai"] == lines["poe"] and "\n" not in lines["poe"][1], lines


def test_a_dropped_or_cut_stream_keeps_the_partial_text(openai: LocalServer) -> None:
    dropped = poe_magic.send("words=5", "DropBot", stream=False)
    assert isinstance(dropped.error, E.PoeConnectionError) and dropped.text.startswith("partial0")
    assert "partial answer kept" in str(dropped.error)
    cut = poe_magic.send("words=4", "TruncateBot", stream=False)
    assert isinstance(cut.error, E.PoeConnectionError) and "cut short" in str(cut.error) and cut.text
    assert len(openai.requests(CHAT)) == 2  # text had streamed: neither was retried


def test_a_5xx_before_the_first_token_is_retried_once_through_the_same_policy(openai: LocalServer) -> None:
    settings.retry_backoff = 0.01
    openai.fail_next(CHAT, 503)
    reply = poe_magic.send("again", "EchoBot", stream=False)
    assert reply.ok and reply.retries == 1 and len(openai.requests(CHAT)) == 2


def test_budget_confirm_and_call_log_hold(openai: LocalServer) -> None:
    poe_magic.set_budget(10)  # EchoBot costs 10: one call reaches it
    assert poe_magic.send("one", "EchoBot", stream=False).ok
    poe_magic.wait_for_costs(30)
    with pytest.raises(E.BudgetExceededError):
        poe_magic.ask("two", "EchoBot", stream=False)
    assert len(openai.requests(CHAT)) == 1, "the refused call was not sent"
    poe_magic.set_budget(None)
    settings.confirm_above = 1
    with pytest.raises(E.PoeUsageError, match="confirm_above"):
        poe_magic.ask("three", "EchoBot", stream=False)  # captured stdin: no one can answer
    assert len(openai.requests(CHAT)) == 1
    assert poe_magic.ask("four", "EchoBot", stream=False, yes=True).ok
    row = poe_magic.log(model="EchoBot", limit=1).iloc[0]
    assert row["prompt"] == "four" and row["status"] == "ok"


@pytest.mark.kernel
def test_percent_config_switches_a_kernel_to_openai(kernel: Kernel, server: LocalServer) -> None:
    server.reset()
    bad = kernel.run('%config PoeMagics.protocol = "grpc"')
    assert "ConfigError: protocol must be one of 'poe', 'openai', got 'grpc'" in bad.stderr
    kernel.run_ok('%config PoeMagics.protocol = "openai"')
    result = kernel.run_ok("%%poe EchoBot --param reasoning_effort=low\nhello over openai")
    assert "hello over openai" in "".join(result.markdown())
    assert [r["bot"] for r in server.requests(CHAT)] == ["EchoBot"] and server.requests("/bot/") == []
    kernel.run_ok("import poe_magic")
    assert kernel.value("[poe_magic.last_reply().usage['prompt_tokens'] > 0, poe_magic.settings.protocol]") == [
        True, "openai"]
    assert "'openai'" in kernel.run_ok("%poe config").all_text()
    msg_id = kernel.submit("%%poe SlowBot --param chunks=200 --param delay=0.05\nlong")
    time.sleep(1.5)
    kernel.interrupt()
    kernel.collect(msg_id, timeout=20)
    assert kernel.value("[poe_magic.last_reply().interrupted, len(poe_magic.last_reply().text) > 0]") == [True, True]
