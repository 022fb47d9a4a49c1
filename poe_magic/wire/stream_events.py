"""The shape a streamed event must have before it is folded into an answer.

fastapi_poe checks text and file events; the OpenAI-style ``json`` events (tool calls, deltas)
and the OpenAI-compatible stream's chunks are checked here, field by field: every field of every
event is untrusted. A bad one is a one-line :class:`~poe_magic.base.errors.ServerError` (the
stream is then closed, the partial text kept).
"""

from __future__ import annotations

from typing import Any

from poe_magic.base import errors as E


def _malformed(model: str, what: str) -> E.ServerError:
    return E.ServerError(f"{model} sent a malformed chunk ({what}); the stream was stopped",
                         model=model, retryable=False)


def check_event(message: Any, model: str) -> None:
    """Refuse (a one-line ServerError: the stream is then closed) a streamed message whose
    OpenAI-style ``json`` data does not have the shape the accumulator folds: every field of
    every event is untrusted. Text and file events were checked by fastapi_poe already."""
    data = getattr(message, "data", None)
    if data is None:
        return
    if not isinstance(data, dict):
        raise _malformed(model, f"a json event that is a {type(data).__name__}, not an object")
    choices = data.get("choices")
    if choices is None:
        return
    if not isinstance(choices, list) or not all(isinstance(c, dict) for c in choices):
        raise _malformed(model, "choices is not a list of objects")
    for choice in choices:
        delta = choice.get("delta")
        if delta is None:
            continue
        if not isinstance(delta, dict):
            raise _malformed(model, f"delta is a {type(delta).__name__}, not an object")
        if not isinstance(delta.get("content"), (str, type(None))):
            raise _malformed(model, "delta.content is not text")
        calls = delta.get("tool_calls")
        if calls is not None and not (isinstance(calls, list) and all(_good_call(c) for c in calls)):
            raise _malformed(model, "tool_calls is not a list of tool-call objects")


def _good_call(call: Any) -> bool:
    if not isinstance(call, dict):
        return False
    index, function = call.get("index", 0), call.get("function")
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < 1000:
        return False
    if not all(isinstance(call.get(k), (str, type(None))) for k in ("id", "type")):
        return False
    if function is None:
        return True
    return isinstance(function, dict) and all(isinstance(function.get(k), (str, type(None)))
                                              for k in ("name", "arguments"))
