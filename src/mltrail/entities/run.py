"""Runs: their info, their data (latest metrics, params, tags) and their inputs."""

from __future__ import annotations

import dataclasses
from typing import Any

from mltrail.entities.dataset import DatasetInput
from mltrail.entities.lifecycle import LifecycleStage
from mltrail.entities.metric import Metric, Param, RunTag, _json_float


@dataclasses.dataclass(frozen=True)
class RunInfo:
    run_id: str
    experiment_id: str
    run_name: str
    user_id: str
    status: str
    start_time: int | None
    end_time: int | None
    artifact_uri: str
    lifecycle_stage: str = LifecycleStage.ACTIVE

    @property
    def run_uuid(self) -> str:
        """MLflow's older name for ``run_id``."""
        return self.run_id

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "run_id": self.run_id,
            "run_uuid": self.run_id,
            "run_name": self.run_name,
            "experiment_id": self.experiment_id,
            "user_id": self.user_id,
            "status": self.status,
            "artifact_uri": self.artifact_uri,
            "lifecycle_stage": self.lifecycle_stage,
        }
        if self.start_time is not None:
            out["start_time"] = self.start_time
        if self.end_time is not None:
            out["end_time"] = self.end_time
        return out


@dataclasses.dataclass(frozen=True)
class RunData:
    """What a run recorded: ``metrics`` maps each key to its latest value."""

    metrics: dict[str, float] = dataclasses.field(default_factory=dict)
    params: dict[str, str] = dataclasses.field(default_factory=dict)
    tags: dict[str, str] = dataclasses.field(default_factory=dict)
    metric_objs: tuple[Metric, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.metric_objs:
            out["metrics"] = [m.to_dict() for m in self.metric_objs]
        elif self.metrics:
            out["metrics"] = [
                {"key": k, "value": _json_float(v)} for k, v in self.metrics.items()
            ]
        if self.params:
            out["params"] = [Param(k, v).to_dict() for k, v in self.params.items()]
        if self.tags:
            out["tags"] = [RunTag(k, v).to_dict() for k, v in self.tags.items()]
        return out


@dataclasses.dataclass(frozen=True)
class RunInputs:
    dataset_inputs: tuple[DatasetInput, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        if not self.dataset_inputs:
            return {}
        return {"dataset_inputs": [d.to_dict() for d in self.dataset_inputs]}


@dataclasses.dataclass(frozen=True)
class Run:
    info: RunInfo
    data: RunData = dataclasses.field(default_factory=RunData)
    inputs: RunInputs = dataclasses.field(default_factory=RunInputs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "info": self.info.to_dict(),
            "data": self.data.to_dict(),
            "inputs": self.inputs.to_dict(),
        }
