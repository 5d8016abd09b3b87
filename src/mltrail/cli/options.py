"""Options and helpers shared by the commands that talk to a tracking store."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from mltrail.entities import ViewType
from mltrail.errors import NotFound
from mltrail.settings import Settings

if TYPE_CHECKING:
    from mltrail.tracking.client import MltrailClient

FC = TypeVar("FC", bound=Callable[..., Any])

VIEW_CHOICES = ["active_only", "deleted_only", "all"]


def tracking_uri_option(command: FC) -> FC:
    option = click.option(
        "--tracking-uri",
        metavar="URI",
        default=None,
        help=(
            "The tracking store, e.g. sqlite:///path/mltrail.db or postgresql://... "
            "[default: MLTRAIL_TRACKING_URI, then MLFLOW_TRACKING_URI, "
            "else ./mltrail.db in the current folder]"
        ),
    )
    return option(command)


def view_option(what: str) -> Callable[[FC], FC]:
    return click.option(
        "--view",
        type=click.Choice(VIEW_CHOICES, case_sensitive=False),
        default="active_only",
        show_default=True,
        help=f"Which {what} to show: active, deleted, or both.",
    )


def view_type(view: str) -> ViewType:
    return ViewType.from_string(view)


def split_ids(text: str | None) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]``, first occurrence kept."""
    if not text:
        return []
    seen: dict[str, None] = {}
    for part in text.split(","):
        if part.strip():
            seen.setdefault(part.strip(), None)
    return list(seen)


def open_client(tracking_uri: str | None, *, create: bool = False) -> MltrailClient:
    """A client for ``--tracking-uri`` or, when not given, the URI the settings name.

    Unless ``create``, a SQLite store whose file does not exist is an error rather than a
    new empty database: running a command in the wrong folder should say so, not show
    nothing and leave a stray ``mltrail.db`` behind.
    """
    # The client's module is the tracking layer's entry; imported where a command needs it.
    from mltrail.tracking.client import MltrailClient

    client = MltrailClient(tracking_uri, settings=Settings.from_env())
    if not create:
        _require_existing_sqlite(client.tracking_uri)
    return client


def _require_existing_sqlite(uri: str) -> None:
    from mltrail.storage.uri import scheme_of

    if scheme_of(uri) != "sqlite":
        return
    # SQLAlchemy parses the URI; it is imported now because the store needs it next anyway.
    from mltrail.storage.sql.engine import sqlite_path

    path = sqlite_path(uri)
    if path is not None and not os.path.exists(path):
        raise NotFound(
            f"No tracking database at {path} ({uri}): nothing has been logged there. "
            "Run this in the folder your script ran in, or pass --tracking-uri "
            "(or set MLTRAIL_TRACKING_URI) to the store you logged to."
        )


def store_line(client: MltrailClient) -> str:
    return f"Store: {client.tracking_uri}"
