"""The key-value records of a run: metrics, params and tags."""

from __future__ import annotations

import dataclasses
import math
from typing import Any


def _json_float(value: float) -> float | str:
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
            "value": _json_float(self.value),
            "timestamp": self.timestamp,
            "step": self.step,
        }
        for name in ("dataset_name", "dataset_digest", "model_id", "run_id"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out


@dataclasses.dataclass(frozen=True)
class Param:
    key: str
    value: str

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "value": self.value}


@dataclasses.dataclass(frozen=True)
class RunTag:
    key: str
    value: str

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "value": self.value}
