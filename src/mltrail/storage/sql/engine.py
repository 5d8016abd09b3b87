"""Engines for the SQL store: SQLite tuned for one writer and many readers, or PostgreSQL.

SQLite runs in WAL mode with a busy timeout, and write transactions begin IMMEDIATE: a
deferred transaction that later needs the write lock can fail at once with "database is
locked", whatever the timeout, when another process writes first.
"""

from __future__ import annotations

import logging
import os
import time
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from mltrail.errors import InvalidArgument, MltrailError, TemporarilyUnavailable
from mltrail.storage.tracking import WouldWait

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 60_000
# Reads map the database file instead of copying each page through SQLite's small page
# cache (2 MB by default): a search that reads tens of thousands of rows spends half its
# time in those copies otherwise. Address space only; the OS page cache holds the pages.
SQLITE_MMAP_BYTES = 1 << 30
WRITE = {"mltrail_write": True}
# Set by ``no_wait``: the next write transaction in this context refuses to wait for the lock.
_NO_WAIT: ContextVar[bool] = ContextVar("mltrail_sqlite_no_wait", default=False)

_SCHEMES = ("sqlite", "postgresql", "postgres", "mysql", "mssql")


def is_sql_uri(uri: str) -> bool:
    scheme = uri.split(":", 1)[0].split("+", 1)[0].lower()
    return scheme in _SCHEMES


def _normalise_url(uri: str) -> str:
    if uri.startswith("postgres://"):
        uri = "postgresql://" + uri[len("postgres://") :]
    if uri.startswith("postgresql://"):
        # psycopg 3 is the driver we ship; SQLAlchemy would otherwise look for psycopg2.
        uri = "postgresql+psycopg://" + uri[len("postgresql://") :]
    return uri


def sqlite_path(uri: str) -> str | None:
    """The file behind a ``sqlite:///`` URI, or None for an in-memory database."""
    url = sa.make_url(uri)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return os.path.abspath(url.database)


def create_engine(uri: str) -> Engine:
    """An engine for ``uri``; opens no connection."""
    url_text = _normalise_url(uri)
    try:
        url = sa.make_url(url_text)
    except sa.exc.ArgumentError as exc:
        raise InvalidArgument(f"Invalid database URI {uri!r}: {exc}") from exc
    backend = url.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(url)
    try:
        return sa.create_engine(url, pool_pre_ping=True, future=True)
    except ModuleNotFoundError as exc:
        raise InvalidArgument(
            f"The driver for {backend} is not installed ({exc.name}); "
            "for PostgreSQL: pip install 'mltrail[postgres]'"
        ) from exc


