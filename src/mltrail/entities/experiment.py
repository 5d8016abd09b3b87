"""Experiments and their tags."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from mltrail.entities import _wire
from mltrail.entities.lifecycle import LifecycleStage


@dataclasses.dataclass(frozen=True)
class ExperimentTag:
    key: str
    value: str

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "value": self.value}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExperimentTag:
        """Parse the REST shape; a missing value is ``""``."""
        return cls(_wire.text(data, "key"), _wire.text(data, "value"))


@dataclasses.dataclass(frozen=True)
class Experiment:
    experiment_id: str
    name: str
    artifact_location: str
    lifecycle_stage: str = LifecycleStage.ACTIVE
    tags: dict[str, str] = dataclasses.field(default_factory=dict)
    creation_time: int | None = None
    last_update_time: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The REST shape (MLflow's ``Experiment`` message)."""
        out: dict[str, Any] = {
            "experiment_id": self.experiment_id,
            "name": self.name,
            "artifact_location": self.artifact_location,
            "lifecycle_stage": self.lifecycle_stage,
        }
        if self.last_update_time is not None:
            out["last_update_time"] = self.last_update_time
        if self.creation_time is not None:
            out["creation_time"] = self.creation_time
        if self.tags:
            out["tags"] = [{"key": k, "value": v} for k, v in self.tags.items()]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Experiment:
        """Parse the REST shape (fields this entity does not keep, like ``workspace``, are
        ignored)."""
        data = _wire.mapping(data, "experiment")
        return cls(
            experiment_id=_wire.identifier(data, "experiment_id"),
            name=_wire.text(data, "name"),
            artifact_location=_wire.text(data, "artifact_location"),
            lifecycle_stage=_wire.text(data, "lifecycle_stage", LifecycleStage.ACTIVE),
            tags=_wire.key_values(data, "tags"),
            creation_time=_wire.optional_integer(data, "creation_time"),
            last_update_time=_wire.optional_integer(data, "last_update_time"),
        )
