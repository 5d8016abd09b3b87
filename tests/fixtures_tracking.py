"""pytest plugin: the fluent API and the client on a fresh SQLite store for each test.

``tracking_uri`` is ``sqlite:///<tmp_path>/t.db``; its artifacts go to ``<tmp_path>/mlartifacts``.
``session`` binds a new fluent ``Session`` on that store for the test (the ContextVar is reset
afterwards) and ends any run the test left active. ``client`` is an ``MltrailClient`` on the
same store. Neither reads nor writes ``os.environ``. ``clean_env`` removes every ``MLTRAIL_*``
and ``MLFLOW_*`` variable, for tests that set some of their own and read them with
``Settings.from_env()``.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from mltrail import MltrailClient
from mltrail.errors import MltrailError
from mltrail.settings import Settings
from mltrail.storage.sql.engine import create_engine
from mltrail.storage.sql.migrate import ensure_schema
from mltrail.storage.sql.store import SqlTrackingStore
from mltrail.storage.uri import close_all
from mltrail.tracking.fluent import Session, use_session


def close_session(session: Session) -> None:
    """End the runs a test left active and stop the session's background batchers."""
    try:
        session.end_all_runs()
    except MltrailError:
        pass  # a test that left a failing run behind has already asserted what it wanted
    for client in list(session._clients.values()):
        try:
            client.close()
        except MltrailError:
            pass


ROOT = "file:///artifacts"  # the artifact root of the SQL stores below (never written to)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database: a SQLite file, then a database on the real PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    url: str = request.getfixturevalue("postgres_db_url")
    return url


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    """An engine on ``database_url``, schema not created."""
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def store(database_url: str) -> Iterator[SqlTrackingStore]:
    """The SQL store on ``database_url``, its schema created."""
    engine = create_engine(database_url)
    ensure_schema(engine, ROOT)
    store = SqlTrackingStore(engine, ROOT)
    yield store
    store.close()


@pytest.fixture
def tracking_uri(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 't.db'}"


@pytest.fixture
def session(tracking_uri: str) -> Iterator[Session]:
    with use_session(Session(Settings(tracking_uri=tracking_uri))) as bound:
        try:
            yield bound
        finally:
            close_session(bound)
    close_all()


@pytest.fixture
def client(tracking_uri: str) -> Iterator[MltrailClient]:
    tracker = MltrailClient(tracking_uri, settings=Settings(tracking_uri=tracking_uri))
    try:
        yield tracker
    finally:
        try:
            tracker.close()
        except MltrailError:
            pass
        close_all()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith(("MLTRAIL_", "MLFLOW_")):
            monkeypatch.delenv(name)
    return monkeypatch


def db_path(uri: str) -> str:
    assert uri.startswith("sqlite:///"), uri
    return uri[len("sqlite:///") :]


def count_points(uri: str, run_id: str | None = None) -> int:
    """Metric points stored (in every chunk), for one run or all, read straight from the file."""
    sql = "SELECT coalesce(sum(n_points), 0) FROM metric_chunks"
    if run_id is None:
        return count_rows(uri, sql)
    sql += " JOIN metric_series s USING (series_id) WHERE s.run_uuid = ?"
    return count_rows(uri, sql, run_id)


def count_rows(uri: str, sql: str, *args: object) -> int:
    """A count read straight from the SQLite file, bypassing mltrail (and its flushing)."""
    with contextlib.closing(sqlite3.connect(db_path(uri))) as conn:
        value = conn.execute(sql, args).fetchone()[0]
    return int(value)
