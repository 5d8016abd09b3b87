"""The express lane: the hot write endpoints answered without the framework's per-request cost.

A training script calls ``runs/log-metric``, ``runs/log-batch``, ``runs/log-parameter`` and
``runs/set-tag`` far more often than anything else, and each call does little work in the
store. Through FastAPI such a call also pays for five middlewares, a walk over every route,
dependency solving and a worker-thread hop: more CPU than the store itself. ``TrackingApp``
answers these four paths (POST, under ``/api/2.0/mlflow`` and ``/ajax-api/2.0/mlflow``,
behind the static prefix) straight from the ASGI call, and hands every other request to
FastAPI untouched. The routes stay registered in FastAPI too, so the OpenAPI description is
unchanged.

The lane adds no behaviour of its own: it reads the body with ``routing.read_json`` (the
same size cap, Content-Type rule and JSON parsing as ``MlflowRoute``), validates with the
same message models, calls the same handler functions of ``api/runs.py``, and answers
failures through the same ``errors`` functions. So a request gets the same bytes back,
whichever way it went.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ValidationError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send

from mltrail.server import errors
from mltrail.server.api import runs
from mltrail.server.routing import read_json
from mltrail.server.schemas import LogMetric, LogParam, SetTag
from mltrail.storage.tracking import TrackingStore, WouldWait

Handler = Callable[[Any, TrackingStore], Response]

# path under the API root -> (the body's message model, or None for the parsed JSON; handler)
ENDPOINTS: dict[str, tuple[type[BaseModel] | None, Handler]] = {
    "runs/log-metric": (LogMetric, runs.log_metric),
    "runs/log-parameter": (LogParam, runs.log_parameter),
    "runs/set-tag": (SetTag, runs.set_tag),
    "runs/log-batch": (None, runs.log_batch),
}


class ExpressLane:
    """The hot endpoints of one app, by full path, and how to answer them."""

    def __init__(self, store: TrackingStore, static_prefix: str, max_request_bytes: int) -> None:
        prefix = static_prefix.rstrip("/")
        self.store = store
        self.limit = max_request_bytes
        self.routes = {
            f"{prefix}/{base}/2.0/mlflow/{path}": endpoint
            for base in ("api", "ajax-api")
            for path, endpoint in ENDPOINTS.items()
        }

    def match(self, scope: Scope) -> tuple[type[BaseModel] | None, Handler] | None:
        """The endpoint for a request, or None if FastAPI must answer it."""
        if scope["type"] != "http" or scope["method"] != "POST" or scope.get("root_path"):
            return None
        return self.routes.get(scope["path"])

    async def serve(
        self,
        endpoint: tuple[type[BaseModel] | None, Handler],
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        request = Request(scope, receive)
        try:
            response = await self._answer(endpoint, request)
        except ClientDisconnect:
            return  # nobody is left to answer
        except Exception as exc:
            response = errors.failure_response(exc, "POST", scope["path"])
        await response(scope, receive, send)

    async def _answer(
        self, endpoint: tuple[type[BaseModel] | None, Handler], request: Request
    ) -> Response:
        model, handler = endpoint
        body, data = await read_json(request, self.limit)
        if model is not None:
            # FastAPI validates what the standard library parses (orjson reads integers past
            # 64 bits as floats), with attributes allowed; so does this.
            try:
                data = model.model_validate(json.loads(body), from_attributes=True)
            except ValidationError as exc:
                return errors.invalid_request(exc.errors(include_url=False))
        # The write is quick (well under a millisecond) when the database is free, so it runs
        # right here on the event loop: a hop to a worker thread and back would cost more CPU
        # than the write. But a writer waits, up to SQLite's busy timeout (a minute), while
        # another process writes, and run here such a wait would stall every request of this
        # worker, health checks and reads included. So the store refuses to wait here, having
        # written nothing, and only then does the write go to the loop's executor, where
        # waiting is harmless. (Stores on a network database always refuse.)
        try:
            with self.store.without_waiting():
                return handler(data, self.store)
        except WouldWait:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(None, handler, data, self.store)


class TrackingApp(FastAPI):
    """The server's FastAPI app, with the express lane in front when it has one.

    ``plain_answers`` (full path -> text) are GET routes with a constant answer, ``/health``
    and ``/version``, answered before FastAPI: FastAPI prepares its routes on its first
    request (a tenth of a second for this app), and a health check should not wait for that.
    They stay registered in FastAPI too, which answers them under a root path.
    """

    express: ExpressLane | None = None
    plain_answers: dict[str, str] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and not scope.get("root_path"):
            text = self.plain_answers.get(scope["path"])
            if text is not None:
                await PlainTextResponse(text)(scope, receive, send)
                return
        express = self.express
        if express is not None:
            endpoint = express.match(scope)
            if endpoint is not None:
                await express.serve(endpoint, scope, receive, send)
                return
        await super().__call__(scope, receive, send)
