"""``create_app(config)``: the one ASGI app of the tracking server.

The app holds its store and configuration on ``app.state``; there is no module-level app.
Every tracking route is mounted twice, under ``/api/2.0/mlflow`` for clients and under
``/ajax-api/2.0/mlflow`` for browsers, behind the optional ``--static-prefix``; so is the
proxied artifact service, under ``/api/2.0/mlflow-artifacts`` (off with
``--no-serve-artifacts``). ``--artifacts-only`` serves that service and the meta routes only.
The hot write endpoints are also answered by the express lane (``express.py``), in front of
FastAPI.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import threading
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Message, Scope

from mltrail._version import __version__
from mltrail.errors import NotImplementedByServer
from mltrail.server import errors
from mltrail.server.api import unsupported, artifacts, experiments, get_artifact, metrics, proxy, runs
from mltrail.server.api import logged_models
from mltrail.server.api import registry
from mltrail.server.api import webhooks
from mltrail.server.artifact_repos import repository_for
from mltrail.server.config import PROXY_ROOT, ServerConfig
from mltrail.server.express import ExpressLane, TrackingApp
from mltrail.server.responses import FastJSONResponse
from mltrail.server.webhooks import WebhookDispatcher
from mltrail.settings import Settings
from mltrail.storage.registry import RegistryStore
from mltrail.storage.sql.store import SqlTrackingStore
from mltrail.storage.sql.webhooks import SqlWebhookStore
from mltrail.storage.tracking import TrackingStore
from mltrail.storage.uri import open_tracking_store

TRACKING_ROUTERS = (
    experiments.router,
    runs.router,
    metrics.router,
    artifacts.router,
    logged_models.router,
    registry.router,
    webhooks.router,
)
CONFIG_ENV = "MLTRAIL_SERVER_CONFIG"


def open_store(config: ServerConfig) -> TrackingStore:
    """The server's store, at the current schema (migrated under a lock if needed)."""
    settings = dataclasses.replace(
        Settings.from_env(),
        artifact_root=config.artifact_root,
        s3_endpoint_url=config.s3_endpoint_url or Settings.from_env().s3_endpoint_url,
    )
    return open_tracking_store(config.backend_store_uri, settings)


def _registry_of(store: TrackingStore) -> RegistryStore | None:
    """The store's model registry; ``None`` (registry calls answer 501) if it has none."""
    try:
        return store.registry_store()
    except NotImplementedByServer:
        return None


def _install_webhooks(app: FastAPI, store: TrackingStore | None, config: ServerConfig) -> None:
    """Webhooks are kept beside a SQL store's runs and delivered by ``app.state.events``;
    a server without a SQL store drops registry events."""
    if isinstance(store, SqlTrackingStore):
        app.state.webhooks = SqlWebhookStore(store.engine)
        app.state.events = WebhookDispatcher(
            app.state.webhooks, allow_private=config.webhooks_allow_private
        )
    else:
        app.state.webhooks = None


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    threading.Thread(target=_prepare_routes, args=(app,), name="prepare-routes", daemon=True).start()
    yield
    # Let queued webhook deliveries go out and stop their threads.
    events = getattr(app.state, "events", None)
    if isinstance(events, WebhookDispatcher):
        await asyncio.to_thread(events.close)


def _prepare_routes(app: FastAPI) -> None:
    """Send the app one request, on an event loop of this thread, so that FastAPI prepares its
    routes (and Starlette its middleware) while the server already answers ``/health``, not
    during a client's first call. The answer is dropped; a failure only leaves the work to
    that first call."""
    prefix = app.state.config.static_prefix.rstrip("/")
    scope: Scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": f"{prefix}/api/3.0/mlflow/server-info", "raw_path": b"",
        "root_path": "", "query_string": b"", "headers": [], "client": None, "server": None,
    }

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        pass  # the answer is not needed

    with contextlib.suppress(Exception):
        asyncio.run(app(scope, receive, send))


