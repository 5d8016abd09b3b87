"""How requests reach handlers, with MLflow's transport rules.

``MlflowRoute`` enforces ``Content-Type: application/json`` on requests that carry a JSON
body (MLflow's CSRF fix, CVE-2023-43472), caps the body size, reads an empty body as ``{}``
and accepts a body that was JSON-encoded twice, before FastAPI validates it against the
handler's message model.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import Request
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.responses import Response

from mltrail.errors import InvalidArgument, MltrailError

JSON_METHODS = {"POST", "PATCH", "PUT", "DELETE"}


class PayloadTooLarge(MltrailError):
    error_code = "RESOURCE_EXHAUSTED"
    http_status = 413


def check_content_type(request: Request) -> None:
    content_type = request.headers.get("content-type", "")
    if content_type.split(";", 1)[0].strip().lower() != "application/json":
        raise InvalidArgument("Bad Request. Content-Type must be one of ['application/json'].")


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"The request body is {declared} bytes; the limit is {limit}")
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"The request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def normalise_json(body: bytes) -> tuple[bytes, Any]:
    """The body to validate and its parsed value: ``{}`` for an empty body; a JSON string
    holding JSON decoded once more."""
    if not body.strip():
        return b"{}", {}
    try:
        data = orjson.loads(body)
        if isinstance(data, str):
            data = orjson.loads(data)
            body = orjson.dumps(data)
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument(f"The request body is not valid JSON: {exc}") from None
    return body, data


async def read_json(request: Request, limit: int) -> tuple[bytes, Any]:
    """The body of a request with a JSON body, capped at ``limit`` bytes, its Content-Type
    checked (a DELETE may send none), and parsed by ``normalise_json``."""
    body = await read_body(request, limit)
    if body.strip() or request.method != "DELETE":
        check_content_type(request)
    return normalise_json(body)


class PreparedRequest(Request):
    """A request whose JSON body was read, checked and parsed once, by ``MlflowRoute``."""

    def __init__(self, request: Request, body: bytes, parsed: Any) -> None:
        super().__init__(request.scope, request.receive)
        self._prepared = body
        self.parsed = parsed

    async def body(self) -> bytes:
        return self._prepared


class MlflowRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            if request.method in JSON_METHODS:
                limit: int = request.app.state.config.max_request_bytes
                request = PreparedRequest(request, *await read_json(request, limit))
            return await handler(request)

        return route


def _inline(schema: Any, defs: dict[str, Any]) -> Any:
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inline(defs[ref.rsplit("/", 1)[1]], defs)
        return {k: _inline(v, defs) for k, v in schema.items() if k != "$defs"}
    if isinstance(schema, list):
        return [_inline(v, defs) for v in schema]
    return schema


def request_body(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` describing a JSON body by ``model``, for handlers that read the
    body themselves."""
    schema = model.model_json_schema()
    inlined = _inline(schema, schema.get("$defs", {}))
    return {
        "requestBody": {"required": True, "content": {"application/json": {"schema": inlined}}}
    }
