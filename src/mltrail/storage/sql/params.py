"""Params are immutable, for runs and logged models alike: the same value again is fine,
another value is an error naming the old and the new."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from mltrail.errors import InvalidArgument


def insert_once(
    conn: Connection, table: sa.Table, owner: str, owner_id: str, what: str, values: dict[str, str]
) -> None:
    """Insert ``values`` into ``table`` for ``owner`` (its id column) = ``owner_id``."""
    owner_column = table.c[owner]
    existing = dict(
        conn.execute(
            sa.select(table.c.key, table.c.value).where(
                owner_column == owner_id, table.c.key.in_(list(values))
            )
        ).all()
    )
    for key, old in existing.items():
        if old != values[key]:
            raise InvalidArgument(
                f"Changing param values is not allowed. Param with key='{key}' was already "
                f"logged with value='{old}' for {what} ID='{owner_id}'. "
                f"Attempted logging new value '{values[key]}'."
            )
    new = [{owner: owner_id, "key": k, "value": v} for k, v in values.items() if k not in existing]
    if new:
        conn.execute(table.insert(), new)
