"""Offline stand-ins for image, video and audio models (Imagen-4, Veo-3, ...), listed in /v1/models."""

from __future__ import annotations

import asyncio
import base64
import html
from collections.abc import AsyncIterable
from typing import Any

import fastapi_poe as fp

from poe_magic.server.bots.base import LocalBot
from poe_magic.server.model_facts import MEDIA_MODELS
from poe_magic.server.state import ServerState


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


