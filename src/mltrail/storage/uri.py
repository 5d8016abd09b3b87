"""Tracking URIs to stores: one registry keyed by scheme, open to plugins.

Built-in: ``sqlite:``, ``postgresql:`` (and ``postgres:``, ``postgresql+psycopg:``) open the
SQL store in process; ``http:`` and ``https:`` open the REST store of a tracking server.
Plugins register a factory under the entry-point group ``mltrail.tracking_store``, named by
scheme. Stores are cached per URI for the process, so every client of one URI shares one
engine and its connection pool.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

from mltrail.errors import InvalidArgument
from mltrail.settings import Settings
from mltrail.storage.tracking import TrackingStore

StoreFactory = Callable[[str, Settings], TrackingStore]

_factories: dict[str, StoreFactory] = {}
_stores: dict[tuple[object, ...], TrackingStore] = {}
_lock = threading.Lock()


def register_tracking_store(scheme: str, factory: StoreFactory) -> None:
    _factories[scheme] = factory


def scheme_of(uri: str) -> str:
    if "://" not in uri and ":" not in uri:
        return ""
    return uri.split(":", 1)[0].split("+", 1)[0].lower()


def local_uri(path: str | os.PathLike[str]) -> str:
    """A ``file://`` URI for a local path, made absolute."""
    return Path(path).absolute().as_uri()


def default_artifact_root(tracking_uri: str, settings: Settings) -> str:
    """Where runs' files go when no artifact location is given.

    ``MLTRAIL_ARTIFACT_ROOT`` when set; for a SQLite store, ``mlartifacts/`` beside the
    database file; otherwise ``./mlartifacts`` in the working directory.
    """
    if settings.artifact_root:
        root = settings.artifact_root
        return root if "://" in root or root.startswith("mlflow-artifacts:") else local_uri(root)
    from mltrail.storage.sql.engine import sqlite_path

    db_file = sqlite_path(tracking_uri) if scheme_of(tracking_uri) == "sqlite" else None
    base = Path(db_file).parent if db_file else Path.cwd()
    return local_uri(base / "mlartifacts")


def _sql_store(uri: str, settings: Settings) -> TrackingStore:
    # SQLAlchemy is imported only when a SQL store is opened.
    from mltrail.storage.sql.engine import create_engine
    from mltrail.storage.sql.migrate import ensure_schema
    from mltrail.storage.sql.store import SqlTrackingStore

    root = default_artifact_root(uri, settings)
    engine = create_engine(uri)
    ensure_schema(engine, root)
    return SqlTrackingStore(engine, root, truncate_long_values=settings.truncate_long_values)


for _scheme in ("sqlite", "postgresql", "postgres"):
    register_tracking_store(_scheme, _sql_store)


def _rest_store(uri: str, settings: Settings) -> TrackingStore:
    # httpx is imported only when a REST store is opened.
    from mltrail.storage.rest import RestStore

    return RestStore(uri, settings)


for _scheme in ("http", "https"):
    register_tracking_store(_scheme, _rest_store)


def _connection_key(uri: str, settings: Settings) -> tuple[object, ...]:
    """For a server URI, the settings that change how it is reached (credentials, TLS,
    retries): two clients that differ in them must not share one store."""
    if scheme_of(uri) not in ("http", "https"):
        return ()
    from mltrail.storage.http_session import connection_key

    return connection_key(settings)


def _plugin_factory(scheme: str) -> StoreFactory | None:
    # importlib.metadata scans installed distributions: only worth it on a miss.
    from importlib.metadata import entry_points

    for entry in entry_points(group="mltrail.tracking_store"):
        if entry.name == scheme:
            factory: StoreFactory = entry.load()
            register_tracking_store(scheme, factory)
            return factory
    return None


def open_tracking_store(uri: str, settings: Settings) -> TrackingStore:
    """The store for ``uri``, shared across the process."""
    key: tuple[object, ...] = (uri, settings.artifact_root, settings.truncate_long_values)
    key += _connection_key(uri, settings)
    with _lock:
        store = _stores.get(key)
        if store is None:
            store = _stores[key] = _create(uri, settings)
        return store


def _create(uri: str, settings: Settings) -> TrackingStore:
    scheme = scheme_of(uri)
    factory = _factories.get(scheme) or _plugin_factory(scheme)
    if factory is None:
        if scheme in ("", "file"):
            raise InvalidArgument(
                f"Tracking URI {uri!r} names a folder; mltrail keeps runs in a database. "
                f"Use sqlite:///{Path(uri.removeprefix('file://')).as_posix().rstrip('/')}.db"
                " or leave the tracking URI unset for ./mltrail.db"
            )
        known = ", ".join(sorted(_factories))
        raise InvalidArgument(f"Unsupported tracking URI scheme {scheme!r} in {uri!r}: use {known}")
    return factory(uri, settings)


def close_all() -> None:
    """Dispose of every cached store (tests, and processes that fork)."""
    with _lock:
        for store in _stores.values():
            store.close()
        _stores.clear()
