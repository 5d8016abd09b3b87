"""Runs: their info, their data (latest metrics, params, tags), their inputs and outputs."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from mltrail.entities import _wire
from mltrail.entities.dataset import DatasetInput
from mltrail.entities.lifecycle import LifecycleStage, RunStatus
from mltrail.entities.logged_model import LoggedModelInput, LoggedModelOutput
from mltrail.entities.metric import Metric, Param, RunTag, json_float


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

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunInfo:
        """Parse the REST shape: ``run_id`` or its older name ``run_uuid``; ``status`` a name
        or a number (default ``RUNNING``); missing times are None."""
        data = _wire.mapping(data, "run info")
        run_id = _wire.text(data, "run_id") or _wire.text(data, "run_uuid")
        status = data.get("status")
        return cls(
            run_id=run_id,
            experiment_id=_wire.identifier(data, "experiment_id"),
            run_name=_wire.text(data, "run_name"),
            user_id=_wire.text(data, "user_id"),
            status=RunStatus.RUNNING.name
            if status is None
            else RunStatus.coerce(_wire.enum(status, "status")),
            start_time=_wire.optional_integer(data, "start_time"),
            end_time=_wire.optional_integer(data, "end_time"),
            artifact_uri=_wire.text(data, "artifact_uri"),
            lifecycle_stage=_wire.text(data, "lifecycle_stage", LifecycleStage.ACTIVE),
        )


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
                {"key": k, "value": json_float(v)} for k, v in self.metrics.items()
            ]
        if self.params:
            out["params"] = [Param(k, v).to_dict() for k, v in self.params.items()]
        if self.tags:
            out["tags"] = [RunTag(k, v).to_dict() for k, v in self.tags.items()]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunData:
        """Parse the REST shape: ``metrics`` holds the latest value of each key."""
        data = _wire.mapping(data, "run data")
        metric_objs = tuple(Metric.from_dict(m) for m in _wire.items(data, "metrics"))
        return cls(
            metrics={m.key: m.value for m in metric_objs},
            params=_wire.key_values(data, "params"),
            tags=_wire.key_values(data, "tags"),
            metric_objs=metric_objs,
        )


@dataclasses.dataclass(frozen=True)
class RunInputs:
    dataset_inputs: tuple[DatasetInput, ...] = ()
    model_inputs: tuple[LoggedModelInput, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.dataset_inputs:
            out["dataset_inputs"] = [d.to_dict() for d in self.dataset_inputs]
        if self.model_inputs:
            out["model_inputs"] = [m.to_dict() for m in self.model_inputs]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunInputs:
        """Parse the REST shape ``{dataset_inputs, model_inputs}``."""
        data = _wire.mapping(data, "run inputs")
        return cls(
            tuple(DatasetInput.from_dict(d) for d in _wire.items(data, "dataset_inputs")),
            tuple(LoggedModelInput.from_dict(m) for m in _wire.items(data, "model_inputs")),
        )


@dataclasses.dataclass(frozen=True)
class RunOutputs:
    """What a run produced: the logged models it output, each at a step."""

    model_outputs: tuple[LoggedModelOutput, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        if not self.model_outputs:
            return {}
        return {"model_outputs": [m.to_dict() for m in self.model_outputs]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunOutputs:
        data = _wire.mapping(data, "run outputs")
        return cls(tuple(LoggedModelOutput.from_dict(m) for m in _wire.items(data, "model_outputs")))


@dataclasses.dataclass(frozen=True)
class Run:
    info: RunInfo
    data: RunData = dataclasses.field(default_factory=RunData)
    inputs: RunInputs = dataclasses.field(default_factory=RunInputs)
    outputs: RunOutputs = dataclasses.field(default_factory=RunOutputs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "info": self.info.to_dict(),
            "data": self.data.to_dict(),
            "inputs": self.inputs.to_dict(),
            "outputs": self.outputs.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Run:
        """Parse the REST shape ``{info, data, inputs, outputs}``."""
        data = _wire.mapping(data, "run")
        return cls(
            info=RunInfo.from_dict(_wire.mapping(data.get("info"), "info")),
            data=RunData.from_dict(_wire.mapping(data.get("data"), "data")),
            inputs=RunInputs.from_dict(_wire.mapping(data.get("inputs"), "inputs")),
            outputs=RunOutputs.from_dict(_wire.mapping(data.get("outputs"), "outputs")),
        )
