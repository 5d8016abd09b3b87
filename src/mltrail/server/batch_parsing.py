"""``runs/log-batch`` read straight off the JSON: the one request whose size grows with
training, so it skips building a pydantic model per point. Same rules and messages as the
models in ``schemas.py``, which still describe the endpoint in the OpenAPI spec."""

from __future__ import annotations

import math
from operator import itemgetter
from typing import Any

from mltrail.entities import Metric, MetricColumns, Param, RunTag
from mltrail.errors import InvalidArgument

_SPECIAL = {
    "nan": math.nan,
    "infinity": math.inf,
    "-infinity": -math.inf,
    "inf": math.inf,
    "-inf": -math.inf,
}
_METRIC_ALIASES = {
    "modelId": "model_id",
    "datasetName": "dataset_name",
    "datasetDigest": "dataset_digest",
}


def _missing(field: str) -> InvalidArgument:
    return InvalidArgument(
        f"Missing value for required parameter '{field}'. "
        "See the API docs for more information about request parameters."
    )


def _invalid(field: str, value: Any, rule: str) -> InvalidArgument:
    shown = repr(value) if not isinstance(value, (dict, list)) else type(value).__name__
    return InvalidArgument(f"Invalid value {shown[:200]} for parameter '{field}' supplied: {rule}")


def _int(value: Any, field: str) -> int:
    if type(value) is int:
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise _invalid(field, value, "must be an integer")


def _float(value: Any, field: str) -> float:
    if type(value) is float:
        return value
    if type(value) is int:
        return float(value)
    if isinstance(value, str):
        special = _SPECIAL.get(value.strip().lower())
        if special is not None:
            return special
        try:
            return float(value)
        except ValueError:
            pass
    raise _invalid(field, value, "must be a number")


def _list(data: dict[str, Any], name: str) -> list[Any]:
    items = data.get(name)
    if items is None:
        return []
    if not isinstance(items, list):
        raise _invalid(name, items, "must be a list")
    return items


def _metric(item: Any, index: int) -> Metric:
    # Most points are exactly {key: str, value: float, timestamp: int, step?: int}; those
    # need no conversion and cannot fail, so they skip the checks below.
    if type(item) is dict:
        key = item.get("key")
        value = item.get("value")
        timestamp = item.get("timestamp")
        step = item.get("step", 0)
        if (
            type(key) is str
            and type(value) is float
            and type(timestamp) is int
            and type(step) is int
            and len(item) == (4 if "step" in item else 3)
        ):
            return Metric(key, value, timestamp, step)
    return _checked_metric(item, index)


def _checked_metric(item: Any, index: int) -> Metric:
    field = f"metrics[{index}]"
    if not isinstance(item, dict):
        raise _invalid(field, item, "must be an object")
    try:
        key, value, timestamp = item["key"], item["value"], item["timestamp"]
    except KeyError as exc:
        raise _missing(f"{field}.{exc.args[0]}") from None
    if not isinstance(key, str):
        raise _invalid(f"{field}.key", key, "must be a string")
    step = item.get("step", 0)
    extra: dict[str, str | None] = {}
    for name, text in item.items():
        name = _METRIC_ALIASES.get(name, name)
        if name not in ("model_id", "dataset_name", "dataset_digest"):
            continue
        if text is not None and not isinstance(text, str):
            raise _invalid(f"{field}.{name}", text, "must be a string")
        extra[name] = text
    return Metric(
        key,
        _float(value, f"{field}.value"),
        _int(timestamp, f"{field}.timestamp"),
        0 if step is None else _int(step, f"{field}.step"),
        **extra,
    )


def _pair(item: Any, field: str, cls: type[Param] | type[RunTag], value_required: bool) -> Any:
    if not isinstance(item, dict):
        raise _invalid(field, item, "must be an object")
    key = item.get("key")
    if key is None:
        raise _missing(f"{field}.key")
    value = item.get("value")
    if value is None and value_required:
        raise _missing(f"{field}.value")
    if not isinstance(key, str) or (value is not None and not isinstance(value, str)):
        raise _invalid(field, item, "key and value must be strings")
    return cls(key, value or "")


