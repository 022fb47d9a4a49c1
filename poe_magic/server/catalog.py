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

import asyncio
import base64
import html
from datetime import datetime, timezone
from typing import Any, AsyncIterable

import fastapi_poe as fp
from fastapi import FastAPI

from ..catalog import LOCAL_OWNER, TEST_OWNER
from .bots import LocalBot
from .paced_bots import LANES
from .state import ServerState

#: what one point costs in USD on Poe (1,000,000 points = $30)
POINT_USD = 0.00003


def _ms(date: str) -> int:
    return int(datetime.fromisoformat(date).replace(tzinfo=timezone.utc).timestamp() * 1000)


def _per_token(prompt: float, completion: float, cache_read: Any = None) -> dict[str, Any]:
    """Real-API pricing: USD per token as decimal strings, null where not applicable."""
    return {"prompt": f"{prompt:.10f}".rstrip("0"), "completion": f"{completion:.10f}".rstrip("0"),
            "image": None, "request": None,
            "input_cache_read": None if cache_read is None else f"{cache_read:.10f}".rstrip("0"),
            "input_cache_write": None}


#: what the real catalogue says about well-known names (created, context, max output, pricing, features)
MODEL_FACTS: dict[str, dict[str, Any]] = {
    "Claude-Sonnet-4": dict(created="2025-05-22", context=200_000, max_output=64_000,
                            pricing=_per_token(3e-6, 15e-6, 3e-7), inputs=("text", "image"),
                            features=("tools",)),
    "Claude-Haiku-3.5": dict(created="2024-11-04", context=200_000, max_output=8_192,
                             pricing=_per_token(8e-7, 4e-6, 8e-8), inputs=("text", "image"),
                             features=("tools",)),
    "GPT-5": dict(created="2025-08-07", context=400_000, max_output=128_000,
                  pricing=_per_token(1.25e-6, 10e-6, 1.25e-7), inputs=("text", "image"),
                  features=("tools",)),
    "GPT-4o-mini": dict(created="2024-07-18", context=128_000, max_output=16_384,
                        pricing=_per_token(1.5e-7, 6e-7), inputs=("text", "image"), features=("tools",)),
    "Gemini-2.5-Pro": dict(created="2025-03-25", context=1_048_576, max_output=65_536,
                           pricing=_per_token(1.25e-6, 10e-6), inputs=("text", "image", "video", "audio"),
                           features=("tools", "web_search")),
    "Grok-4": dict(created="2025-07-09", context=256_000, max_output=None,
                   pricing=_per_token(3e-6, 15e-6), inputs=("text", "image")),
    # like some real entries: no context window at all, null pricing
    "Llama-3.1-405B": dict(created="2024-07-23", pricing=None, omit=("context_window", "context_length")),
}

#: image/video/audio stand-ins: name -> (owner, inputs, outputs, cost, description, facts)
MEDIA_MODELS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...], int, str, dict[str, Any]]] = {
    "Imagen-4": ("Google", ("text",), ("image",), 1_200,
                 "Google's text-to-image model: photorealistic images from a prompt",
                 dict(created="2025-05-20", pricing=None, context=None)),
    "FLUX-pro-1.1": ("Black Forest Labs", ("text",), ("image",), 1_500, "",
                     dict(created="2024-10-02", omit=("description",), pricing={"prompt": None, "completion": None, "image": None,
                                                         "request": "0.04", "input_cache_read": None,
                                                         "input_cache_write": None})),
    "Nano-Banana": ("Google", ("text", "image"), ("text", "image"), 900,
                    "Gemini image generation and editing: send an image and say what to change",
                    dict(created="2025-08-26", context=32_768, max_output=8_192, pricing=_per_token(3e-7, 2.5e-6))),
    "Veo-3": ("Google", ("text", "image"), ("video",), 20_000,
              "Google's video model: 8-second clips with sound from a prompt",
              dict(created="2025-05-20", pricing=None, omit=("metadata.display_name",))),
    "ElevenLabs-v3": ("ElevenLabs", ("text",), ("audio",), 600,
                      "Expressive text-to-speech in 70+ languages",
                      dict(created=None, context=None, pricing=None)),
}

_TEST_BOTS_CREATED = "2025-01-01"

