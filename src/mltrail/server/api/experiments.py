"""``/experiments/*``: create, read, search, rename, delete, restore, tags."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from mltrail.entities import ExperimentTag, ViewType
from mltrail.errors import NotFound
from mltrail.server.artifact_repos import check_artifact_location
from mltrail.server.deps import Config, Store
from mltrail.server.responses import FastJSONResponse, empty
from mltrail.server.routing import MlflowRoute
from mltrail.server.schemas import (
    CreateExperiment,
    DeleteExperimentTag,
    ExperimentId,
    SearchExperiments,
    SetExperimentTag,
    UpdateExperiment,
)

router = APIRouter(prefix="/experiments", route_class=MlflowRoute, tags=["experiments"])


@router.post("/create")
def create_experiment(body: CreateExperiment, store: Store, config: Config) -> FastJSONResponse:
    tags = [ExperimentTag(t.key, t.value or "") for t in body.tags]
    location = body.artifact_location or None
    if location is not None:
        location = check_artifact_location(location, config)
    experiment_id = store.create_experiment(body.name, location, tags)
    return FastJSONResponse({"experiment_id": experiment_id})


@router.get("/get")
def get_experiment(store: Store, experiment_id: str = Query()) -> FastJSONResponse:
    return FastJSONResponse({"experiment": store.get_experiment(experiment_id).to_dict()})


@router.get("/get-by-name")
def get_experiment_by_name(store: Store, experiment_name: str = Query()) -> FastJSONResponse:
    experiment = store.get_experiment_by_name(experiment_name)
    if experiment is None:
        raise NotFound(f"Could not find experiment with name '{experiment_name}'")
    return FastJSONResponse({"experiment": experiment.to_dict()})


def _search(store: Store, body: SearchExperiments) -> FastJSONResponse:
    page = store.search_experiments(
        view_type=ViewType.coerce(body.view_type or ViewType.ACTIVE_ONLY),
        max_results=1000 if body.max_results is None else body.max_results,
        filter_string=body.filter or None,
        order_by=body.order_by or None,
        page_token=body.page_token or None,
    )
    out: dict[str, Any] = {"experiments": [e.to_dict() for e in page]}
    if page.token:
        out["next_page_token"] = page.token
    return FastJSONResponse(out)


@router.post("/search")
def search_experiments(body: SearchExperiments, store: Store) -> FastJSONResponse:
    return _search(store, body)


@router.get("/search")
def search_experiments_get(
    store: Store,
    max_results: int | None = Query(None),
    page_token: str | None = Query(None),
    filter: str | None = Query(None),
    order_by: list[str] = Query([]),
    view_type: str | None = Query(None),
) -> FastJSONResponse:
    body = SearchExperiments(
        max_results=max_results,
        page_token=page_token,
        filter=filter,
        order_by=order_by,
        view_type=view_type,
    )
    return _search(store, body)


@router.post("/update")
def update_experiment(body: UpdateExperiment, store: Store) -> FastJSONResponse:
    store.rename_experiment(body.experiment_id, body.new_name)
    return empty()


@router.post("/delete")
def delete_experiment(body: ExperimentId, store: Store) -> FastJSONResponse:
    store.delete_experiment(body.experiment_id)
    return empty()


@router.post("/restore")
def restore_experiment(body: ExperimentId, store: Store) -> FastJSONResponse:
    store.restore_experiment(body.experiment_id)
    return empty()


@router.post("/set-experiment-tag")
def set_experiment_tag(body: SetExperimentTag, store: Store) -> FastJSONResponse:
    store.set_experiment_tag(body.experiment_id, ExperimentTag(body.key, body.value or ""))
    return empty()


@router.post("/delete-experiment-tag")
def delete_experiment_tag(body: DeleteExperimentTag, store: Store) -> FastJSONResponse:
    store.delete_experiment_tag(body.experiment_id, body.key)
    return empty()
