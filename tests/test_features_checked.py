"""Features and size checked before sending (issue 24 row 4): tools offered to a model whose
catalogue entry lacks ``tools`` are refused with the line the server's own
``unsupported_feature_for_model`` answer gets; a prompt estimated beyond the context window
is refused with the estimate; an attachment of a kind the model does not take is a warning
(and sent). Nothing is sent when refused."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from faultkit import one_line
from harness import Kernel
from protocols import Protocol

import poe_magic
from poe_magic.base import errors as E
from poe_magic.server.launch import LocalServer
from poe_magic.wire.failures import status_error

PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8cf"
                    "c0f01f0005000201a5f1a8f40000000049454e44ae426082")


def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def test_tools_to_a_model_without_tools_are_refused_unsent(activated: LocalServer, protocol: Protocol) -> None:
    activated.reset()
    with pytest.raises(E.UnsupportedFeatureError) as caught:
        poe_magic.ask("a=2 b=3", "Llama-3.1-405B", tools=[add], stream=False)
    assert str(caught.value) == ("Llama-3.1-405B does not support tool calling; nothing was sent; "
                                 "pick a tool-capable model (%poe models tools lists them) or drop --tools")
    assert protocol.sent(activated) == []
    reply = poe_magic.send("What is a=2 b=3 added up?", "GPT-5", tools=[add], stream=False)  # GPT-5 lists tools
    assert reply.error is None and protocol.sent(activated, "GPT-5")


def test_the_servers_own_refusal_reads_the_same(server: LocalServer) -> None:
    """The local server answers tools to a model without them as the real API does (400,
    ``unsupported_feature_for_model``); the client's line for it matches its own refusal's."""
    response = httpx.post(server.url + "/v1/chat/completions", headers={"Authorization": f"Bearer {server.key}"},
                          json={"model": "llama-3.1-405b", "messages": [{"role": "user", "content": "hi"}],
                                "tools": [{"type": "function", "function": {"name": "add"}}]}, timeout=30)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unsupported_feature_for_model"
    error = status_error(400, model="Llama-3.1-405B", body=response.text)
    assert isinstance(error, E.UnsupportedFeatureError)
    assert str(error) == ("Llama-3.1-405B does not support tool calling; "
                          "pick a tool-capable model (%poe models tools lists them) or drop --tools")


def test_a_prompt_beyond_the_context_window_is_refused_with_the_estimate(activated: LocalServer, protocol: Protocol) -> None:
    activated.reset()
    with pytest.raises(E.RequestTooLargeError) as caught:
        poe_magic.ask("x" * 140_000, "EchoBot", stream=False)  # EchoBot lists 32,000 tokens
    assert str(caught.value).startswith("the prompt is about 35,000 tokens; EchoBot takes 32,000 (nothing was sent)")
    assert protocol.sent(activated) == []
    assert poe_magic.ask("x" * 100_000, "EchoBot", stream=False)  # about 25,000 tokens: sent


def test_an_image_to_a_text_only_model_is_a_warning_and_sent(activated: LocalServer, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    # once, on the default protocol: the warning is said once per process (base/notices.py)
    picture = tmp_path / "dot.png"
    picture.write_bytes(PNG)
    activated.reset()
    reply = poe_magic.send("what is this?", "Llama-3.1-405B", attach=[picture], stream=False)
    assert reply.error is None and len(activated.requests("/bot/Llama-3.1-405B")) == 1
    warned = capsys.readouterr().err
    assert "warning: Llama-3.1-405B takes text, not image (dot.png); sent anyway" in warned
    poe_magic.send("and this?", "Claude-Sonnet-4", attach=[picture], stream=False)
    assert "Claude-Sonnet-4 takes" not in capsys.readouterr().err


def test_percent_poe_models_tools_lists_the_models_that_take_them(activated: LocalServer) -> None:
    listed = set(poe_magic.model_table("tools").DataFrame()["id"])
    assert {"Claude-Sonnet-4", "GPT-5", "ToolBot"} <= listed and "Llama-3.1-405B" not in listed


def test_percent_percent_poe_tools_refused_in_one_line(kernel: Kernel, server: LocalServer) -> None:
    server.reset()
    kernel.run_ok("def add(a: int, b: int) -> int:\n    'Add.'\n    return a + b")
    line = one_line(kernel.run("%%poe Llama-3.1-405B --tools add\nadd a=1 b=2"), "UnsupportedFeatureError")
    assert line == ("Llama-3.1-405B does not support tool calling; nothing was sent; "
                    "pick a tool-capable model (%poe models tools lists them) or drop --tools")
    assert server.requests("/bot/") == []