def _sqlite_engine(url: sa.URL) -> Engine:
    path = url.database
    if path and path != ":memory:":
        directory = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(directory):
            raise InvalidArgument(
                f"Cannot open the SQLite store {path!r}: directory {directory!r} does not exist"
            )
    engine = sa.create_engine(
        url,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        future=True,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        _use_wal(cursor)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA case_sensitive_like=ON")
        cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Straight to the driver: this runs for every transaction. (A write waits here for
        # the lock, up to the busy timeout; driver_cursor turns "locked" into SQLAlchemy's
        # OperationalError, which the store retries.)
        write = conn.get_execution_options().get("mltrail_write")
        with driver_cursor(conn) as cursor:
            if write and _NO_WAIT.get():
                _NO_WAIT.set(False)  # one write only: see no_wait
                _begin_without_waiting(cursor, conn.dialect.loaded_dbapi)
            else:
                cursor.execute("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


@contextmanager
def no_wait() -> Iterator[None]:
    """Inside, the first SQLite write transaction to begin raises ``WouldWait`` if another
    connection holds the write lock, instead of waiting for it; it has changed nothing then.
    Only the first: a caller that went ahead with it must not have a second write refused
    after the first committed."""
    token = _NO_WAIT.set(True)
    try:
        yield
    finally:
        _NO_WAIT.reset(token)


def _use_wal(cursor: Any) -> None:
    """Put the file in WAL mode (it stays so: only a new file needs it). Switching needs the
    file to itself, and SQLite answers "locked" at once, without waiting, when processes
    open a new file together; the switch is then tried again until the busy timeout."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if not is_lock_error(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _begin_without_waiting(cursor: Any, dbapi: Any) -> None:
    cursor.execute("PRAGMA busy_timeout=0")
    try:
        cursor.execute("BEGIN IMMEDIATE")
    except dbapi.OperationalError as exc:
        if is_lock_error(exc):
            raise WouldWait from exc
        raise
    finally:
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")


@contextmanager
def translated_errors(database: str) -> Iterator[None]:
    """SQL errors as mltrail's, at a store's boundary, so that no SQL text reaches a caller:
    an integrity error is ``InvalidArgument``, a lock held past the busy timeout is
    ``TemporarilyUnavailable``, any other driver error a ``MltrailError`` naming ``database``
    (the details go to the log)."""
    try:
        yield
    except MltrailError:
        raise
    except sa.exc.IntegrityError as exc:
        log.debug("integrity error", exc_info=True)
        raise InvalidArgument(
            "The write conflicts with data already stored (a duplicate or missing key)"
        ) from exc
    except sa.exc.OperationalError as exc:
        if is_lock_error(exc.orig):
            raise TemporarilyUnavailable("The database is busy; try again") from exc
        log.warning("database error", exc_info=True)
        raise MltrailError(f"The {database} failed; see the server log") from exc
    except sa.exc.DBAPIError as exc:
        log.warning("database error", exc_info=True)
        raise MltrailError(f"The {database} failed; see the server log") from exc


def is_lock_error(exc: object) -> bool:
    """Whether a driver error says another connection holds the database ("database is
    locked", SQLITE_BUSY), as opposed to a real failure."""
    text = str(exc).lower()
    return "locked" in text or "busy" in text


@contextmanager
def driver_cursor(conn: Connection) -> Iterator[Any]:
    """A cursor of the driver's connection, in the transaction ``conn`` has begun; its errors
    come out as SQLAlchemy's, as the store's error handling expects."""
    dbapi = conn.dialect.loaded_dbapi
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        yield cursor
    except dbapi.Error as exc:
        raise sa.exc.DBAPIError.instance(None, None, exc, dbapi.Error) from exc
    finally:
        cursor.close()


# With checkpoints in the background, a write still checkpoints by itself once the WAL holds
# this many pages (about 40 MB): a bound on the WAL should the background thread fall behind.
BACKGROUND_AUTOCHECKPOINT_PAGES = 10_000
CHECKPOINT_INTERVAL_S = 0.5


def checkpoint_in_background(engine: Engine) -> WalCheckpoints | None:
    """Move the WAL's checkpoints off ``engine``'s writes, to a thread: started, or None
    for a database that is no SQLite file.

    By default the write that takes SQLite's WAL past 1,000 pages copies them all back into
    the database file, with two fsyncs, before it returns: tens of milliseconds, paid by
    one request in a few hundred, and by the server's event loop when the write runs there.
    """
    path = engine.url.database
    if engine.dialect.name != "sqlite" or not path or path == ":memory:":
        return None

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute(f"PRAGMA wal_autocheckpoint={BACKGROUND_AUTOCHECKPOINT_PAGES}")

    engine.dispose()  # pooled connections open again, with the setting
    checkpoints = WalCheckpoints(os.path.abspath(path), CHECKPOINT_INTERVAL_S)
    checkpoints.start()
    return checkpoints


class WalCheckpoints:
    """A thread that, every ``interval`` seconds, copies the pages new in the WAL back into
    the database file: a PASSIVE checkpoint, which neither waits for nor blocks a reader or
    a writer, on a connection of its own."""

    def __init__(self, path: str, interval: float) -> None:
        self.path = path
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="mltrail-wal-checkpoints", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None)
        try:
            while not self._stop.wait(self.interval):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                except sqlite3.Error:  # another process's checkpoint holds the lock, say
                    log.debug("background checkpoint skipped", exc_info=True)
        finally:
            conn.close()
