"""Writing a run's params, tags, metrics and inputs, one transaction a batch."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from mltrail.entities import (
    DatasetInput,
    Metric,
    MetricColumns,
    MetricHistory,
    Param,
    RunTag,
)
from mltrail.entities.search import decode_page_token, encode_page_token
from mltrail.entities.validation import (
    MAX_DATASET_DIGEST_LENGTH,
    MAX_DATASET_NAME_LENGTH,
    MAX_DATASET_PROFILE_LENGTH,
    MAX_DATASET_SCHEMA_LENGTH,
    MAX_DATASET_SOURCE_LENGTH,
    MAX_INPUT_TAG_KEY_LENGTH,
    MAX_INPUT_TAG_VALUE_LENGTH,
    validate_batch_sizes,
    validate_key,
    validate_param,
    validate_tag,
)
from mltrail.errors import InvalidArgument
from mltrail.storage.sql import logged_models, points, runs, schema
from mltrail.storage.sql.engine import driver_cursor
from mltrail.storage.sql import params as immutable_params


def log_batch(
    conn: Connection,
    run_id: str,
    metrics: Sequence[Metric] | Sequence[MetricColumns],
    params: Sequence[Param],
    tags: Sequence[RunTag],
    *,
    truncate: bool,
) -> None:
    """One batch in the caller's transaction; ``metrics`` are entities, or columns of points."""
    entities: Sequence[Metric] = ()
    columns: Sequence[MetricColumns] = ()
    if metrics and isinstance(metrics[0], MetricColumns):
        columns = cast("Sequence[MetricColumns]", metrics)
    else:
        entities = cast("Sequence[Metric]", metrics)
    validate_batch_sizes(sum(len(c) for c in columns) + len(entities), len(params), len(tags))
    checked_params = _check_params(params, truncate)
    checked_tags = dict(validate_tag(t.key, t.value, truncate=truncate) for t in tags)
    series = points.from_columns(columns) if columns else points.group(entities)
    runs.require_active(conn, run_id)
    if checked_params:
        _insert_params(conn, run_id, checked_params)
    if checked_tags:
        runs.set_tags(conn, run_id, checked_tags, sync_name=True)
    if entities and any(m.model_id for m in entities):
        # Points logged for a model are kept for it too (a rare path, off the hot one).
        logged_models.log_model_metrics(conn, run_id, entities)
    if series:
        _insert_points(conn, run_id, series)


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


def _insert_params(conn: Connection, run_id: str, values: dict[str, str]) -> None:
    immutable_params.insert_once(conn, schema.params, "run_uuid", run_id, "run", values)


# SQLite and PostgreSQL share these statements, ON CONFLICT included.
_NEW_SERIES = (
    "INSERT INTO metric_series (run_uuid, key, value, is_nan, timestamp, step) "
    "VALUES ({marks}) ON CONFLICT (run_uuid, key) DO NOTHING"
)
_CHUNKS = (
    "INSERT INTO metric_chunks "
    "(series_id, n_points, min_step, max_step, steps, timestamps, metric_values) "
    "VALUES ({marks})"
)
_SERIES_IDS = "SELECT key, series_id FROM metric_series WHERE run_uuid ="
_NEWER_LATEST = """
UPDATE metric_series SET value = {v}, is_nan = {n}, timestamp = {t}, step = {s}
WHERE series_id = {i}
  AND ({s2} > step OR ({s3} = step AND ({t2} > timestamp OR ({t3} = timestamp AND {v2} >= value))))
"""


