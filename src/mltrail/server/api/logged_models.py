"""``/logged-models/*`` (MLflow 3's logged models) and ``/runs/outputs``.

The official client's ``log_model`` creates a model here, uploads its files to the model's
``artifact_uri`` through the artifact proxy, finalizes it, and links it to its run with
``POST /runs/outputs``. Paths and shapes are the proto's: ``{"model": {...}}`` for one model,
``{"models": [...], "next_page_token"}`` for a search. The model id in the path is the one
that counts (the body's copy, which the proto also carries, is ignored).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from mltrail.entities import LoggedModel, LoggedModelOutput, LoggedModelStatus
from mltrail.errors import InvalidArgument
from mltrail.server.artifact_repos import repository_for
from mltrail.server.deps import Config, Store
from mltrail.server.responses import FastJSONResponse, empty
from mltrail.server.routing import MlflowRoute
from mltrail.server.schemas import EnumText, KeyValue, LogOutputs, Message
from mltrail.storage.artifacts import safe_relative_path

router = APIRouter(route_class=MlflowRoute, tags=["logged-models"])

# When a search does not say, the proto's default page size.
DEFAULT_SEARCH_RESULTS = 50


class CreateLoggedModel(Message):
    experiment_id: str
    name: str | None = None
    model_type: str | None = None
    source_run_id: str | None = None
    params: list[KeyValue] = []
    tags: list[KeyValue] = []


class FinalizeLoggedModel(Message):
    model_id: str | None = None
    status: EnumText


class SetLoggedModelTags(Message):
    model_id: str | None = None
    tags: list[KeyValue] = []


class LogLoggedModelParams(Message):
    model_id: str | None = None
    params: list[KeyValue] = []


class DatasetFilterIn(Message):
    dataset_name: str
    dataset_digest: str | None = None


class OrderByIn(Message):
    field_name: str
    ascending: bool = True
    dataset_name: str | None = None
    dataset_digest: str | None = None


class SearchLoggedModels(Message):
    experiment_ids: list[str] = []
    filter: str | None = None
    datasets: list[DatasetFilterIn] = []
    max_results: int | None = None
    order_by: list[OrderByIn] = []
    page_token: str | None = None


def _tags(items: list[KeyValue]) -> dict[str, str]:
    return {t.key: t.value or "" for t in items}


def _params(items: list[KeyValue]) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in items:
        value = item.value or ""
        if params.get(item.key, value) != value:
            raise InvalidArgument(
                f"Duplicate param key '{item.key}' in one request with different values"
            )
        params[item.key] = value
    return params


def _model(model: LoggedModel) -> FastJSONResponse:
    return FastJSONResponse({"model": model.to_dict()})


@router.post("/logged-models")
def create_logged_model(body: CreateLoggedModel, store: Store) -> FastJSONResponse:
    if not body.experiment_id:
        raise InvalidArgument(
            "Missing value for required parameter 'experiment_id'. "
            "See the API docs for more information about request parameters."
        )
    model = store.create_logged_model(
        experiment_id=body.experiment_id,
        name=body.name or None,
        source_run_id=body.source_run_id or None,
        tags=_tags(body.tags),
        params=_params(body.params),
        model_type=body.model_type or None,
    )
    return _model(model)


@router.post("/logged-models/search")
def search_logged_models(body: SearchLoggedModels, store: Store) -> FastJSONResponse:
    if not body.experiment_ids:
        raise InvalidArgument(
            "Missing value for required parameter 'experiment_ids'. "
            "See the API docs for more information about request parameters."
        )
    page = store.search_logged_models(
        experiment_ids=body.experiment_ids,
        filter_string=body.filter or None,
        datasets=[d.model_dump() for d in body.datasets] or None,
        max_results=DEFAULT_SEARCH_RESULTS if body.max_results is None else body.max_results,
        order_by=[o.model_dump() for o in body.order_by] or None,
        page_token=body.page_token or None,
    )
    out: dict[str, Any] = {}
    if page:
        out["models"] = [m.to_dict() for m in page]
    if page.token:
        out["next_page_token"] = page.token
    return FastJSONResponse(out)


@router.get("/logged-models/{model_id}")
def get_logged_model(
    model_id: str, store: Store, allow_deleted: bool = Query(False)
) -> FastJSONResponse:
    return _model(store.get_logged_model(model_id, allow_deleted=allow_deleted))


@router.patch("/logged-models/{model_id}")
def finalize_logged_model(
    model_id: str, body: FinalizeLoggedModel, store: Store
) -> FastJSONResponse:
    status = LoggedModelStatus.coerce(body.status)
    return _model(store.finalize_logged_model(model_id, status))


@router.delete("/logged-models/{model_id}")
def delete_logged_model(model_id: str, store: Store) -> FastJSONResponse:
    store.delete_logged_model(model_id)
    return empty()


@router.patch("/logged-models/{model_id}/tags")
def set_logged_model_tags(
    model_id: str, body: SetLoggedModelTags, store: Store
) -> FastJSONResponse:
    store.set_logged_model_tags(model_id, _tags(body.tags))
    return empty()


# The official client puts the key in the path as it is, so a key with '/' spans segments.
@router.delete("/logged-models/{model_id}/tags/{tag_key:path}")
def delete_logged_model_tag(model_id: str, tag_key: str, store: Store) -> FastJSONResponse:
    store.delete_logged_model_tag(model_id, tag_key)
    return empty()


@router.post("/logged-models/{model_id}/params")
def log_logged_model_params(
    model_id: str, body: LogLoggedModelParams, store: Store
) -> FastJSONResponse:
    store.log_logged_model_params(model_id, _params(body.params))
    return empty()


@router.get("/logged-models/{model_id}/artifacts/directories")
def list_logged_model_artifacts(
    model_id: str,
    store: Store,
    config: Config,
    artifact_directory_path: str | None = Query(None),
    page_token: str | None = Query(None),
) -> FastJSONResponse:
    relative = safe_relative_path(artifact_directory_path, "artifact_directory_path")
    model = store.get_logged_model(model_id)
    files = repository_for(model.artifact_location, config).list_artifacts(relative or None)
    out: dict[str, Any] = {"root_uri": model.artifact_location}
    if files:
        out["files"] = [f.to_dict() for f in files]
    return FastJSONResponse(out)


@router.post("/runs/outputs")
def log_outputs(body: LogOutputs, store: Store) -> FastJSONResponse:
    store.log_outputs(body.run_id, [LoggedModelOutput(m.model_id, m.step) for m in body.models])
    return empty()
