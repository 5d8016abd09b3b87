"""The key-value records of a run: metrics, params and tags."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from mltrail.entities import _wire


def json_float(value: float) -> float | str:
    """MLflow's JSON spells NaN and the infinities as strings."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


@dataclasses.dataclass(frozen=True)
class Metric:
    key: str
    value: float
    timestamp: int
    step: int = 0
    dataset_name: str | None = None
    dataset_digest: str | None = None
    model_id: str | None = None
    run_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "key": self.key,
            "value": json_float(self.value),
            "timestamp": self.timestamp,
            "step": self.step,
        }
        for name in ("dataset_name", "dataset_digest", "model_id", "run_id"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Metric:
        """Parse the REST shape: ``value`` may be ``"NaN"``/``"Infinity"``/``"-Infinity"``,
        int64 fields numbers or strings; ``timestamp`` and ``step`` default to 0."""
        data = _wire.mapping(data, "metric")
        value = data.get("value")
        timestamp = data.get("timestamp")
        step = data.get("step")
        return cls(
            key=_wire.text(data, "key"),
            value=0.0 if value is None else _wire.number(value, "value"),
            timestamp=0 if timestamp is None else _wire.integer(timestamp, "timestamp"),
            step=0 if step is None else _wire.integer(step, "step"),
            dataset_name=_wire.optional_text(data, "dataset_name"),
            dataset_digest=_wire.optional_text(data, "dataset_digest"),
            model_id=_wire.optional_text(data, "model_id"),
            run_id=_wire.optional_text(data, "run_id"),
        )


@dataclasses.dataclass(frozen=True)
class MetricColumns:
    """Points of one metric as three parallel columns. Histories run to millions of points and
    batches to thousands: columns cost a fraction of one ``Metric`` per point."""

    key: str
    steps: list[int]
    timestamps: list[int]
    values: list[float]

    def __len__(self) -> int:
        return len(self.steps)

    def metrics(self, run_id: str | None = None) -> list[Metric]:
        key = self.key
        return [
            Metric(key, value, timestamp, step, run_id=run_id)
            for step, timestamp, value in zip(self.steps, self.timestamps, self.values)
        ]


@dataclasses.dataclass(frozen=True)
class MetricHistory(MetricColumns):
    """A page of one metric's history, in history order (step, then timestamp, then value);
    the server writes its get-history JSON straight from the columns."""

    token: str | None = None  # the next page's, if there is one


@dataclasses.dataclass(frozen=True)
class Param:
    key: str
    value: str

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "value": self.value}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Param:
        """Parse the REST shape; a missing value is ``""``."""
        return cls(_wire.text(data, "key"), _wire.text(data, "value"))


@dataclasses.dataclass(frozen=True)
class RunTag:
    key: str
    value: str

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "value": self.value}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunTag:
        """Parse the REST shape; a missing value is ``""``."""
        return cls(_wire.text(data, "key"), _wire.text(data, "value"))