_KEY, _VALUE, _TIMESTAMP, _STEP = (
    itemgetter("key"),
    itemgetter("value"),
    itemgetter("timestamp"),
    itemgetter("step"),
)


def _columns(items: list[Any]) -> list[MetricColumns] | None:
    """The points grouped by key, as columns, when every one is a plain point (as ``_metric``
    defines it); None if any is not, and the batch goes point by point instead.

    The fields are pulled out and their types checked a column at a time, in C: a batch
    is thousands of points, and a Python loop over them costs more than the rest of the
    request."""
    if not items:
        return []
    if set(map(type, items)) != _DICT:
        return None
    sizes = set(map(len, items))
    try:
        keys = list(map(_KEY, items))
        values = list(map(_VALUE, items))
        timestamps = list(map(_TIMESTAMP, items))
        if sizes == _WITH_STEP:
            steps = list(map(_STEP, items))
        elif sizes == _WITHOUT_STEP:
            steps = [0] * len(items)
        else:
            return None
    except KeyError:  # not the three or four fields of a plain point
        return None
    if not (
        set(map(type, keys)) == _STR
        and set(map(type, values)) == _FLOAT
        and set(map(type, timestamps)) == _INT
        and set(map(type, steps)) == _INT
    ):
        return None
    return _grouped(keys, steps, timestamps, values)


_DICT, _STR, _FLOAT, _INT = {dict}, {str}, {float}, {int}
_WITH_STEP, _WITHOUT_STEP = {4}, {3}


def _grouped(
    keys: list[str], steps: list[int], timestamps: list[int], values: list[float]
) -> list[MetricColumns]:
    """Columns per key, keys in order of first appearance, points in the order sent."""
    distinct = list(dict.fromkeys(keys))
    period = len(distinct)
    if keys[:period] == distinct and keys[period:] == keys[:-period]:
        # The keys repeat in a fixed order (one key, or a step's keys together, step after
        # step), as a training loop sends them: each key's points are a slice.
        return [
            MetricColumns(key, steps[i::period], timestamps[i::period], values[i::period])
            for i, key in enumerate(distinct)
        ]
    groups: dict[str, tuple[list[int], list[int], list[float]]] = {}
    for key, step, timestamp, value in zip(keys, steps, timestamps, values):
        columns = groups.get(key)
        if columns is None:
            columns = groups[key] = ([], [], [])
        columns[0].append(step)
        columns[1].append(timestamp)
        columns[2].append(value)
    return [MetricColumns(key, *columns) for key, columns in groups.items()]


def parse_log_batch(
    data: dict[str, Any],
) -> tuple[str, list[Metric] | list[MetricColumns], list[Param], list[RunTag]]:
    """The run id, metrics, params and tags of a log-batch body. Metrics come as columns
    (``MetricColumns``, for ``TrackingStore.log_metric_columns``) when every point is plain,
    as they nearly always are, and as one ``Metric`` each otherwise."""
    run_id = data.get("run_id", data.get("runId", data.get("run_uuid", data.get("runUuid"))))
    if run_id is None:
        raise _missing("run_id")
    if not isinstance(run_id, str):
        raise _invalid("run_id", run_id, "must be a string")
    items = _list(data, "metrics")
    metrics: list[Metric] | list[MetricColumns] | None = _columns(items)
    if metrics is None:
        metrics = [_metric(item, i) for i, item in enumerate(items)]
    params = [_pair(p, f"params[{i}]", Param, True) for i, p in enumerate(_list(data, "params"))]
    tags = [_pair(t, f"tags[{i}]", RunTag, False) for i, t in enumerate(_list(data, "tags"))]
    return run_id, metrics, params, tags