#: bots that exist for the test suite (faults, timing lanes, pricing knobs): listed with
#: ``owned_by`` = catalog.TEST_OWNER, which client pickers hide by default (they still answer)
TEST_ONLY = {"ChunkBot", "FailingBot", "DropBot", "TruncateBot", "StallBot", "FlakyBot", "HeaderEchoBot",
             "PricedBot", *(f"SlowBot-{lane}" for lane in range(1, LANES + 1))}


class MediaStandIn(LocalBot):
    """An offline stand-in for an image, video or audio model.

    Image models answer with a Markdown image (an inline SVG showing the prompt), as some real
    image bots do; video and audio models answer with a short note instead of a media file.
    """

    def __init__(self, name: str, state: ServerState, *, owner: str, inputs: tuple[str, ...],
                 outputs: tuple[str, ...], cost: int, description: str, **kwargs: Any) -> None:
        super().__init__(name, state, **kwargs)
        self.owned_by, self.cost_points = owner, cost
        self.input_modalities, self.output_modalities = inputs, outputs
        self.description = description

    async def answer(self, request: fp.QueryRequest) -> AsyncIterable[fp.PartialResponse]:
        prompt = " ".join((request.query[-1].content if request.query else "").split())[:60]
        await asyncio.sleep(0.05)
        if "image" in self.output_modalities:
            yield fp.PartialResponse(text=f"![{html.escape(prompt) or 'image'}]({_svg_data_uri(self.name, prompt)})\n")
        else:
            kind = self.output_modalities[0]
            yield fp.PartialResponse(
                text=f"*{self.name}* (local stand-in) would return a {kind} file for: {prompt or '(empty prompt)'}\n")


def _svg_data_uri(model: str, prompt: str) -> str:
    svg = ('<svg xmlns="http://www.w3.org/2000/svg" width="256" height="96">'
           '<rect width="256" height="96" rx="8" fill="#5d5cde"/>'
           f'<text x="12" y="40" fill="white" font-size="16">{html.escape(model)}</text>'
           f'<text x="12" y="70" fill="white" font-size="12">{html.escape(prompt[:36])}</text></svg>')
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def stand_in_bots(state: ServerState) -> list[LocalBot]:
    """The image/video/audio stand-ins, served like every other bot."""
    return [MediaStandIn(name, state, owner=owner, inputs=inputs, outputs=outputs, cost=cost,
                         description=description)
            for name, (owner, inputs, outputs, cost, description, _) in MEDIA_MODELS.items()]


def model_entry(bot: Any) -> dict[str, Any]:
    """One ``/v1/models`` entry for a served bot, in the real API's shape."""
    name = bot.name
    facts = MODEL_FACTS.get(name) or (MEDIA_MODELS[name][5] if name in MEDIA_MODELS else {})
    inputs = list(facts.get("inputs") or getattr(bot, "input_modalities", ("text",)))
    outputs = list(getattr(bot, "output_modalities", ("text",)))
    created = facts.get("created", _TEST_BOTS_CREATED)
    context = facts.get("context", 32_000)  # None: a null context window
    entry: dict[str, Any] = {
        "id": name,
        "object": "model",
        "created": _ms(created) if created else None,
        "description": getattr(bot, "description", "") or None,
        "owned_by": TEST_OWNER if name in TEST_ONLY else getattr(bot, "owned_by", "") or LOCAL_OWNER,
        "permission": [],
        "root": name,
        "parent": None,
        "architecture": {"input_modalities": inputs, "output_modalities": outputs,
                         "modality": f"{','.join(inputs)}->{','.join(outputs)}"},
        "supported_features": list(facts.get("features", ())),
        "pricing": facts.get("pricing", _per_request(int(getattr(bot, "cost_points", 0) or 0))),
        "context_window": {"context_length": context, "max_output_tokens": facts.get("max_output", 4_096)}
        if context else None,
        "context_length": context,
        "metadata": {"display_name": name, "image": None, "url": f"https://poe.com/{name}"},
    }
    for path in facts.get("omit", ()):  # fields some real entries simply do not have
        *parents, leaf = path.split(".")
        holder = entry
        for key in parents:
            holder = holder[key]
        del holder[leaf]
    return entry


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
