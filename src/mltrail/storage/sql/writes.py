"""Writing a run's params, tags, metrics and inputs, one transaction a batch."""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from mltrail.entities import DatasetInput, Metric, PagedList, Param, RunTag
from mltrail.entities.search import decode_page_token, encode_page_token
from mltrail.entities.validation import (
    MAX_DATASET_DIGEST_LENGTH,
    MAX_DATASET_NAME_LENGTH,
    MAX_DATASET_PROFILE_LENGTH,
    MAX_DATASET_SCHEMA_LENGTH,
    MAX_DATASET_SOURCE_LENGTH,
    MAX_INPUT_TAG_KEY_LENGTH,
    MAX_INPUT_TAG_VALUE_LENGTH,
    MAX_INT64,
    known_keys,
    validate_batch_sizes,
    validate_key,
    validate_metric,
    validate_param,
    validate_tag,
)
from mltrail.errors import InvalidArgument
from mltrail.storage.sql import logged_models, runs, schema
from mltrail.storage.sql import params as immutable_params


def log_batch(
    conn: Connection,
    run_id: str,
    metrics: Sequence[Metric],
    params: Sequence[Param],
    tags: Sequence[RunTag],
    *,
    truncate: bool,
) -> None:
    validate_batch_sizes(len(metrics), len(params), len(tags))
    checked_params = _check_params(params, truncate)
    checked_tags = dict(validate_tag(t.key, t.value, truncate=truncate) for t in tags)
    rows = [_metric_row(run_id, m) for m in metrics]
    runs.require_active(conn, run_id)
    if checked_params:
        _insert_params(conn, run_id, checked_params)
    if checked_tags:
        runs.set_tags(conn, run_id, checked_tags, sync_name=True)
    if rows and any(m.model_id for m in metrics):
        # Points logged for a model are kept for it too (a rare path, off the hot one).
        rows = logged_models.log_model_metrics(conn, run_id, metrics, rows)
    if rows:
        _insert_points(conn, run_id, rows)


def _check_params(params: Sequence[Param], truncate: bool) -> dict[str, str]:
    checked: dict[str, str] = {}
    for param in params:
        key, value = validate_param(param.key, param.value, truncate=truncate)
        if key in checked and checked[key] != value:
            raise InvalidArgument(
                f"Duplicate param key '{key}' in one batch with different values"
            )
        checked[key] = value
    return checked


_PLACEHOLDERS = {"qmark": "?", "format": "%s", "pyformat": "%s", "numeric": ":{}"}


def _statement(template: str, paramstyle: str, count: int) -> str:
    """``template`` with ``count`` placeholders in the driver's parameter style."""
    marker = _PLACEHOLDERS.get(paramstyle)
    if marker is None:
        raise InvalidArgument(f"Unsupported database driver parameter style {paramstyle!r}")
    return template.format(marks=", ".join(marker.format(i + 1) for i in range(count)))


MetricRow = tuple[str, str, float, bool, int, int]
_KNOWN_KEYS = known_keys()


def _metric_row(run_id: str, metric: Metric) -> MetricRow:
    key, value, timestamp, step = metric.key, metric.value, metric.timestamp, metric.step
    if (
        type(value) is float
        and type(timestamp) is int
        and type(step) is int
        and 0 <= timestamp <= MAX_INT64
        and -MAX_INT64 <= step <= MAX_INT64
        and type(key) is str
        and key in _KNOWN_KEYS
    ):
        # The common case, already checked by our client: skip the general validation.
        nan = value != value
        return (run_id, key, 0.0 if nan else value, nan, timestamp, step)
    key, value, timestamp, step = validate_metric(
        metric.key, metric.value, metric.timestamp, metric.step
    )
    nan = value != value
    return (run_id, key, 0.0 if nan else value, nan, timestamp, step)


def _insert_params(conn: Connection, run_id: str, values: dict[str, str]) -> None:
    immutable_params.insert_once(conn, schema.params, "run_uuid", run_id, "run", values)


# SQLite and PostgreSQL share these statements, ON CONFLICT included.
_NEW_SERIES = (
    "INSERT INTO metric_series (run_uuid, key, value, is_nan, timestamp, step) "
    "VALUES ({marks}) ON CONFLICT (run_uuid, key) DO NOTHING"
)
_POINTS = (
    "INSERT INTO metrics (series_id, step, timestamp, value, is_nan) "
    "VALUES ({marks}) ON CONFLICT DO NOTHING"
)
_NEWER_LATEST = """
UPDATE metric_series SET value = {v}, is_nan = {n}, timestamp = {t}, step = {s}
WHERE series_id = {i}
  AND ({s2} > step OR ({s3} = step AND ({t2} > timestamp OR ({t3} = timestamp AND {v2} >= value))))
"""


