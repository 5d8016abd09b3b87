"""Model signatures: what a model takes, returns and accepts as params, in MLflow's JSON.

An ``MLmodel`` file stores a signature as three JSON strings (``inputs``, ``outputs``,
``params``). The JSON here is MLflow 3's, key for key, so a signature MLflow wrote reads
back equal and MLflow reads ours. A schema holds either columns (``ColSpec``, for tabular
data and JSON-like values, with MLflow 3's nested ``Array``/``Object``/``Map`` types) or
tensors (``TensorSpec``, a numpy dtype and a shape), never both.

The classes are plain values. numpy and pandas are imported by the functions that look at
data (they are heavy), so importing this module stays cheap. Inference from example data
lives in ``mltrail.models.inference``; its three public functions are re-exported here,
imported on first use (``inference`` imports this module, so a top-level import would be a
cycle).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, Union

from mltrail.errors import InvalidArgument

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from mltrail.models.inference import infer_param_schema, infer_schema, infer_signature

__all__ = [
    "AnyType",
    "Array",
    "ColSpec",
    "DataType",
    "Map",
    "ModelSignature",
    "Object",
    "ParamSchema",
    "ParamSpec",
    "Property",
    "Schema",
    "TensorSpec",
    "infer_param_schema",
    "infer_schema",
    "infer_signature",
]


class DataType(str, Enum):
    """A scalar column type, under MLflow's names (which are also the JSON values)."""

    boolean = "boolean"
    integer = "integer"
    long = "long"
    float = "float"
    double = "double"
    string = "string"
    binary = "binary"
    datetime = "datetime"

    def __str__(self) -> str:
        # str-mixin enums format differently across Python versions; messages want the name.
        return self.value

    def __repr__(self) -> str:
        return f"DataType.{self.name}"

    def to_numpy(self) -> np.dtype[Any]:
        import numpy as np  # heavy: only when a dtype is asked for

        return np.dtype(_NUMPY_NAMES[self.value])

    def to_python(self) -> type:
        return _PYTHON_TYPES[self.value]

    @classmethod
    def from_numpy(cls, dtype: Any) -> DataType:
        """The type that holds every value of ``dtype`` (small ints widen, as MLflow's do)."""
        import numpy as np

        nd = np.dtype(dtype)
        kind, size = nd.kind, nd.itemsize
        found = {
            "b": "boolean",
            "i": "integer" if size <= 4 else "long",
            "u": "integer" if size <= 2 else "long" if size == 4 else None,
            "f": "float" if size <= 4 else "double" if size == 8 else None,
            "U": "string",
            "O": "string",
            "S": "binary",
            "M": "datetime",
        }.get(kind)
        if found is None:
            raise InvalidArgument(
                f"numpy dtype {nd} has no signature type: expected bool, int8-64, uint8-32, "
                "float16-64, str, bytes, object or datetime64"
            )
        return cls(found)


_NUMPY_NAMES = {
    "boolean": "bool",
    "integer": "int32",
    "long": "int64",
    "float": "float32",
    "double": "float64",
    "string": "str",
    "binary": "bytes",
    "datetime": "datetime64[ns]",
}
_PYTHON_TYPES: dict[str, type] = {
    "boolean": bool,
    "integer": int,
    "long": int,
    "float": float,
    "double": float,
    "string": str,
    "binary": bytes,
    "datetime": dt.datetime,
}


# --- MLflow 3's nested column types --------------------------------------------------------


@dataclass(frozen=True)
class AnyType:
    """A value of any type: the data is not checked (MLflow's ``"any"``)."""

    def to_dict(self) -> dict[str, Any]:
        return {"type": "any"}


@dataclass(frozen=True)
class Array:
    """A list whose items all have ``dtype``."""

    dtype: ColType

    def __post_init__(self) -> None:
        _check_col_type(self.dtype, "Array item type")

    def to_dict(self) -> dict[str, Any]:
        return {"type": "array", "items": _type_to_dict(self.dtype)}


