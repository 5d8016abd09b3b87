"""Checking a model's predict input and params against its signature, and converting them.

The scoring server runs this on every request, so it works a column (or a tensor) at a time:
a dtype check and at most one ``astype``, never a Python loop over rows. It collects every
problem before raising, so a caller can fix a request in one go. Conversions are the safe
ones: widening numbers, floats that are exactly integers, ISO strings to datetimes; nothing
becomes a string unless it already is one.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Callable, Union

from mltrail.errors import InvalidArgument
from mltrail.models.signature import (
    AnyType,
    Array,
    ColSpec,
    ColType,
    DataType,
    ParamSchema,
    Schema,
    TensorSpec,
    _type_name,
)

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["enforce_params", "enforce_schema"]

_log = logging.getLogger(__name__)

# A converted column, or the words for what was wrong with it ("string values").
_Converted = Union["pd.Series[Any]", str]


def enforce_schema(data: Any, schema: Schema) -> Any:
    """``data`` as the model declared it: a DataFrame for columns, arrays for tensors."""
    if schema.is_tensor_spec():
        return _enforce_tensors(data, schema)
    return _enforce_columns(data, schema)


def _problems(missing: list[str], wrong: list[str]) -> InvalidArgument:
    parts = []
    if missing:
        parts.append(f"is missing inputs {missing!r}")
    if wrong:
        parts.append("got inputs of the wrong type: " + "; ".join(wrong))
    return InvalidArgument("Model " + " and ".join(parts))


# --- columns --------------------------------------------------------------------------------


def _enforce_columns(data: Any, schema: Schema) -> pd.DataFrame:
    import pandas as pd  # heavy: only when there is data to check

    specs = [s for s in schema.inputs if isinstance(s, ColSpec)]
    frame = _as_frame(data, specs)
    if frame.columns.has_duplicates:
        dupes = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
        raise InvalidArgument(f"input has duplicate columns {dupes}")
    if schema.has_input_names():
        by_name = {str(label): label for label in frame.columns}
        labels = [by_name.get(str(s.name)) for s in specs]
    else:  # unnamed columns are matched by position
        labels = [frame.columns[i] if i < frame.shape[1] else None for i in range(len(specs))]
    if _already_fits(frame, specs, labels):
        # Every column there with the exact dtype: nothing to convert, and a one-row request
        # should not pay for rebuilding its frame column by column.
        return frame if labels == list(frame.columns) else frame[labels]
    missing: list[str] = []
    wrong: list[str] = []
    out: dict[Any, pd.Series[Any]] = {}
    for i, (spec, label) in enumerate(zip(specs, labels)):
        name = spec.name if spec.name is not None else str(i)
        if label is None:
            if spec.required:
                missing.append(name)
            continue
        converted = _convert_column(frame[label], spec.type)
        if isinstance(converted, str):
            wrong.append(f"column {name!r} must be {_type_name(spec.type)}, got {converted}")
        else:
            out[label if spec.name is None else spec.name] = converted
    if missing or wrong:
        raise _problems(missing, wrong)
    return pd.DataFrame(out, index=frame.index, copy=False)


# The numpy dtype a column of each type has when it needs no conversion at all.
_EXACT_DTYPES = {
    DataType.double: "float64",
    DataType.float: "float32",
    DataType.long: "int64",
    DataType.integer: "int32",
    DataType.boolean: "bool",
}


def _already_fits(frame: pd.DataFrame, specs: list[ColSpec], labels: list[Any]) -> bool:
    if any(label is None for label in labels) or not specs or specs[0].name is None:
        return False
    dtypes = frame.dtypes
    for spec, label in zip(specs, labels):
        exact = _EXACT_DTYPES.get(spec.type) if isinstance(spec.type, DataType) else None
        if exact is None or label != spec.name or str(dtypes[label]) != exact:
            return False
    return True


def _as_frame(data: Any, specs: list[ColSpec]) -> pd.DataFrame:
    import pandas as pd

    np = sys.modules.get("numpy")
    named = specs[0].name is not None
    names: list[Any] = [s.name for s in specs] if named else list(range(len(specs)))
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, pd.Series):
        return data.to_frame(names[0] if data.name is None else data.name)
    if np is not None and isinstance(data, np.ndarray):
        return _array_frame(data, names)
    try:
        if isinstance(data, dict):
            if _is_one_record(data, specs):
                return pd.DataFrame([data])
            return pd.DataFrame(data)
        if isinstance(data, (list, tuple)):
            if data and all(isinstance(r, dict) for r in data):
                return pd.DataFrame(list(data))
            if len(specs) == 1:
                return pd.DataFrame({names[0]: pd.Series(list(data))})
            return pd.DataFrame(list(data), columns=names)
    except (ValueError, TypeError) as exc:
        raise InvalidArgument(f"input cannot be read as columns {names}: {exc}") from exc
    if isinstance(data, (str, bytes, bool, int, float)) and len(specs) == 1:
        return pd.DataFrame({names[0]: [data]})
    raise InvalidArgument(
        f"input of type {type(data).__name__} cannot be matched to columns {names}: expected "
        "a pandas DataFrame, a dict of columns, a list of records or a numpy array"
    )


def _array_frame(arr: np.ndarray[Any, Any], names: list[Any]) -> pd.DataFrame:
    import pandas as pd

    if arr.dtype.names:
        return pd.DataFrame(arr)
    if arr.ndim == 1 and len(names) == 1:
        return pd.DataFrame({names[0]: arr})
    if arr.ndim == 2 and arr.shape[1] == len(names):
        return pd.DataFrame(arr, columns=names)
    raise InvalidArgument(
        f"an array of shape {arr.shape} cannot be matched to columns {names}: "
        f"expected shape (n, {len(names)})"
    )


def _list_depth(value: Any) -> int:
    depth = 0
    while isinstance(value, (list, tuple)) or _is_ndarray(value):
        depth += 1
        if len(value) == 0:
            break
        value = value[0]
    return depth


def _array_depth(t: ColType) -> int:
    return 1 + _array_depth(t.dtype) if isinstance(t, Array) else 0


def _is_one_record(data: dict[Any, Any], specs: list[ColSpec]) -> bool:
    """Is a dict one row (``{"a": 1}``) or columns (``{"a": [1, 2]}``)? The schema decides:
    a list one level deeper than its column's type is a column of values."""
    types = {s.name: s.type for s in specs}
    return all(_list_depth(v) <= _array_depth(types.get(k, AnyType())) for k, v in data.items())


