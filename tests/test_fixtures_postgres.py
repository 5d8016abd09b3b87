"""The PostgreSQL fixtures give a real server and a fresh, empty database per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

pytest.importorskip("psycopg", reason="psycopg is missing: pip install 'mltrail[postgres]'")
import psycopg  # noqa: E402  (after the skip: psycopg is the optional 'postgres' extra)

pytestmark = pytest.mark.postgres

# Names of the databases handed out by postgres_db_url in this module, in order.
_handed_out: list[str] = []


@pytest.fixture
def closed_last() -> Iterator[list[psycopg.Connection[tuple[object, ...]]]]:
    """Connections to close only after the test's fixtures are torn down.

    Requested before ``postgres_db_url``, so its teardown runs after the database is dropped.
    """
    connections: list[psycopg.Connection[tuple[object, ...]]] = []
    yield connections
    for conn in connections:
        conn.close()


def _name_and_tables(url: str) -> tuple[str, list[str]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            name = conn.execute(sa.text("SELECT current_database()")).scalar_one()
            tables = sa.inspect(conn).get_table_names()
        return str(name), tables
    finally:
        engine.dispose()


def test_server_is_a_real_postgresql_15(postgres_url: str) -> None:
    assert postgres_url.startswith("postgresql+psycopg://postgres@127.0.0.1:")
    engine = sa.create_engine(postgres_url)
    try:
        assert engine.dialect.driver == "psycopg"
        with engine.connect() as conn:
            version = conn.execute(sa.text("SELECT version()")).scalar_one()
    finally:
        engine.dispose()
    assert "PostgreSQL 15" in version


@pytest.mark.parametrize("case", ["first", "second"])
def test_each_use_gets_a_different_empty_database(
    closed_last: list[psycopg.Connection[tuple[object, ...]]], postgres_db_url: str, case: str
) -> None:
    name, tables = _name_and_tables(postgres_db_url)
    assert name.startswith("t_")
    assert name not in _handed_out
    assert tables == []
    _handed_out.append(name)
    # Leave a table and an open connection behind: the next use must still start empty, and
    # the drop (WITH FORCE) must not be blocked by the connection.
    conn = psycopg.connect(postgres_db_url.replace("+psycopg", ""), autocommit=True)
    closed_last.append(conn)
    conn.execute("CREATE TABLE leftover (id integer PRIMARY KEY)")


def test_databases_are_dropped_after_use(postgres_url: str) -> None:
    if len(_handed_out) < 2:
        pytest.skip("checks the databases of the tests above; run them first")
    engine = sa.create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT datname FROM pg_database WHERE datname = ANY(:names)"),
                {"names": _handed_out},
            ).all()
    finally:
        engine.dispose()
    assert rows == []
