"""``/runs/*``: create, read, update, delete, restore, search, and logging to a run."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any, cast

import orjson
from fastapi import APIRouter, Depends, Query, Request

from mltrail.entities import (
    Dataset,
    DatasetInput,
    InputTag,
    LoggedModelInput,
    Metric,
    MetricColumns,
    Param,
    RunStatus,
    RunTag,
    ViewType,
)
from mltrail.entities.validation import validate_int
from mltrail.errors import InvalidArgument
from mltrail.server.batch_parsing import parse_log_batch
from mltrail.server.deps import Store
from mltrail.server.responses import FastJSONResponse, empty
from mltrail.server.routing import MlflowRoute, PreparedRequest, request_body
from mltrail.server.schemas import (
    CreateRun,
    DeleteTag,
    LogBatch,
    LogInputs,
    LogMetric,
    LogModel,
    LogParam,
    MetricIn,
    RunIdOnly,
    SearchRuns,
    SetTag,
    UpdateRun,
)

router = APIRouter(prefix="/runs", route_class=MlflowRoute, tags=["runs"])

LOG_MODEL_HISTORY_TAG = "mlflow.log-model.history"
_SPECIAL_FLOATS = {"nan": float("nan"), "infinity": float("inf"), "-infinity": float("-inf")}


def metric_value(key: str, value: float | str) -> float:
    """A metric value off the wire: a number, or MLflow's spellings of NaN and infinity."""
    if isinstance(value, float):
        return value
    special = _SPECIAL_FLOATS.get(value.strip().lower())
    if special is not None:
        return special
    try:
        return float(value)
    except ValueError:
        raise InvalidArgument(
            f"Invalid value {value!r} for metric '{key}': must be a number"
        ) from None


def _metric(item: MetricIn | LogMetric) -> Metric:
    return Metric(
        key=item.key,
        value=metric_value(item.key, item.value),
        timestamp=item.timestamp,
        step=item.step,
        dataset_name=item.dataset_name,
        dataset_digest=item.dataset_digest,
        model_id=item.model_id,
    )


@router.post("/create")
def create_run(body: CreateRun, store: Store) -> FastJSONResponse:
    start = body.start_time if body.start_time is not None else int(time.time() * 1000)
    run = store.create_run(
        experiment_id=body.experiment_id or "0",
        user_id=body.user_id or "",
        start_time=validate_int(start, "start_time", minimum=0),
        tags=[RunTag(t.key, t.value or "") for t in body.tags],
        run_name=body.run_name or None,
    )
    return FastJSONResponse({"run": run.to_dict()})


@router.post("/update")
def update_run(body: UpdateRun, store: Store) -> FastJSONResponse:
    status = None if body.status is None else RunStatus.coerce(body.status)
    end_time = None if body.end_time is None else validate_int(body.end_time, "end_time", minimum=0)
    info = store.update_run_info(body.run_id, status, end_time, body.run_name or None)
    return FastJSONResponse({"run_info": info.to_dict()})


@router.post("/delete")
def delete_run(body: RunIdOnly, store: Store) -> FastJSONResponse:
    store.delete_run(body.run_id)
    return empty()


@router.post("/restore")
def restore_run(body: RunIdOnly, store: Store) -> FastJSONResponse:
    store.restore_run(body.run_id)
    return empty()


@router.get("/get")
def get_run(
    store: Store, run_id: str | None = Query(None), run_uuid: str | None = Query(None)
) -> FastJSONResponse:
    target = run_id or run_uuid
    if not target:
        raise InvalidArgument(
            "Missing value for required parameter 'run_id'. "
            "See the API docs for more information about request parameters."
        )
    return FastJSONResponse({"run": store.get_run(target).to_dict()})


@router.post("/log-metric")
def log_metric(body: LogMetric, store: Store) -> FastJSONResponse:
    store.log_batch(body.run_id, metrics=[_metric(body)])
    return empty()


@router.post("/log-parameter")
def log_parameter(body: LogParam, store: Store) -> FastJSONResponse:
    store.log_batch(body.run_id, params=[Param(body.key, body.value or "")])
    return empty()


@router.post("/set-tag")
def set_tag(body: SetTag, store: Store) -> FastJSONResponse:
    store.log_batch(body.run_id, tags=[RunTag(body.key, body.value or "")])
    return empty()


@router.post("/delete-tag")
def delete_tag(body: DeleteTag, store: Store) -> FastJSONResponse:
    store.delete_tag(body.run_id, body.key)
    return empty()


async def _json_body(request: Request) -> Any:
    # MlflowRoute has checked the Content-Type and size, and parsed the body once.
    if isinstance(request, PreparedRequest):
        return request.parsed
    return orjson.loads(await request.body())


@router.post("/log-batch", openapi_extra=request_body(LogBatch))
def log_batch(data: Annotated[Any, Depends(_json_body)], store: Store) -> FastJSONResponse:
    if not isinstance(data, dict):
        raise InvalidArgument("The request body must be a JSON object")
    run_id, metrics, params, tags = parse_log_batch(data)
    if metrics and isinstance(metrics[0], MetricColumns):
        store.log_metric_columns(run_id, metrics, params, tags)
    else:
        store.log_batch(run_id, cast("list[Metric]", metrics), params, tags)
    return empty()


@router.post("/log-model")
def log_model(body: LogModel, store: Store) -> FastJSONResponse:
    try:
        model = json.loads(body.model_json)
    except ValueError:
        raise InvalidArgument("Invalid value for parameter 'model_json': not JSON") from None
    if not isinstance(model, dict):
        raise InvalidArgument("Invalid value for parameter 'model_json': not a JSON object")
    missing = [k for k in ("artifact_path", "flavors", "utc_time_created", "run_id") if k not in model]
    if missing:
        raise InvalidArgument(f"Model json is missing mandatory fields: {missing}")
    run = store.get_run(body.run_id)
    history: list[Any] = json.loads(run.data.tags.get(LOG_MODEL_HISTORY_TAG, "[]"))
    history.append(model)
    store.log_batch(body.run_id, tags=[RunTag(LOG_MODEL_HISTORY_TAG, json.dumps(history))])
    return empty()


@router.post("/log-inputs")
def log_inputs(body: LogInputs, store: Store) -> FastJSONResponse:
    datasets = [
        DatasetInput(
            Dataset(
                name=d.dataset.name,
                digest=d.dataset.digest,
                source_type=d.dataset.source_type,
                source=d.dataset.source,
                schema=d.dataset.schema_,
                profile=d.dataset.profile,
            ),
            tuple(InputTag(t.key, t.value or "") for t in d.tags),
        )
        for d in body.datasets
    ]
    store.log_inputs(body.run_id, datasets)
    if body.models:
        store.log_model_inputs(body.run_id, [LoggedModelInput(m.model_id) for m in body.models])
    return empty()


@router.post("/search")
def search_runs(body: SearchRuns, store: Store) -> FastJSONResponse:
    if not body.experiment_ids:
        return FastJSONResponse({})
    # A page runs to thousands of dicts: the store builds them straight from its rows.
    page = store.search_run_dicts(
        experiment_ids=body.experiment_ids,
        filter_string=body.filter or None,
        run_view_type=ViewType.coerce(body.run_view_type or ViewType.ACTIVE_ONLY),
        max_results=1000 if body.max_results is None else body.max_results,
        order_by=body.order_by or None,
        page_token=body.page_token or None,
    )
    out: dict[str, Any] = {}
    if page:
        out["runs"] = list(page)
    if page.token:
        out["next_page_token"] = page.token
    return FastJSONResponse(out)