def _is_ndarray(value: object) -> bool:
    np = sys.modules.get("numpy")
    return np is not None and isinstance(value, np.ndarray)


def _describe(col: pd.Series[Any]) -> str:
    """What a column holds, in signature words: "string values", "mixed values"."""
    import pandas as pd

    dtype = col.dtype
    if dtype == object or isinstance(dtype, pd.StringDtype):
        kind = pd.api.types.infer_dtype(col, skipna=True)
        words = {"integer": "long", "floating": "double", "bytes": "binary", "empty": "missing"}
        return f"{words.get(kind, kind)} values"
    try:
        return f"{DataType.from_numpy(getattr(dtype, 'numpy_dtype', dtype))} values"
    except (InvalidArgument, TypeError):
        return f"{dtype} values"


def _convert_column(col: pd.Series[Any], t: ColType) -> _Converted:
    if isinstance(t, AnyType):
        return col
    if not isinstance(t, DataType):
        return _check_nested(col, t)
    return _CONVERTERS[t](col, t)


def _check_nested(col: pd.Series[Any], t: ColType) -> _Converted:
    """Lists and dicts are checked leniently: an object column whose first value fits."""
    if col.dtype != object:
        return _describe(col)
    present = col.notna().to_numpy()
    if not present.any():
        return col
    first = col.iloc[int(present.argmax())]
    fits = _list_depth(first) > 0 if isinstance(t, Array) else isinstance(first, Mapping)
    return col if fits else f"{type(first).__name__} values"


def _object_kind(col: pd.Series[Any]) -> str:
    import pandas as pd

    return str(pd.api.types.infer_dtype(col, skipna=True)) if col.dtype == object else ""


def _to_int(col: pd.Series[Any], t: DataType) -> _Converted:
    import numpy as np
    import pandas as pd

    target = np.dtype(np.int32 if t is DataType.integer else np.int64)
    info = np.iinfo(target)
    kind = _object_kind(col)
    if pd.api.types.is_bool_dtype(col.dtype) or kind == "boolean":
        return _describe(col)
    if kind in ("integer", "floating", "mixed-integer-float"):
        col = pd.to_numeric(col)  # ints with gaps become floats, refused below
    if pd.api.types.is_integer_dtype(col.dtype):
        if len(col) and (col.min() < info.min or col.max() > info.max):
            return f"values outside the range of {t}"
        if col.hasnans:  # a nullable integer column keeps its gaps
            return col.astype("Int32" if t is DataType.integer else "Int64")
        return col.astype(target)
    if pd.api.types.is_float_dtype(col.dtype):
        values = col.to_numpy(dtype=np.float64, na_value=np.nan)
        if np.isnan(values).any():
            return "double values with missing values (NaN)"
        if not np.equal(np.mod(values, 1), 0).all():
            return "double values that are not whole numbers"
        if len(values) and (values.min() < info.min or values.max() > info.max):
            return f"values outside the range of {t}"
        return pd.Series(values.astype(target), index=col.index, name=col.name)
    return _describe(col)


