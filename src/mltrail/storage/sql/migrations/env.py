"""Alembic's entry point. Migrations run on a connection that ``migrate.upgrade`` hands in,
inside its lock, never from a config file, and never touching the logging setup."""

from alembic import context

from mltrail.storage.sql.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("mltrail migrations run through `mltrail db upgrade`, not alembic's CLI")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