def create_app(config: ServerConfig, store: TrackingStore | None = None) -> FastAPI:
    app = TrackingApp(
        title="mltrail tracking server",
        version=__version__,
        description="MLflow's REST API 2.0 for tracking, and its artifact proxy.",
        docs_url=f"{config.static_prefix}/docs",
        redoc_url=None,
        openapi_url=f"{config.static_prefix}/openapi.json",
        lifespan=_lifespan,
    )
    app.state.config = config
    app.state.store = None if config.artifacts_only else (store or open_store(config))
    app.state.registry = None if app.state.store is None else _registry_of(app.state.store)
    _install_webhooks(app, app.state.store, config)
    errors.install(app)
    prefix = config.static_prefix.rstrip("/")

    tracking = APIRouter()
    for router in TRACKING_ROUTERS:
        tracking.include_router(router)
    if config.artifacts_only:
        _refuse(app, f"{prefix}/api/2.0/mlflow", "the tracking API is off (--artifacts-only)")
        _refuse(app, f"{prefix}/ajax-api/2.0/mlflow", "the tracking API is off (--artifacts-only)")
    else:
        app.include_router(tracking, prefix=f"{prefix}/api/2.0/mlflow")
        app.include_router(tracking, prefix=f"{prefix}/ajax-api/2.0/mlflow", include_in_schema=False)
        app.express = ExpressLane(app.state.store, prefix, config.max_request_bytes)

    _artifact_routes(app, config, prefix)
    _meta_routes(app, config, prefix)
    if not config.artifacts_only:
        from mltrail.server.ui import mount_ui

        mount_ui(app, prefix)
    app.include_router(unsupported.router(prefix))
    return app


def _artifact_routes(app: FastAPI, config: ServerConfig, prefix: str) -> None:
    if config.serve_artifacts:
        app.state.artifact_destination = repository_for(PROXY_ROOT, config)
        app.include_router(proxy.router, prefix=f"{prefix}/api/2.0/mlflow-artifacts")
        app.include_router(
            proxy.router, prefix=f"{prefix}/ajax-api/2.0/mlflow-artifacts", include_in_schema=False
        )
    else:
        for base in ("api", "ajax-api"):
            _refuse(
                app,
                f"{prefix}/{base}/2.0/mlflow-artifacts",
                "proxied artifacts are off (--no-serve-artifacts)",
            )
    if config.artifacts_only:
        # upload-artifact lies under the refused /ajax-api/2.0/mlflow already.
        _refuse_path(app, f"{prefix}/get-artifact", "the tracking API is off (--artifacts-only)")
    else:
        app.include_router(get_artifact.router, prefix=prefix, include_in_schema=False)


def _refuse(app: FastAPI, prefix: str, reason: str) -> None:
    _refuse_path(app, f"{prefix}/{{path:path}}", reason)


def _refuse_path(app: FastAPI, path: str, reason: str) -> None:
    async def unavailable(request: Request) -> Response:
        return PlainTextResponse(f"Endpoint disabled: {reason}", status_code=503)

    app.add_api_route(
        path,
        unavailable,
        methods=["GET", "POST", "PATCH", "DELETE", "PUT"],
        include_in_schema=False,
    )


def _server_info(config: ServerConfig) -> dict[str, Any]:
    return {
        "store_type": "SqlStore",
        "workspaces_enabled": False,
        "multipart_uploads_enabled": False,
        "serve_artifacts": config.serve_artifacts,
        "artifacts_only": config.artifacts_only,
        "version": __version__,
    }


def _meta_routes(app: TrackingApp, config: ServerConfig, prefix: str) -> None:
    app.plain_answers = {f"{prefix}/health": "OK", f"{prefix}/version": __version__}

    @app.get(f"{prefix}/health", include_in_schema=False)
    def health() -> PlainTextResponse:
        return PlainTextResponse("OK")

    @app.get(f"{prefix}/version", include_in_schema=False)
    def version() -> PlainTextResponse:
        return PlainTextResponse(__version__)

    for base in ("api", "ajax-api"):

        @app.get(f"{prefix}/{base}/3.0/mlflow/server-info", include_in_schema=base == "api")
        def server_info() -> FastJSONResponse:
            return FastJSONResponse(_server_info(config))


def app_from_env() -> FastAPI:
    """The factory uvicorn's workers call: the CLI hands the config over in the environment."""
    config = ServerConfig.from_json(os.environ[CONFIG_ENV])
    store = None if config.artifacts_only else open_store(config)
    if store is not None:
        store.start_maintenance()  # the worker lives until the server stops
    return create_app(config, store)
