"""Signature inference: the schema of example data, and the params of example values.

``infer_signature`` reads a model's input, output and params examples into a
``ModelSignature``. Types come from dtypes wherever numpy or pandas keep one; otherwise
Python values are looked at one by one and their types merged (numbers widen, objects
unite). numpy and pandas are never imported to check a value's type: a value can only be
one of theirs if they are already loaded. ``mltrail.models.signature`` re-exports these
functions.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mltrail.errors import InvalidArgument
from mltrail.models.signature import (
    AnyType,
    Array,
    ColSpec,
    ColType,
    DataType,
    ModelSignature,
    Object,
    ParamSchema,
    ParamSpec,
    ParamType,
    Property,
    Schema,
    TensorSpec,
    _is_ndarray,
    _type_name,
)

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["infer_param_schema", "infer_schema", "infer_signature"]


_NESTED_SAMPLE = 1000  # object columns of lists/dicts: how many values to look at


def infer_signature(
    model_input: Any = None, model_output: Any = None, params: Mapping[str, Any] | None = None
) -> ModelSignature:
    """The signature of a model, from an example of its input, its output and its params."""
    return ModelSignature(
        None if model_input is None else infer_schema(model_input),
        None if model_output is None else infer_schema(model_output),
        infer_param_schema(params) if params else None,
    )


def infer_schema(data: Any) -> Schema:
    """The schema of ``data``, read from dtypes wherever numpy or pandas keep one."""
    pd = sys.modules.get("pandas")
    np = sys.modules.get("numpy")
    if pd is not None and isinstance(data, pd.DataFrame):
        return _infer_frame(data)
    if pd is not None and isinstance(data, pd.Series):
        name = None if data.name is None else str(data.name)
        where = "the series" if name is None else f"column {name!r}"
        return Schema([ColSpec(_infer_column_type(data, where), name, not data.hasnans)])
    if np is not None and isinstance(data, np.ndarray):
        return Schema([_infer_tensor(data, None)])
    if isinstance(data, dict):
        return _infer_dict(data)
    if isinstance(data, list):
        return _infer_list(data)
    if _is_scalar(data):
        return Schema([ColSpec(_infer_value(data, "the input") or AnyType())])
    raise InvalidArgument(
        f"cannot infer a schema from {type(data).__module__}.{type(data).__qualname__}: expected "
        "a pandas DataFrame or Series, a numpy array, a dict, a list or a scalar"
    )


def _is_scalar(value: object) -> bool:
    np = sys.modules.get("numpy")
    return isinstance(value, (str, bytes, bool, int, float, dt.date)) or (
        np is not None and isinstance(value, np.generic)
    )


def _infer_frame(df: pd.DataFrame) -> Schema:
    if df.columns.has_duplicates:
        dupes = sorted({str(c) for c in df.columns[df.columns.duplicated()]})
        raise InvalidArgument(f"cannot infer a schema: duplicate column names {dupes}")
    specs = []
    for label in df.columns:
        col = df[label]
        found = _infer_column_type(col, f"column {label!r}")
        specs.append(ColSpec(found, str(label), not col.hasnans))
    return Schema(specs)


def _infer_column_type(col: pd.Series[Any], where: str) -> ColType:
    import pandas as pd

    dtype = col.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return _infer_column_type(pd.Series(dtype.categories), where)
    if isinstance(dtype, pd.DatetimeTZDtype):
        return DataType.datetime
    if isinstance(dtype, pd.StringDtype):
        return DataType.string
    if dtype == object:
        return _infer_object_column(col, where)
    try:
        return DataType.from_numpy(getattr(dtype, "numpy_dtype", dtype))
    except (InvalidArgument, TypeError):
        raise InvalidArgument(
            f"{where} has dtype {dtype}, which no signature type holds"
        ) from None


_OBJECT_KINDS: dict[str, ColType] = {
    "string": DataType.string,
    "bytes": DataType.binary,
    "boolean": DataType.boolean,
    "floating": DataType.double,
    "mixed-integer-float": DataType.double,
    "datetime": DataType.datetime,
    "datetime64": DataType.datetime,
    "date": DataType.datetime,
    "empty": AnyType(),
}


def _infer_object_column(col: pd.Series[Any], where: str) -> ColType:
    """Scalars are classified in one C pass (pandas' infer_dtype); lists and dicts by sampling."""
    import pandas as pd

    kind = pd.api.types.infer_dtype(col, skipna=True)
    if kind == "integer":
        # pandas turns ints with gaps into floats, so the values a model gets are doubles.
        return DataType.double if col.hasnans else DataType.long
    if kind in _OBJECT_KINDS:
        return _OBJECT_KINDS[kind]
    if kind == "mixed":
        merged: ColType | None = None
        for value in col.dropna().head(_NESTED_SAMPLE):
            if not isinstance(value, (list, tuple, dict)) and not _is_ndarray(value):
                break
            merged = _merge(merged, _infer_value(value, where), where)
        else:
            return merged or AnyType()
    raise InvalidArgument(
        f"{where} holds {kind} values: expected one type of str, bytes, bool, int, float, "
        "datetime, list or dict per column"
    )


def _infer_tensor(arr: np.ndarray[Any, Any], name: str | None) -> TensorSpec:
    if arr.ndim == 0:
        where = "the array" if name is None else f"array {name!r}"
        raise InvalidArgument(f"{where} is 0-dimensional: a tensor input needs a batch dimension")
    return TensorSpec(arr.dtype, (-1, *arr.shape[1:]), name)


def _infer_dict(data: dict[Any, Any]) -> Schema:
    if not data:
        raise InvalidArgument("cannot infer a schema from an empty dict")
    bad = [k for k in data if not isinstance(k, str)]
    if bad:
        raise InvalidArgument(f"input dict keys must be strings, got {bad!r}")
    if all(_is_ndarray(v) for v in data.values()):
        return Schema([_infer_tensor(v, k) for k, v in data.items()])
    # Anything else is one record (MLflow 3): each value is that field's whole value.
    return _infer_records([data])


def _infer_list(data: list[Any]) -> Schema:
    if not data:
        raise InvalidArgument("cannot infer a schema from an empty list")
    records = [isinstance(v, dict) for v in data]
    if all(records):
        return _infer_records(data)
    if any(records):
        raise InvalidArgument("input list mixes dicts (records) with other values")
    merged: ColType | None = None
    for i, value in enumerate(data):
        merged = _merge(merged, _infer_value(value, f"list item {i}"), "the input list")
    return Schema([ColSpec(merged or AnyType())])


def _infer_records(records: list[dict[Any, Any]]) -> Schema:
    types: dict[str, ColType | None] = {}
    seen: dict[str, int] = {}
    optional: set[str] = set()
    for record in records:
        for key, value in record.items():
            if not isinstance(key, str):
                raise InvalidArgument(f"record keys must be strings, got {key!r}")
            where = f"field {key!r}"
            types[key] = _merge(types.get(key), _infer_value(value, where), where)
            seen[key] = seen.get(key, 0) + 1
            if value is None:
                optional.add(key)
    return Schema(
        [
            ColSpec(t or AnyType(), key, key not in optional and seen[key] == len(records))
            for key, t in types.items()
        ]
    )


def _infer_value(value: Any, where: str) -> ColType | None:
    """The type of one Python value; None means "no information" (None, an empty list)."""
    np = sys.modules.get("numpy")
    if value is None:
        return None
    if isinstance(value, bool):
        return DataType.boolean
    if isinstance(value, int):
        return DataType.long
    if isinstance(value, float):
        return DataType.double
    if isinstance(value, str):
        return DataType.string
    if isinstance(value, (bytes, bytearray)):
        return DataType.binary
    if isinstance(value, dt.date):
        return DataType.datetime
    if np is not None and isinstance(value, np.generic):
        return DataType.from_numpy(value.dtype)
    if np is not None and isinstance(value, np.ndarray) and value.dtype != object:
        found: ColType = DataType.from_numpy(value.dtype)
        for _ in range(value.ndim):
            found = Array(found)
        return found
    if isinstance(value, (list, tuple)) or _is_ndarray(value):
        items: ColType | None = None
        for item in value:
            items = _merge(items, _infer_value(item, where), where)
        # An empty list says nothing about its items: "any" alone, the other type in a merge.
        return AnyType() if items is None else Array(items)
    if isinstance(value, dict):
        if not value:
            return AnyType()
        props = []
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidArgument(f"{where}: dict keys must be strings, got {key!r}")
            found = _infer_value(item, f"{where}.{key}") or AnyType()
            props.append(Property(key, found, item is not None))
        return Object(props)
    raise InvalidArgument(
        f"{where}: cannot infer a type for {type(value).__module__}.{type(value).__qualname__}"
    )


_NUMERIC = {DataType.integer, DataType.long, DataType.float, DataType.double}


def _merge(a: ColType | None, b: ColType | None, where: str) -> ColType | None:
    """One type for values seen with types ``a`` and ``b``: numbers widen, objects unite."""
    if a is None or isinstance(a, AnyType):
        return a if b is None else b
    if b is None or isinstance(b, AnyType) or a == b:
        return a
    if a in _NUMERIC and b in _NUMERIC:
        ints = {DataType.integer, DataType.long}
        if a in ints and b in ints:
            return DataType.long
        return DataType.double
    if isinstance(a, Array) and isinstance(b, Array):
        return Array(_merge(a.dtype, b.dtype, where) or AnyType())
    if isinstance(a, Object) and isinstance(b, Object):
        left = {p.name: p for p in a.properties}
        right = {p.name: p for p in b.properties}
        props = []
        for name in sorted(left.keys() | right.keys()):
            pa, pb = left.get(name), right.get(name)
            if pa is None or pb is None:
                only = pa or pb
                assert only is not None
                props.append(Property(name, only.dtype, required=False))
            else:
                merged = _merge(pa.dtype, pb.dtype, f"{where}.{name}") or AnyType()
                props.append(Property(name, merged, pa.required and pb.required))
        return Object(props)
    raise InvalidArgument(f"{where} mixes {_type_name(a)} and {_type_name(b)} values")


def infer_param_schema(params: Mapping[str, Any]) -> ParamSchema:
    """Params from example values: the value is the default, a list makes a list param."""
    specs = []
    for name, value in params.items():
        if not isinstance(name, str):
            raise InvalidArgument(f"param names must be strings, got {name!r}")
        where = f"param {name!r}"
        if value is None:
            raise InvalidArgument(f"{where} is None: its type cannot be inferred")
        if isinstance(value, (list, tuple)) or _is_ndarray(value):
            if _is_ndarray(value) and value.ndim != 1:
                raise InvalidArgument(
                    f"{where} must be a scalar or a 1-D list, got {value.ndim}-D"
                )
            items: ColType | None = None
            for item in value:
                items = _merge(items, _infer_value(item, where), where)
            specs.append(ParamSpec(name, _param_type(items or DataType.string, where),
                                   list(value), (-1,)))
        else:
            found = _infer_value(value, where)
            specs.append(ParamSpec(name, _param_type(found, where), value))
    return ParamSchema(specs)


def _param_type(found: ColType | None, where: str) -> ParamType:
    if isinstance(found, Object) or (isinstance(found, DataType) and found is not DataType.binary):
        return found
    raise InvalidArgument(
        f"{where} has type {_type_name(found)}: params must be bool, int, float, str, datetime, "
        "a dict, or a 1-D list of those"
    )
