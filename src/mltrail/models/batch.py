"""Batch scoring of a file: ``mltrail models predict -m URI -i IN -o OUT``.

The input is read as the scoring server reads a request body (CSV, Parquet, or JSON in any
of its forms), by its extension unless ``content_type`` says otherwise. The output's format
follows its extension too: ``.csv`` and ``.parquet`` get a table (a frame's own columns, else
one ``prediction`` column, or one per output), ``.json`` (and standard output) get
``{"predictions": [...]}``, the scoring server's answer. Rows are scored in chunks, so a
progress callback can follow along.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mltrail.errors import InvalidArgument

if TYPE_CHECKING:
    import pandas as pd

    from mltrail.models.pyfunc import PyFuncModel

__all__ = ["CONTENT_TYPES", "predict_file"]

CONTENT_TYPES = {
    "csv": "text/csv",
    "json": "application/json",
    "parquet": "application/vnd.apache.parquet",
}
_EXTENSIONS = {".csv": "csv", ".json": "json", ".parquet": "parquet", ".pq": "parquet"}
CHUNK_ROWS = 50_000

Progress = Callable[[int, int], None]  # (rows done, rows in all)


def _format_of(path: str | None, given: str | None, what: str) -> str:
    if given:
        fmt = given.lower()
        if fmt not in CONTENT_TYPES:
            raise InvalidArgument(
                f"Unknown {what} format {given!r}: use one of {', '.join(CONTENT_TYPES)}"
            )
        return fmt
    if path is None or path == "-":
        return "json"
    found = _EXTENSIONS.get(os.path.splitext(path)[1].lower())
    if found is None:
        raise InvalidArgument(
            f"Cannot tell the {what} format of {path!r} from its extension: name it .csv, "
            f".json or .parquet, or say which with --{what}-format"
        )
    return found


def _read(path: str | None, fmt: str, model: PyFuncModel) -> Any:
    from mltrail.models.scoring.payload import InputSignature, parse_request

    if path is None or path == "-":
        body = sys.stdin.buffer.read()
    else:
        try:
            with open(path, "rb") as f:
                body = f.read()
        except OSError as exc:
            raise InvalidArgument(f"Cannot read the input {path!r}: {exc.strerror or exc}") from exc
    scoring_input = parse_request(CONTENT_TYPES[fmt], body, InputSignature.of(model.input_schema))
    return scoring_input.data, scoring_input.params


def _rows(data: Any) -> int | None:
    try:
        return len(data)
    except TypeError:
        return None


def _slice(data: Any, start: int, stop: int) -> Any:
    iloc = getattr(data, "iloc", None)
    return iloc[start:stop] if iloc is not None else data[start:stop]


def _concat(parts: list[Any]) -> Any:
    if len(parts) == 1:
        return parts[0]
    import numpy as np
    import pandas as pd

    first = parts[0]
    if isinstance(first, (pd.DataFrame, pd.Series)):
        return pd.concat(parts, ignore_index=True)
    if isinstance(first, np.ndarray):
        return np.concatenate(parts)
    if isinstance(first, list):
        return [item for part in parts for item in part]
    raise InvalidArgument(
        f"The model returned {type(first).__name__} for a chunk of rows, which cannot be "
        "joined with the next chunk's; score the input in one piece"
    )


def score(model: PyFuncModel, data: Any, params: Any, progress: Progress | None) -> Any:
    """Predictions for ``data``, chunk by chunk when it is a table or an array."""
    total = _rows(data)
    if total is None or total <= CHUNK_ROWS or isinstance(data, dict):
        predictions = model.predict(data, params)
        if progress is not None:
            progress(total or 1, total or 1)
        return predictions
    parts = []
    for start in range(0, total, CHUNK_ROWS):
        stop = min(start + CHUNK_ROWS, total)
        parts.append(model.predict(_slice(data, start, stop), params))
        if progress is not None:
            progress(stop, total)
    return _concat(parts)


def _table(predictions: Any) -> pd.DataFrame:
    import numpy as np
    import pandas as pd

    if isinstance(predictions, pd.DataFrame):
        return predictions
    if isinstance(predictions, pd.Series):
        return predictions.to_frame(name=str(predictions.name or "prediction"))
    if isinstance(predictions, dict):
        return pd.DataFrame({str(k): list(np.asarray(v)) for k, v in predictions.items()})
    array = np.asarray(predictions)
    if array.ndim == 1:
        return pd.DataFrame({"prediction": array})
    if array.ndim == 2:
        return pd.DataFrame(array, columns=[f"prediction_{i}" for i in range(array.shape[1])])
    raise InvalidArgument(
        f"Predictions of shape {array.shape} do not fit a table: write them to a .json file"
    )


def _write(predictions: Any, path: str | None, fmt: str) -> None:
    if fmt == "json":
        from mltrail.models.scoring.predictions import encode_predictions

        body = encode_predictions(predictions)
        if path is None or path == "-":
            sys.stdout.buffer.write(body + b"\n")
            sys.stdout.flush()
            return

        def write_bytes(tmp: str) -> None:
            with open(tmp, "wb") as out:
                out.write(body)

        _replace(path, write_bytes)
        return
    if path is None or path == "-":
        raise InvalidArgument(f"{fmt} output needs a file: give --output-path")
    table = _table(predictions)
    if fmt == "csv":
        _replace(path, lambda tmp: table.to_csv(tmp, index=False))
    else:
        _replace(path, lambda tmp: table.to_parquet(tmp, index=False))


def _replace(path: str, write: Callable[[str], Any]) -> None:
    """Write to a temporary file beside ``path``, then move it in: a failed write leaves no
    half-written output (nor an earlier output half-replaced)."""
    tmp = f"{path}.partial-{os.getpid()}"
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def predict_file(
    model_uri: str,
    input_path: str | None,
    output_path: str | None = None,
    *,
    content_type: str | None = None,
    output_format: str | None = None,
    progress: Progress | None = None,
) -> int:
    """Score a file with a model; returns how many predictions were written."""
    from mltrail.models.pyfunc import load_model

    in_fmt = _format_of(input_path, content_type, "input")
    out_fmt = _format_of(output_path, output_format, "output")
    model = load_model(model_uri)
    data, params = _read(input_path, in_fmt, model)
    predictions = score(model, data, params, progress)
    _write(predictions, output_path, out_fmt)
    return _rows(predictions) or 1