@dataclass(frozen=True)
class Property:
    """One named field of an ``Object``."""

    name: str
    dtype: ColType
    required: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InvalidArgument(f"Property name must be a non-empty string, got {self.name!r}")
        _check_col_type(self.dtype, f"property {self.name!r}")

    def to_dict(self) -> dict[str, Any]:
        return {self.name: {**_type_to_dict(self.dtype), "required": self.required}}


@dataclass(frozen=True, init=False)
class Object:
    """A dict with known fields. Properties are kept sorted by name, as MLflow writes them."""

    properties: tuple[Property, ...]

    def __init__(self, properties: Sequence[Property]) -> None:
        props = sorted(properties, key=lambda p: p.name)
        if not props:
            raise InvalidArgument("Object needs at least one property")
        dupes = _duplicates(p.name for p in props)
        if dupes:
            raise InvalidArgument(f"Object has duplicate properties {dupes}")
        object.__setattr__(self, "properties", tuple(props))

    def to_dict(self) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        for prop in self.properties:
            fields.update(prop.to_dict())
        return {"type": "object", "properties": fields}


@dataclass(frozen=True)
class Map:
    """A dict with string keys and values of ``value_type``."""

    value_type: ColType

    def __post_init__(self) -> None:
        _check_col_type(self.value_type, "Map value type")

    def to_dict(self) -> dict[str, Any]:
        return {"type": "map", "values": _type_to_dict(self.value_type)}


ColType = Union[DataType, Array, Object, Map, AnyType]
_COL_TYPES = (DataType, Array, Object, Map, AnyType)


def _duplicates(names: Iterable[str]) -> list[str]:
    listed = list(names)
    return sorted({n for n in listed if listed.count(n) > 1})


def _check_col_type(value: object, where: str) -> None:
    if not isinstance(value, _COL_TYPES):
        raise InvalidArgument(
            f"{where} must be a DataType, Array, Object, Map or AnyType, got {value!r}"
        )


def _type_to_dict(t: ColType) -> dict[str, Any]:
    return {"type": t.value} if isinstance(t, DataType) else t.to_dict()


def _type_name(t: ColType | None) -> str:
    """A short name for messages: ``double``, ``array<long>``, ``object``."""
    if t is None or isinstance(t, AnyType):
        return "any"
    if isinstance(t, DataType):
        return t.value
    if isinstance(t, Array):
        return f"array<{_type_name(t.dtype)}>"
    if isinstance(t, Map):
        return f"map<{_type_name(t.value_type)}>"
    return "object"


def _type_from_dict(d: Any, where: str) -> ColType:
    if not isinstance(d, Mapping):
        raise InvalidArgument(f"{where} must be a JSON object, got {d!r}")
    kind = d.get("type")
    try:
        if kind == "array":
            return Array(_type_from_dict(d["items"], f"{where} items"))
        if kind == "map":
            return Map(_type_from_dict(d["values"], f"{where} values"))
        if kind == "any":
            return AnyType()
        if kind == "object":
            fields = d["properties"]
            if not isinstance(fields, Mapping):
                raise InvalidArgument(f"{where} properties must be a JSON object")
            return Object(
                [
                    Property(name, _type_from_dict(f, f"{where}.{name}"), f.get("required", True))
                    for name, f in fields.items()
                ]
            )
    except KeyError as exc:
        raise InvalidArgument(f"{where}: type {kind!r} needs the key {exc.args[0]!r}") from exc
    if isinstance(kind, str) and kind in DataType._value2member_map_:
        return DataType(kind)
    allowed = [t.value for t in DataType] + ["array", "object", "map", "any"]
    raise InvalidArgument(f"{where} has unknown type {kind!r}; expected one of {allowed}")


