"""Comparators of the search grammar, as SQL expressions."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from mltrail.errors import InvalidArgument

_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


def string_predicate(
    column: sa.ColumnElement[Any], op: str, value: object
) -> sa.ColumnElement[bool]:
    """``column <op> value`` for the comparators a string or number supports."""
    if op in _BINARY:
        return _BINARY[op](column, value)  # type: ignore[no-any-return]
    if op == "LIKE":
        # SQLite connections set case_sensitive_like, so LIKE is case-sensitive everywhere.
        return column.like(str(value))
    if op == "ILIKE":
        return sa.func.lower(column).like(str(value).lower())
    if op in ("IN", "NOT IN"):
        values = list(value) if isinstance(value, tuple) else [value]
        return column.in_(values) if op == "IN" else column.not_in(values)
    raise InvalidArgument(f"The comparator {op} is not supported here")
