"""Tab completion (issue 24 row 5): model names after ``%%poe`` / ``%poe use`` / ``--judge``,
``%poe`` subcommands, ``%%poe`` options, ``--param`` names and choices of the model on the
line; from the cached catalogue only (no request while typing)."""

from __future__ import annotations

from typing import Any

import pytest
from harness import Kernel

import poe_magic
from poe_magic.magics.completion import complete_line
from poe_magic.server.launch import LocalServer


@pytest.fixture
def cached(activated: LocalServer) -> LocalServer:
    poe_magic.models(refresh=True)  # the catalogue in memory, as after any first request
    activated.reset()
    return activated


def names(line: str) -> list[str]:
    found = complete_line(line)
    assert found is not None, line
    return found[0]


def test_model_names_by_prefix_any_case(cached: LocalServer) -> None:
    found = names("%%poe cla")
    assert found[:2] == ["Claude-Haiku-3.5", "Claude-Sonnet-4"]  # the names models are asked by first
    assert "claude-sonnet-4" in found  # then the catalogue ids
    assert names("%%poe EchoBot cl") == found  # compare: every positional word is a model
    assert "GPT-5" in names("%poe use gp") and "GPT-5" in names("%%poe EchoBot --judge gp")
    assert "Claude-Sonnet-4" in names("%poe models CLAUDE-s")
    assert cached.requests() == [], "no request while typing"


def test_aliases_subcommands_and_options(cached: LocalServer) -> None:
    poe_magic.alias("sonnet", "Claude-Sonnet-4")
    assert "sonnet" in names("%%poe son")
    assert names("%poe us") == ["use"] and names("%poe mod") == ["models"]
    assert "Claude-Sonnet-4" in names("%poe cl")  # %poe MODEL question
    assert names("%%poe EchoBot --par") == ["--param"] and "--temperature" in names("%%poe --")
    assert names("%%poe EchoBot -f ") == ["markdown", "text", "code", "html"]
    assert complete_line("print('hi')") is None and complete_line("x = 1") is None


def test_param_names_and_choices_of_the_model_on_the_line(cached: LocalServer) -> None:
    assert names("%%poe Claude-Sonnet-4 --param th") == ["thinking_budget="]
    assert names("%%poe claude-sonnet-4 -p ") == ["thinking_budget=", "web_search="]
    assert names("%%poe Grok-4 --param output_effort=") == ["max", "high", "medium", "low", "none"]
    assert names("%%poe Grok-4 --param output_effort=m") == ["max", "medium"]
    assert names("%%poe Claude-Sonnet-4 --param web_search=") == ["true", "false"]
    assert names("%%poe Claude-Sonnet-4 --param thinking_budget=") == []  # a number: nothing to offer
    assert names("%%poe EchoBot --param ") == []  # no schema listed
    poe_magic.settings.default_model = "GPT-5"
    assert names("%%poe --param re") == ["reasoning_effort="]  # the default model's


def complete(kernel: Kernel, code: str) -> dict[str, Any]:
    msg_id = kernel.client.complete(code, len(code))
    while True:
        reply = kernel.client.get_shell_msg(timeout=30)
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply["content"]


def test_tab_in_a_real_kernel(kernel: Kernel, server: LocalServer) -> None:
    kernel.run_ok("import poe_magic; poe_magic.models()")  # the catalogue cached, as after a first request
    server.reset()
    reply = complete(kernel, "%%poe cla")
    assert {"Claude-Sonnet-4", "claude-sonnet-4"} <= set(reply["matches"])
    assert reply["cursor_end"] - reply["cursor_start"] == 3
    reply = complete(kernel, "%%poe Claude-Sonnet-4 --param th")
    assert reply["matches"] == ["thinking_budget="]
    reply = complete(kernel, "%%poe Grok-4 --param output_effort=hi")
    assert reply["matches"] == ["high"] and reply["cursor_end"] - reply["cursor_start"] == 2
    assert "use" in complete(kernel, "%poe us")["matches"]
    assert server.requests() == [], "no request while typing"
    kernel.run_ok("%unload_ext poe_magic")
    try:
        assert "Claude-Sonnet-4" not in complete(kernel, "%%poe cla")["matches"]
    finally:
        kernel.run_ok("%load_ext poe_magic")