def _to_float(col: pd.Series[Any], t: DataType) -> _Converted:
    import numpy as np
    import pandas as pd

    target = np.float32 if t is DataType.float else np.float64
    kind = _object_kind(col)
    if kind in ("integer", "floating", "mixed-integer-float", "decimal", "empty"):
        col = pd.to_numeric(col, errors="coerce")  # the kinds above are all numbers or gaps
    dtype = col.dtype
    if pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype):
        return _describe(col)
    if pd.api.types.is_complex_dtype(dtype):
        return _describe(col)
    values = col.to_numpy(dtype=target, na_value=np.nan)
    return pd.Series(values, index=col.index, name=col.name)


def _to_bool(col: pd.Series[Any], t: DataType) -> _Converted:
    import pandas as pd

    if col.dtype == bool:
        return col
    if isinstance(col.dtype, pd.BooleanDtype) or _object_kind(col) in ("boolean", "empty"):
        return col.astype("boolean" if col.hasnans else bool)
    return _describe(col)


def _to_string(col: pd.Series[Any], t: DataType) -> _Converted:
    import pandas as pd

    dtype = col.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        inner = pd.Series(dtype.categories)
        if _object_kind(inner) in ("string", "empty"):
            return col.astype(object)
        return _describe(inner)
    if isinstance(dtype, pd.StringDtype):
        return col.astype(object)
    if _object_kind(col) in ("string", "empty"):
        return col
    return _describe(col)


def _to_binary(col: pd.Series[Any], t: DataType) -> _Converted:
    return col if _object_kind(col) in ("bytes", "empty") else _describe(col)


def _to_datetime(col: pd.Series[Any], t: DataType) -> _Converted:
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(col.dtype):
        return col
    text = isinstance(col.dtype, pd.StringDtype)
    if text or _object_kind(col) in ("string", "datetime", "datetime64", "date", "empty"):
        try:
            return pd.to_datetime(col, format="ISO8601")
        except (ValueError, TypeError):
            return "strings that are not ISO 8601 datetimes"
    return _describe(col)


_CONVERTERS: dict[DataType, Callable[[pd.Series[Any], DataType], _Converted]] = {
    DataType.boolean: _to_bool,
    DataType.integer: _to_int,
    DataType.long: _to_int,
    DataType.float: _to_float,
    DataType.double: _to_float,
    DataType.string: _to_string,
    DataType.binary: _to_binary,
    DataType.datetime: _to_datetime,
}


# --- tensors --------------------------------------------------------------------------------


def _enforce_tensors(data: Any, schema: Schema) -> Any:
    import pandas as pd

    specs = [s for s in schema.inputs if isinstance(s, TensorSpec)]
    if not schema.has_input_names():
        if len(specs) == 1:
            return _raise_or_value(_convert_tensor(_as_array(data, "input"), specs[0], "input"))
        if not isinstance(data, (list, tuple)) or len(data) != len(specs):
            raise InvalidArgument(f"input must be a list of {len(specs)} arrays, one per tensor")
        return [
            _raise_or_value(_convert_tensor(_as_array(d, f"tensor {i}"), s, f"tensor {i}"))
            for i, (d, s) in enumerate(zip(data, specs))
        ]
    if isinstance(data, pd.DataFrame):
        given: Mapping[Any, Any] = {str(c): data[c].to_numpy() for c in data.columns}
    elif isinstance(data, Mapping):
        given = data
    elif len(specs) == 1:
        given = {specs[0].name: data}
    else:
        names = [s.name for s in specs]
        raise InvalidArgument(
            f"input must be a dict of arrays named {names}, got {type(data).__name__}"
        )
    missing: list[str] = []
    wrong: list[str] = []
    out: dict[str, Any] = {}
    for spec in specs:
        name = str(spec.name)
        if name not in given:
            missing.append(name)
            continue
        where = f"tensor {name!r}"
        result = _convert_tensor(_as_array(given[name], where), spec, where)
        if isinstance(result, str):
            wrong.append(result)
        else:
            out[name] = result
    if missing or wrong:
        raise _problems(missing, wrong)
    return out


