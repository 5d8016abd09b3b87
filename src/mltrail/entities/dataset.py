"""Datasets a run used as input (``log_input``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from mltrail.entities import _wire


@dataclasses.dataclass(frozen=True)
class Dataset:
    name: str
    digest: str
    source_type: str
    source: str
    schema: str | None = None
    profile: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "digest": self.digest,
            "source_type": self.source_type,
            "source": self.source,
        }
        if self.schema is not None:
            out["schema"] = self.schema
        if self.profile is not None:
            out["profile"] = self.profile
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Dataset:
        data = _wire.mapping(data, "dataset")
        return cls(
            name=_wire.text(data, "name"),
            digest=_wire.text(data, "digest"),
            source_type=_wire.text(data, "source_type"),
            source=_wire.text(data, "source"),
            schema=_wire.optional_text(data, "schema"),
            profile=_wire.optional_text(data, "profile"),
        )


@dataclasses.dataclass(frozen=True)
class InputTag:
    key: str
    value: str

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "value": self.value}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InputTag:
        """Parse the REST shape; a missing value is ``""``."""
        return cls(_wire.text(data, "key"), _wire.text(data, "value"))


@dataclasses.dataclass(frozen=True)
class DatasetInput:
    dataset: Dataset
    tags: tuple[InputTag, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"dataset": self.dataset.to_dict()}
        if self.tags:
            out["tags"] = [t.to_dict() for t in self.tags]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DatasetInput:
        data = _wire.mapping(data, "dataset_input")
        return cls(
            dataset=Dataset.from_dict(_wire.mapping(data.get("dataset"), "dataset")),
            tags=tuple(InputTag.from_dict(t) for t in _wire.items(data, "tags")),
        )
