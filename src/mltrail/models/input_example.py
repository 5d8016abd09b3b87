"""Input examples: a sample of a model's input, saved in the model directory as MLflow does.

Two files are written. ``input_example.json`` holds the example itself (a DataFrame in
pandas' "split" orient, an array as nested lists, anything else as JSON), and
``serving_input_example.json`` the request body a scoring server accepts for it
(``{"dataframe_split": ...}`` or ``{"inputs": ...}``), ready to send. MLmodel's
``saved_input_example_info`` records the kind, so the example loads back as it was given:
a DataFrame, an ndarray (or a dict of them), or plain JSON.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import sys
from typing import Any

from mltrail.errors import InvalidArgument

__all__ = ["EXAMPLE_FILE", "SERVING_FILE", "load_input_example", "save_input_example"]

EXAMPLE_FILE = "input_example.json"
SERVING_FILE = "serving_input_example.json"


def save_input_example(model_dir: str, example: Any) -> dict[str, str]:
    """Write both files; returns the ``saved_input_example_info`` for MLmodel."""
    if not os.path.isdir(model_dir):
        raise InvalidArgument(f"model directory {model_dir!r} does not exist")
    kind, payload, serving = _encode(example)
    try:  # both documents are built before either file is written
        example_text = json.dumps(payload, default=_json_default)
        serving_text = json.dumps(serving, default=_json_default, indent=2)
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"input example cannot be written as JSON: {exc}") from exc
    _write(os.path.join(model_dir, EXAMPLE_FILE), example_text)
    _write(os.path.join(model_dir, SERVING_FILE), serving_text)
    info = {"artifact_path": EXAMPLE_FILE, "type": kind}
    if kind == "dataframe":
        info["pandas_orient"] = "split"
    info["serving_input_path"] = SERVING_FILE
    return info


def load_input_example(model_dir: str, info: dict[str, Any]) -> Any:
    """The example ``save_input_example`` wrote (or MLflow did), as a DataFrame, an ndarray,
    a dict of ndarrays or plain JSON. Types JSON cannot carry (float32, datetimes) come back
    as JSON gives them; ``enforcement.enforce_schema`` restores them from a signature."""
    path = _inside(model_dir, info.get("artifact_path"))
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise InvalidArgument(f"input example {path!r} does not exist") from None
    except ValueError as exc:
        raise InvalidArgument(f"input example {path!r} is not valid JSON: {exc}") from exc
    kind = info.get("type")
    if kind == "dataframe":
        return _frame(data, info.get("pandas_orient", "split"), path)
    if kind == "ndarray":
        import numpy as np  # heavy: only for an array example

        if isinstance(data, dict):
            return {k: np.asarray(v) for k, v in data.items()}
        return np.asarray(data)
    if kind == "json_object":
        return data
    raise InvalidArgument(
        f"input example type {kind!r} is not supported: expected dataframe, ndarray or json_object"
    )


def _encode(example: Any) -> tuple[str, Any, dict[str, Any]]:
    """(kind, the example as JSON-ready data, the serving request body)."""
    pd = sys.modules.get("pandas")  # no pandas loaded means no pandas objects to see
    np = sys.modules.get("numpy")
    if pd is not None and isinstance(example, pd.Series):
        example = example.to_frame()
    if pd is not None and isinstance(example, pd.DataFrame):
        split = example.to_dict(orient="split", index=False)
        payload = {"columns": split["columns"], "data": split["data"]}
        return "dataframe", payload, {"dataframe_split": payload}
    if np is not None and isinstance(example, np.ndarray):
        payload = _array_to_list(example)
        return "ndarray", payload, {"inputs": payload}
    if isinstance(example, dict):
        if example and np is not None and all(isinstance(v, np.ndarray) for v in example.values()):
            payload = {str(k): _array_to_list(v) for k, v in example.items()}
            return "ndarray", payload, {"inputs": payload}
        return "json_object", example, {"inputs": example}
    if isinstance(example, (list, str, bytes, bool, int, float, dt.date)) or (
        np is not None and isinstance(example, np.generic)
    ):
        return "json_object", example, {"inputs": example}
    raise InvalidArgument(
        f"input example of type {type(example).__module__}.{type(example).__qualname__} is "
        "not supported: expected a pandas DataFrame, a numpy array, a dict, a list or a scalar"
    )


def _array_to_list(arr: Any) -> Any:
    import numpy as np

    if arr.dtype.kind == "M":  # tolist() would give integers for nanosecond units
        return np.datetime_as_string(arr).tolist()
    return arr.tolist()


def _json_default(value: Any) -> Any:
    """The JSON spelling of what json cannot write: numpy values, dates, bytes (base64)."""
    np = sys.modules.get("numpy")
    if np is not None:
        if isinstance(value, np.ndarray):
            return _array_to_list(value)
        if isinstance(value, np.datetime64):
            return str(value)
        if isinstance(value, np.generic):
            return value.item()
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return base64.encodebytes(bytes(value)).decode("ascii")
    raise TypeError(f"values of type {type(value).__name__} are not JSON")


def _write(path: str, text: str) -> None:
    # Write beside, then rename: a reader never sees half a file.
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def _inside(model_dir: str, relative: Any) -> str:
    """``relative`` joined to ``model_dir``; MLmodel is input, so it may not point outside."""
    if not isinstance(relative, str) or not relative:
        raise InvalidArgument(f"input example artifact_path must be a file name, got {relative!r}")
    norm = os.path.normpath(relative)
    escapes = norm == ".." or norm.startswith(".." + os.sep)
    if os.path.isabs(relative) or escapes or ":" in relative:
        raise InvalidArgument(
            f"input example artifact_path {relative!r} must stay inside the model directory"
        )
    return os.path.join(model_dir, norm)


def _frame(data: Any, orient: Any, path: str) -> Any:
    import pandas as pd  # heavy: only for a DataFrame example

    if orient == "split" and isinstance(data, dict) and "data" in data:
        return pd.DataFrame(data["data"], columns=data.get("columns"), index=data.get("index"))
    if orient == "records" and isinstance(data, list):
        return pd.DataFrame(data)
    raise InvalidArgument(
        f"input example {path!r} is not a DataFrame in {orient!r} orient "
        "(expected split or records)"
    )
