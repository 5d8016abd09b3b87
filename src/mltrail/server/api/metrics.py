"""``/metrics/*``: a metric's history, whole or paged, and downsampled across runs."""

from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter, Query

from mltrail.entities import Metric
from mltrail.entities.downsample import downsample
from mltrail.entities.metric import json_float
from mltrail.entities.validation import validate_int
from mltrail.errors import InvalidArgument
from mltrail.server.deps import Store
from mltrail.server.responses import FastJSONResponse
from mltrail.server.routing import MlflowRoute

router = APIRouter(prefix="/metrics", route_class=MlflowRoute, tags=["metrics"])
_finite = math.isfinite

MAX_RUNS_PER_BULK_REQUEST = 100
MAX_POINTS_PER_RUN = 2500


@router.get("/get-history")
def get_metric_history(
    store: Store,
    metric_key: str = Query(),
    run_id: str | None = Query(None),
    run_uuid: str | None = Query(None),
    page_token: str | None = Query(None),
    max_results: int | None = Query(None),
) -> FastJSONResponse:
    target = run_id or run_uuid
    if not target:
        raise InvalidArgument("Missing value for required parameter 'run_id'")
    if max_results is not None and max_results <= 0:
        raise InvalidArgument(
            f"Invalid value {max_results} for parameter 'max_results': must be positive"
        )
    page = store.get_metric_history_points(target, metric_key, max_results, page_token or None)
    # Histories run to millions of points: build the plain dicts straight from the tuples.
    finite = _finite
    out: dict[str, Any] = {
        "metrics": [
            {
                "key": metric_key,
                "value": value if finite(value) else json_float(value),
                "timestamp": timestamp,
                "step": step,
            }
            for step, timestamp, value in page
        ]
    }
    if page.token:
        out["next_page_token"] = page.token
    return FastJSONResponse(out)


@router.get("/get-history-bulk-interval")
def get_metric_history_bulk_interval(
    store: Store,
    metric_key: str = Query(),
    run_ids: list[str] = Query(),
    start_step: int | None = Query(None),
    end_step: int | None = Query(None),
    max_results: int | None = Query(None),
) -> FastJSONResponse:
    if len(run_ids) > MAX_RUNS_PER_BULK_REQUEST:
        raise InvalidArgument(
            f"GetMetricHistoryBulkInterval takes at most {MAX_RUNS_PER_BULK_REQUEST} run_ids, "
            f"got {len(run_ids)}"
        )
    limit = MAX_POINTS_PER_RUN if max_results is None else validate_int(max_results, "max_results")
    if not 1 <= limit <= MAX_POINTS_PER_RUN:
        raise InvalidArgument(
            f"Invalid value {limit} for parameter 'max_results': must be between 1 and "
            f"{MAX_POINTS_PER_RUN}"
        )
    if (start_step is None) != (end_step is None):
        raise InvalidArgument("Give both start_step and end_step, or neither")
    if start_step is not None and end_step is not None and start_step > end_step:
        raise InvalidArgument(
            f"start_step ({start_step}) must not be greater than end_step ({end_step})"
        )
    metrics: list[dict[str, Any]] = []
    for run_id in dict.fromkeys(run_ids):
        history: list[Metric] = list(store.get_metric_history(run_id, metric_key))
        if start_step is not None and end_step is not None:
            history = [m for m in history if start_step <= m.step <= end_step]
        for point in downsample(history, limit):
            item = point.to_dict()
            item["run_id"] = run_id
            metrics.append(item)
    return FastJSONResponse({"metrics": metrics})
