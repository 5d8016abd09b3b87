"""``/metrics/*``: a metric's history, whole or paged, and downsampled across runs."""

from __future__ import annotations

import bisect
import math
from typing import Any

import orjson
from fastapi import APIRouter, Query
from starlette.responses import Response

from mltrail.entities import Metric, MetricHistory
from mltrail.entities.downsample import downsample_indices
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
) -> Response:
    target = run_id or run_uuid
    if not target:
        raise InvalidArgument("Missing value for required parameter 'run_id'")
    if max_results is not None and max_results <= 0:
        raise InvalidArgument(
            f"Invalid value {max_results} for parameter 'max_results': must be positive"
        )
    page = store.get_metric_history_columns(target, metric_key, max_results, page_token or None)
    return Response(history_json(page), media_type="application/json")


def history_json(history: MetricHistory) -> bytes:
    """The get-history body for a page, written from its columns.

    A history can hold millions of points. Rather than a dict per point, orjson encodes the
    values in one call, and each point is one ``%`` formatting of a bytes template, mapped
    over the columns and joined: all of it runs in C, with no Python frame per point.
    """
    count = len(history)
    tail = b"]" if history.token is None else b'],"next_page_token":' + orjson.dumps(history.token)
    if not count:
        return b'{"metrics":[' + tail + b"}"
    values = history.values
    value_parts = _parts(values)
    if not all(map(_finite, values)):
        # orjson writes NaN and the infinities as null; MLflow spells them as strings.
        for index, value in enumerate(values):
            if not _finite(value):
                value_parts[index] = orjson.dumps(json_float(value))
    # The key, JSON-encoded, goes into the template; a "%" in it must stay literal.
    key = orjson.dumps(history.key).replace(b"%", b"%%")
    point = b'{"key":' + key + b',"value":%s,"timestamp":%d,"step":%d}'
    body = b",".join(map(point.__mod__, zip(value_parts, history.timestamps, history.steps)))
    return b"".join((b'{"metrics":[', body, tail, b"}"))  # one copy of the body, not three


def _parts(column: list[int] | list[float]) -> list[bytes]:
    """Each number of ``column`` as JSON, from one orjson call (numbers hold no commas)."""
    return orjson.dumps(column)[1:-1].split(b",")


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
        # Columns, not a Metric per point: a chart may ask for a history of millions.
        history = store.get_metric_history_columns(run_id, metric_key)
        steps, timestamps, values = history.steps, history.timestamps, history.values
        lo, hi = 0, len(steps)
        if start_step is not None and end_step is not None:  # steps are in ascending order
            lo = bisect.bisect_left(steps, start_step)
            hi = bisect.bisect_right(steps, end_step, lo)
        for i in downsample_indices(steps[lo:hi], values[lo:hi], limit):
            item = Metric(metric_key, values[lo + i], timestamps[lo + i], steps[lo + i]).to_dict()
            item["run_id"] = run_id
            metrics.append(item)
    return FastJSONResponse({"metrics": metrics})
