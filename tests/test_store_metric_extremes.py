"""``metric_extremes``: each (run, key)'s lowest and highest value over its whole history, for
the runs table's ``(min)`` and ``(max)`` columns, on SQLite and on PostgreSQL, and the
``TrackingStore`` default that reads each history."""

from __future__ import annotations

import math

import sqlalchemy as sa

from mltrail.entities import Metric
from mltrail.storage.sql import schema
from mltrail.storage.sql.store import SqlTrackingStore
from mltrail.storage.tracking import TrackingStore


def _run(store: SqlTrackingStore, *series: tuple[str, list[float]]) -> str:
    run_id = store.create_run("0", "ada", 1000, [], None).info.run_id
    for key, values in series:
        # One batch per point: each lands in a chunk of its own, as a training loop logs.
        for step, value in enumerate(values):
            store.log_batch(run_id, metrics=[Metric(key, value, 1000 + step, step)])
    return run_id


def test_min_and_max_over_the_history_with_nan_ignored(store: SqlTrackingStore) -> None:
    first = _run(store, ("rmse", [3.0, 1.0, 2.0]), ("loss", [math.nan, 5.0, math.nan, -1.5]))
    second = _run(store, ("rmse", [0.5]), ("only_nan", [math.nan, math.nan]))
    infinite = _run(store, ("rmse", [math.inf, 2.0, -math.inf]))
    missing_run = "f" * 32
    keys = ["rmse", "loss", "only_nan", "absent"]
    expected = {
        (first, "rmse"): (1.0, 3.0),
        (first, "loss"): (-1.5, 5.0),
        (second, "rmse"): (0.5, 0.5),
        (infinite, "rmse"): (-math.inf, math.inf),
    }
    run_ids = [first, second, infinite, missing_run]
    assert store.metric_extremes(run_ids, keys) == expected
    assert TrackingStore.metric_extremes(store, run_ids, keys) == expected  # the default
    assert store.metric_extremes([first], ["rmse"]) == {(first, "rmse"): (1.0, 3.0)}
    assert store.metric_extremes([], keys) == {}
    assert store.metric_extremes(run_ids, []) == {}


def test_long_histories_in_big_chunks(store: SqlTrackingStore) -> None:
    run_id = store.create_run("0", "ada", 1000, [], None).info.run_id
    values = [math.sin(i / 7) * i for i in range(1999)] + [math.nan]
    for start in (0, 1000):
        batch = [Metric("wave", values[i], 1000, i) for i in range(start, start + 1000)]
        store.log_batch(run_id, metrics=batch)
    finite = values[:-1]
    expected = {(run_id, "wave"): (min(finite), max(finite))}
    assert store.metric_extremes([run_id], ["wave"]) == expected


def test_more_run_ids_than_one_query_takes(store: SqlTrackingStore) -> None:
    """1,200 ids (past the 500 per IN list, and SQLite's old 999 bound) in one call."""
    logged = [_run(store, ("m", [float(i), float(-i)])) for i in range(3)]
    ids = [f"{i:032x}" for i in range(1200)]
    ids[10], ids[700], ids[1199] = logged
    found = store.metric_extremes(ids, ["m"])
    assert found == {(run_id, "m"): (-float(i), float(i)) for i, run_id in enumerate(logged)}


def test_the_sqlite_query_reads_the_series_through_its_run_key_index(
    store: SqlTrackingStore,
) -> None:
    if store.engine.dialect.name != "sqlite":
        return
    series, chunks = schema.metric_series, schema.metric_chunks
    query = (
        sa.select(series.c.run_uuid, series.c.key, chunks.c.metric_values)
        .join(chunks, chunks.c.series_id == series.c.series_id)
        .where(series.c.run_uuid.in_(["a" * 32, "b" * 32]), series.c.key.in_(["rmse"]))
    )
    compiled = query.compile(store.engine, compile_kwargs={"literal_binds": True})
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}")
        plan = " | ".join(row[-1] for row in rows)
    assert "INDEX sqlite_autoindex_metric_series_1 (run_uuid=? AND key=?)" in plan
    assert "INDEX ix_metric_chunks_series (series_id=?)" in plan
    assert "SCAN" not in plan.replace("SCAN CONSTANT ROW", "")
