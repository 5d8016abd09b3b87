"""``/artifacts/list``: the files of a run, relative to its artifact root."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from mltrail.errors import InvalidArgument
from mltrail.server.artifact_repos import repository_for
from mltrail.server.deps import Config, Store
from mltrail.server.responses import FastJSONResponse
from mltrail.server.routing import MlflowRoute
from mltrail.storage.artifacts import safe_relative_path

router = APIRouter(prefix="/artifacts", route_class=MlflowRoute, tags=["artifacts"])


@router.get("/list")
def list_artifacts(
    store: Store,
    config: Config,
    run_id: str | None = Query(None),
    run_uuid: str | None = Query(None),
    path: str | None = Query(None),
    page_token: str | None = Query(None),
) -> FastJSONResponse:
    target = run_id or run_uuid
    if not target:
        raise InvalidArgument("Missing value for required parameter 'run_id'")
    relative = safe_relative_path(path, "path")
    run = store.get_run(target)
    files = repository_for(run.info.artifact_uri, config).list_artifacts(relative or None)
    out: dict[str, Any] = {"root_uri": run.info.artifact_uri}
    if files:
        out["files"] = [f.to_dict() for f in files]
    return FastJSONResponse(out)
