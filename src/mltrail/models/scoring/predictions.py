"""Model output, turned into the JSON bytes of the answer.

``encode_predictions(predictions)`` gives ``{"predictions": ...}`` (or the bare value, for
MLflow 1.x requests), encoded with orjson:

    model output                     JSON
    numpy array                      nested lists (orjson writes numeric arrays itself)
    pandas DataFrame                 a list of records, one object per row, as MLflow writes
    pandas Series                    a list
    dict of any of these             an object of the same, converted value by value
    numpy / pandas scalars           numbers, booleans, strings
    NaN, NaT, None, pd.NA            null
    datetimes                        ISO 8601 strings

An output that none of this covers raises ``UnserializablePredictions`` (a server fault).
"""

from __future__ import annotations

import base64
import datetime
import decimal
import sys
from typing import Any

import orjson

from mltrail.errors import MltrailError

__all__ = ["UnserializablePredictions", "encode_predictions", "jsonable"]

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
_ORJSON_ARRAY_KINDS = frozenset("biufM")


class UnserializablePredictions(MltrailError):
    """The model answered with something that has no JSON form."""


def encode_predictions(predictions: Any, *, bare: bool = False) -> bytes:
    """The response body for ``predictions``."""
    value = jsonable(predictions)
    document = value if bare else {"predictions": value}
    try:
        return orjson.dumps(document, default=_default, option=_OPTIONS)
    except TypeError as exc:
        raise UnserializablePredictions(
            f"The model's predictions ({type(predictions).__name__}) cannot be written as "
            f"JSON: {exc}"
        ) from exc


def jsonable(value: Any) -> Any:
    """``value`` with its frames, series and arrays in forms orjson writes."""
    # numpy and pandas are looked up, never imported: an object of theirs means they are.
    np = sys.modules.get("numpy")
    if np is not None and isinstance(value, np.ndarray):
        return _array(value)
    if isinstance(value, dict):
        return {key: jsonable(item) for key, item in value.items()}
    pd = sys.modules.get("pandas")
    if pd is not None:
        if isinstance(value, pd.DataFrame):
            return _records(value)
        if isinstance(value, pd.Series):
            return _column(value)
        if isinstance(value, pd.Index):
            return _column(value.to_series())
    if isinstance(value, (list, tuple)) and value and not isinstance(value[0], (int, float, str)):
        return [jsonable(item) for item in value]
    return value


def _array(array: Any) -> Any:
    import numpy as np  # already imported: an array was given

    if array.dtype.kind in _ORJSON_ARRAY_KINDS and array.ndim > 0:
        if not array.dtype.isnative:
            array = array.astype(array.dtype.newbyteorder("="))
        # orjson writes contiguous numeric arrays in C, NaN as null.
        return np.ascontiguousarray(array)
    return array.tolist()


def _records(frame: Any) -> list[dict[Any, Any]]:
    names = list(frame.columns)
    columns = [_column(frame.iloc[:, position]) for position in range(len(names))]
    return [dict(zip(names, row)) for row in zip(*columns)]


def _column(series: Any) -> list[Any]:
    """One column's values as Python objects orjson writes."""
    import numpy as np  # already imported: a Series was given
    import pandas as pd

    dtype = series.dtype
    values: list[Any]
    if isinstance(dtype, np.dtype) and dtype.kind in "biufO":
        values = series.to_numpy().tolist()  # floats keep NaN, written as null
    elif isinstance(dtype, pd.DatetimeTZDtype) or dtype.kind == "M":
        values = [None if value is pd.NaT else value.isoformat() for value in series]
    elif dtype.kind == "m":
        values = [None if value is pd.NaT else str(value) for value in series]
    else:
        # Extension dtypes (nullable Int64, boolean, string, category): missing values as None.
        values = series.astype(object).where(series.notna(), None).tolist()
    return values


def _default(value: Any) -> Any:
    """What orjson calls for a type it does not write itself."""
    np = sys.modules.get("numpy")
    if np is not None:
        if isinstance(value, np.ndarray):
            return value.tolist()  # not contiguous, or of a dtype orjson does not write
        if isinstance(value, np.generic):
            return value.item()
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        if value != value:  # NaT
            return None
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return str(value)
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, (set, frozenset)):
        return list(value)
    pd = sys.modules.get("pandas")
    if pd is not None:
        if value is pd.NA or value is pd.NaT:
            return None
        if isinstance(value, (pd.DataFrame, pd.Series, pd.Index)):
            return jsonable(value)
        if isinstance(value, pd.Timedelta):
            return str(value)
        if isinstance(value, pd.Period):
            return str(value)
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")