# --- input specs ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ColSpec:
    """One column (or one JSON field) of a model's input or output."""

    type: ColType
    name: str | None = None
    required: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.type, str) and not isinstance(self.type, DataType):
            # MLflow accepts ColSpec("double"); so do we, for scripts moving over.
            if self.type not in DataType._value2member_map_:
                _check_col_type(self.type, f"column {self.name!r} type")
            object.__setattr__(self, "type", DataType(self.type))
        _check_col_type(self.type, f"column {self.name!r} type")
        if self.name is not None and not isinstance(self.name, str):
            raise InvalidArgument(f"column name must be a string or None, got {self.name!r}")
        if not isinstance(self.required, bool):
            raise InvalidArgument(f"column {self.name!r} required must be a bool")

    def to_dict(self) -> dict[str, Any]:
        d = _type_to_dict(self.type)
        if self.name is not None:
            d["name"] = self.name
        d["required"] = self.required
        return d


@dataclass(frozen=True, init=False)
class TensorSpec:
    """One tensor: a numpy dtype and a shape, where -1 marks a dimension of any size."""

    dtype: np.dtype[Any]
    shape: tuple[int, ...]
    name: str | None = None

    def __init__(self, dtype: Any, shape: Sequence[int], name: str | None = None) -> None:
        import numpy as np  # heavy: only when a tensor spec is built

        try:
            nd = np.dtype(dtype)
        except TypeError as exc:
            raise InvalidArgument(f"tensor {name!r} has an unknown dtype {dtype!r}") from exc
        if nd.kind in "US":
            nd = np.dtype(nd.kind)  # the length of a string is not part of the contract
        dims = tuple(shape)
        if not all(isinstance(d, int) and not isinstance(d, bool) and d >= -1 for d in dims):
            raise InvalidArgument(
                f"tensor {name!r} shape must be integers >= -1 (-1 for any size), got {shape!r}"
            )
        if name is not None and not isinstance(name, str):
            raise InvalidArgument(f"tensor name must be a string or None, got {name!r}")
        object.__setattr__(self, "dtype", nd)
        object.__setattr__(self, "shape", dims)
        object.__setattr__(self, "name", name)

    @property
    def required(self) -> bool:
        return True

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {} if self.name is None else {"name": self.name}
        d["type"] = "tensor"
        d["tensor-spec"] = {"dtype": _dtype_name(self.dtype), "shape": list(self.shape)}
        return d


def _dtype_name(nd: np.dtype[Any]) -> str:
    return {"U": "str", "S": "bytes"}.get(nd.kind, str(nd.name))


def _dtype_from_name(name: Any, where: str) -> Any:
    import numpy as np

    if not isinstance(name, str):
        raise InvalidArgument(f"{where} dtype must be a string, got {name!r}")
    void = re.fullmatch(r"void(\d+)", name)  # numpy writes "void96" but only reads "V12"
    try:
        return np.dtype(f"V{int(void.group(1)) // 8}" if void else name)
    except TypeError as exc:
        raise InvalidArgument(f"{where} has an unknown numpy dtype {name!r}") from exc


def _spec_from_dict(d: Any, where: str) -> ColSpec | TensorSpec:
    if not isinstance(d, Mapping):
        raise InvalidArgument(f"{where} must be a JSON object, got {d!r}")
    name = d.get("name")
    if d.get("type") == "tensor":
        info = d.get("tensor-spec")
        if not isinstance(info, Mapping) or "dtype" not in info or "shape" not in info:
            raise InvalidArgument(f"{where} needs a 'tensor-spec' with 'dtype' and 'shape'")
        if not isinstance(info["shape"], list):
            raise InvalidArgument(f"{where} shape must be a list, got {info['shape']!r}")
        return TensorSpec(_dtype_from_name(info["dtype"], where), info["shape"], name)
    # MLflow 2 wrote "optional" before it wrote "required".
    required = d.get("required", not d.get("optional", False))
    return ColSpec(_type_from_dict(d, where), name, required)


# --- schemas --------------------------------------------------------------------------------


