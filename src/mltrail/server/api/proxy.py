"""``/mlflow-artifacts/*``: MLflow's proxied artifact service, over ``--artifacts-destination``.

Mounted under ``/api/2.0/mlflow-artifacts`` and ``/ajax-api/2.0/mlflow-artifacts``; the
official client's ``mlflow-artifacts:`` repository talks to it. Bodies are raw bytes, not
JSON, so these routes do not use ``MlflowRoute``. Paths in ``mlflow-artifacts:/x`` URIs are
paths below the destination (``repository_for``); every path, from the URL or the query, is
checked before storage is touched.

Multipart uploads and presigned URLs need an object store that hands out part URLs; the local
and fsspec destinations do not, so those routes answer 501 NOT_IMPLEMENTED, as MLflow does for
such repositories, with MLflow's exact message: the official client, when told to use
multipart uploads, falls back to a plain PUT only on that message. (It is an answer, not a
failure: returned, not raised and logged.)
"""

from __future__ import annotations

import posixpath
from typing import Any

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from mltrail.entities.file_info import FileInfo
from mltrail.server.errors import error_response
from mltrail.server.responses import FastJSONResponse, empty
from mltrail.server.streaming import (
    checked_file_path,
    checked_path,
    receive_into,
    scrubbed,
    send_file,
)
from mltrail.storage.artifacts import ArtifactRepository

router = APIRouter(tags=["mlflow-artifacts"])

MULTIPART_UNSUPPORTED = "Multipart upload is not supported for the current artifact repository"
PRESIGNED_UNSUPPORTED = "Presigned URLs are not supported for the current artifact repository"


def _not_implemented(message: str) -> Response:
    return error_response(501, "NOT_IMPLEMENTED", message)


def _destination(request: Request) -> ArtifactRepository:
    repository: ArtifactRepository = request.app.state.artifact_destination
    return repository


@router.put("/artifacts/{path:path}")
async def upload_artifact(request: Request, path: str) -> Response:
    """Store the raw request body as the file ``path``, streamed; answers ``{}``."""
    rel = checked_file_path(path, request)
    await receive_into(request, _destination(request), rel)
    return empty()


@router.get("/artifacts/{path:path}")
async def download_artifact(request: Request, path: str) -> Response:
    """The file ``path`` as an attachment; a single byte ``Range`` is honoured."""
    rel = checked_file_path(path, request)
    return await send_file(request, _destination(request), rel)


@router.get("/artifacts")
async def list_artifacts(request: Request, path: str | None = Query(None)) -> Response:
    """The direct children of ``path``, by base name (unlike ``/artifacts/list``)."""
    rel = checked_path(path)
    with scrubbed(rel):
        found = await run_in_threadpool(_destination(request).list_artifacts, rel or None)
    out: dict[str, Any] = {}
    if found:
        out["files"] = [
            FileInfo(posixpath.basename(info.path), info.is_dir, info.file_size).to_dict()
            for info in found
        ]
    return FastJSONResponse(out)


@router.delete("/artifacts/{path:path}")
async def delete_artifact(request: Request, path: str) -> Response:
    """Delete ``path``, recursively (the destination root itself cannot be deleted)."""
    rel = checked_file_path(path, request)
    with scrubbed(rel):
        await run_in_threadpool(_destination(request).delete_artifacts, rel)
    return empty()


def _multipart_refused(request: Request, path: str) -> Response:
    # Only the URL path is checked: the body's ``path`` is the client's own local file name
    # (the official client sends it absolute), which nothing here would ever use.
    checked_path(path, request)
    return _not_implemented(MULTIPART_UNSUPPORTED)


@router.post("/mpu/create/{path:path}")
async def create_multipart_upload(request: Request, path: str) -> Response:
    return _multipart_refused(request, path)


@router.post("/mpu/complete/{path:path}")
async def complete_multipart_upload(request: Request, path: str) -> Response:
    return _multipart_refused(request, path)


@router.post("/mpu/abort/{path:path}")
async def abort_multipart_upload(request: Request, path: str) -> Response:
    return _multipart_refused(request, path)


@router.get("/presigned/{path:path}")
async def get_presigned_download_url(request: Request, path: str) -> Response:
    checked_file_path(path, request)
    return _not_implemented(PRESIGNED_UNSUPPORTED)
