"""``GET /v1/models`` for the local server, in the real API's payload shape.

The catalogue lists every bot the server actually serves (so a listed model always answers),
described from the bot's own attributes (``description``, ``owned_by``, modalities,
``cost_points``) plus the facts below for well-known names. It also adds a few offline
stand-ins for image, video and audio models, so filters like ``%poe models image`` have
something real to find. Like the real catalogue, some entries leave fields null or out
(pricing, context window, display name, created, description): clients must be lenient.

Payload (see shared/POE_API.md)::

    {"object": "list", "data": [{"id", "object": "model", "created" (ms), "description",
      "owned_by", "root", "permission", "parent", "architecture": {"input_modalities",
      "output_modalities", "modality"}, "supported_features", "pricing": {...} | null,
      "context_window": {"context_length", "max_output_tokens"} | null, "context_length",
      "metadata": {"display_name", "image", "url"}}]}
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from poe_magic.base.conventions import LOCAL_OWNER, TEST_OWNER
from poe_magic.server.bots.paced import LANES
from poe_magic.server.model_facts import MEDIA_MODELS, MODEL_FACTS, PARAMETERS, POINT_USD, REASONING, _ms
from poe_magic.server.state import ServerState

_TEST_BOTS_CREATED = "2025-01-01"

#: bots that exist for the test suite (faults, timing lanes, pricing knobs): listed with
#: ``owned_by`` = catalog.TEST_OWNER, which client pickers hide by default (they still answer)
TEST_ONLY = {"ChunkBot", "FailingBot", "DropBot", "TruncateBot", "StallBot", "FlakyBot", "HeaderEchoBot",
             "PricedBot", *(f"SlowBot-{lane}" for lane in range(1, LANES + 1))}


def model_entry(bot: Any) -> dict[str, Any]:
    """One ``/v1/models`` entry for a served bot, in the real API's shape."""
    name = bot.name
    facts = getattr(bot, "facts", None) or MODEL_FACTS.get(name) or (MEDIA_MODELS[name][5] if name in MEDIA_MODELS else {})
    inputs = list(facts.get("inputs") or getattr(bot, "input_modalities", ("text",)) or ())
    outputs = list(getattr(bot, "output_modalities", ("text",)))
    created = facts.get("created", _TEST_BOTS_CREATED)
    context = facts.get("context", 32_000)  # None: a null context window
    entry: dict[str, Any] = {
        "id": name.lower(),  # real ids are lowercase; the bot's name is metadata.display_name
        "object": "model",
        "created": _ms(created) if created else None,
        "description": getattr(bot, "description", "") or None,
        "owned_by": TEST_OWNER if name in TEST_ONLY else getattr(bot, "owned_by", "") or LOCAL_OWNER,
        "permission": [],
        "root": name.lower(),
        "parent": None,
        "architecture": {"input_modalities": inputs, "output_modalities": outputs,
                         "modality": f"{','.join(inputs)}->{','.join(outputs)}"},
        # the local bots take tools (ToolBot calls them, the others ignore them); real names as recorded
        "supported_features": list(facts["features"] if "features" in facts else
                                   ("tools",) if outputs == ["text"] else ()),
        "supported_endpoints": ["/v1/chat/completions"] if "text" in outputs else [],
        "pricing": facts.get("pricing", _per_request(int(getattr(bot, "cost_points", 0) or 0))),
        "context_window": {"context_length": context, "max_output_tokens": facts.get("max_output", 4_096)}
        if context else None,
        "context_length": context,
        "metadata": {"display_name": name, "image": None, "url": f"https://poe.com/{name.lower()}"},
        "reasoning": REASONING.get(name, {"budget": None, "required": False, "supports_reasoning_effort": False}),
        "parameters": [dict(p) for p in facts.get("parameters", PARAMETERS.get(name, []))],
    }
    for path in facts.get("omit", ()):  # fields some real entries simply do not have
        *parents, leaf = path.split(".")
        holder = entry
        for key in parents:
            holder = holder[key]
        del holder[leaf]
    return entry


def served_name(state: ServerState, name: str) -> str | None:
    """The served bot a model name means: its own name, or any case of it (``claude-sonnet-4``)."""
    if name in state.bots:
        return name
    lowered = name.lower()
    return next((served for served in state.bots if served.lower() == lowered), None)


def _per_request(cost_points: int) -> dict[str, Any]:
    return {"prompt": None, "completion": None, "image": None,
            "request": f"{cost_points * POINT_USD:.6f}", "input_cache_read": None, "input_cache_write": None}


def catalog_payload(state: ServerState) -> dict[str, Any]:
    """The whole ``/v1/models`` body: every served bot, in serving order."""
    return {"object": "list", "data": [model_entry(bot) for bot in state.bots.values()]}


def add_routes(app: FastAPI, state: ServerState) -> None:
    """Register ``GET /v1/models`` (public: PoeGate lets it through without a key)."""

    @app.get("/v1/models")
    async def list_models() -> dict[str, Any]:
        return catalog_payload(state)