class Schema:
    """The inputs (or outputs) of a model: all columns or all tensors, all named or none."""

    def __init__(self, inputs: Sequence[ColSpec | TensorSpec]) -> None:
        specs: list[ColSpec | TensorSpec] = list(inputs)
        if not specs:
            raise InvalidArgument("a schema needs at least one input")
        for i, spec in enumerate(specs):
            if not isinstance(spec, (ColSpec, TensorSpec)):
                raise InvalidArgument(
                    f"schema input {i} must be a ColSpec or TensorSpec, got {spec!r}"
                )
        if len({type(s) for s in specs}) > 1:
            raise InvalidArgument("a schema cannot mix ColSpec and TensorSpec inputs")
        named = [s.name is not None for s in specs]
        if any(named) and not all(named):
            raise InvalidArgument("schema inputs must all have names or all have none")
        dupes = _duplicates(s.name for s in specs if s.name is not None)
        if dupes:
            raise InvalidArgument(f"schema has duplicate input names {dupes}")
        if not any(named) and not all(s.required for s in specs):
            raise InvalidArgument(
                "unnamed inputs cannot be optional: name the inputs or make them all required"
            )
        self._inputs = specs

    @property
    def inputs(self) -> list[ColSpec | TensorSpec]:
        return list(self._inputs)

    def __iter__(self) -> Iterator[ColSpec | TensorSpec]:
        return iter(self._inputs)

    def __len__(self) -> int:
        return len(self._inputs)

    def is_tensor_spec(self) -> bool:
        return isinstance(self._inputs[0], TensorSpec)

    def has_input_names(self) -> bool:
        return self._inputs[0].name is not None

    def input_names(self) -> list[str]:
        """Names, or for an unnamed schema the positions as strings ("0", "1", ...)."""
        return [s.name if s.name is not None else str(i) for i, s in enumerate(self._inputs)]

    def required_input_names(self) -> list[str]:
        return [n for n, s in zip(self.input_names(), self._inputs) if s.required]

    def optional_input_names(self) -> list[str]:
        return [n for n, s in zip(self.input_names(), self._inputs) if not s.required]

    def input_types(self) -> list[ColType | np.dtype[Any]]:
        return [s.dtype if isinstance(s, TensorSpec) else s.type for s in self._inputs]

    def numpy_types(self) -> list[np.dtype[Any]]:
        """A numpy dtype per input; nested and "any" columns hold Python objects."""
        import numpy as np

        out: list[np.dtype[Any]] = []
        for s in self._inputs:
            if isinstance(s, TensorSpec):
                out.append(s.dtype)
            elif isinstance(s.type, DataType):
                out.append(s.type.to_numpy())
            else:
                out.append(np.dtype(object))
        return out

    def to_dict(self) -> list[dict[str, Any]]:
        return [s.to_dict() for s in self._inputs]

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> Schema:
        items = _load_json_list(text, "schema")
        return cls([_spec_from_dict(d, f"schema input {i}") for i, d in enumerate(items)])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Schema) and self._inputs == other._inputs

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Schema({self._inputs!r})"


def _load_json_list(text: str, what: str) -> list[Any]:
    try:
        items = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"{what} is not valid JSON: {exc}") from exc
    if not isinstance(items, list):
        raise InvalidArgument(f"{what} JSON must be a list, got {type(items).__name__}")
    return items


# --- params ---------------------------------------------------------------------------------

ParamType = Union[DataType, Object]
_INT_RANGES = {DataType.integer: (-(2**31), 2**31 - 1), DataType.long: (-(2**63), 2**63 - 1)}


