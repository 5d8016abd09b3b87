"""Metric points packed in chunks (``metric_chunks``), one row per series per batch,
replacing one row per point (``metrics``). Existing points move over, one chunk per series.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import math
import sys
from array import array
from collections.abc import Iterable, Iterator, Sequence
from itertools import groupby
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql, sqlite

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_CHUNK = 100_000  # points per chunk when moving existing histories over
_COLUMNS = ("steps", "timestamps", "metric_values")
_TYPECODES = ("q", "q", "d")  # little-endian int64, int64, float64 (as points.py writes)


def upgrade() -> None:
    op.create_table(
        "metric_chunks",
        sa.Column(
            "chunk_id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True
        ),
        sa.Column(
            "series_id", sa.Integer, sa.ForeignKey("metric_series.series_id"), nullable=False
        ),
        sa.Column("n_points", sa.Integer, nullable=False),
        sa.Column("min_step", sa.BigInteger, nullable=False),
        sa.Column("max_step", sa.BigInteger, nullable=False),
        sa.Column("steps", sa.LargeBinary, nullable=False),
        sa.Column("timestamps", sa.LargeBinary, nullable=False),
        sa.Column("metric_values", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_metric_chunks_series", "metric_chunks", ["series_id", "chunk_id"])
    conn = op.get_bind()
    rows = conn.execute(
        sa.text(
            "SELECT series_id, step, timestamp, value, is_nan FROM metrics "
            "ORDER BY series_id, step, timestamp, value"
        )
    )
    chunks = sa.table(
        "metric_chunks",
        *(sa.column(n) for n in ("series_id", "n_points", "min_step", "max_step", *_COLUMNS)),
    )
    for series_id, rows_of_series in groupby(rows, key=lambda row: row[0]):
        for part in _parts(rows_of_series):
            steps = part[0]
            columns: tuple[Sequence[Any], ...] = part
            packed = {n: _pack(c, t) for n, c, t in zip(_COLUMNS, columns, _TYPECODES)}
            conn.execute(
                chunks.insert().values(
                    series_id=series_id,
                    n_points=len(steps),
                    min_step=min(steps),
                    max_step=max(steps),
                    **packed,
                )
            )
    op.drop_table("metrics")


def _parts(rows: Iterable[Any]) -> Iterator[tuple[list[int], list[int], list[float]]]:
    """A series' rows, ``_CHUNK`` at a time, as its steps, timestamps and values."""
    part: tuple[list[int], list[int], list[float]] = ([], [], [])
    for _, step, timestamp, value, is_nan in rows:
        part[0].append(int(step))
        part[1].append(int(timestamp))
        part[2].append(math.nan if is_nan else float(value))
        if len(part[0]) == _CHUNK:
            yield part
            part = ([], [], [])
    if part[0]:
        yield part


def _pack(column: Sequence[Any], typecode: str) -> bytes:
    packed = array(typecode, column)
    if sys.byteorder == "big":
        packed.byteswap()
    return packed.tobytes()


def _unpack(data: bytes, typecode: str) -> array[Any]:
    column = array(typecode)
    column.frombytes(data)
    if sys.byteorder == "big":
        column.byteswap()
    return column


def downgrade() -> None:
    op.create_table(
        "metrics",
        sa.Column(
            "series_id",
            sa.Integer,
            sa.ForeignKey("metric_series.series_id"),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column("step", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("timestamp", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("value", sa.Float(53), primary_key=True),
        sa.Column("is_nan", sa.Boolean, primary_key=True),
        sqlite_with_rowid=False,
    )
    conn = op.get_bind()
    metrics = sa.table(
        "metrics", *(sa.column(n) for n in ("series_id", "step", "timestamp", "value", "is_nan"))
    )
    chunks = conn.execute(
        sa.text(
            "SELECT series_id, steps, timestamps, metric_values FROM metric_chunks "
            "ORDER BY series_id, chunk_id"
        )
    )
    for series_id, *columns in chunks:
        steps, timestamps, values = (_unpack(c, t) for c, t in zip(columns, _TYPECODES))
        points = {
            (step, timestamp, 0.0 if value != value else value, value != value)
            for step, timestamp, value in zip(steps, timestamps, values)
        }
        if points:
            keys = ("step", "timestamp", "value", "is_nan")
            rows = [{"series_id": series_id, **dict(zip(keys, p))} for p in points]
            dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
            conn.execute(dialect.insert(metrics).on_conflict_do_nothing(), rows)
    op.drop_table("metric_chunks")
