"""The model registry's entities: registered models and their numbered versions.

A registered model is a name with a description, tags and aliases. Each of its versions
(integers from 1) points at model files (``source``, often ``models:/m-<id>`` for an MLflow 3
logged model), may name the run that produced them, and carries a legacy stage (``None``,
``Staging``, ``Production``, ``Archived``). Aliases such as ``champion`` point at one version
each; moving an alias moves it.

The JSON shapes are the proto's. ``version`` is an ``int`` here and a string on the wire, as
MLflow sends it.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Mapping
from typing import Any

from mltrail.entities import _wire
from mltrail.errors import InvalidArgument

MAX_REGISTERED_MODEL_NAME_LENGTH = 256
MAX_REGISTRY_TAG_KEY_LENGTH = 250
MAX_REGISTRY_TAG_VALUE_LENGTH = 100_000
MAX_DESCRIPTION_LENGTH = 5_000
MAX_ALIAS_LENGTH = 255
MAX_SOURCE_LENGTH = 500
MAX_RUN_LINK_LENGTH = 500

SEARCH_REGISTERED_MODELS_DEFAULT = 100
SEARCH_REGISTERED_MODELS_MAX = 1_000
SEARCH_MODEL_VERSIONS_DEFAULT = 10_000
SEARCH_MODEL_VERSIONS_MAX = 200_000

_ALIAS_RE = re.compile(r"^[\w\-]+$")
_RESERVED_VERSION_ALIAS_RE = re.compile(r"^[vV]\d+$")
_NAME_FORBIDDEN = ("/", ":")


class Stage(str, enum.Enum):
    """The legacy stages (deprecated by MLflow since 2.9 in favour of aliases, still served)."""

    NONE = "None"
    STAGING = "Staging"
    PRODUCTION = "Production"
    ARCHIVED = "Archived"

    @classmethod
    def coerce(cls, stage: Stage | str | None) -> Stage:
        """The stage for a member or a name in any case (``production``); ``None`` is
        ``Stage.NONE``."""
        if isinstance(stage, Stage):
            return stage
        if stage is None:
            return cls.NONE
        if isinstance(stage, str):
            found = _STAGES_BY_LOWER.get(stage.strip().lower())
            if found is not None:
                return found
        valid = ", ".join(s.value for s in cls)
        raise InvalidArgument(f"Invalid model version stage {stage!r}: expected one of {valid}")

    def __str__(self) -> str:
        return self.value


_STAGES_BY_LOWER = {stage.value.lower(): stage for stage in Stage}


class ModelVersionStatus(str, enum.Enum):
    PENDING_REGISTRATION = "PENDING_REGISTRATION"
    FAILED_REGISTRATION = "FAILED_REGISTRATION"
    READY = "READY"

    @classmethod
    def coerce(cls, status: ModelVersionStatus | str) -> ModelVersionStatus:
        if isinstance(status, ModelVersionStatus):
            return status
        if isinstance(status, str):
            try:
                return cls(status.strip().upper())
            except ValueError:
                pass
        valid = ", ".join(s.value for s in cls)
        raise InvalidArgument(f"Invalid model version status {status!r}: expected one of {valid}")

    def __str__(self) -> str:
        return self.value


# Validation: every store calls these before it writes, so a bad value changes nothing.


def validate_registered_model_name(name: Any, field: str = "name") -> str:
    """A registered model's name: not blank, no ``/`` or ``:`` (they would make
    ``models:/`` URIs ambiguous), no NUL, at most 256 characters."""
    if name is None or (isinstance(name, str) and not name.strip()):
        raise InvalidArgument(f"Registered model {field} must not be empty")
    if not isinstance(name, str):
        raise InvalidArgument(f"Invalid registered model {field} {name!r}: must be a string")
    bad = [c for c in _NAME_FORBIDDEN if c in name]
    if bad or "\x00" in name:
        shown = " or ".join(repr(c) for c in bad) if bad else "NUL"
        raise InvalidArgument(
            f"Invalid registered model {field} {name!r}: it must not contain {shown}"
        )
    if len(name) > MAX_REGISTERED_MODEL_NAME_LENGTH:
        raise InvalidArgument(
            f"Registered model {field} is {len(name)} characters; "
            f"the limit is {MAX_REGISTERED_MODEL_NAME_LENGTH}"
        )
    return name


def validate_version(version: Any) -> int:
    """A version number as given (``3``, ``"3"``): a positive integer."""
    if isinstance(version, bool):
        number = None
    elif isinstance(version, int):
        number = version
    elif isinstance(version, str) and version.strip().isdigit():
        number = int(version.strip())
    else:
        number = None
    if number is None or number < 1:
        raise InvalidArgument(
            f"Invalid model version {version!r}: expected a positive integer such as 1"
        )
    return number


def validate_alias(alias: Any) -> str:
    """An alias: letters, digits, ``_`` and ``-``, at most 255 characters; ``latest`` and
    ``v<digits>`` are reserved, since ``models:/<name>@latest`` and ``@v3`` read as those."""
    if not isinstance(alias, str) or not alias:
        raise InvalidArgument(f"Invalid alias {alias!r}: must be a non-empty string")
    if len(alias) > MAX_ALIAS_LENGTH:
        raise InvalidArgument(f"Alias is {len(alias)} characters; the limit is {MAX_ALIAS_LENGTH}")
    if not _ALIAS_RE.match(alias):
        raise InvalidArgument(
            f"Invalid alias {alias!r}: use only letters, digits, '_' and '-'"
        )
    if alias.lower() == "latest":
        raise InvalidArgument(f"Alias {alias!r} is reserved: models:/<name>@latest loads the newest version")
    if _RESERVED_VERSION_ALIAS_RE.match(alias):
        raise InvalidArgument(
            f"Alias {alias!r} is reserved: 'v' followed by digits names a version number"
        )
    return alias


def validate_registry_tag(key: Any, value: Any) -> tuple[str, str]:
    if not isinstance(key, str) or not key.strip():
        raise InvalidArgument(f"Invalid tag key {key!r}: must be a non-empty string")
    if len(key) > MAX_REGISTRY_TAG_KEY_LENGTH:
        raise InvalidArgument(
            f"Tag key is {len(key)} characters; the limit is {MAX_REGISTRY_TAG_KEY_LENGTH}"
        )
    text = "" if value is None else str(value)
    if len(text) > MAX_REGISTRY_TAG_VALUE_LENGTH:
        raise InvalidArgument(
            f"Value of tag {key!r} is {len(text)} characters; "
            f"the limit is {MAX_REGISTRY_TAG_VALUE_LENGTH}"
        )
    if "\x00" in key or "\x00" in text:
        raise InvalidArgument(f"Tag {key!r} contains a NUL character")
    return key, text


def validate_description(description: Any) -> str | None:
    if description is None:
        return None
    if not isinstance(description, str):
        raise InvalidArgument(f"Invalid description {description!r}: must be a string")
    if len(description) > MAX_DESCRIPTION_LENGTH:
        raise InvalidArgument(
            f"Description is {len(description)} characters; the limit is {MAX_DESCRIPTION_LENGTH}"
        )
    if "\x00" in description:
        raise InvalidArgument("Description contains a NUL character")
    return description


# Entities


def _tags_to_wire(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in tags.items()]


@dataclasses.dataclass(frozen=True)
class ModelVersion:
    name: str
    version: int
    creation_timestamp: int
    last_updated_timestamp: int
    source: str
    current_stage: Stage = Stage.NONE
    status: ModelVersionStatus = ModelVersionStatus.READY
    status_message: str | None = None
    description: str | None = None
    user_id: str | None = None
    run_id: str | None = None
    run_link: str | None = None
    model_id: str | None = None
    tags: dict[str, str] = dataclasses.field(default_factory=dict)
    aliases: tuple[str, ...] = ()

    @property
    def model_uri(self) -> str:
        return f"models:/{self.name}/{self.version}"

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "version": str(self.version),
            "creation_timestamp": self.creation_timestamp,
            "last_updated_timestamp": self.last_updated_timestamp,
            "current_stage": self.current_stage.value,
            "source": self.source,
            "status": self.status.value,
        }
        for field in ("user_id", "description", "run_id", "run_link", "status_message", "model_id"):
            value = getattr(self, field)
            if value is not None:
                data[field] = value
        if self.tags:
            data["tags"] = _tags_to_wire(self.tags)
        if self.aliases:
            data["aliases"] = list(self.aliases)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelVersion:
        data = _wire.mapping(data, "model_version")
        stage = _wire.text(data, "current_stage") or "None"
        status = _wire.text(data, "status") or "READY"
        aliases = data.get("aliases") or []
        if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
            raise InvalidArgument(f"Invalid aliases {aliases!r} in a server response")
        return cls(
            name=_wire.text(data, "name"),
            version=_wire.integer(data.get("version"), "version"),
            creation_timestamp=_wire.optional_integer(data, "creation_timestamp") or 0,
            last_updated_timestamp=_wire.optional_integer(data, "last_updated_timestamp") or 0,
            source=_wire.text(data, "source"),
            current_stage=Stage.coerce(stage),
            status=ModelVersionStatus.coerce(status),
            status_message=_wire.optional_text(data, "status_message") or None,
            description=_wire.optional_text(data, "description"),
            user_id=_wire.optional_text(data, "user_id") or None,
            run_id=_wire.optional_text(data, "run_id") or None,
            run_link=_wire.optional_text(data, "run_link") or None,
            model_id=_wire.optional_text(data, "model_id") or None,
            tags=_wire.key_values(data, "tags"),
            aliases=tuple(aliases),
        )


@dataclasses.dataclass(frozen=True)
class RegisteredModel:
    name: str
    creation_timestamp: int
    last_updated_timestamp: int
    description: str | None = None
    user_id: str | None = None
    tags: dict[str, str] = dataclasses.field(default_factory=dict)
    # alias -> version number
    aliases: dict[str, int] = dataclasses.field(default_factory=dict)
    # The newest version in each stage that has one (the proto's ``latest_versions``).
    latest_versions: tuple[ModelVersion, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "creation_timestamp": self.creation_timestamp,
            "last_updated_timestamp": self.last_updated_timestamp,
        }
        if self.description is not None:
            data["description"] = self.description
        if self.user_id is not None:
            data["user_id"] = self.user_id
        if self.latest_versions:
            data["latest_versions"] = [v.to_dict() for v in self.latest_versions]
        if self.tags:
            data["tags"] = _tags_to_wire(self.tags)
        if self.aliases:
            data["aliases"] = [
                {"alias": alias, "version": str(version)} for alias, version in self.aliases.items()
            ]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RegisteredModel:
        data = _wire.mapping(data, "registered_model")
        return cls(
            name=_wire.text(data, "name"),
            creation_timestamp=_wire.optional_integer(data, "creation_timestamp") or 0,
            last_updated_timestamp=_wire.optional_integer(data, "last_updated_timestamp") or 0,
            description=_wire.optional_text(data, "description"),
            user_id=_wire.optional_text(data, "user_id") or None,
            tags=_wire.key_values(data, "tags"),
            aliases={
                _wire.text(item, "alias"): _wire.integer(item.get("version"), "version")
                for item in _wire.items(data, "aliases")
            },
            latest_versions=tuple(
                ModelVersion.from_dict(v) for v in _wire.items(data, "latest_versions")
            ),
        )
