"""The model card (issue 24 row 2): ``poe_magic.model_info(NAME)`` and ``%poe models NAME`` show
description, modalities, context window and longest answer, price per 1,000 tokens in points
(and USD), features, reasoning and the parameters table; null fields read as "not listed";
server text is escaped; a filter that is not one model still gives the table."""

from __future__ import annotations

import pytest
from harness import Kernel

import poe_magic
from poe_magic.base import errors as E
from poe_magic.catalog.card import card_from_entry
from poe_magic.server.launch import LocalServer


def test_card_of_a_model_with_parameters(activated: LocalServer) -> None:
    card = poe_magic.model_info("claude-sonnet-4")  # the lowercase id, as the catalogue lists it
    assert card.name == "Claude-Sonnet-4" and card.api_id == "claude-sonnet-4"
    assert card.context_text() == "200,000 tokens, answers up to 64,000"
    # $3 per million input tokens = $0.003 per 1,000 = 100 points at 1,000,000 points = $30
    assert card.price_lines()[:2] == ["input 100 points per 1,000 tokens ($0.003)",
                                      "output 500 points per 1,000 tokens ($0.015)"]
    assert card.features == ["tools"] and card.reasoning_text() == "budget up to 31,999 tokens"
    frame = card.parameters
    assert list(frame["name"]) == ["thinking_budget", "web_search"]
    assert frame.set_index("name").loc["thinking_budget", "takes"] == "a number from 0 to 31999"
    assert "thinking_budget: a number from 0 to 31999 (default 0)" in repr(card)
    assert "checked before sending" in card._repr_html_()
    assert poe_magic.model_info("Grok-4").parameter_rows()[0] == {
        "name": "output_effort", "takes": "one of max, high, medium, low, none", "default": "high", "description": ""}


def test_card_of_a_model_with_null_fields(activated: LocalServer) -> None:
    card = poe_magic.model_info("Llama-3.1-405B")
    assert card.price_lines() == ["price not listed"] and card.context_text() == "not listed"
    assert "none listed (--param values are sent as given)" in repr(card)
    assert poe_magic.model_info("EchoBot", points_per_usd=1000).price_lines() == ["0.3 points per request ($0.0003)"]
    with pytest.raises(E.UnknownModelError, match="did you mean Claude-Sonnet-4"):
        poe_magic.model_info("claude-sonet-4")


def test_server_text_is_escaped_and_odd_entries_are_read() -> None:
    card = card_from_entry({"id": "x", "description": "<script>alert(1)</script> | *bold*",
                            "pricing": {"prompt": "nope"}, "reasoning": "??", "parameters": [
                                {"name": "<b>k</b>", "schema": {"enum": ["<i>"]}, "description": "<img src=x>"}]})
    page = card._repr_html_()
    assert "<script>" not in page and "<img" not in page and "<b>k" not in page and "&lt;script&gt;" in page
    assert "<script>" not in card._repr_markdown_() and "\\|" in card._repr_markdown_()
    assert card.price_lines() == ["price not listed"] and card.reasoning_text() == "none listed"


def test_percent_poe_models_name_shows_the_card(kernel: Kernel) -> None:
    shown = kernel.run_ok("%poe models claude-sonnet-4").displays()["#0"]
    assert "poe-model-card" in shown["text/html"] and "a number from 0 to 31999" in shown["text/html"]
    assert "thinking_budget" in shown["text/plain"]
    table = kernel.run_ok("%poe models anthropic").displays()["#0"]
    assert "poe-models" in table["text/html"] and "poe-model-card" not in table["text/html"]
    kernel.run_ok("%poe alias sonnet Claude-Sonnet-4")
    try:
        assert "poe-model-card" in kernel.run_ok("%poe models sonnet").displays()["#0"]["text/html"]
    finally:
        kernel.run_ok("%poe alias -d sonnet")
