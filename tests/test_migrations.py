"""Schema migrations that move data: 0003 packs every metric point of ``metrics`` into
``metric_chunks``, and back. Runs on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from fixtures_tracking import ROOT

from mltrail.entities import Metric
from mltrail.storage.sql.engine import create_engine
from mltrail.storage.sql.migrate import HEAD_REVISION, current_revision, ensure_schema
from mltrail.storage.sql.store import SqlTrackingStore

def _migrate(engine: sa.Engine, revision: str, *, down: bool = False) -> None:
    with engine.begin() as conn:
        config = Config()
        config.set_main_option("script_location", "mltrail.storage.sql:migrations")
        config.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(config, revision)


# (step, timestamp, value, is_nan) rows as the 0002 schema stored them, in history order
# (NaN is stored, and ordered, as value 0).
OLD_POINTS = {
    "loss": [(0, 100, 0.5, False), (1, 101, 0.0, True), (1, 101, 0.25, False), (2, 99, -0.125, False)],
    "acc": [(-3, 5, math.inf, False), (7, 6, -math.inf, False)],
}


def _seed_0002(engine: sa.Engine) -> str:
    """A database at revision 0002 holding one run with the points above, one row each."""
    _migrate(engine, "0002")
    run_id = "a" * 32
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO experiments (experiment_id, name, artifact_location, "
                "lifecycle_stage, creation_time, last_update_time) "
                "VALUES (0, 'Default', 'file:///artifacts/0', 'active', 1, 1)"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO runs (run_uuid, name, experiment_id, user_id, status, start_time, "
                "lifecycle_stage, artifact_uri) VALUES (:r, 'old', 0, 'me', 'FINISHED', 1, "
                "'active', 'file:///artifacts/0/r/artifacts')"
            ),
            {"r": run_id},
        )
        for key, points in OLD_POINTS.items():
            step, timestamp, value, is_nan = max(points)
            series_id = conn.execute(
                sa.text(
                    "INSERT INTO metric_series (run_uuid, key, value, is_nan, timestamp, step) "
                    "VALUES (:r, :k, :v, :n, :t, :s) RETURNING series_id"
                ),
                {"r": run_id, "k": key, "v": value, "n": is_nan, "t": timestamp, "s": step},
            ).scalar_one()
            conn.execute(
                sa.text(
                    "INSERT INTO metrics (series_id, step, timestamp, value, is_nan) "
                    "VALUES (:i, :s, :t, :v, :n)"
                ),
                [{"i": series_id, "s": s, "t": t, "v": v, "n": n} for s, t, v, n in points],
            )
    return run_id


def _as_stored(points: list[tuple[int, int, float, bool]]) -> list[tuple[int, int, float]]:
    return [(s, t, math.nan if n else v) for s, t, v, n in points]


def _same(a: list[tuple[int, int, float]], b: list[tuple[int, int, float]]) -> bool:
    return len(a) == len(b) and all(
        x[:2] == y[:2] and (x[2] == y[2] or (math.isnan(x[2]) and math.isnan(y[2])))
        for x, y in zip(a, b)
    )


def test_0003_moves_every_point_into_chunks(engine: sa.Engine) -> None:
    run_id = _seed_0002(engine)
    ensure_schema(engine, ROOT)
    with engine.connect() as conn:
        assert current_revision(conn) == HEAD_REVISION
        tables = set(sa.inspect(conn).get_table_names())
    assert "metrics" not in tables and "metric_chunks" in tables
    store = SqlTrackingStore(engine, ROOT)
    for key, points in OLD_POINTS.items():
        page = store.get_metric_history_columns(run_id, key)
        history = list(zip(page.steps, page.timestamps, page.values))
        assert _same(history, _as_stored(points)), key
    # The migrated series take new points like any other.
    store.log_batch(run_id, metrics=[Metric("loss", 9.0, 200, 3)])
    assert store.get_metric_history_columns(run_id, "loss").steps == [0, 1, 1, 2, 3]
    assert store.get_run(run_id).data.metrics["loss"] == 9.0


def test_0003_downgrades_back_to_one_row_per_point(engine: sa.Engine) -> None:
    run_id = _seed_0002(engine)
    _migrate(engine, "0003")
    store = SqlTrackingStore(engine, ROOT)
    # A point logged twice after the upgrade is one row again after the downgrade.
    store.log_batch(run_id, metrics=[Metric("acc", 1.0, 8, 9), Metric("acc", 1.0, 8, 9)])
    _migrate(engine, "0002", down=True)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT s.key, m.step, m.timestamp, m.value, m.is_nan FROM metrics m "
                "JOIN metric_series s ON s.series_id = m.series_id "
                "ORDER BY s.key, m.step, m.timestamp, m.value"
            )
        ).all()
    got = [(k, s, t, v, bool(n)) for k, s, t, v, n in rows]
    expected = sorted(
        [(k, *p) for k, points in OLD_POINTS.items() for p in points] + [("acc", 9, 8, 1.0, False)],
        key=lambda r: (r[0], r[1], r[2], r[3]),
    )
    assert got == expected


def _shape(engine: sa.Engine) -> dict[str, object]:
    """Everything the inspector reports of each table, normalised for comparison."""
    out: dict[str, object] = {}
    with engine.connect() as conn:
        inspector = sa.inspect(conn)
        for table in sorted(inspector.get_table_names()):
            out[table] = {
                "columns": [
                    (c["name"], type(c["type"]).__name__, c["nullable"])
                    for c in inspector.get_columns(table)
                ],
                "primary_key": inspector.get_pk_constraint(table)["constrained_columns"],
                "foreign_keys": sorted(
                    (tuple(f["constrained_columns"]), f["referred_table"], tuple(f["referred_columns"]))
                    for f in inspector.get_foreign_keys(table)
                ),
                "indexes": sorted(
                    (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                    for i in inspector.get_indexes(table)
                ),
                "unique": sorted(
                    tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)
                ),
            }
    return out


def test_a_new_database_gets_the_schema_the_migrations_build(tmp_path: Path) -> None:
    """A new database is created from the models in one go; an old one is migrated. Both
    must end with the very same tables, columns, keys and indexes."""
    created = create_engine(f"sqlite:///{tmp_path / 'created.db'}")
    migrated = create_engine(f"sqlite:///{tmp_path / 'migrated.db'}")
    try:
        ensure_schema(created, ROOT)  # empty: the one-go path
        _migrate(migrated, "0001")  # not empty: Alembic's path from here
        ensure_schema(migrated, ROOT)
        for engine in (created, migrated):
            with engine.connect() as conn:
                assert current_revision(conn) == HEAD_REVISION
        assert _shape(created) == _shape(migrated)
        store = SqlTrackingStore(created, ROOT)
        assert store.get_experiment("0").name == "Default"
    finally:
        created.dispose()
        migrated.dispose()
