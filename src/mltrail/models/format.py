"""The ``MLmodel`` file: what a model directory holds and how to load it.

    flavors:                    one entry per way to load the model, each with its own keys;
      python_function:          the generic one: ``loader_module`` is the module whose
        loader_module: ...      ``_load_pyfunc(path)`` gives an object with ``predict``
      sklearn: {...}
    model_uuid, utc_time_created, model_id, run_id, artifact_path
    signature: {inputs, outputs, params}     JSON strings (see signature.py)
    saved_input_example_info: {...}         where the input example is (input_example.py)
    mltrail_version: ...                    our own version field, beside MLflow's
                                            ``mlflow_version`` when MLflow wrote the file

The YAML is MLflow's, key for key, so each side loads what the other saved. Keys this module
does not know are kept and written back unchanged.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import uuid
from typing import TYPE_CHECKING, Any

import yaml

from mltrail._version import __version__
from mltrail.errors import InvalidArgument, NotFound

if TYPE_CHECKING:
    from mltrail.models.signature import ModelSignature, ParamSchema, Schema

__all__ = ["MLMODEL_FILE", "PYFUNC", "Model"]

MLMODEL_FILE = "MLmodel"
PYFUNC = "python_function"

# Written in this order, then any other keys in theirs.
_KNOWN = (
    "artifact_path",
    "flavors",
    "model_id",
    "model_size_bytes",
    "model_uuid",
    "mltrail_version",
    "run_id",
    "saved_input_example_info",
    "signature",
    "utc_time_created",
    "metadata",
)


def _now() -> str:
    # MLflow's spelling: "2026-11-24 04:21:52.829091", UTC, no zone suffix.
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")


@dataclasses.dataclass
class Model:
    """An ``MLmodel`` file in memory."""

    flavors: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    model_uuid: str = dataclasses.field(default_factory=lambda: uuid.uuid4().hex)
    utc_time_created: str = dataclasses.field(default_factory=_now)
    model_id: str | None = None
    run_id: str | None = None
    artifact_path: str | None = None
    signature: ModelSignature | None = None
    saved_input_example_info: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    model_size_bytes: int | None = None
    mltrail_version: str | None = __version__
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    def add_flavor(self, name: str, **params: Any) -> Model:
        self.flavors[name] = params
        return self

    @property
    def pyfunc_conf(self) -> dict[str, Any]:
        """The ``python_function`` flavor's keys; a clear error when the model has none."""
        conf = self.flavors.get(PYFUNC)
        if conf is None:
            names = ", ".join(sorted(self.flavors)) or "none"
            raise InvalidArgument(
                f"The model has no {PYFUNC} flavor, so it cannot be loaded generically "
                f"(its flavors: {names}); load it with its own flavor's load_model"
            )
        return conf

    def get_input_schema(self) -> Schema | None:
        return self.signature.inputs if self.signature is not None else None

    def get_output_schema(self) -> Schema | None:
        return self.signature.outputs if self.signature is not None else None

    def get_params_schema(self) -> ParamSchema | None:
        return self.signature.params if self.signature is not None else None

    # YAML

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in _KNOWN:
            value = getattr(self, key)
            if key == "signature" and value is not None:
                value = value.to_dict()
            if value is not None:
                out[key] = value
        out.update((k, v) for k, v in self.extra.items() if k not in out)
        return out

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), default_flow_style=False, sort_keys=False)

    def save(self, path: str) -> None:
        """Write ``MLmodel`` into the directory ``path`` (or to ``path`` if it names the
        file)."""
        target = os.path.join(path, MLMODEL_FILE) if os.path.isdir(path) else path
        with open(target, "w", encoding="utf-8") as out:
            out.write(self.to_yaml())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Model:
        if not isinstance(data, dict):
            raise InvalidArgument(f"Invalid MLmodel: expected a mapping, got {type(data).__name__}")
        flavors = data.get("flavors") or {}
        if not isinstance(flavors, dict) or not all(
            isinstance(v, dict) for v in flavors.values()
        ):
            raise InvalidArgument("Invalid MLmodel: 'flavors' must map names to mappings")
        signature = None
        if data.get("signature"):
            from mltrail.models.signature import ModelSignature

            signature = ModelSignature.from_dict(data["signature"])
        known = set(_KNOWN)
        return cls(
            flavors=flavors,
            model_uuid=str(data.get("model_uuid") or uuid.uuid4().hex),
            utc_time_created=str(data.get("utc_time_created") or ""),
            model_id=data.get("model_id"),
            run_id=data.get("run_id"),
            artifact_path=data.get("artifact_path"),
            signature=signature,
            saved_input_example_info=data.get("saved_input_example_info"),
            metadata=data.get("metadata"),
            model_size_bytes=data.get("model_size_bytes"),
            mltrail_version=data.get("mltrail_version"),
            extra={k: v for k, v in data.items() if k not in known},
        )

    @classmethod
    def load(cls, path: str) -> Model:
        """The ``MLmodel`` of a model directory (or the file itself)."""
        target = os.path.join(path, MLMODEL_FILE) if os.path.isdir(path) else path
        if not os.path.isfile(target):
            raise NotFound(
                f"No {MLMODEL_FILE} file at {target!r}: is {path!r} a model directory?"
            )
        with open(target, encoding="utf-8") as f:
            try:
                data = yaml.safe_load(f)
            except yaml.YAMLError as exc:
                raise InvalidArgument(f"Invalid {MLMODEL_FILE} at {target!r}: {exc}") from exc
        return cls.from_dict(data)


def directory_size(path: str) -> int:
    """Bytes under ``path``, the ``model_size_bytes`` MLflow records."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            total += os.path.getsize(os.path.join(root, name))
    return total