class ParamSpec:
    """One inference param: its type, its default, and shape ``(-1,)`` for a list param."""

    def __init__(
        self,
        name: str,
        dtype: ParamType,
        default: Any,
        shape: tuple[int, ...] | None = None,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise InvalidArgument(f"param name must be a non-empty string, got {name!r}")
        if isinstance(dtype, str) and dtype in DataType._value2member_map_:
            dtype = DataType(dtype)
        if not isinstance(dtype, (DataType, Object)) or dtype is DataType.binary:
            raise InvalidArgument(f"param {name!r} type must be a DataType other than binary, "
                                  f"or an Object, got {dtype!r}")
        if shape is not None and tuple(shape) != (-1,):
            raise InvalidArgument(f"param {name!r} shape must be None or (-1,), got {shape!r}")
        self.name = name
        self.dtype: ParamType = dtype
        self.shape = None if shape is None else (-1,)
        self.default = None if default is None else self.convert(default)

    def convert(self, value: Any) -> Any:
        """``value`` as this param's type, or InvalidArgument naming the param."""
        if self.shape is None:
            return _convert_param_value(self.name, value, self.dtype)
        if _is_ndarray(value):
            if value.ndim != 1:
                raise InvalidArgument(
                    f"param {self.name!r} must be a 1-D list, got {value.ndim}-D"
                )
            value = value.tolist()
        if not isinstance(value, (list, tuple)):
            raise InvalidArgument(
                f"param {self.name!r} must be a list of {_type_name(self.dtype)}, "
                f"got {type(value).__name__} {value!r}"
            )
        return [_convert_param_value(self.name, v, self.dtype) for v in value]

    def to_dict(self) -> dict[str, Any]:
        d = {
            "name": self.name,
            "default": _json_value(self.default),
            "shape": None if self.shape is None else list(self.shape),
        }
        d.update(_type_to_dict(self.dtype))
        return d

    @classmethod
    def from_dict(cls, d: Any) -> ParamSpec:
        if not isinstance(d, Mapping) or not isinstance(d.get("name"), str):
            raise InvalidArgument(f"param spec must be a JSON object with a 'name', got {d!r}")
        name = d["name"]
        dtype = _type_from_dict(d, f"param {name!r}")
        if not isinstance(dtype, (DataType, Object)):
            raise InvalidArgument(f"param {name!r} has unsupported type {_type_name(dtype)}")
        shape = d.get("shape")
        return cls(name, dtype, d.get("default"), None if shape is None else tuple(shape))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ParamSpec) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        shape = "" if self.shape is None else f", shape={self.shape}"
        kind = _type_name(self.dtype)
        return f"ParamSpec({self.name!r}, {kind}, default={self.default!r}{shape})"


def _is_ndarray(value: object) -> bool:
    np = sys.modules.get("numpy")  # no numpy loaded means no numpy values to see
    return np is not None and isinstance(value, np.ndarray)


def _convert_param_value(name: str, value: Any, dtype: ParamType) -> Any:
    """Safe conversions only: ints to floats, integral floats to ints, ISO strings to dates."""
    np = sys.modules.get("numpy")
    if np is not None and isinstance(value, np.datetime64):
        value = _datetime64_to_python(value)
    elif np is not None and isinstance(value, np.generic):
        value = value.item()
    bad = InvalidArgument(
        f"param {name!r} must be {_type_name(dtype)}, got {type(value).__name__} {value!r}"
    )
    if isinstance(dtype, Object):
        if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
            raise bad
        return dict(value)
    if dtype is DataType.boolean:
        if isinstance(value, bool):
            return value
    elif dtype in _INT_RANGES:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            low, high = _INT_RANGES[dtype]
            if not low <= value <= high:
                raise InvalidArgument(f"param {name!r} value {value} is out of range for {dtype}")
            return value
    elif dtype in (DataType.float, DataType.double):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif dtype is DataType.string:
        if isinstance(value, str):
            return value
    elif dtype is DataType.datetime:
        if isinstance(value, (dt.date, dt.datetime)):
            return value
        if isinstance(value, str):
            try:
                # A bare date stays a date, so MLflow's "2020-01-01" writes back unchanged.
                return (dt.date if len(value) == 10 else dt.datetime).fromisoformat(value)
            except ValueError:
                raise InvalidArgument(
                    f"param {name!r} must be an ISO 8601 datetime, got {value!r}"
                ) from None
    raise bad