def _raise_or_value(result: Any) -> Any:
    if isinstance(result, str):
        raise _problems([], [result])
    return result


def _as_array(value: Any, where: str) -> np.ndarray[Any, Any]:
    import numpy as np

    if isinstance(value, np.ndarray):
        return value
    to_numpy = getattr(value, "to_numpy", None)  # pandas frames and series
    try:
        return to_numpy() if callable(to_numpy) else np.asarray(value)
    except ValueError as exc:
        raise InvalidArgument(f"{where} is not a rectangular array: {exc}") from exc


def _convert_tensor(
    arr: np.ndarray[Any, Any], spec: TensorSpec, where: str
) -> np.ndarray[Any, Any] | str:
    """The array cast to the spec's dtype, or the words for what is wrong with it."""
    shape = spec.shape
    if arr.ndim != len(shape) or any(s not in (-1, a) for s, a in zip(shape, arr.shape)):
        return f"{where} must have shape {shape}, got {arr.shape}"
    cast = _cast(arr, spec.dtype)
    if cast is None:
        return f"{where} must be {_dtype_label(spec.dtype)}, got {_dtype_label(arr.dtype)} values"
    return cast


def _dtype_label(nd: np.dtype[Any]) -> str:
    return {"U": "str", "S": "bytes"}.get(nd.kind, str(nd))


def _cast(arr: np.ndarray[Any, Any], dst: np.dtype[Any]) -> np.ndarray[Any, Any] | None:
    import numpy as np
    import pandas as pd

    src, d = arr.dtype, dst.kind
    if src == dst:
        return arr
    if d == "O":
        return arr.astype(object) if src.kind in "US" else None
    if d in "US":
        if src.kind == d:  # a string's length is not part of the contract
            return arr
        wanted = "string" if d == "U" else "bytes"
        if src.kind == "O" and pd.api.types.infer_dtype(arr.ravel(), skipna=False) == wanted:
            return arr.astype(str if d == "U" else bytes)
        return None
    if d == "M":
        dates = ("string", "datetime", "datetime64", "date")
        if src.kind in "MU" or (
            src.kind == "O" and pd.api.types.infer_dtype(arr.ravel(), skipna=True) in dates
        ):
            try:
                return arr.astype(dst)
            except (ValueError, TypeError):
                return None
        return None
    if d == "b" or src.kind == "b":  # booleans are not numbers, either way
        return None
    if d in "iu":
        if src.kind == "f":
            if np.isnan(arr).any() or not np.equal(np.mod(arr, 1), 0).all():
                return None
        elif src.kind not in "iu":
            return None
        info = np.iinfo(dst)
        if arr.size and (arr.min() < info.min or arr.max() > info.max):
            return None
        return arr.astype(dst)
    if d in "fc" and src.kind in "iuf" + ("c" if d == "c" else ""):
        return arr.astype(dst)  # floats may narrow (same kind), as JSON numbers arrive as float64
    return arr.astype(dst) if np.can_cast(src, dst, "safe") else None


# --- params ---------------------------------------------------------------------------------


def enforce_params(params: Mapping[str, Any] | None, schema: ParamSchema | None) -> dict[str, Any]:
    """Every declared param, given or defaulted, converted to its type.

    Params the schema does not declare are dropped with a warning, as MLflow does: a client
    may send params to several model versions that do not all take them.
    """
    if params is not None and not isinstance(params, Mapping):
        raise InvalidArgument(f"params must be a dict, got {type(params).__name__}")
    given = dict(params or {})
    if schema is None:
        if given:
            _log.warning("Ignoring params %s: the model's signature declares no params",
                         sorted(map(str, given)))
        return {}
    declared = [p.name for p in schema]
    unknown = sorted(str(k) for k in given if k not in declared)
    if unknown:
        _log.warning(
            "Ignoring params %s: the model's signature declares only %s", unknown, declared
        )
    out: dict[str, Any] = {}
    problems: list[str] = []
    for spec in schema:
        value = given.get(spec.name)
        if value is None:  # absent or null: the default
            out[spec.name] = spec.default
            continue
        try:
            out[spec.name] = spec.convert(value)
        except InvalidArgument as exc:
            problems.append(exc.message)
    if problems:
        raise InvalidArgument("Invalid params: " + "; ".join(problems))
    return out
