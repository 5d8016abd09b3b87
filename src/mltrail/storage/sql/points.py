"""Metric points packed in chunks: one row per series per batch, not one row per point.

A batch of 1,000 points over 10 keys becomes 10 rows of ``metric_chunks``, each holding its
points as three little-endian arrays (steps and timestamps as int64, values as float64),
so NaN and the infinities are stored as they are. Writing costs a few rows a batch whatever
its size, and reading a history of 200,000 points reads a few hundred rows.

A history is the concatenation of its chunks, ordered by step, timestamp and value, with a
point logged twice (the same step, timestamp and value) kept once, as MLflow does.
"""

from __future__ import annotations

import itertools
import math
import operator
import sys
from array import array
from collections.abc import Iterable, Sequence

from mltrail.entities import Metric, MetricColumns
from mltrail.entities.validation import MAX_INT64, known_keys, validate_metric
from mltrail.errors import InvalidArgument

Point = tuple[int, int, float]  # step, timestamp, value


class Series:
    """The points of one key in one batch, in the order they were logged."""

    __slots__ = ("steps", "timestamps", "values")

    def __init__(self) -> None:
        self.steps: list[int] = []
        self.timestamps: list[int] = []
        self.values: list[float] = []

    def latest(self) -> Point:
        """The point search reads as the series' value: highest step, then newest timestamp,
        then largest value, NaN counting as the smallest."""
        steps = self.steps
        top = max(steps)
        if steps.count(top) == 1:  # one point at the highest step, as in a training loop
            index = steps.index(top)
            return top, self.timestamps[index], self.values[index]
        values: Sequence[float] = self.values
        if any(map(math.isnan, values)):
            values = [-math.inf if v != v else v for v in values]
        *_, index = max(zip(self.steps, self.timestamps, values, range(len(values))))
        return self.steps[index], self.timestamps[index], self.values[index]

    def pack(self) -> tuple[int, int, int, bytes, bytes, bytes]:
        """The chunk row's columns: count, lowest and highest step, and the three arrays."""
        return (
            len(self.steps),
            min(self.steps),
            max(self.steps),
            _to_bytes(array("q", self.steps)),
            _to_bytes(array("q", self.timestamps)),
            _to_bytes(array("d", self.values)),
        )


_KNOWN_KEYS = known_keys()


def group(metrics: Iterable[Metric]) -> dict[str, Series]:
    """Check every metric and group the points by key; raises before anything is written."""
    groups: dict[str, Series] = {}
    for metric in metrics:
        key, value, timestamp, step = metric.key, metric.value, metric.timestamp, metric.step
        if not (
            type(value) is float
            and type(timestamp) is int
            and type(step) is int
            and 0 <= timestamp <= MAX_INT64
            and -MAX_INT64 <= step <= MAX_INT64
            and type(key) is str
            and key in _KNOWN_KEYS
        ):
            # The common case, already checked by our client, skips the general validation.
            key, value, timestamp, step = validate_metric(key, value, timestamp, step)
        series = groups.get(key)
        if series is None:
            series = groups[key] = Series()
        series.steps.append(step)
        series.timestamps.append(timestamp)
        series.values.append(value)
    return groups


def from_columns(columns: Iterable[MetricColumns]) -> dict[str, Series]:
    """Check points given as columns and group them by key, as ``group`` does for entities.

    The checks run a column at a time, in C (the types present, the lowest and highest
    numbers); a column that fails them goes through ``group`` point by point, which names the
    bad point or converts what it may (an integer value, say).
    """
    groups: dict[str, Series] = {}
    for column in columns:
        key, steps, timestamps, values = column.key, column.steps, column.timestamps, column.values
        if not (len(steps) == len(timestamps) == len(values)):
            raise InvalidArgument(
                f"Metric '{key}': its steps, timestamps and values differ in length"
            )
        if not steps:
            continue
        if not (
            type(key) is str
            and key in _KNOWN_KEYS
            and set(map(type, values)) == _FLOAT
            and set(map(type, steps)) == _INT
            and set(map(type, timestamps)) == _INT
            and 0 <= min(timestamps)
            and max(timestamps) <= MAX_INT64
            and -MAX_INT64 <= min(steps)
            and max(steps) <= MAX_INT64
        ):
            ((key, checked),) = group(column.metrics()).items()
            steps, timestamps, values = checked.steps, checked.timestamps, checked.values
        series = groups.get(key)
        if series is None:
            series = groups[key] = Series()
        series.steps.extend(steps)
        series.timestamps.extend(timestamps)
        series.values.extend(values)
    return groups


_FLOAT, _INT = {float}, {int}

Columns = tuple[list[int], list[int], list[float]]  # steps, timestamps, values


def history(chunks: Iterable[tuple[bytes, bytes, bytes]]) -> Columns:
    """The points of a series' chunks, ordered by step, timestamp and value, each once."""
    step_array, timestamp_array, value_array = array("q"), array("q"), array("d")
    for step_bytes, timestamp_bytes, value_bytes in chunks:
        step_array.frombytes(step_bytes)
        timestamp_array.frombytes(timestamp_bytes)
        value_array.frombytes(value_bytes)
    if _BIG_ENDIAN:
        for column in (step_array, timestamp_array, value_array):
            column.byteswap()
    steps, timestamps, values = step_array.tolist(), timestamp_array.tolist(), value_array.tolist()
    if _strictly_increasing(steps):
        # The usual history, one point a step, logged in order: nothing to sort or merge.
        return steps, timestamps, values
    points = list(zip(steps, timestamps, values))
    if any(map(math.isnan, values)):
        # NaN compares unequal to itself: one shared NaN object lets a repeated NaN point be
        # found equal, and it sorts as 0, as it always has.
        nan = math.nan
        points = [(s, t, nan) if v != v else (s, t, v) for s, t, v in points]
        points.sort(key=_nan_as_zero)
    else:
        points.sort()  # linear when the chunks are in order already, as they nearly always are
    # A point logged twice is kept once; dict keeps the first occurrence's position.
    if _has_repeats(points):
        points = list(dict.fromkeys(points))
    if not points:
        return [], [], []
    steps_out, timestamps_out, values_out = map(list, zip(*points))
    return steps_out, timestamps_out, values_out


def value_range(
    value_bytes: bytes, bounds: tuple[float, float] | None
) -> tuple[float, float] | None:
    """``bounds`` widened by the values of one chunk's packed array, NaN ignored (the
    infinities count); ``None`` while no value but NaN has been seen."""
    values = array("d")
    values.frombytes(value_bytes)
    if _BIG_ENDIAN:
        values.byteswap()
    kept: Sequence[float] = values
    if any(map(math.isnan, values)):
        kept = [v for v in values if v == v]
    if not kept:
        return bounds
    low, high = min(kept), max(kept)
    if bounds is not None:
        low, high = min(low, bounds[0]), max(high, bounds[1])
    return low, high


def _strictly_increasing(steps: list[int]) -> bool:
    # One pass in C over neighbouring pairs (a set of a million steps costs twice as much).
    return all(map(operator.lt, steps, itertools.islice(steps, 1, None)))


def _nan_as_zero(point: Point) -> tuple[int, int, float]:
    step, timestamp, value = point
    return step, timestamp, 0.0 if value != value else value


def _has_repeats(points: list[Point]) -> bool:
    """Whether two neighbours of the sorted ``points`` are equal."""
    return any(a == b for a, b in zip(points, points[1:]))


_BIG_ENDIAN = sys.byteorder == "big"


def _to_bytes(column: array[int] | array[float]) -> bytes:
    if _BIG_ENDIAN:
        column.byteswap()
    return column.tobytes()