def _datetime64_to_python(value: Any) -> dt.date | dt.datetime:
    unit = str(value.dtype)[len("datetime64") :].strip("[]")
    item = value.item() if unit in ("Y", "M", "W", "D") else value.astype("datetime64[us]").item()
    return item  # type: ignore[no-any-return]


def _json_value(value: Any) -> Any:
    """A JSON-ready copy of a param default (dates as ISO strings, as MLflow writes them)."""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    return value


class ParamSchema:
    """The params a model's ``predict`` accepts, each with a default."""

    def __init__(self, params: Sequence[ParamSpec]) -> None:
        specs = list(params)
        for spec in specs:
            if not isinstance(spec, ParamSpec):
                raise InvalidArgument(f"ParamSchema takes ParamSpec values, got {spec!r}")
        dupes = _duplicates(p.name for p in specs)
        if dupes:
            raise InvalidArgument(f"param schema has duplicate names {dupes}")
        self._params = specs

    @property
    def params(self) -> list[ParamSpec]:
        return list(self._params)

    def __iter__(self) -> Iterator[ParamSpec]:
        return iter(self._params)

    def to_dict(self) -> list[dict[str, Any]]:
        return [p.to_dict() for p in self._params]

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> ParamSchema:
        return cls([ParamSpec.from_dict(d) for d in _load_json_list(text, "param schema")])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ParamSchema) and self._params == other._params

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ParamSchema({self._params!r})"


# --- the signature --------------------------------------------------------------------------


class ModelSignature:
    """A model's input schema, output schema and param schema (any may be absent)."""

    def __init__(
        self,
        inputs: Schema | None = None,
        outputs: Schema | None = None,
        params: ParamSchema | None = None,
    ) -> None:
        for label, value, cls in (("inputs", inputs, Schema), ("outputs", outputs, Schema),
                                  ("params", params, ParamSchema)):
            if value is not None and not isinstance(value, cls):
                raise InvalidArgument(f"signature {label} must be a {cls.__name__} or None, "
                                      f"got {type(value).__name__}")
        if inputs is None and outputs is None and params is None:
            # MLflow refuses to read such a signature back, so none is ever written.
            raise InvalidArgument("a signature needs at least one of inputs, outputs or params")
        self.inputs = inputs
        self.outputs = outputs
        self.params = params

    def to_dict(self) -> dict[str, str | None]:
        """What goes under ``signature:`` in MLmodel: each part a JSON string, or None."""
        return {
            "inputs": None if self.inputs is None else self.inputs.to_json(),
            "outputs": None if self.outputs is None else self.outputs.to_json(),
            "params": None if self.params is None else self.params.to_json(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ModelSignature:
        if not isinstance(d, Mapping):
            raise InvalidArgument(f"signature must be a mapping, got {type(d).__name__}")
        parts: dict[str, str | None] = {}
        for key in ("inputs", "outputs", "params"):
            value = d.get(key)
            if value is not None and not isinstance(value, str):
                raise InvalidArgument(f"signature {key} must be a JSON string or null")
            parts[key] = value
        return cls(
            None if parts["inputs"] is None else Schema.from_json(parts["inputs"]),
            None if parts["outputs"] is None else Schema.from_json(parts["outputs"]),
            None if parts["params"] is None else ParamSchema.from_json(parts["params"]),
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ModelSignature) and (
            (self.inputs, self.outputs, self.params) == (other.inputs, other.outputs, other.params)
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"ModelSignature(inputs={self.inputs!r}, outputs={self.outputs!r}, "
            f"params={self.params!r})"
        )


# --- inference, re-exported from mltrail.models.inference -----------------------------------

_INFERENCE = frozenset({"infer_param_schema", "infer_schema", "infer_signature"})


def __getattr__(name: str) -> Any:
    """``infer_signature`` and friends, imported from ``inference`` on first use."""
    if name in _INFERENCE:
        from mltrail.models import inference

        value = getattr(inference, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
