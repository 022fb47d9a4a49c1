"""A catalogue of the real size (362 models, as the March 2026 recording of ``/v1/models``), opt-in.

``POE_LOCAL_SERVER_CATALOG=real`` (environment of the server process) adds deterministic
entries to the local server's own models until the catalogue holds :data:`REAL_SIZE`, with
the recording's proportions: output modalities text 206 / image 76 / video 60 / audio 16;
113 of the 206 text models without ``tools``; about half with ``pricing: null``; about two
thirds listing ``parameters`` (the recording: 232 of 362); a few without a context window.
Each added model is served by :class:`BulkStandIn` (a listed model always answers), so names,
schemas, features and prices can be tried for real. Some real names are among them with their
real schemas: ``Claude-Sonnet-4.5`` (``thinking_budget`` 0..31999), ``Claude-Opus-4.6``
(``output_effort`` enum, ``web_search``), ``Gemini-2.5-Flash`` (``thinking_budget`` 0..24576),
and ``Tiny-Context-4K`` (a 4,096-token context window, for size checks).
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections.abc import AsyncIterable
from typing import Any

import fastapi_poe as fp

from poe_magic.server.bots.base import LocalBot
from poe_magic.server.model_facts import POINT_USD, _param, _per_token
from poe_magic.server.state import ServerState

REAL_SIZE = 362
ENV = "POE_LOCAL_SERVER_CATALOG"
_SHARE = {"text": 206, "image": 76, "video": 60, "audio": 16}

#: real names first, with their recorded schemas
KNOWN: dict[str, dict[str, Any]] = {
    "Claude-Sonnet-4.5": dict(owner="Anthropic", outputs=("text",), features=("tools", "web_search"),
                              context=200_000, max_output=64_000, pricing=_per_token(3e-6, 15e-6, 3e-7),
                              parameters=[_param("thinking_budget", {"type": "number", "minimum": 0, "maximum": 31999}),
                                          _param("web_search", {"type": "boolean"}, False)]),
    "Claude-Opus-4.6": dict(owner="Anthropic", outputs=("text",), features=("web_search", "tools"),
                            context=983_040, max_output=128_000, pricing=_per_token(4.3e-6, 21e-6, 4.3e-7),
                            parameters=[_param("web_search", {"type": "boolean"}, False,
                                               "Enable web search and real-time information access."),
                                        _param("output_effort", {"enum": ["max", "high", "medium", "low", "none"]},
                                               "high")]),
    "Gemini-2.5-Flash": dict(owner="Google", outputs=("text",), features=("tools",), context=1_048_576,
                             max_output=65_536, pricing=_per_token(3e-7, 2.5e-6),
                             parameters=[_param("thinking_budget", {"type": "number", "minimum": 0, "maximum": 24576})]),
    "Tiny-Context-4K": dict(owner="Local", outputs=("text",), features=(), context=4_096, max_output=1_024,
                            pricing=_per_token(1e-7, 4e-7), parameters=[]),
}

_FAMILIES = {
    "text": [("Claude", "Anthropic"), ("GPT", "OpenAI"), ("Gemini", "Google"), ("Llama", "Meta"),
             ("Mistral", "Mistral"), ("Qwen", "Alibaba"), ("DeepSeek", "DeepSeek"), ("Kimi", "Moonshot")],
    "image": [("Imagen", "Google"), ("FLUX", "Black Forest Labs"), ("Ideogram", "Ideogram"), ("DALL-E", "OpenAI")],
    "video": [("Veo", "Google"), ("Kling", "Kuaishou"), ("Runway", "Runway"), ("Hailuo", "MiniMax")],
    "audio": [("ElevenLabs", "ElevenLabs"), ("Lyria", "Google")],
}
_TEXT_PARAMS = [
    _param("reasoning_effort", {"enum": ["minimal", "low", "medium", "high"]}, "medium"),
    _param("temperature", {"type": "number", "minimum": 0, "maximum": 2}),
    _param("enable_thinking", {"type": "boolean"}, False),
    _param("max_output_tokens", {"type": "integer", "minimum": 1, "maximum": 32000}),
]
_MEDIA_PARAMS = {
    "image": [_param("aspect_ratio", {"enum": ["1:1", "16:9", "9:16", "4:3"]}, "1:1"),
              _param("seed", {"type": "integer", "minimum": 0, "maximum": 2147483647}),
              _param("negative_prompt", {"type": "string"})],
    "video": [_param("duration", {"enum": [5, 8, 10]}, 5), _param("resolution", {"enum": ["720p", "1080p"]}, "720p"),
              _param("aspect", {"enum": ["16:9", "9:16", "1:1"]}, "16:9")],
    "audio": [_param("voice", {"type": "string"}), _param("seed", {"type": "integer", "minimum": 0})],
}


def _digest(name: str) -> int:
    return int(hashlib.sha256(name.encode()).hexdigest()[:8], 16)


def bulk_facts(existing: dict[str, tuple[str, ...]]) -> dict[str, dict[str, Any]]:
    """name -> facts of the models to add so that ``existing`` (served name -> output modalities)
    grows to :data:`REAL_SIZE` with the recording's proportions. Deterministic."""
    added: dict[str, dict[str, Any]] = {n: f for n, f in KNOWN.items() if n not in existing}
    counts = {kind: sum(1 for outs in existing.values() if outs and outs[0] == kind) for kind in _SHARE}
    for facts in added.values():
        counts[facts["outputs"][0]] += 1
    for kind, wanted in _SHARE.items():
        families, n = _FAMILIES[kind], 0
        while counts[kind] < wanted:
            family, owner = families[n % len(families)]
            name = f"{family}-{1 + n // len(families) % 9}.{n // (len(families) * 9)}-{kind[0].upper()}{n}"
            n += 1
            if name in existing or name in added:
                continue
            added[name] = _facts(name, owner, kind, len(added))
            counts[kind] += 1
    n = 0
    while len(existing) + len(added) < REAL_SIZE:  # the rest answer in text and images (like Nano-Banana)
        name = f"Gemini-Image-{n}"
        n += 1
        if name not in existing and name not in added:
            added[name] = {**_facts(name, "Google", "text", len(added)), "outputs": ("text", "image")}
    return added