def _insert_points(conn: Connection, run_id: str, groups: dict[str, points.Series]) -> None:
    """The hot path: three statements and a query per batch whatever its size, sent on the
    driver's own cursor. The latest point per key is kept in the same transaction."""
    latest = []
    for key, series in groups.items():
        step, timestamp, value = series.latest()
        nan = value != value
        latest.append((run_id, key, 0.0 if nan else value, nan, timestamp, step))
    style = conn.dialect.paramstyle
    marker = _PLACEHOLDERS[style]
    with driver_cursor(conn) as cursor:
        cursor.executemany(_statement(_NEW_SERIES, style, 6), latest)
        keys = list(groups)
        marks = [marker.format(i + 1) for i in range(len(keys) + 1)]
        cursor.execute(
            f"{_SERIES_IDS} {marks[0]} AND key IN ({', '.join(marks[1:])})", [run_id, *keys]
        )
        ids: dict[str, int] = dict(cursor.fetchall())
        cursor.executemany(
            _statement(_CHUNKS, style, 7),
            [(ids[key], *series.pack()) for key, series in groups.items()],
        )
        names = ("v", "n", "t", "s", "i", "s2", "s3", "t2", "t3", "v2")
        update = _NEWER_LATEST.format(**{k: marker.format(i + 1) for i, k in enumerate(names)})
        cursor.executemany(
            update,
            [
                (value, nan, ts, step, ids[key], step, step, ts, ts, value)
                for _, key, value, nan, ts, step in latest
            ],
        )


def metric_history(
    conn: Connection,
    run_id: str,
    key: str,
    max_results: int | None,
    page_token: str | None,
) -> MetricHistory:
    """A page of a run's metric history; all of it without ``max_results``."""
    runs.get(conn, run_id)
    key = validate_key(key, "metric key")
    chunks, series = schema.metric_chunks, schema.metric_series
    series_id = (
        sa.select(series.c.series_id)
        .where(series.c.run_uuid == run_id, series.c.key == key)
        .scalar_subquery()
    )
    query = (
        sa.select(chunks.c.steps, chunks.c.timestamps, chunks.c.metric_values)
        .where(chunks.c.series_id == series_id)
        .order_by(chunks.c.chunk_id)
    )
    steps, timestamps, values = points.history(conn.execute(query))
    offset = decode_page_token(page_token)
    if max_results is None and not offset:
        return MetricHistory(key, steps, timestamps, values)
    end = len(steps) if max_results is None else offset + max_results
    token = encode_page_token(end) if end < len(steps) else None
    page = slice(offset, end)
    return MetricHistory(key, steps[page], timestamps[page], values[page], token)


_IDS_PER_QUERY = 500  # run ids per IN (...) list, and keys per list: under SQLite's bound


def metric_extremes(
    conn: Connection, run_ids: Sequence[str], keys: Sequence[str]
) -> dict[tuple[str, str], tuple[float, float]]:
    """The lowest and highest value of each (run, key) series over its whole history, NaN
    ignored; a series missing (or holding only NaN) is left out. The points are packed in
    chunks, so SQL cannot aggregate them: one query (per 500 runs) reads the value arrays of
    the chosen series only, through the (run, key) unique index, and each is reduced here."""
    series, chunks = schema.metric_series, schema.metric_chunks
    wanted_runs, wanted_keys = list(dict.fromkeys(run_ids)), list(dict.fromkeys(keys))
    found: dict[tuple[str, str], tuple[float, float] | None] = {}
    for k in range(0, len(wanted_keys), _IDS_PER_QUERY):
        key_part = wanted_keys[k : k + _IDS_PER_QUERY]
        for r in range(0, len(wanted_runs), _IDS_PER_QUERY):
            query = (
                sa.select(series.c.run_uuid, series.c.key, chunks.c.metric_values)
                .join(chunks, chunks.c.series_id == series.c.series_id)
                .where(
                    series.c.run_uuid.in_(wanted_runs[r : r + _IDS_PER_QUERY]),
                    series.c.key.in_(key_part),
                )
            )
            for run_id, key, value_bytes in conn.execute(query):
                found[run_id, key] = points.value_range(value_bytes, found.get((run_id, key)))
    return {pair: bounds for pair, bounds in found.items() if bounds is not None}


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
