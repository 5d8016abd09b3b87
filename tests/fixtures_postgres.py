"""A throwaway PostgreSQL 15 server for the storage tests (a pytest plugin).

``postgres_url`` (session) starts a private cluster on a free 127.0.0.1 port with trust auth and
yields ``postgresql+psycopg://postgres@127.0.0.1:<port>/mltrail_test``. ``postgres_db_url``
(function) creates an empty database on it for one test and drops it afterwards.

PostgreSQL refuses to run as root, so as root the server binaries run as the ``postgres`` system
user, in a directory from ``tempfile.mkdtemp()`` chowned to it (pytest's own tmp dirs are mode
0700 and closed to that user). Tests using these fixtures are skipped when the server binaries,
the ``postgres`` user or psycopg (the ``mltrail[postgres]`` extra) are missing.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from typing_extensions import LiteralString

PG_BIN = "/usr/lib/postgresql/15/bin"
SESSION_DB = "mltrail_test"
_COMMAND_TIMEOUT = 120.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _as_postgres(*command: str) -> None:
    prefix = ["runuser", "-u", "postgres", "--"] if _is_root() else []
    done = subprocess.run(
        [*prefix, *command],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=_COMMAND_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed with exit status {done.returncode}:\n"
            f"{done.stdout}{done.stderr}"
        )


def _admin(server: str, statement: LiteralString, database: str) -> None:
    """Run ``statement`` (``{}`` is the quoted database name) on the maintenance database.

    Autocommit, because CREATE/DROP DATABASE cannot run inside a transaction.
    """
    # psycopg is the optional 'postgres' extra: imported here so the plugin loads without it.
    psycopg = pytest.importorskip("psycopg")
    from psycopg import sql

    conninfo = f"{server}/postgres".replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL(statement).format(sql.Identifier(database)))


def _server(port: int) -> str:
    return f"postgresql+psycopg://postgres@127.0.0.1:{port}"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A SQLAlchemy URL of an empty database on a private PostgreSQL 15 server."""
    pg_ctl = os.path.join(PG_BIN, "pg_ctl")
    if not os.path.exists(pg_ctl):
        pytest.skip(f"PostgreSQL server not installed: {pg_ctl} is missing")
    pytest.importorskip("psycopg", reason="psycopg is missing: pip install 'mltrail[postgres]'")
    base = tempfile.mkdtemp(prefix="mltrail-pg-")
    try:
        if _is_root():
            try:
                shutil.chown(base, "postgres", "postgres")
            except LookupError:
                pytest.skip("PostgreSQL server not usable: no 'postgres' system user")
        data = os.path.join(base, "data")
        log = os.path.join(base, "server.log")
        port = _free_port()
        _as_postgres(
            os.path.join(PG_BIN, "initdb"),
            *("-D", data, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"),
        )
        # -k: the Unix socket goes in our directory, not /var/run; -F: no fsync.
        options = f"-p {port} -h 127.0.0.1 -k {base} -F"
        try:
            _as_postgres(pg_ctl, "-D", data, "-l", log, "-w", "-o", options, "start")
        except RuntimeError as exc:
            with open(log, encoding="utf-8", errors="replace") as handle:
                raise RuntimeError(f"{exc}\nserver log:\n{handle.read()}") from exc
        try:
            _admin(_server(port), "CREATE DATABASE {}", SESSION_DB)
            yield f"{_server(port)}/{SESSION_DB}"
        finally:
            _as_postgres(pg_ctl, "-D", data, "-m", "immediate", "-w", "stop")
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def postgres_db_url(postgres_url: str) -> Iterator[str]:
    """A URL of a new, empty database for this test only, dropped afterwards."""
    server, _, _ = postgres_url.rpartition("/")
    name = f"t_{uuid.uuid4().hex}"
    _admin(server, "CREATE DATABASE {}", name)
    try:
        yield f"{server}/{name}"
    finally:
        # FORCE ends connections the test left open (a pooled engine not disposed).
        _admin(server, "DROP DATABASE IF EXISTS {} WITH (FORCE)", name)
