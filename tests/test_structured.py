"""Structured answers (schema=): every schema kind, JSON found in prose, the repair round,
SchemaError, batch/compare columns with dtypes, and %%poe --schema in a real kernel.
Real HTTP to the local server's JSON bots (JsonBot, JsonFenceBot, JsonChattyBot,
RepairJsonBot, BadJsonBot)."""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Literal, Optional, TypedDict

import pydantic
import pytest
from harness import Kernel
from protocols import both_protocols

import poe_magic
from poe_magic.base import errors as E
from poe_magic.prompting.schemas import as_schema, find_json, instruction
from poe_magic.server.launch import LocalServer


class Label(pydantic.BaseModel):
    label: Literal["spam", "ham"]
    score: float
    flagged: bool


@dataclasses.dataclass
class Size:
    words: int
    note: Optional[str] = None  # noqa: UP045 - Optional[...] is one of the forms schema= must take


class Tagged(TypedDict):
    tags: list[str]
    count: int


JSON_SCHEMA = {"type": "object", "title": "Mood", "required": ["mood", "level"],
               "properties": {"mood": {"type": "string", "enum": ["happy", "sad"]},
                              "level": {"type": "integer", "minimum": 1, "maximum": 5}}}
MAPPING = {"label": Literal["spam", "ham"], "n": int, "ok": bool, "x": float,
           "note": Optional[str],  # noqa: UP045 - Optional[...] is a form schema= must take
           "tags": list[str]}


# -- finding and checking (no server) ------------------------------------------------------------

def test_json_is_found_plain_fenced_or_after_prose() -> None:
    assert find_json('{"a": 1}') == {"a": 1}
    assert find_json('Sure.\n\n```json\n{"a": 2}\n```\nanything') == {"a": 2}
    assert find_json('Here it is: {"a": 3} hope it helps {') == {"a": 3}
    assert find_json("no json at all") is None
    assert find_json("") is None


def test_hostile_answers_stay_cheap() -> None:
    text = "{" * 200_000 + ' {"a": 1}'
    started = time.perf_counter()
    assert find_json(text) == {"a": 1}  # one linear pass over the braces finds it (issue 23 row 10)
    assert time.perf_counter() - started < 5  # generous: quadratic would take minutes
    deep = '{"a": ' * 100_000 + "1" + "}" * 100_000
    assert find_json(deep) is None  # too deep for the parser: a misfit, not a RecursionError
    assert as_schema({"a": int}).parse(deep)[1] == "no JSON object found in the answer"


def test_every_schema_kind_has_fields_and_dtypes() -> None:
    assert as_schema(Label).dtypes() == {"label": "category", "score": "Float64", "flagged": "boolean"}
    assert as_schema(Size).dtypes() == {"words": "Int64", "note": "string"}
    assert as_schema(Tagged).dtypes() == {"tags": "object", "count": "Int64"}
    assert as_schema(JSON_SCHEMA).dtypes() == {"mood": "category", "level": "Int64"}
    assert as_schema(MAPPING).dtypes() == {"label": "category", "n": "Int64", "ok": "boolean", "x": "Float64",
                                           "note": "string", "tags": "object"}
    told = instruction(as_schema(JSON_SCHEMA))
    assert "JSON schema:\n" in told and '"enum":["happy","sad"]' in told


@pytest.mark.parametrize("bad", [42, "label", {"label": "not a type"}, {}, {"type": "string"}, [str]])
def test_bad_schemas_are_one_line_usage_errors(bad: Any) -> None:
    with pytest.raises(E.PoeUsageError) as caught:
        as_schema(bad)
    assert "\n" not in str(caught.value)


def test_json_schema_validation_names_the_first_problem() -> None:
    schema = as_schema(JSON_SCHEMA)
    assert schema.parse('{"mood": "happy", "level": 3}') == ({"mood": "happy", "level": 3}, None)
    assert schema.parse('{"mood": "angry", "level": 3}')[1] == "mood: must be one of 'happy', 'sad'"
    assert schema.parse('{"mood": "sad", "level": 9}')[1] == "level: must be at most 5"
    assert schema.parse('{"mood": "sad"}')[1] == "level: field required"
    assert schema.parse('{"mood": "sad", "level": true}')[1] == "level: expected integer, got bool"


# -- asking, against the local server -------------------------------------------------------------

@both_protocols
def test_every_kind_through_ask(activated: LocalServer) -> None:
    r = poe_magic.ask("is this spam? yes, spam", "JsonBot", schema=Label, stream=False)
    assert isinstance(r.data, Label) and r.data.label == "spam" and r.data.flagged is True
    assert r.data.score == pytest.approx(0.5)  # 5 words / 10, as JsonBot fills a number
    r = poe_magic.ask("three little words", "JsonFenceBot", schema=Size, stream=False)
    assert r.data == {"words": 3, "note": "three little words"} and "```json" in r.text
    r = poe_magic.ask("a b", "JsonChattyBot", schema=Tagged, stream=False)
    assert r.data == {"tags": ["a b"], "count": 2} and r.text.startswith("Here is the answer")
    r = poe_magic.ask("so sad today", "JsonBot", schema=JSON_SCHEMA, stream=False)
    assert r.data == {"mood": "sad", "level": 3}
    r = poe_magic.ask("ham please yes", "JsonBot", schema=MAPPING, stream=False)
    assert r.data == {"label": "ham", "n": 3, "ok": True, "x": pytest.approx(0.3), "note": "ham please yes",
                      "tags": ["ham please yes"]}
    assert "JSON schema:" in (r.system or "")  # the instruction went into the system prompt


