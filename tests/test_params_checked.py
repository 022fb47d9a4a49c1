"""Model parameters checked against the model's own catalogue schema before anything is sent
(issue 24 row 3): unknown names with did-you-mean, out of range, not a choice, wrong type ->
one line naming what is allowed, no request; values typed per schema; models without a
schema get their values as given."""

from __future__ import annotations

import pytest
from faultkit import one_line
from harness import Kernel
from protocols import Protocol, both_protocols

import poe_magic
from poe_magic.base import errors as E
from poe_magic.catalog.parameters import check_params, describe
from poe_magic.server.launch import LocalServer

SONNET = {"id": "claude-sonnet-4.5", "parameters": [
    {"name": "thinking_budget", "schema": {"type": "number", "minimum": 0, "maximum": 31999}},
    {"name": "web_search", "schema": {"type": "boolean"}, "default_value": False},
    {"name": "seed", "schema": {"type": "integer"}},
    {"name": "negative_prompt", "schema": {"type": "string"}},
    {"name": "output_effort", "schema": {"enum": ["max", "high", "medium", "low", "none"]}, "default_value": "high"},
    {"name": "duration", "schema": {"enum": [4, 6, 8]}}]}

REFUSED = [
    ({"thinking_budget": 50000}, "--param thinking_budget=50000: M takes a number from 0 to 31999 (nothing was sent)"),
    ({"thinking_budget": -1}, "takes a number from 0 to 31999"),
    ({"thinking_budget": "abc"}, "--param thinking_budget=abc: M takes a number from 0 to 31999"),
    ({"thinking_budget": True}, "takes a number from 0 to 31999"),
    ({"thinking_budjet": 10}, "--param thinking_budjet: M has no such parameter; did you mean thinking_budget? "
                              "it takes thinking_budget, web_search, seed, negative_prompt, output_effort, duration"),
    ({"output_effort": "extreme"}, "--param output_effort=extreme: M takes one of max, high, medium, low, none"),
    ({"web_search": "yes"}, "--param web_search=yes: M takes true or false"),
    ({"seed": 1.5}, "--param seed=1.5: M takes a whole number"),
    ({"negative_prompt": {"a": 1}}, "M takes text"),
    ({"duration": 5}, "takes one of 4, 6, 8"),
]


@pytest.mark.parametrize("params,fragment", REFUSED, ids=[str(p) for p, _ in REFUSED])
def test_each_misfit_is_refused_naming_what_is_allowed(params: dict, fragment: str) -> None:
    with pytest.raises(E.PoeUsageError) as caught:
        check_params("M", params, SONNET)
    assert fragment in str(caught.value) and "\n" not in str(caught.value)


def test_values_are_typed_per_schema() -> None:
    typed = check_params("M", {"thinking_budget": "2000", "web_search": "true", "seed": "7",
                               "negative_prompt": 12, "output_effort": "low", "duration": "6"}, SONNET)
    assert typed == {"thinking_budget": 2000, "web_search": True, "seed": 7, "negative_prompt": "12",
                     "output_effort": "low", "duration": 6}
    assert type(typed["thinking_budget"]) is int and check_params("M", {"thinking_budget": 0.5}, SONNET) == \
        {"thinking_budget": 0.5}


def test_reasoning_effort_is_taken_where_the_reasoning_block_says_so() -> None:
    thinking = {**SONNET, "reasoning": {"budget": None, "required": False, "supports_reasoning_effort": True}}
    assert check_params("M", {"reasoning_effort": "low", "seed": "3"}, thinking) == {"reasoning_effort": "low", "seed": 3}
    with pytest.raises(E.PoeUsageError, match="no such parameter"):  # a model that does not say so
        check_params("M", {"reasoning_effort": "low"}, {**SONNET, "reasoning": {"supports_reasoning_effort": False}})


def test_models_without_a_schema_get_values_as_given() -> None:
    assert check_params("M", {"foo": "bar"}, {"id": "m"}) == {"foo": "bar"}
    assert check_params("M", {"foo": "bar"}, {"id": "m", "parameters": None}) == {"foo": "bar"}
    assert check_params("M", {"foo": "bar"}, None) == {"foo": "bar"}
    # a malformed parameters list is read leniently: bad items skipped
    assert check_params("M", {"foo": 1}, {"parameters": [3, {"schema": {}}, "x"]}) == {"foo": 1}


def test_describe_words() -> None:
    assert describe({"type": "integer", "minimum": 1}) == "a whole number of at least 1"
    assert describe({"type": "number", "maximum": 2}) == "a number of at most 2"
    assert describe({}) == "any value"


def test_the_local_catalogue_lists_real_schemas(activated: LocalServer) -> None:
    frame = poe_magic.models(refresh=True)
    assert len(frame) > 0
    from poe_magic.catalog import store

    entry = store.cached().entry("claude-sonnet-4")
    assert {"name": "thinking_budget", "schema": {"type": "number", "minimum": 0, "maximum": 31999},
            "default_value": 0, "description": entry["parameters"][0]["description"]} == entry["parameters"][0]
    assert store.cached().entry("Grok-4")["parameters"][0]["schema"] == \
        {"enum": ["max", "high", "medium", "low", "none"]}


@pytest.mark.parametrize("model,params,fragment", [
    ("Claude-Sonnet-4", {"thinking_budget": 50000}, "Claude-Sonnet-4 takes a number from 0 to 31999"),
    ("Claude-Sonnet-4", {"thinking_budjet": 10}, "did you mean thinking_budget?"),
    ("Grok-4", {"output_effort": "extreme"}, "Grok-4 takes one of max, high, medium, low, none"),
    ("GPT-5", {"reasoning_effort": "extreme"}, "GPT-5 takes one of minimal, low, medium, high"),
])
def test_ask_refuses_before_sending(activated: LocalServer, model: str, params: dict, fragment: str, protocol: Protocol) -> None:
    activated.reset()
    with pytest.raises(E.PoeUsageError) as caught:
        poe_magic.ask("hi", model, params=params, stream=False)
    assert fragment in str(caught.value) and "(nothing was sent)" in str(caught.value)
    assert protocol.sent(activated) == [], "nothing may be sent"
    assert poe_magic.session_ledger().empty, "nothing may be booked"


@both_protocols
def test_ask_sends_values_typed_and_unlisted_models_as_given(activated: LocalServer) -> None:
    reply = poe_magic.send("hi", "Claude-Sonnet-4", params={"thinking_budget": "2000"}, stream=False)
    assert reply.params == {"thinking_budget": 2000} and reply.error is None
    echoed = poe_magic.send("hi", "EchoBot", params={"foo": "bar"}, stream=False)
    assert '"parameters": {"foo": "bar"}' in echoed.text


def test_percent_percent_poe_refuses_in_one_line(kernel: Kernel, server: LocalServer) -> None:
    server.reset()
    result = kernel.run("%%poe Claude-Sonnet-4 --param thinking_budget=50000\nthink hard")
    line = one_line(result, "PoeUsageError")
    assert line.startswith("--param thinking_budget=50000: Claude-Sonnet-4 takes a number from 0 to 31999")
    result = kernel.run("%%poe Claude-Sonnet-4 GPT-5 --param thinking_budget=2000\nboth")  # compare: GPT-5 has none
    assert "GPT-5 has no such parameter" in one_line(result, "PoeUsageError")
    assert server.requests("/bot/") == [], "nothing may be sent"
