"""The real API's error shape, ``{"error": {"code", "type", "message"}}``, for every route."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

#: HTTP status -> the error ``type`` the real API names it with
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "insufficient_points",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    408: "timeout_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "server_error",
    502: "upstream_error",
    529: "overloaded_error",
}


#: HTTP status -> the string ``code`` the real OpenAI-compatible side sends (``--error-codes string``)
ERROR_CODES = {
    400: "invalid_request", 401: "invalid_api_key", 402: "insufficient_points", 403: "permission_denied",
    404: "model_not_found", 405: "method_not_allowed", 408: "timeout", 413: "request_too_large",
    429: "rate_limit_exceeded", 500: "internal_error", 502: "upstream_error", 529: "overloaded",
}
#: "status" (today's default: the code is the HTTP status) or "string" (the real API's names)
code_style = {"codes": "status"}


def error_body(status: int, message: str) -> dict[str, Any]:
    """The JSON body of an error answer with HTTP ``status``."""
    code: int | str = ERROR_CODES.get(status, "server_error") if code_style["codes"] == "string" else status
    return {"error": {"code": code, "type": ERROR_TYPES.get(status, "server_error"), "message": message}}


def unsupported_feature(model_id: str, feature: str) -> dict[str, Any]:
    """The real API's 400 body for a feature the model lacks (recorded March 2026)."""
    return {"error": {"message": f"Model {model_id} does not support {feature}. Use a tool-capable model or "
                                 "remove tools from the request.", "type": "invalid_request_error",
                      "param": "model", "code": "unsupported_feature_for_model"}}


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """An error answer for a FastAPI route: status, real body shape, optional headers."""
    return JSONResponse(error_body(status, message), status_code=status, headers=headers)


def model_not_found(name: str) -> str:
    """The message of a 404 for a model (bot) this server does not serve."""
    return f"Model '{name}' not found"


def add_error_handlers(app: Any) -> None:
    """Answer what the routes do not handle in the real error shape, with the real status.

    Without these a malformed bot query was a plain-text 500 (fastapi_poe parses the body
    inside its route and maps validation errors to 500) and an unknown path FastAPI's
    ``{"detail": "Not Found"}``.
    """
    import json

    from fastapi.exceptions import RequestValidationError
    from pydantic import ValidationError
    from starlette.exceptions import HTTPException

    async def http_error(request: Any, exc: HTTPException) -> JSONResponse:
        message = f"no route {request.method} {request.url.path}" if exc.status_code == 404 else str(exc.detail)
        return error_response(exc.status_code, message, getattr(exc, "headers", None))

    async def bad_body(request: Any, exc: Exception) -> JSONResponse:
        problems = exc.errors() if isinstance(exc, (ValidationError, RequestValidationError)) else None
        detail = ("; ".join(f"{'.'.join(map(str, p['loc']))}: {p['msg']}" for p in problems[:5]) if problems
                  else " ".join(str(exc).split())[:300])
        return error_response(400, f"invalid request body: {detail}")

    async def internal(request: Any, exc: Exception) -> JSONResponse:
        return error_response(500, "internal error in the local server (its log has the traceback)")

    app.add_exception_handler(HTTPException, http_error)
    for kind in (RequestValidationError, ValidationError, json.JSONDecodeError):
        app.add_exception_handler(kind, bad_body)
    app.add_exception_handler(Exception, internal)  # still logged with its traceback
