"""Schema migrations: run by ``mltrail db upgrade``, by the server at start, and once,
automatically, when the embedded default store is first opened (``ensure_schema``).

Every process that migrates takes one lock first (SQLite: an IMMEDIATE transaction;
PostgreSQL: an advisory lock), so jobs starting together never race on the schema.
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from mltrail.storage.sql import schema
from mltrail.storage.sql.engine import WRITE, is_lock_error

HEAD_REVISION = "0005"
_LOCK_RETRIES = 6
DEFAULT_EXPERIMENT_ID = 0
DEFAULT_EXPERIMENT_NAME = "Default"
_PG_LOCK_KEY = 0x6D6C7472  # "mltr"


def current_revision(conn: Connection) -> str | None:
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    row = conn.execute(sa.text("SELECT version_num FROM alembic_version")).first()
    return None if row is None else str(row[0])


def _is_ready(conn: Connection) -> bool:
    if current_revision(conn) != HEAD_REVISION:
        return False
    query = sa.select(schema.experiments.c.experiment_id).where(
        schema.experiments.c.experiment_id == DEFAULT_EXPERIMENT_ID
    )
    return conn.execute(query).first() is not None


def ensure_schema(engine: Engine, artifact_root: str) -> None:
    """Bring the database to the current schema unless it is there already (one cheap read).

    Processes that open a new SQLite file together may find it locked while one of them
    creates the schema: they try again, and then find it ready."""
    for attempt in range(_LOCK_RETRIES):
        try:
            with engine.connect() as conn:
                if _is_ready(conn):
                    return
            upgrade(engine, artifact_root)
            return
        except sa.exc.OperationalError as exc:
            if not is_lock_error(exc.orig) or attempt == _LOCK_RETRIES - 1:
                raise
            time.sleep(0.05 * 2**attempt)


def upgrade(engine: Engine, artifact_root: str) -> None:
    """Migrate to the head revision and create the Default experiment, under one lock."""
    with engine.connect().execution_options(**WRITE) as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        if not sa.inspect(conn).get_table_names():
            _create_head_schema(conn)
        elif current_revision(conn) != HEAD_REVISION:
            _migrate_to_head(conn)
        _create_default_experiment(conn, artifact_root)


def _create_head_schema(conn: Connection) -> None:
    """An empty database gets the head schema in one go, stamped with its revision, as
    Alembic's cookbook suggests: the same tables the migrations build step by step
    (``tests/test_migrations.py`` compares the two), in a fraction of the time."""
    schema.metadata.create_all(conn)
    conn.execute(
        sa.text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)")
    )
    conn.execute(sa.text("INSERT INTO alembic_version VALUES (:head)"), {"head": HEAD_REVISION})


def _migrate_to_head(conn: Connection) -> None:
    # Alembic is imported only when a migration runs.
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "mltrail.storage.sql:migrations")
    config.attributes["connection"] = conn
    command.upgrade(config, "head")


def _create_default_experiment(conn: Connection, artifact_root: str) -> None:
    table = schema.experiments
    exists = conn.execute(
        sa.select(table.c.experiment_id).where(table.c.experiment_id == DEFAULT_EXPERIMENT_ID)
    ).first()
    if exists is not None:
        return
    now = int(time.time() * 1000)
    conn.execute(
        table.insert().values(
            experiment_id=DEFAULT_EXPERIMENT_ID,
            name=DEFAULT_EXPERIMENT_NAME,
            artifact_location=f"{artifact_root.rstrip('/')}/{DEFAULT_EXPERIMENT_ID}",
            lifecycle_stage="active",
            creation_time=now,
            last_update_time=now,
        )
    )
