"""The web UI's file helpers, on a run's own artifact root (whatever its scheme).

* ``GET /get-artifact?run_id=&path=``: one artifact of a run, streamed as a download.
* ``POST /ajax-api/2.0/mlflow/upload-artifact?run_uuid=&path=``: the raw request body,
  streamed into the run's artifacts as the file ``path``.

Both need the tracking store, so they are off with ``--artifacts-only``. The path is checked
before the run is looked up. An upload must declare a Content-Type that a browser cannot send
across sites without asking first (not ``text/plain``, a form type, or none): the same CSRF
defence as the JSON API's, for a route that takes raw bytes.
"""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from mltrail.entities import Run
from mltrail.errors import InvalidArgument
from mltrail.server.artifact_repos import repository_for
from mltrail.server.config import ServerConfig
from mltrail.server.deps import Config, Store
from mltrail.server.responses import empty
from mltrail.server.streaming import checked_file_path, receive_into, send_file
from mltrail.storage.artifacts import ArtifactRepository
from mltrail.storage.tracking import TrackingStore

router = APIRouter(tags=["artifacts"])

# Content types a cross-site page may POST without a CORS preflight.
_SIMPLE_CONTENT_TYPES = frozenset(
    {"", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data"}
)


def _required(value: str | None, name: str) -> str:
    if not value:
        raise InvalidArgument(
            f"Missing value for required parameter '{name}'. "
            "See the API docs for more information about request parameters."
        )
    return value


async def _run_repository(
    store: TrackingStore, config: ServerConfig, run_id: str
) -> ArtifactRepository:
    def find() -> ArtifactRepository:
        run: Run = store.get_run(run_id)
        return repository_for(run.info.artifact_uri, config)

    return await run_in_threadpool(find)


@router.get("/get-artifact")
async def get_artifact(
    request: Request,
    store: Store,
    config: Config,
    run_id: str | None = Query(None),
    run_uuid: str | None = Query(None),
    path: str | None = Query(None),
) -> Response:
    """One file of the run's artifacts, as an attachment (a byte ``Range`` is honoured)."""
    target = _required(run_id or run_uuid, "run_id")
    rel = checked_file_path(_required(path, "path"))
    repository = await _run_repository(store, config, target)
    return await send_file(request, repository, rel)


@router.post("/ajax-api/2.0/mlflow/upload-artifact")
async def upload_artifact(
    request: Request,
    store: Store,
    config: Config,
    run_uuid: str | None = Query(None),
    run_id: str | None = Query(None),
    path: str | None = Query(None),
) -> Response:
    """Store the raw request body as the file ``path`` of the run's artifacts; ``{}``."""
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type in _SIMPLE_CONTENT_TYPES:
        raise InvalidArgument(
            "Bad Request. Content-Type must be set, and not to text/plain or a form type; "
            "send the file as application/octet-stream (or its own type)."
        )
    target = _required(run_uuid or run_id, "run_uuid")
    rel = checked_file_path(_required(path, "path"))
    repository = await _run_repository(store, config, target)
    await receive_into(request, repository, rel)
    return empty()
