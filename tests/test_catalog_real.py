"""The catalogue at the real size and shape (issue 24 row 1): a local server started with
``POE_LOCAL_SERVER_CATALOG=real`` lists 362 models in the March 2026 recording's proportions;
every entry parses, both name forms answer, and the issue's own examples are refused before
anything is sent (``claude-sonnet-4.5 thinking_budget=50000``, ``claude-opus-4.6
output_effort=extreme``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

import poe_magic
from poe_magic.base import errors as E
from poe_magic.catalog import store
from poe_magic.server.catalog_bulk import ENV, REAL_SIZE
from poe_magic.server.launch import LocalServer, local_server

pytestmark = pytest.mark.http


@pytest.fixture(scope="module")
def real_server() -> Iterator[LocalServer]:
    with ExitStack() as stack:
        with pytest.MonkeyPatch.context() as patch:  # only the server process sees the variable
            patch.setenv(ENV, "real")
            srv = stack.enter_context(local_server())
        yield srv


@pytest.fixture
def real(real_server: LocalServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> LocalServer:
    """This test process points at the real-size server (and a POE_MAGIC_HOME of its own)."""
    monkeypatch.setenv("POE_MAGIC_HOME", str(tmp_path / "home"))
    for name, value in real_server.env.items():
        monkeypatch.setenv(name, value)
    from poe_magic.base.config import settings

    settings.set_api_key(None)
    settings.base_url = ""
    real_server.reset()
    return real_server


def test_the_real_size_catalogue_parses_whole(real: LocalServer) -> None:
    body = httpx.get(real.url + "/v1/models").json()
    data = body["data"]
    assert len(data) == REAL_SIZE and len({e["id"] for e in data}) == REAL_SIZE
    outputs = Counter(e["architecture"]["output_modalities"][0] for e in data)
    assert (outputs["image"], outputs["video"], outputs["audio"]) == (76, 60, 16) and outputs["text"] >= 206
    assert all(e["id"] == e["id"].lower() for e in data)
    assert 150 < sum(e["pricing"] is None for e in data) < 200  # about half: null pricing
    assert sum(bool(e["parameters"]) for e in data) > 200  # the recording: 232 of 362
    text_no_tools = [e for e in data if e["architecture"]["output_modalities"] == ["text"]
                     and "tools" not in e["supported_features"]]
    assert len(text_no_tools) > 100  # the recording: 113 of 206
    records = store.parse_models(body)
    assert len(records) == REAL_SIZE
    frame = poe_magic.models(all=True)
    assert len(frame) == REAL_SIZE and {"Claude-Opus-4.6", "Claude-Sonnet-4.5"} <= set(frame["id"])
    row = frame.set_index("id").loc["Claude-Opus-4.6"]
    assert row["api_id"] == "claude-opus-4.6" and row["prompt_price"] == pytest.approx(4.3e-6)
    assert row["context_window"] == 983_040 and row["max_output_tokens"] == 128_000


@pytest.mark.parametrize("model,params,fragment", [
    ("claude-sonnet-4.5", {"thinking_budget": 50000}, "Claude-Sonnet-4.5 takes a number from 0 to 31999"),
    ("claude-opus-4.6", {"output_effort": "extreme"}, "Claude-Opus-4.6 takes one of max, high, medium, low, none"),
    ("Gemini-2.5-Flash", {"thinking_budget": 30000}, "takes a number from 0 to 24576"),
])
def test_the_issues_examples_are_refused_before_sending(real: LocalServer, model: str, params: dict,
                                                        fragment: str) -> None:
    with pytest.raises(E.PoeUsageError) as caught:
        poe_magic.ask("think", model, params=params, stream=False)
    assert fragment in str(caught.value) and str(caught.value).endswith("(nothing was sent)")
    assert real.requests("/bot/") == []


def test_both_name_forms_answer_and_values_go_typed(real: LocalServer) -> None:
    by_id = poe_magic.send("hi", "claude-sonnet-4.5", params={"thinking_budget": "2000"}, stream=False)
    by_name = poe_magic.send("hi", "Claude-Sonnet-4.5", stream=False)
    assert by_id.error is None and by_name.error is None and by_id.model == by_name.model == "Claude-Sonnet-4.5"
    assert by_id.params == {"thinking_budget": 2000}
    assert "Claude-Sonnet-4.5" in by_id.text


def test_context_window_and_features_of_the_real_size_catalogue(real: LocalServer) -> None:
    with pytest.raises(E.RequestTooLargeError) as caught:
        poe_magic.ask("word " * 4_000, "tiny-context-4k", stream=False)  # 20,000 characters
    assert str(caught.value).startswith("the prompt is about 5,000 tokens; Tiny-Context-4K takes 4,096 (nothing was sent)")
    frame = poe_magic.models(all=True)
    no_tools = frame[(frame["output_modalities"] == "text") & ~frame["features"].str.contains("tools")]
    model = str(no_tools["id"].iloc[0])

    def add(a: int, b: int) -> int:
        """Add."""
        return a + b

    with pytest.raises(E.UnsupportedFeatureError, match=f"^{model} does not support tool calling; nothing was sent"):
        poe_magic.ask("a=1 b=2", model, tools=[add], stream=False)
    assert real.requests("/bot/") == []


def test_priced_stand_ins_charge_by_tokens_and_the_estimate_comes_close(real: LocalServer) -> None:
    """The real-size catalogue's per-token-priced stand-ins charge their prices x the server's own
    token count (not the client's guess), so the immediate estimate meets a real error."""
    from poe_magic.spending.ledger import wait_for_costs

    short = poe_magic.send("hello", "Claude-Opus-4.6", stream=False)
    long = poe_magic.send("Summarise: " + "A model is chosen by what it costs and answers. " * 300,
                          "Claude-Opus-4.6", stream=False)
    assert short.estimated_points is not None and long.estimated_points is not None
    assert wait_for_costs(30)
    assert long.points > short.points > 0  # charged by tokens, not a flat cost
    assert abs(long.estimated_points - long.points) / long.points < 0.5
