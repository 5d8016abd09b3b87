"""``mltrail db``: schema migrations for a tracking database."""

from __future__ import annotations

import click

from mltrail.cli.output import note
from mltrail.errors import MltrailError
from mltrail.settings import Settings


@click.group()
def db() -> None:
    """Manage the tracking database's schema."""


@db.command("upgrade")
@click.argument("url")
def upgrade(url: str) -> None:
    """Migrate the database at URL to the current schema; print the revision reached.

    Safe to run while clients use the database, and more than once. The Default experiment
    is created if missing, with its files under MLTRAIL_ARTIFACT_ROOT (or mlartifacts/ beside
    a SQLite file).
    """
    # SQLAlchemy and Alembic load only for this command.
    import sqlalchemy as sa
    from alembic.util import CommandError

    from mltrail.storage.sql import migrate
    from mltrail.storage.sql.engine import create_engine
    from mltrail.storage.uri import default_artifact_root

    engine = create_engine(url)
    shown = engine.url.render_as_string(hide_password=True)
    try:
        migrate.upgrade(engine, default_artifact_root(url, Settings.from_env()))
        with engine.connect() as conn:
            revision = migrate.current_revision(conn)
    except sa.exc.SQLAlchemyError as exc:
        detail = getattr(exc, "orig", None) or exc
        raise MltrailError(f"Could not upgrade {shown}: {detail}") from exc
    except CommandError as exc:
        raise MltrailError(f"Could not upgrade {shown}: {exc}") from exc
    finally:
        engine.dispose()
    click.echo(revision)
    note(f"Database {shown} is at revision {revision} (head)")
