"""The real API's string error codes (``{"error": {"message", "type", "param", "code"}}``), read
before the HTTP status by :func:`poe_magic.wire.failures.status_error`."""

from __future__ import annotations

import json
import re
from typing import Any

from poe_magic.base import errors as E


def server_code(body: str) -> tuple[str, str, str]:
    """(code, type, param) of a real error body ``{"error": {"message", "type", "param", "code"}}``;
    empty strings where absent (a numeric code, as some servers send, is read as none)."""
    try:
        data = json.loads(body)
    except (ValueError, TypeError):
        return "", "", ""
    err = data.get("error") if isinstance(data, dict) else None
    if not isinstance(err, dict):
        return "", "", ""
    return tuple(str(v) if isinstance(v, str) else "" for v in (err.get("code"), err.get("type"),  # type: ignore[return-value]
                                                                err.get("param")))


def feature_refusal(model: str, feature: str, *, status: int | None = None) -> E.UnsupportedFeatureError:
    """``GPT-X does not support tool calling``: the same line whether the catalogue or the server said it."""
    fix = ("pick a tool-capable model (%poe models tools lists them) or drop --tools" if "tool" in feature
           else f"pick a model with {feature}")
    return E.UnsupportedFeatureError(f"{model} does not support {feature}", hint=fix, model=model, status=status,
                                     retryable=False)


def coded_error(status: int, body: str, detail: str, subject: Any,
                statuses: dict[int, tuple[type[E.PoeMagicError], str, str]]) -> E.PoeMagicError | None:
    """The real API's string codes say more than the status: a 400 may be a missing feature or an
    unknown model; ``invalid_api_key`` is a rejected key whatever the status."""
    code, kind, _ = server_code(body)
    model = subject.model
    if code == "unsupported_feature_for_model" and model:
        found = re.search(r"does not support ([^.;]+)", detail)
        return feature_refusal(model, found.group(1).strip() if found else "this feature", status=status)
    if code == "model_not_found" and model and status != 404:
        cls, what, todo = statuses[404]
        return E.UnknownModelError(what.format(**vars(subject)).replace("(404)", f"({status})"), hint=todo,
                                   model=model, status=status, retryable=False)
    if code == "invalid_api_key" and status != 401:
        cls, what, todo = statuses[401]
        return E.AuthError(what.format(**vars(subject)).replace("(401)", f"({status})"), hint=todo,
                           model=model, status=status, retryable=False)
    if kind == "invalid_request_error" and status == 400 and detail:
        where = f"{model} refused the request (400)" if model else f"the server refused {subject.request} (400)"
        return E.PoeAPIError(f"{where}: {detail.rstrip('.')}", hint="check the options and --param values"
                             + (f" (%poe models {model} lists its parameters)" if model else ""),
                             model=model, status=status, retryable=False)
    return None


#: the ``type`` or string ``code`` of an error body -> the HTTP status it stands for
_KIND_STATUS = {"invalid_request_error": 400, "invalid_request": 400, "authentication_error": 401,
                "invalid_api_key": 401, "insufficient_points": 402, "insufficient_quota": 402,
                "permission_error": 403, "permission_denied": 403, "not_found_error": 404, "model_not_found": 404,
                "timeout_error": 408, "request_too_large": 413, "rate_limit_error": 429,
                "rate_limit_exceeded": 429, "server_error": 500, "internal_error": 500, "upstream_error": 502,
                "overloaded_error": 529, "overloaded": 529}


def stream_error_status(err: dict[str, Any]) -> int:
    """The HTTP status an error object sent *inside* a stream stands for (its numeric ``code``, else
    its string code or type); 502 (a retry may help) when it says nothing known."""
    code = err.get("code")
    if isinstance(code, int) and not isinstance(code, bool) and 400 <= code < 600:
        return code
    for name in (code, err.get("type")):
        if isinstance(name, str) and name in _KIND_STATUS:
            return _KIND_STATUS[name]
    return 502
