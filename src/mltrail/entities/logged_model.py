"""Logged models (MLflow 3): a model's own record, apart from the run that produced it.

``log_model`` creates one (``m-<32 hex>``) with status ``PENDING``, uploads its files to
``<experiment artifact location>/models/<model_id>/artifacts``, then finalizes it ``READY``
(or ``FAILED``) and links it to its run as an output. The JSON shape is the proto's
``LoggedModel``: ``{"info": {...}, "data": {"params": [...], "metrics": [...]}}``.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Mapping
from typing import Any

from mltrail.entities import _wire
from mltrail.entities.metric import Metric
from mltrail.errors import InvalidArgument

MODEL_ID_PREFIX = "m-"
_MODEL_ID_RE = re.compile(r"^m-[0-9a-f]{32}$")
MAX_MODEL_NAME_LENGTH = 500
MAX_MODEL_TYPE_LENGTH = 500
_NAME_FORBIDDEN = ("/", ":", ".", "%", '"', "'")


class LoggedModelStatus(enum.IntEnum):
    """A logged model's upload status, with the proto's numbers.

    On the wire the names carry the proto's prefix (``wire_name``): ``LOGGED_MODEL_PENDING``,
    ``LOGGED_MODEL_READY``, ``LOGGED_MODEL_UPLOAD_FAILED``.
    """

    PENDING = 1
    READY = 2
    FAILED = 3

    @property
    def wire_name(self) -> str:
        return _WIRE_NAMES[self]

    @classmethod
    def coerce(cls, status: LoggedModelStatus | int | str) -> LoggedModelStatus:
        """The status for a member, a proto number, a wire name or a short name
        (``READY``), case-insensitively."""
        if isinstance(status, LoggedModelStatus):
            return status
        if isinstance(status, bool):
            raise _invalid_status(status)
        if isinstance(status, int):
            try:
                return cls(status)
            except ValueError:
                raise _invalid_status(status) from None
        if isinstance(status, str):
            text = status.strip().upper()
            if text.isdigit():
                return cls.coerce(int(text))
            found = _BY_NAME.get(text)
            if found is not None:
                return found
        raise _invalid_status(status)


_WIRE_NAMES = {
    LoggedModelStatus.PENDING: "LOGGED_MODEL_PENDING",
    LoggedModelStatus.READY: "LOGGED_MODEL_READY",
    LoggedModelStatus.FAILED: "LOGGED_MODEL_UPLOAD_FAILED",
}
_BY_NAME: dict[str, LoggedModelStatus] = {
    **{status.name: status for status in LoggedModelStatus},
    **{wire: status for status, wire in _WIRE_NAMES.items()},
    "UPLOAD_FAILED": LoggedModelStatus.FAILED,
}


def _invalid_status(status: object) -> InvalidArgument:
    valid = ", ".join(_WIRE_NAMES.values())
    return InvalidArgument(f"Invalid logged model status {status!r}: expected one of {valid}")


def validate_model_id(model_id: Any) -> str:
    if not isinstance(model_id, str) or not _MODEL_ID_RE.match(model_id):
        raise InvalidArgument(
            f"Invalid model_id {model_id!r}: expected 'm-' followed by 32 hexadecimal digits"
        )
    return model_id


def is_model_id(model_id: Any) -> bool:
    return isinstance(model_id, str) and _MODEL_ID_RE.match(model_id) is not None


def validate_model_name(name: Any) -> str:
    """A model name, as MLflow allows it: not empty, and none of ``/ : . % " '``."""
    if not isinstance(name, str):
        raise InvalidArgument(f"Invalid model name {name!r}: must be a string")
    bad = [c for c in _NAME_FORBIDDEN if c in name]
    if not name or bad or "\x00" in name:
        raise InvalidArgument(
            f"Invalid model name {name!r}: must be a non-empty string without any of "
            f"{' '.join(_NAME_FORBIDDEN)} (or NUL)"
        )
    if len(name) > MAX_MODEL_NAME_LENGTH:
        raise InvalidArgument(
            f"Invalid model name: {len(name)} characters, the limit is {MAX_MODEL_NAME_LENGTH}"
        )
    return name


@dataclasses.dataclass(frozen=True)
class LoggedModelInput:
    """A logged model a run used as input (``RunInputs.model_inputs``)."""

    model_id: str

    def to_dict(self) -> dict[str, Any]:
        return {"model_id": self.model_id}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LoggedModelInput:
        return cls(_wire.text(_wire.mapping(data, "model_input"), "model_id"))


@dataclasses.dataclass(frozen=True)
class LoggedModelOutput:
    """A logged model a run produced, at a step (``RunOutputs.model_outputs``)."""

    model_id: str
    step: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"model_id": self.model_id, "step": self.step}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LoggedModelOutput:
        data = _wire.mapping(data, "model_output")
        step = data.get("step")
        return cls(
            _wire.text(data, "model_id"), 0 if step is None else _wire.integer(step, "step")
        )


@dataclasses.dataclass(frozen=True)
class LoggedModel:
    model_id: str
    experiment_id: str
    name: str
    artifact_location: str
    creation_timestamp: int
    last_updated_timestamp: int
    status: LoggedModelStatus = LoggedModelStatus.PENDING
    model_type: str | None = None
    source_run_id: str | None = None
    status_message: str | None = None
    tags: dict[str, str] = dataclasses.field(default_factory=dict)
    params: dict[str, str] = dataclasses.field(default_factory=dict)
    metrics: tuple[Metric, ...] = ()

    @property
    def model_uri(self) -> str:
        return f"models:/{self.model_id}"

    def to_dict(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "model_id": self.model_id,
            "experiment_id": self.experiment_id,
            "name": self.name,
            "creation_timestamp_ms": self.creation_timestamp,
            "last_updated_timestamp_ms": self.last_updated_timestamp,
            "artifact_uri": self.artifact_location,
            "status": self.status.wire_name,
        }
        for field in ("model_type", "source_run_id", "status_message"):
            value = getattr(self, field)
            if value is not None:
                info[field] = value
        if self.tags:
            info["tags"] = [{"key": k, "value": v} for k, v in self.tags.items()]
        data: dict[str, Any] = {}
        if self.params:
            data["params"] = [{"key": k, "value": v} for k, v in self.params.items()]
        if self.metrics:
            data["metrics"] = [m.to_dict() for m in self.metrics]
        return {"info": info, "data": data}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LoggedModel:
        """Parse the REST shape ``{info, data}``; a missing status is ``PENDING``."""
        data = _wire.mapping(data, "model")
        info = _wire.mapping(data.get("info"), "info")
        body = _wire.mapping(data.get("data"), "data")
        status = info.get("status")
        return cls(
            model_id=_wire.text(info, "model_id"),
            experiment_id=_wire.identifier(info, "experiment_id"),
            name=_wire.text(info, "name"),
            artifact_location=_wire.text(info, "artifact_uri"),
            creation_timestamp=_wire.optional_integer(info, "creation_timestamp_ms") or 0,
            last_updated_timestamp=_wire.optional_integer(info, "last_updated_timestamp_ms") or 0,
            status=LoggedModelStatus.PENDING
            if status is None
            else LoggedModelStatus.coerce(_wire.enum(status, "status")),
            model_type=_wire.optional_text(info, "model_type"),
            source_run_id=_wire.optional_text(info, "source_run_id"),
            status_message=_wire.optional_text(info, "status_message"),
            tags=_wire.key_values(info, "tags"),
            params=_wire.key_values(body, "params"),
            metrics=tuple(Metric.from_dict(m) for m in _wire.items(body, "metrics")),
        )
