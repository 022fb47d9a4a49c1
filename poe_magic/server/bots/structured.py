"""Bots that answer in JSON (structured answers) and a judge (grading), for tests and demos.

They read the JSON schema poe_magic puts into the system prompt ("...this JSON schema:\\n{...}")
and fill it from the question, deterministically:

- an ``enum`` field takes the first allowed value the question mentions (else the first one);
- an integer is the question's word count (clipped to ``minimum``/``maximum``), a number a
  tenth of it, a boolean whether the question says "yes" or "true", a string the question's
  first words, a list one such item.

``JsonBot`` answers with the bare JSON, ``JsonFenceBot`` inside a ```json fence,
``JsonChattyBot`` after a sentence. ``RepairJsonBot`` leaves out a required field the first time
and answers correctly when told what was wrong (a bot turn in the conversation);
``BadJsonBot`` never fits. ``JudgeBot`` grades the answer inside ``<answer>...</answer>``: its
score is the answer's word count clipped to the "from LO to HI" scale the prompt names.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterable
from typing import Any

import fastapi_poe as fp

from poe_magic.server.bots.base import LocalBot, knobs
from poe_magic.server.state import ServerState

_MARK = "JSON schema:\n"
_SCALE = re.compile(r"from (-?\d+) to (-?\d+)")
_ANSWER = re.compile(r"<answer(-[0-9a-f]+)?>\n?(.*?)\n?</answer\1>", re.DOTALL)  # (fenced: a digest marker)


def told_schema(request: fp.QueryRequest) -> dict[str, Any]:
    """The JSON schema named in the system prompt ({} when there is none)."""
    for message in request.query:
        if message.role == "system" and _MARK in message.content:
            text = message.content.split(_MARK, 1)[1]
            try:
                value, _ = json.JSONDecoder().raw_decode(text.strip())
                return value if isinstance(value, dict) else {}
            except ValueError:
                return {}
    return {}


def _question(request: fp.QueryRequest) -> str:
    users = [m.content for m in request.query if m.role == "user"]
    return users[0] if users else ""


def sample(schema: dict[str, Any], root: dict[str, Any], question: str) -> Any:
    """A value fitting ``schema`` made from ``question``."""
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return sample(root.get("$defs", {}).get(ref.rsplit("/", 1)[-1], {}), root, question)
    if "anyOf" in schema:
        options = [s for s in schema["anyOf"] if s.get("type") != "null"] or schema["anyOf"]
        return sample(options[0], root, question)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        lowered = question.lower()
        mentioned = [v for v in schema["enum"] if str(v).lower() in lowered]
        return min(mentioned, key=lambda v: lowered.index(str(v).lower())) if mentioned else schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    words = len(question.split())
    if kind == "object":
        return {name: sample(sub, root, question) for name, sub in schema.get("properties", {}).items()}
    if kind == "array":
        return [sample(schema.get("items", {"type": "string"}), root, question)]
    if kind == "integer":
        low, high = schema.get("minimum", -10**9), schema.get("maximum", 10**9)
        return max(low, min(high, words))
    if kind == "number":
        return words / 10
    if kind == "boolean":
        return bool(re.search(r"\b(yes|true)\b", question, re.IGNORECASE))
    if kind == "string":
        return " ".join(question.split()[:6])
    return None


class JsonBot(LocalBot):
    """Answers the question as JSON fitting the schema in its system prompt."""

    description = "Answers with JSON fitting the schema in the system prompt (knob style=plain|fence|sentence)."
    style = "plain"

    def body(self, request: fp.QueryRequest) -> Any:
        schema = told_schema(request)
        return sample(schema, schema, _question(request)) if schema else {"answer": _question(request)}

    async def answer(self, request: fp.QueryRequest) -> AsyncIterable[fp.PartialResponse]:
        text = json.dumps(self.body(request))
        style = str(knobs(request).get("style", self.style))
        if style == "fence":
            text = f"Sure.\n\n```json\n{text}\n```\n"
        elif style == "sentence":
            text = f"Here is the answer you asked for: {text}"
        for i in range(0, len(text), 16):  # streamed in pieces, like a model
            yield fp.PartialResponse(text=text[i:i + 16])


class RepairJsonBot(JsonBot):
    """Leaves out a required field the first time; fixes it once told (a bot turn exists)."""

    description = "Answers JSON missing a required field, then the right JSON when told what was wrong."

    def body(self, request: fp.QueryRequest) -> Any:
        value = super().body(request)
        told = any(m.role == "bot" for m in request.query)
        if not told and isinstance(value, dict) and value:
            value.pop(next(iter(value)))
        return value


class BadJsonBot(JsonBot):
    """Never fits: JSON with none of the schema's fields."""

    description = "Answers JSON that never fits the schema."

    def body(self, request: fp.QueryRequest) -> Any:
        return {"unrelated": True}


class JudgeBot(JsonBot):
    """Grades the answer in <answer>...</answer>: score = its word count, clipped to the scale."""

    description = "A judge for grading: scores the answer in <answer> tags by its word count within the scale."

    def body(self, request: fp.QueryRequest) -> Any:
        return grade(_question(request))


def grade(prompt: str) -> dict[str, Any]:
    """JudgeBot's grade of the answer in ``prompt``'s <answer> tags: its word count, clipped to the scale."""
    scale = _SCALE.search(prompt)
    low, high = (int(scale.group(1)), int(scale.group(2))) if scale else (1, 10)
    found = _ANSWER.search(prompt)
    words = len(found.group(2).split()) if found else 0
    return {"score": max(low, min(high, words)), "reason": f"{words} words"}


def structured_answer(request: fp.QueryRequest) -> Any:
    """What a stand-in for a real model answers to a structured request (a JSON schema in its
    system prompt): a judge prompt's grade, else the schema filled from the question; None when
    the request asks for no structure."""
    schema = told_schema(request)
    if not schema:
        return None
    question = _question(request)
    return grade(question) if _ANSWER.search(question) else sample(schema, schema, question)


def make_structured_bots(state: ServerState) -> list[LocalBot]:
    """JsonBot, JsonFenceBot, JsonChattyBot, RepairJsonBot, BadJsonBot, JudgeBot."""
    fence = type("JsonFenceBot", (JsonBot,), {"style": "fence", "cost_points": 20,
                                              "description": "Answers JSON inside a ```json fence."})
    chatty = type("JsonChattyBot", (JsonBot,), {"style": "sentence", "cost_points": 5,
                                                "description": "Answers JSON after a sentence."})
    return [JsonBot("JsonBot", state), fence("JsonFenceBot", state), chatty("JsonChattyBot", state),
            RepairJsonBot("RepairJsonBot", state), BadJsonBot("BadJsonBot", state), JudgeBot("JudgeBot", state)]