@both_protocols
def test_repair_round_fixes_the_answer_in_the_same_conversation(activated: LocalServer) -> None:
    r = poe_magic.ask("label this ham", "RepairJsonBot", schema={"label": Literal["spam", "ham"], "n": int},
                      stream=False, system="Be brief.")
    assert r.ok and r.data == {"label": "ham", "n": 3}
    assert r.text == '{"label": "ham", "n": 3}'  # the repaired answer replaced the first one
    assert r.system is not None and r.system.startswith("Be brief.")
    log = poe_magic.log(model="RepairJsonBot", limit=2)  # the repair call, then the answer as it ended
    answer, repair = log.iloc[0], log.iloc[1]
    if answer["prompt"] != "label this ham":  # same start second: either order
        answer, repair = repair, answer
    assert repair["prompt"] == ("That answer did not match the schema: label: Field required. Reply again with "
                                "only the corrected JSON object, matching the schema exactly.")
    assert answer["data"] == {"label": "ham", "n": 3} and answer["status"] == "ok"
    deadline = time.monotonic() + 60  # both calls' points, once the costs are found
    while r.points != 20 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert r.points == 20


@both_protocols
def test_never_valid_is_one_schema_error_with_the_text_kept(activated: LocalServer) -> None:
    with pytest.raises(E.SchemaError) as caught:
        poe_magic.ask("anything", "BadJsonBot", schema={"label": str}, stream=False)
    assert str(caught.value) == "the answer did not match the schema: label: Field required"
    reply = caught.value.reply  # type: ignore[attr-defined]
    assert reply.text == '{"unrelated": true}' and reply.data is None and reply.status == "error"


@both_protocols
def test_stream_gives_pieces_then_data(activated: LocalServer) -> None:
    answer = poe_magic.stream("ham", "JsonBot", schema={"label": Literal["spam", "ham"]})
    pieces = list(answer)
    assert "".join(pieces) == '{"label": "ham"}'
    assert answer.reply is not None and answer.reply.data == {"label": "ham"}


@both_protocols
def test_batch_columns_and_dtypes(activated: LocalServer) -> None:
    frame = poe_magic.batch(["spam yes", "ham", "more ham here"], "{text}", ["JsonBot", "RepairJsonBot", "BadJsonBot"],
                            schema=MAPPING, progress=False)
    columns = list(frame.columns)
    assert columns[columns.index("answer") + 1:columns.index("answer") + 7] == list(MAPPING)
    assert {c: str(frame[c].dtype) for c in MAPPING} == {"label": "category", "n": "Int64", "ok": "boolean",
                                                          "x": "Float64", "note": "string", "tags": "object"}
    good = frame[frame["model"] != "BadJsonBot"]
    assert good["error"].isna().all()
    assert list(good["label"]) == ["spam", "spam", "ham", "ham", "ham", "ham"]
    assert list(good["n"]) == [2, 2, 1, 1, 3, 3]
    bad = frame[frame["model"] == "BadJsonBot"]
    assert bad["error"].str.startswith("SchemaError: the answer did not match the schema").all()
    assert bad["label"].isna().all() and bad["n"].isna().all()
    assert frame.attrs["batch_id"]


@both_protocols
def test_compare_frame_gets_the_same_columns(activated: LocalServer) -> None:
    comparison = poe_magic.compare("spam yes", ["JsonBot", "JsonFenceBot", "BadJsonBot"], schema=Label, stream=False)
    frame = comparison.to_frame()
    assert list(frame["label"].astype(object)) == ["spam", "spam", None] or frame["label"].isna().iloc[2]
    assert str(frame["label"].dtype) == "category" and str(frame["flagged"].dtype) == "boolean"
    assert frame.loc[2, "error"].startswith("SchemaError")
    assert isinstance(comparison["JsonBot"].data, Label)


# -- the magic ------------------------------------------------------------------------------------

def test_magic_schema_shows_a_table_and_keeps_data(kernel: Kernel) -> None:
    kernel.run_ok("from typing import Literal\nLabelSchema = {'label': Literal['spam', 'ham'], 'n': int}")
    result = kernel.run_ok("%%poe JsonBot --schema LabelSchema\nthis is ham")
    tables = [m["content"]["data"]["text/html"] for m in result.of_type("display_data")
              if "poe-magic-data" in m["content"]["data"].get("text/html", "")]
    assert len(tables) == 1 and "<th style='text-align:left'>label</th><td style='text-align:left'>ham</td>" in tables[0]
    assert kernel.value("_poe.data") == {"label": "ham", "n": 3}


def test_magic_schema_errors_are_one_line(kernel: Kernel) -> None:
    result = kernel.run("%%poe JsonBot --schema NoSuchName\nhello")
    assert result.error is not None and result.error["ename"] == "PoeUsageError"
    assert len(result.error["traceback"]) == 1 and "--schema NoSuchName" in result.error["traceback"][0]
    kernel.run_ok("S2 = {'label': str}")
    result = kernel.run("%%poe BadJsonBot --schema S2\nhello")
    assert result.error is not None and result.error["ename"] == "SchemaError"
    assert len(result.error["traceback"]) == 1
    assert kernel.value("_poe.text") == '{"unrelated": true}'
