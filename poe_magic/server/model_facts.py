"""What the real catalogue says about well-known models, and the image/video/audio stand-ins the local server adds."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

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


def _param(name: str, schema: dict[str, Any], default: Any = None, description: str | None = None) -> dict[str, Any]:
    """One entry of a model's ``parameters`` list, in the real catalogue's shape."""
    entry: dict[str, Any] = {"name": name, "schema": schema}
    if default is not None:
        entry["default_value"] = default
    if description:
        entry["description"] = description
    return entry


_WEB_SEARCH = _param("web_search", {"type": "boolean"}, False, "Enable web search and real-time information access.")

#: per-model ``parameters`` as the real catalogue lists them (schemas from the March 2026 recording)
PARAMETERS: dict[str, list[dict[str, Any]]] = {
    "Claude-Sonnet-4": [
        _param("thinking_budget", {"type": "number", "minimum": 0, "maximum": 31999}, 0,
               "Tokens the model may spend thinking before it answers (0: no extended thinking)."),
        _WEB_SEARCH],
    "Claude-Haiku-3.5": [_WEB_SEARCH],
    "GPT-5": [
        _param("reasoning_effort", {"enum": ["minimal", "low", "medium", "high"]}, "medium",
               "How much the model reasons before it answers."),
        _param("verbosity", {"enum": ["low", "medium", "high"]}, "medium")],
    "Gemini-2.5-Pro": [
        _param("thinking_budget", {"type": "number", "minimum": 0, "maximum": 24576}, None,
               "Tokens the model may spend thinking."),
        _WEB_SEARCH],
    "Grok-4": [
        _param("output_effort", {"enum": ["max", "high", "medium", "low", "none"]}, "high"),
        _param("max_output_tokens", {"type": "integer", "minimum": 1, "maximum": 64000})],
    "Imagen-4": [
        _param("aspect_ratio", {"enum": ["1:1", "16:9", "9:16", "4:3", "3:4"]}, "1:1"),
        _param("seed", {"type": "integer", "minimum": 0, "maximum": 2147483647}),
        _param("negative_prompt", {"type": "string"}, None, "What the image should not show.")],
    "Veo-3": [
        _param("duration", {"enum": [4, 6, 8]}, 8, "Clip length in seconds."),
        _param("resolution", {"enum": ["720p", "1080p"]}, "720p")],
}

#: ``reasoning`` of the models that think (others: budget null, not required, no effort)
REASONING: dict[str, dict[str, Any]] = {
    "Claude-Sonnet-4": {"budget": 31999, "required": False, "supports_reasoning_effort": False},
    "GPT-5": {"budget": None, "required": True, "supports_reasoning_effort": True},
    "Gemini-2.5-Pro": {"budget": 24576, "required": True, "supports_reasoning_effort": False},
}

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
                   pricing=_per_token(3e-6, 15e-6), inputs=("text", "image"), features=("tools",)),
    # like some real entries: no context window at all, null pricing, no tools (113 of 206 real text models)
    "Llama-3.1-405B": dict(created="2024-07-23", pricing=None, omit=("context_window", "context_length"),
                           features=()),
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
