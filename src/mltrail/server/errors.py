"""Errors as MLflow's server answers them: ``{"error_code", "message"}`` with the code's
HTTP status. Unexpected failures are logged and answered with a generic 500; no SQL text or
stack trace ever reaches the client."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from mltrail.errors import MltrailError
from mltrail.server.responses import FastJSONResponse

log = logging.getLogger("mltrail.server")

_CODE_BY_STATUS = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "ENDPOINT_NOT_FOUND",
    405: "BAD_REQUEST",
    413: "RESOURCE_EXHAUSTED",
    501: "NOT_IMPLEMENTED",
    503: "TEMPORARILY_UNAVAILABLE",
}


def error_response(status: int, code: str, message: str) -> Response:
    return FastJSONResponse({"error_code": code, "message": message}, status_code=status)


def _shown(value: Any) -> str:
    text = repr(value) if not isinstance(value, (dict, list)) else type(value).__name__
    return text if len(text) <= 200 else text[:200] + "..."


def validation_message(errors: Sequence[Mapping[str, Any]]) -> str:
    """MLflow's message for the first of pydantic's validation errors."""
    error = errors[0]
    parts = [str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path")]
    location = ".".join(parts) or "body"
    if error.get("type") == "missing":
        return (
            f"Missing value for required parameter '{location}'. "
            "See the API docs for more information about request parameters."
        )
    return (
        f"Invalid value {_shown(error.get('input'))} for parameter '{location}' supplied: "
        f"{error.get('msg', 'invalid')}"
    )


def invalid_request(errors: Sequence[Mapping[str, Any]]) -> Response:
    """The answer to a request body that its message model rejected."""
    return error_response(400, "INVALID_PARAMETER_VALUE", validation_message(errors))


def failure_response(exc: Exception, method: str, path: str) -> Response:
    """The answer to a handler that raised ``exc``: its envelope if it is an
    ``MltrailError`` (logged if it is a server fault), else a logged, generic 500."""
    if not isinstance(exc, MltrailError):
        log.exception("%s %s failed", method, path, exc_info=exc)
        return error_response(500, "INTERNAL_ERROR", "The server failed; see its log")
    if exc.http_status >= 500 and exc.http_status not in (501, 503):
        log.error("%s %s failed: %s", method, path, exc, exc_info=exc)
    return error_response(exc.http_status, exc.error_code, exc.message)


async def _mltrail_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, MltrailError)
    return failure_response(exc, request.method, request.url.path)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return invalid_request(exc.errors())


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = _CODE_BY_STATUS.get(exc.status_code, "BAD_REQUEST")
    if exc.status_code == 404:
        message = f"No API endpoint at {request.method} {request.url.path}"
    else:
        message = str(exc.detail)
    return error_response(exc.status_code, code, message)


async def _unexpected(request: Request, exc: Exception) -> Response:
    return failure_response(exc, request.method, request.url.path)


def install(app: FastAPI) -> None:
    app.add_exception_handler(MltrailError, _mltrail_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
