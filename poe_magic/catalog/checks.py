"""The catalogue's checks before a request is sent (called once per request by the runner's ``Call.check``).

Pure functions of (request, cached catalogue): no request is made here. Without a cached
catalogue, or for a model it does not list, everything passes (the server decides).

- **parameters**: :func:`~poe_magic.catalog.parameters.check_params` (refused in one line,
  values typed per schema);
- **features**: tools offered to a model whose ``supported_features`` lacks ``tools`` are
  refused with the line the server's own ``unsupported_feature_for_model`` answer gets;
- **size**: a prompt estimated (4 characters a token) beyond the model's context window is
  refused with the estimate;
- **attachments** of a kind the model does not take (``input_modalities``): a warning, sent.
"""

from __future__ import annotations

import mimetypes
from typing import Any

from poe_magic.base import errors as E
from poe_magic.base import notices
from poe_magic.base.config import Settings
from poe_magic.base.config import settings as default_settings
from poe_magic.catalog import store
from poe_magic.catalog.parameters import check_params
from poe_magic.wire.codes import feature_refusal

CHARS_PER_TOKEN = 4  # the usual rough rate for English text


def check_request(request: Any, settings: Settings = default_settings) -> None:
    """Refuse in one line (nothing sent) a request the model's catalogue entry says it cannot take;
    ``request.params`` are replaced by the values typed per the model's schema."""
    snapshot = store.cached(settings)
    entry = snapshot.entry(request.model) if snapshot is not None else None
    if entry is None:
        return
    if request.params:
        request.params = check_params(request.model, request.params, entry)
    features = entry.get("supported_features")
    if request.tools and isinstance(features, list) and "tools" not in features:
        raise feature_refusal(request.model, "tool calling").amend("nothing was sent")
    check_size(request, entry)
    warn_attachments(request, entry)


def prompt_tokens(request: Any) -> int:
    """A rough count of the tokens the request's messages (system, history, prompt) and tool
    results take."""
    chars = sum(len(m.content or "") for m in request.messages)
    chars += sum(len(str(r.get("content") or "")) for r in request.tool_results or [] if isinstance(r, dict))
    return chars // CHARS_PER_TOKEN


def check_size(request: Any, entry: dict[str, Any]) -> None:
    window = store._dict(entry.get("context_window")).get("context_length", entry.get("context_length"))
    limit = store._int(window)
    if limit is None:
        return
    tokens = prompt_tokens(request)
    if tokens > limit:
        raise E.RequestTooLargeError(
            f"the prompt is about {tokens:,} tokens; {request.model} takes {limit:,} (nothing was sent)",
            hint="shorten the prompt or the history, or pick a model with a larger context window",
            model=request.model, retryable=False)


def warn_attachments(request: Any, entry: dict[str, Any]) -> None:
    takes = store._modalities(store._dict(entry.get("architecture")).get("input_modalities"), "")
    if not takes:
        return
    kinds = set(takes.split(","))
    for message in request.messages:
        for attachment in message.attachments:
            kind = _kind(attachment)
            if kind and kind not in kinds:
                name = getattr(attachment, "name", "") or "an attachment"
                notices.warn(f"warning: {request.model} takes {', '.join(sorted(kinds))}, not {kind} "
                             f"({name}); sent anyway", once=("attachment-kind", request.model, name))


def _kind(attachment: Any) -> str:
    """``image`` / ``video`` / ``audio`` / ``file`` from an attachment's content type or name."""
    content_type = getattr(attachment, "content_type", None) or mimetypes.guess_type(
        str(getattr(attachment, "name", "") or getattr(attachment, "url", "") or ""))[0] or ""
    major = content_type.split("/")[0]
    return major if major in ("image", "video", "audio") else ""  # documents go to every text model
