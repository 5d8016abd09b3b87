"""``runs/log-batch`` bodies read off the JSON (``server/batch_parsing.py``): plain points go
as columns per key, anything else point by point, with the same values either way."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from mltrail.entities import Metric, MetricColumns
from mltrail.errors import InvalidArgument
from mltrail.server.batch_parsing import parse_log_batch


def _points(order: list[tuple[str, int]]) -> list[dict[str, Any]]:
    return [{"key": k, "value": s / 4, "timestamp": 1000 + s, "step": s} for k, s in order]


def _by_key(points: list[dict[str, Any]]) -> list[tuple[str, list[int], list[int], list[float]]]:
    """The columns expected for ``points``: keys in order of first appearance."""
    out: dict[str, tuple[list[int], list[int], list[float]]] = {}
    for p in points:
        steps, timestamps, values = out.setdefault(p["key"], ([], [], []))
        steps.append(p.get("step", 0))
        timestamps.append(p["timestamp"])
        values.append(p["value"])
    return [(key, *columns) for key, columns in out.items()]


def _columns(metrics: list[Metric] | list[MetricColumns]) -> list[tuple[Any, ...]]:
    assert all(isinstance(m, MetricColumns) for m in metrics)
    return [(c.key, c.steps, c.timestamps, c.values) for c in metrics]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "order",
    [
        [("loss", s) for s in range(5)],  # one key
        [(k, s) for s in range(4) for k in ("a", "b", "c")],  # a step's keys together
        [(k, s) for s in range(3) for k in ("a", "b", "c")][:-1],  # the last step cut short
        [(k, s) for k in ("a", "b") for s in range(4)],  # key after key
    ],
)
def test_plain_points_come_as_columns_per_key(order: list[tuple[str, int]]) -> None:
    points = _points(order)
    run_id, metrics, params, tags = parse_log_batch({"run_id": "r", "metrics": points})
    assert (run_id, params, tags) == ("r", [], [])
    assert _columns(metrics) == _by_key(points)


def test_points_in_any_order_keep_their_order_within_a_key() -> None:
    points = _points([(k, s) for s in range(50) for k in ("a", "b", "c", "d")])
    random.Random(7).shuffle(points)
    _, metrics, _, _ = parse_log_batch({"run_id": "r", "metrics": points})
    assert _columns(metrics) == _by_key(points)


def test_points_without_a_step_are_at_step_zero() -> None:
    points = [
        {"key": "m", "value": 0.5, "timestamp": 7},
        {"key": "m", "value": 1.5, "timestamp": 8},
    ]
    _, metrics, _, _ = parse_log_batch({"run_id": "r", "metrics": points})
    assert _columns(metrics) == [("m", [0, 0], [7, 8], [0.5, 1.5])]


@pytest.mark.parametrize(
    ("odd", "expected"),
    [
        ({"key": "m", "value": 2, "timestamp": 5, "step": 1}, Metric("m", 2.0, 5, 1)),
        ({"key": "m", "value": "NaN", "timestamp": 5, "step": 1}, Metric("m", math.nan, 5, 1)),
        ({"key": "m", "value": 1.0, "timestamp": 5}, Metric("m", 1.0, 5, 0)),  # no step
        (
            {"key": "m", "value": 1.0, "timestamp": 5, "step": 1, "model_id": "m-1"},
            Metric("m", 1.0, 5, 1, model_id="m-1"),
        ),
    ],
)
def test_a_batch_with_one_point_out_of_the_plain_shape_goes_point_by_point(
    odd: dict[str, Any], expected: Metric
) -> None:
    plain = {"key": "m", "value": 0.5, "timestamp": 4, "step": 0}
    _, metrics, _, _ = parse_log_batch({"run_id": "r", "metrics": [plain, odd]})
    assert metrics[0] == Metric("m", 0.5, 4, 0)
    got = metrics[1]
    assert isinstance(got, Metric)
    if math.isnan(expected.value):
        assert math.isnan(got.value) and (got.key, got.timestamp, got.step) == ("m", 5, 1)
    else:
        assert got == expected


def test_an_empty_batch_has_no_metrics() -> None:
    assert parse_log_batch({"run_id": "r"})[1] == []
    assert parse_log_batch({"run_id": "r", "metrics": []})[1] == []


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ("not a point", "metrics[1]"),
        ({"key": "m", "value": 1.0}, "metrics[1].timestamp"),
        ({"key": "m", "value": True, "timestamp": 1, "step": 0}, "metrics[1].value"),
        ({"key": "m", "value": 1.0, "timestamp": 1, "step": 1.5}, "metrics[1].step"),
    ],
)
def test_a_bad_point_is_named(item: Any, field: str) -> None:
    plain = {"key": "m", "value": 0.5, "timestamp": 4, "step": 0}
    with pytest.raises(InvalidArgument, match=field.replace("[", r"\[").replace("]", r"\]")):
        parse_log_batch({"run_id": "r", "metrics": [plain, item]})