def _insert_points(conn: Connection, run_id: str, rows: list[MetricRow]) -> None:
    """The hot path: a few statements per batch whatever its size, each an executemany
    straight to the driver. The latest point per key is kept in the same transaction."""
    ranked: dict[str, tuple[tuple[int, int, float], MetricRow]] = {}
    minus_inf = -math.inf
    for row in rows:
        # The latest point: highest step, then newest timestamp, then largest value.
        order = (row[5], row[4], minus_inf if row[3] else row[2])
        current = ranked.get(row[1])
        if current is None or order >= current[0]:
            ranked[row[1]] = (order, row)
    latest = {key: row for key, (_, row) in ranked.items()}
    style = conn.dialect.paramstyle
    conn.exec_driver_sql(_statement(_NEW_SERIES, style, 6), list(latest.values()))
    series = schema.metric_series
    ids: dict[str, int] = dict(
        conn.execute(
            sa.select(series.c.key, series.c.series_id).where(
                series.c.run_uuid == run_id, series.c.key.in_(list(latest))
            )
        ).all()
    )
    points = [(ids[r[1]], r[5], r[4], r[2], r[3]) for r in rows]
    conn.exec_driver_sql(_statement(_POINTS, style, 5), points)
    marker = _PLACEHOLDERS[style]
    names = ("v", "n", "t", "s", "i", "s2", "s3", "t2", "t3", "v2")
    update = _NEWER_LATEST.format(**{k: marker.format(i + 1) for i, k in enumerate(names)})
    conn.exec_driver_sql(
        update,
        [
            (value, nan, ts, step, ids[key], step, step, ts, ts, value)
            for _, key, value, nan, ts, step in latest.values()
        ],
    )


def metric_history(
    conn: Connection,
    run_id: str,
    key: str,
    max_results: int | None,
    page_token: str | None,
) -> PagedList[Metric]:
    runs.get(conn, run_id)
    key = validate_key(key, "metric key")
    table, series = schema.metrics, schema.metric_series
    offset = decode_page_token(page_token)
    series_id = (
        sa.select(series.c.series_id)
        .where(series.c.run_uuid == run_id, series.c.key == key)
        .scalar_subquery()
    )
    query = (
        sa.select(table.c.value, table.c.is_nan, table.c.timestamp, table.c.step)
        .where(table.c.series_id == series_id)
        .order_by(table.c.step, table.c.timestamp, table.c.value)
    )
    if max_results is not None:
        query = query.offset(offset).limit(max_results + 1)
    rows = conn.execute(query).all()
    token = None
    if max_results is not None and len(rows) > max_results:
        rows = rows[:max_results]
        token = encode_page_token(offset + max_results)
    nan = math.nan
    history = [
        Metric(key, nan if is_nan else value, timestamp, step, run_id=run_id)
        for value, is_nan, timestamp, step in rows
    ]
    return PagedList(history, token)


def _limit(value: str | None, limit: int, field: str) -> None:
    if value is not None and len(value) > limit:
        raise InvalidArgument(f"Invalid {field}: {len(value)} characters, the limit is {limit}")


def log_inputs(conn: Connection, run_id: str, inputs: Sequence[DatasetInput]) -> None:
    runs.require_active(conn, run_id)
    experiment_id = conn.execute(
        sa.select(schema.runs.c.experiment_id).where(schema.runs.c.run_uuid == run_id)
    ).scalar_one()
    ds, ri, it = schema.datasets, schema.run_inputs, schema.input_tags
    for item in inputs:
        dataset = item.dataset
        _limit(dataset.name, MAX_DATASET_NAME_LENGTH, "dataset name")
        _limit(dataset.digest, MAX_DATASET_DIGEST_LENGTH, "dataset digest")
        _limit(dataset.source, MAX_DATASET_SOURCE_LENGTH, "dataset source")
        _limit(dataset.schema, MAX_DATASET_SCHEMA_LENGTH, "dataset schema")
        _limit(dataset.profile, MAX_DATASET_PROFILE_LENGTH, "dataset profile")
        for tag in item.tags:
            _limit(tag.key, MAX_INPUT_TAG_KEY_LENGTH, "input tag key")
            _limit(tag.value, MAX_INPUT_TAG_VALUE_LENGTH, "input tag value")
        dataset_id = conn.execute(
            sa.select(ds.c.dataset_id).where(
                ds.c.experiment_id == experiment_id,
                ds.c.name == dataset.name,
                ds.c.digest == dataset.digest,
            )
        ).scalar()
        if dataset_id is None:
            dataset_id = uuid.uuid4().hex
            conn.execute(
                ds.insert().values(
                    dataset_id=dataset_id,
                    experiment_id=experiment_id,
                    name=dataset.name,
                    digest=dataset.digest,
                    source_type=dataset.source_type,
                    source=dataset.source,
                    schema=dataset.schema,
                    profile=dataset.profile,
                )
            )
        linked = conn.execute(
            sa.select(ri.c.run_uuid).where(ri.c.run_uuid == run_id, ri.c.dataset_id == dataset_id)
        ).first()
        if linked is None:
            conn.execute(ri.insert().values(run_uuid=run_id, dataset_id=dataset_id))
            if item.tags:
                conn.execute(
                    it.insert(),
                    [
                        {"run_uuid": run_id, "dataset_id": dataset_id, "key": t.key, "value": t.value}
                        for t in {t.key: t for t in item.tags}.values()
                    ],
                )
