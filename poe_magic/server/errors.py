"""The real API's error shape, ``{"error": {"code", "type", "message"}}``, for every route."""

from __future__ import annotations

from typing import Any, Optional

from fastapi.responses import JSONResponse

#: HTTP status -> the error ``type`` the real API names it with
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "insufficient_points",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "server_error",
    502: "upstream_error",
    529: "overloaded_error",
}


def error_body(status: int, message: str) -> dict[str, Any]:
    """The JSON body of an error answer with HTTP ``status``."""
    return {"error": {"code": status, "type": ERROR_TYPES.get(status, "server_error"), "message": message}}


def error_response(status: int, message: str, headers: Optional[dict[str, str]] = None) -> JSONResponse:
    """An error answer for a FastAPI route: status, real body shape, optional headers."""
    return JSONResponse(error_body(status, message), status_code=status, headers=headers)


def model_not_found(name: str) -> str:
    """The message of a 404 for a model (bot) this server does not serve."""
    return f"Model '{name}' not found"
