"""The chunk format of metric points (``storage/sql/points.py``): packing, ordering, repeats."""

from __future__ import annotations

import math

import pytest

from mltrail.entities import Metric, MetricColumns
from mltrail.errors import InvalidArgument
from mltrail.storage.sql import points


def _chunk(*metrics: Metric) -> tuple[bytes, bytes, bytes]:
    (series,) = points.group(metrics).values()
    _, _, _, steps, timestamps, values = series.pack()
    return steps, timestamps, values


def test_a_history_in_order_comes_back_as_logged() -> None:
    chunks = [_chunk(*(Metric("m", s / 3, 10 + s, s) for s in range(b, b + 4))) for b in (0, 4)]
    steps, timestamps, values = points.history(chunks)
    assert steps == list(range(8))
    assert timestamps == [10 + s for s in range(8)]
    assert values == [s / 3 for s in range(8)]


def test_chunks_out_of_order_are_merged_by_step_timestamp_and_value() -> None:
    late = _chunk(Metric("m", 2.0, 5, 1), Metric("m", 1.0, 5, 1))
    early = _chunk(Metric("m", 9.0, 1, 0), Metric("m", 1.0, 4, 1))
    steps, timestamps, values = points.history([late, early])
    assert list(zip(steps, timestamps, values)) == [(0, 1, 9.0), (1, 4, 1.0), (1, 5, 1.0), (1, 5, 2.0)]


def test_a_point_logged_twice_is_kept_once_nan_included() -> None:
    nan = float("nan")
    first = _chunk(Metric("m", nan, 1, 0), Metric("m", 1.0, 2, 1))
    again = _chunk(Metric("m", nan, 1, 0), Metric("m", 1.0, 2, 1), Metric("m", 0.5, 2, 1))
    steps, timestamps, values = points.history([first, again])
    assert steps == [0, 1, 1]
    assert math.isnan(values[0]) and values[1:] == [0.5, 1.0]


def test_infinities_and_extreme_steps_round_trip() -> None:
    low, high = -(2**63) + 1, 2**63 - 1
    chunk = _chunk(Metric("m", -math.inf, 0, low), Metric("m", math.inf, high, high))
    assert points.history([chunk]) == ([low, high], [0, high], [-math.inf, math.inf])


def test_the_latest_point_ranks_nan_lowest() -> None:
    (series,) = points.group(
        [Metric("m", 5.0, 1, 3), Metric("m", float("nan"), 1, 3), Metric("m", 7.0, 9, 2)]
    ).values()
    assert series.latest() == (3, 1, 5.0)
    (only_nan,) = points.group([Metric("m", float("nan"), 1, 0)]).values()
    assert math.isnan(only_nan.latest()[2])


def test_the_latest_point_is_at_the_highest_step_wherever_it_was_logged() -> None:
    (series,) = points.group(
        [Metric("m", 1.0, 50, 4), Metric("m", 2.0, 99, 9), Metric("m", 3.0, 70, 5)]
    ).values()
    assert series.latest() == (9, 99, 2.0)  # the one point at step 9, though not the last
    (tied,) = points.group(
        [Metric("m", 1.0, 5, 9), Metric("m", 4.0, 7, 9), Metric("m", 3.0, 7, 9)]
    ).values()
    assert tied.latest() == (9, 7, 4.0)  # a tie at the top step: newest, then largest value


@pytest.mark.parametrize(
    ("metric", "message"),
    [
        (Metric("m", "x", 1, 0), "must be a number"),  # type: ignore[arg-type]
        (Metric("m", 1.0, -1, 0), "timestamp"),
        (Metric("m", 1.0, 1, 2**63), "64 bits"),
        (Metric("m", True, 1, 0), "must be a number"),
        (Metric("", 1.0, 1, 0), "metric key"),
    ],
)
def test_grouping_checks_every_point(metric: Metric, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        points.group([Metric("ok", 1.0, 1, 0), metric])


def test_numbers_of_other_types_are_converted() -> None:
    (series,) = points.group([Metric("m", 3, 1, 0)]).values()
    assert series.values == [3.0] and type(series.values[0]) is float


def test_columns_are_grouped_by_key_across_columns() -> None:
    groups = points.from_columns(
        [
            MetricColumns("a", [0, 1], [5, 6], [0.5, 1.5]),
            MetricColumns("b", [0], [5], [2.0]),
            MetricColumns("a", [2], [7], [math.nan]),
        ]
    )
    assert list(groups) == ["a", "b"]
    assert groups["a"].steps == [0, 1, 2] and groups["a"].timestamps == [5, 6, 7]
    assert groups["a"].values[:2] == [0.5, 1.5] and math.isnan(groups["a"].values[2])


def test_columns_that_fail_the_quick_checks_go_point_by_point() -> None:
    (converted,) = points.from_columns([MetricColumns("m", [0, 1], [5, 6], [1, 2.5])]).values()
    assert converted.values == [1.0, 2.5] and type(converted.values[0]) is float
    for bad, message in [
        (MetricColumns("m", [0], [-1], [1.0]), "timestamp"),
        (MetricColumns("m", [0], [1], ["x"]), "must be a number"),  # type: ignore[list-item]
        (MetricColumns("m/../x", [0], [1], [1.0]), "metric key"),
        (MetricColumns("m", [0, 1], [1], [1.0]), "differ in length"),
    ]:
        with pytest.raises(InvalidArgument, match=message):
            points.from_columns([bad])