def _facts(name: str, owner: str, kind: str, index: int) -> dict[str, Any]:
    digest = _digest(name)
    priced = index % 2 == 0
    if kind == "text":
        tools = index % 3 == 0  # a third of the added text models take tools: ~113 of 206 do not, as recorded
        params = [p for i, p in enumerate(_TEXT_PARAMS) if digest >> i & 1] if index % 4 else []
        prompt = (1 + digest % 50) * 1e-7
        return dict(owner=owner, outputs=("text",), features=("tools",) if tools else (),
                    context=None if index % 17 == 0 else 8_192 * (1 + digest % 64), max_output=4_096,
                    pricing=_per_token(prompt, prompt * 4) if priced else None, parameters=params)
    per_request = {"prompt": None, "completion": None, "image": None, "request": f"{(1 + digest % 40) * 0.005:.3f}",
                   "input_cache_read": None, "input_cache_write": None}
    return dict(owner=owner, outputs=(kind,), features=(), context=None, max_output=None,
                pricing=per_request if priced else None,
                parameters=list(_MEDIA_PARAMS[kind]) if index % 3 else [])


def tokens(text: str) -> int:
    """The server's own token count (words and punctuation x 1.3, like a subword tokenizer):
    deliberately not the client's 4-characters-a-token guess, so estimates meet a real error."""
    return math.ceil(len(re.findall(r"\w+|[^\w\s]", text)) * 1.3)


class BulkStandIn(LocalBot):
    """Answers for one model of the real-size catalogue: a few deterministic sentences, charged
    as the real API charges a priced model: its per-token prices (or per-request price) x tokens."""

    def __init__(self, name: str, state: ServerState, facts: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(name, state, **kwargs)
        self.facts = facts
        self.owned_by = facts["owner"]
        self.output_modalities = tuple(facts["outputs"])
        self.cost_points = 5 + _digest(name) % 200
        self.description = f"{name}: a {facts['outputs'][0]} model (local stand-in of the real-size catalogue)"

    def price(self, sent: str, answered: str) -> int:
        """Points for one call: per-token and per-request prices of its catalogue entry, else its flat cost."""
        pricing = self.facts.get("pricing") or {}
        usd = sum(float(pricing.get(key) or 0) * n for key, n in (("prompt", tokens(sent)),
                                                                  ("completion", tokens(answered)), ("request", 1)))
        return max(1, round(usd / POINT_USD)) if usd > 0 else self.cost_points

    async def get_response(self, request: fp.QueryRequest) -> AsyncIterable[fp.PartialResponse]:
        sent = "\n".join(m.content for m in request.query)
        answered: list[str] = []
        try:
            async for part in self.answer(request):
                answered.append(part.text)
                yield part
        finally:  # charged like LocalBot (a stopped answer too), at its token prices
            if answered:
                self.state.charge(self.name, self.price(sent, "".join(answered)))

    async def answer(self, request: fp.QueryRequest) -> AsyncIterable[fp.PartialResponse]:
        prompt = " ".join((request.query[-1].content if request.query else "").split())
        topic = prompt[:60] or "your prompt"
        digest = _digest(self.name + prompt)
        yield fp.PartialResponse(text=f"**{self.name}** (local stand-in) on *{topic}*.\n\n")
        for i in range(1 + digest % 6):  # 1 to 6 sentences: answers of different lengths
            yield fp.PartialResponse(text=f"Point {i + 1}: start from what you know, check each step, "
                                          f"and write down what {self.name} would measure next.\n")


def bulk_bots(state: ServerState, existing: dict[str, Any]) -> list[LocalBot]:
    """The stand-ins to add when the server runs with ``POE_LOCAL_SERVER_CATALOG=real``, else none."""
    if os.environ.get(ENV, "").strip().lower() != "real":
        return []
    outputs = {name: tuple(getattr(bot, "output_modalities", ("text",))) for name, bot in existing.items()}
    return [BulkStandIn(name, state, facts) for name, facts in bulk_facts(outputs).items()]
