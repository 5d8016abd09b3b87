"""Request bodies of ``POST /invocations``, turned into what the model's ``predict`` takes.

``parse_request(content_type, body, signature)`` reads one body into a ``ScoringInput``: the
model input (a pandas DataFrame, a numpy array, a dict of arrays, or a plain value), the
optional ``params``, and whether the answer is the bare predictions list of MLflow 1.x.

    content type                                 body                           input
    application/json                             {"dataframe_split": {...}}     DataFrame
                                                 {"dataframe_records": [...]}   DataFrame
                                                 {"instances": ...}             see below
                                                 {"inputs": ...}                see below
    application/json; format=pandas-split        {"columns", "data", "index"}   DataFrame (1.x)
    application/json; format=pandas-records      [{...}, ...]                   DataFrame (1.x)
    text/csv                                     a header row, then rows        DataFrame
    application/vnd.apache.parquet               Parquet bytes                  DataFrame

``instances`` and ``inputs`` (TensorFlow Serving's forms) follow the model's signature: for a
model with named columns, rows (or records, or a dict of columns) become a DataFrame with
those columns; for a tensor signature or none, a list becomes a numpy array and a dict (or a
list of records) a dict of arrays. A plain JSON ``application/json`` body without one of the
four keys is read the 1.x way, and answered the 1.x way: an object with ``data`` as a split
frame, a list of objects as records, any other list like ``instances``.

Every problem with a body raises ``BadRequest`` naming it; a content type that is not one of
the above raises ``UnsupportedMediaType``. Numbers go from JSON to a frame in one numpy step,
never row by row, and a big JSON body is read with the cyclic garbage collector paused
(``mltrail._gc.collector_paused``): its rows are thousands of new lists, none of them in a cycle.
"""

from __future__ import annotations

import codecs
import dataclasses
import io
import json
import operator
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from mltrail._gc import collector_paused
from mltrail.errors import BadRequest, MltrailError

if TYPE_CHECKING:
    import pandas as pd

# numpy and pandas are imported by the functions that use them: the server answers /ping
# without them, and the model has loaded them by the first request anyway.

__all__ = [
    "COLLECTOR_PAUSE_BYTES",
    "FORMAT_KEYS",
    "InputSchema",
    "InputSignature",
    "ScoringInput",
    "SUPPORTED_CONTENT_TYPES",
    "UnsupportedMediaType",
    "parse_request",
]

FORMAT_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")
LEGACY_FORMATS = ("pandas-split", "pandas-records")
JSON_TYPE = "application/json"
CSV_TYPE = "text/csv"
PARQUET_TYPES = ("application/vnd.apache.parquet", "application/parquet", "application/x-parquet")
SUPPORTED_CONTENT_TYPES = (JSON_TYPE, CSV_TYPE, PARQUET_TYPES[0])
_SPLIT_KEYS = frozenset({"columns", "data", "index", "index_names", "column_names"})
_UTF8_NAMES = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})
_BOM = codecs.BOM_UTF8


class UnsupportedMediaType(MltrailError):
    """The body's Content-Type is not one the scoring server reads (HTTP 415)."""

    error_code = "BAD_REQUEST"
    http_status = 415


class InputSchema(Protocol):
    """What the scoring server reads of a model's input signature."""

    def is_tensor_spec(self) -> bool: ...

    def has_input_names(self) -> bool: ...

    def input_names(self) -> list[str]: ...


@dataclasses.dataclass(frozen=True)
class InputSignature:
    """The shape a model wants: named columns (a frame), or tensors, or unknown."""

    tensor: bool = False
    names: tuple[str, ...] = ()

    @classmethod
    def of(cls, schema: InputSchema | None) -> InputSignature:
        if schema is None:
            return cls()
        names = tuple(schema.input_names()) if schema.has_input_names() else ()
        return cls(tensor=bool(schema.is_tensor_spec()), names=names)

    @property
    def columns(self) -> tuple[str, ...]:
        """The column names of a column-based signature, else empty."""
        return () if self.tensor else self.names


@dataclasses.dataclass(frozen=True)
class ScoringInput:
    data: Any
    params: dict[str, Any] | None = None
    bare: bool = False  # answer with the predictions alone (MLflow 1.x), not {"predictions"}


def media_type(content_type: str | None) -> tuple[str, dict[str, str]]:
    """``"application/json; format=pandas-split"`` -> ``("application/json", {"format": ...})``."""
    if not content_type:
        return "", {}
    mime, _, rest = content_type.partition(";")
    params: dict[str, str] = {}
    for part in rest.split(";"):
        key, sep, value = part.partition("=")
        if sep:
            params[key.strip().lower()] = value.strip().strip('"').strip()
    return mime.strip().lower(), params


def parse_request(
    content_type: str | None, body: bytes, signature: InputSignature = InputSignature()
) -> ScoringInput:
    """The model input in ``body``, read as its Content-Type says."""
    mime, params = media_type(content_type)
    if mime == JSON_TYPE:
        body = _utf8(body, params.get("charset"))
        if len(body) < COLLECTOR_PAUSE_BYTES:
            return parse_json(body, params.get("format"), signature)
        with collector_paused():
            return parse_json(body, params.get("format"), signature)
    if mime == CSV_TYPE:
        return ScoringInput(parse_csv(body, params.get("charset")))
    if mime in PARQUET_TYPES:
        return ScoringInput(parse_parquet(body))
    got = f"'{content_type}'" if content_type else "no Content-Type header"
    raise UnsupportedMediaType(
        f"Unsupported Content-Type: got {got}; this server reads "
        f"{', '.join(SUPPORTED_CONTENT_TYPES)} (application/json may add "
        "'; format=pandas-split' or '; format=pandas-records', the MLflow 1.x forms)"
    )


# A JSON document is a tree of lists, dicts and scalars, with no reference cycle; a body this
# big is read with the cyclic collector paused (see ``mltrail._gc``): a 10,000-row request's
# handler took 21 ms in process by the median and 30 ms on average with it running, against
# 18 and 19 ms paused, from the parse until the document has become a frame and been dropped.
# Smaller bodies are read with the collector left as it is.
COLLECTOR_PAUSE_BYTES = 64 * 1024


def _utf8(body: bytes, charset: str | None) -> bytes:
    if charset is None or charset.lower() in _UTF8_NAMES:
        return body
    try:
        return body.decode(charset).encode("utf-8")
    except LookupError:
        raise BadRequest(f"Unknown charset '{charset}' in the Content-Type header") from None
    except UnicodeDecodeError as exc:
        raise BadRequest(f"The request body is not valid {charset}: {exc}") from None


def load_json(body: bytes) -> Any:
    if not body.strip():
        raise BadRequest("The request body is empty; send a JSON object to score")
    if body.startswith(_BOM):
        body = body[len(_BOM) :]
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        # orjson refuses NaN, Infinity and integers past 64 bits, which Python's json (and
        # so MLflow) accepts: give those to the standard parser before calling it malformed.
        try:
            return json.loads(body)
        except (ValueError, RecursionError):
            pass
        raise BadRequest(f"The request body is not valid JSON: {exc}") from None


def parse_json(body: bytes, fmt: str | None, signature: InputSignature) -> ScoringInput:
    document = load_json(body)
    if fmt is not None:
        fmt = fmt.lower()
        if fmt not in LEGACY_FORMATS:
            raise BadRequest(
                f"Unknown format '{fmt}' in the Content-Type header; "
                f"use {' or '.join(LEGACY_FORMATS)}, or none"
            )
    if isinstance(document, dict):
        keys = [key for key in FORMAT_KEYS if key in document]
        if len(keys) == 1 and not (fmt == "pandas-split" and "data" in document):
            return _envelope(document, keys[0], signature)
        if len(keys) > 1:
            raise BadRequest(
                f"The request has {', '.join(repr(k) for k in keys)}: give exactly one of "
                f"{_accepted_keys()}, plus optional 'params'"
            )
        if fmt == "pandas-records":
            raise BadRequest("format=pandas-records expects a JSON list of records")
        if "data" in document:
            return ScoringInput(_split_frame(document, "the request", signature), bare=True)
        raise BadRequest(
            f"The request object has keys {sorted(document)[:10]}; it must have exactly one of "
            f"{_accepted_keys()}, plus optional 'params'"
        )
    if isinstance(document, list):
        if fmt == "pandas-split":
            raise BadRequest(
                'format=pandas-split expects a JSON object {"columns": [...], "data": [...]}'
            )
        if fmt == "pandas-records" or (document and isinstance(document[0], dict)):
            return ScoringInput(_records_frame(document, "the request", signature), bare=True)
        return ScoringInput(_instances(document, "the request", signature), bare=True)
    raise BadRequest(
        f"The request body is a JSON {_kind(document)}; send an object with one of "
        f"{_accepted_keys()}"
    )


def _accepted_keys() -> str:
    return ", ".join(f"'{key}'" for key in FORMAT_KEYS)


def _envelope(document: dict[str, Any], key: str, signature: InputSignature) -> ScoringInput:
    params = document.get("params")
    if params is not None and not isinstance(params, dict):
        raise BadRequest(f"'params' must be a JSON object of name -> value, not a {_kind(params)}")
    value = document[key]
    if isinstance(value, str) and key.startswith("dataframe"):
        # A frame that was JSON-encoded twice (json.dumps(df.to_json(...))) is read once more.
        value = load_json(value.encode("utf-8"))
    if key == "dataframe_split":
        data: Any = _split_frame(value, "'dataframe_split'", signature)
    elif key == "dataframe_records":
        data = _records_frame(value, "'dataframe_records'", signature)
    elif key == "instances":
        data = _instances(value, "'instances'", signature)
    else:
        data = _inputs(value, signature)
    return ScoringInput(data, params or None)


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"


# --- frames -----------------------------------------------------------------------------


def _split_frame(value: Any, where: str, signature: InputSignature) -> pd.DataFrame:
    if not isinstance(value, dict):
        raise BadRequest(f'{where} must be an object {{"columns": [...], "data": [[...], ...]}}, '
                         f"not a {_kind(value)}")
    unknown = sorted(set(value) - _SPLIT_KEYS)
    if unknown:
        raise BadRequest(f"{where} has unknown key(s) {unknown}; a split frame has "
                         "'columns', 'data' and optionally 'index'")
    data = value.get("data")
    if not isinstance(data, list):
        raise BadRequest(f"{where} needs 'data', a list of rows")
    if not data:
        raise BadRequest(f"{where} has no rows to score")
    columns = value.get("columns")
    if columns is not None and not isinstance(columns, list):
        raise BadRequest(f"'columns' of {where} must be a list of names")
    index = value.get("index")
    if index is not None:
        if not isinstance(index, list):
            raise BadRequest(f"'index' of {where} must be a list")
        if len(index) != len(data):
            raise BadRequest(f"'index' of {where} has {len(index)} labels for {len(data)} rows")
    if columns is None:
        width = len(data[0]) if isinstance(data[0], list) else 1
        if signature.columns and len(signature.columns) == width:
            columns = list(signature.columns)
    return _rows_frame(data, columns, index, where)


def _rows_frame(
    rows: list[Any], columns: list[Any] | None, index: list[Any] | None, where: str
) -> pd.DataFrame:
    import pandas as pd  # heavy: loaded on the first frame, not at server start

    if not isinstance(rows[0], list):
        # A list of scalars is one column.
        if columns is not None and len(columns) != 1:
            raise BadRequest(f"{where} has {len(columns)} columns but its rows are not lists")
        if any(isinstance(v, (list, dict)) for v in rows):
            raise BadRequest(f"The rows of {where} must all be lists of values")
        return pd.DataFrame({(columns or [0])[0]: rows}, index=index)
    width = len(rows[0]) if columns is None else len(columns)
    matrix = _numeric_matrix(rows, width)
    if matrix is not None:
        return pd.DataFrame(matrix, columns=_column_index(columns), index=index, copy=False)
    for number, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != width:
            got = f"{len(row)} values" if isinstance(row, list) else f"a {_kind(row)}"
            raise BadRequest(f"Row {number} of {where} has {got}; expected {width} "
                             f"(one per column)")
    try:
        return pd.DataFrame(rows, columns=columns, index=index)
    except (ValueError, TypeError) as exc:
        raise BadRequest(f"{where} is not a table: {exc}") from None


_NUMBER_KINDS = {float: "f", int: "i", bool: "b"}


def _numeric_matrix(rows: Sequence[Any], width: int) -> Any:
    """``rows`` as one 2-D numpy array if its values are all numbers of one kind, else None.

    The kind is read from the first row; a later value of another kind makes the array's
    dtype differ from what pandas would infer per column, and the caller takes its own path.
    """
    first = rows[0]
    if not isinstance(first, (list, tuple)) or len(first) != width or width == 0:
        return None
    kinds = {type(v) for v in first}
    if len(kinds) != 1:
        return None
    kind = _NUMBER_KINDS.get(kinds.pop())
    if kind is None:
        return None
    import numpy as np  # heavy: loaded on the first request, not at server start

    try:
        matrix = np.asarray(rows)
    except (ValueError, TypeError):  # ragged rows
        return None
    if matrix.ndim != 2 or matrix.shape[1] != width or matrix.dtype.kind != kind:
        return None
    return matrix


_last_columns: tuple[list[Any], Any] = ([], None)


def _column_index(columns: list[Any] | None) -> Any:
    """``columns`` as a pandas Index, the last one reused: requests to one model name the
    same columns, and building the Index costs more than the rest of a 1-row frame."""
    global _last_columns
    if columns is None:
        return None
    last, index = _last_columns
    if columns != last or index is None:
        import pandas as pd

        index = pd.Index(columns)
        _last_columns = (list(columns), index)
    return index


def _records_frame(value: Any, where: str, signature: InputSignature) -> pd.DataFrame:
    import pandas as pd  # heavy: loaded on the first frame, not at server start

    if not isinstance(value, list):
        raise BadRequest(f"{where} must be a list of records (objects), not a {_kind(value)}")
    if not value:
        raise BadRequest(f"{where} has no records to score")
    for number, record in enumerate(value):
        if not isinstance(record, dict):
            raise BadRequest(f"Record {number} of {where} is a {_kind(record)}, not an object")
    keys = list(value[0])
    width = len(keys)
    if width > 1 and all(len(record) == width for record in value):
        try:
            rows = list(map(operator.itemgetter(*keys), value))
        except KeyError:
            rows = []
        matrix = _numeric_matrix(rows, width) if rows else None
        if matrix is not None:
            return pd.DataFrame(matrix, columns=_column_index(keys), copy=False)
    try:
        return pd.DataFrame(value)
    except (ValueError, TypeError) as exc:
        raise BadRequest(f"{where} is not a table: {exc}") from None


# --- TF-serving forms ---------------------------------------------------------------------


def _instances(value: Any, where: str, signature: InputSignature) -> Any:
    if not isinstance(value, list):
        raise BadRequest(f"{where} must be a list, not a {_kind(value)}")
    if not value:
        raise BadRequest(f"{where} is empty: nothing to score")
    if isinstance(value[0], dict):
        if signature.columns:
            return _records_frame(value, where, signature)
        return _records_tensors(value, where)
    return _list_input(value, where, signature)


def _inputs(value: Any, signature: InputSignature) -> Any:
    where = "'inputs'"
    if isinstance(value, list):
        if not value:
            raise BadRequest(f"{where} is empty: nothing to score")
        if isinstance(value[0], dict) and signature.columns:
            return _records_frame(value, where, signature)
        return _list_input(value, where, signature)
    if isinstance(value, dict):
        if not value:
            raise BadRequest(f"{where} is an empty object: nothing to score")
        if signature.columns:
            return _columns_frame(value, where)
        return {name: _array(column, f"{where}['{name}']") for name, column in value.items()}
    if value is None:
        raise BadRequest(f"{where} is null: nothing to score")
    return value


def _columns_frame(value: dict[str, Any], where: str) -> pd.DataFrame:
    import pandas as pd  # heavy: loaded on the first frame, not at server start

    lengths = {
        name: len(column) if isinstance(column, list) else None for name, column in value.items()
    }
    if all(length is None for length in lengths.values()):
        return pd.DataFrame([value])  # one row given as name -> value
    if len(set(lengths.values())) != 1:
        raise BadRequest(f"The columns of {where} have different lengths: {lengths}")
    if not next(iter(lengths.values())):
        raise BadRequest(f"{where} has no rows to score")
    return pd.DataFrame(value)


def _records_tensors(value: list[Any], where: str) -> dict[str, Any]:
    names = list(value[0])
    columns: dict[str, list[Any]] = {name: [] for name in names}
    for number, record in enumerate(value):
        if not isinstance(record, dict) or record.keys() != columns.keys():
            raise BadRequest(f"Item {number} of {where} does not have the same keys as item 0 "
                             f"({names[:10]})")
        for name in names:
            columns[name].append(record[name])
    return {name: _array(column, f"{where}['{name}']") for name, column in columns.items()}


def _list_input(value: list[Any], where: str, signature: InputSignature) -> Any:
    names = signature.columns
    if names:
        first = value[0]
        width = len(first) if isinstance(first, list) else None
        if width == len(names) or (width is None and len(names) == 1):
            return _rows_frame(value, list(names), None, where)
    return _array(value, where)


def _array(value: Any, where: str) -> Any:
    if isinstance(value, list) and not value:
        raise BadRequest(f"{where} is empty: nothing to score")
    import numpy as np  # heavy: loaded on the first request, not at server start

    try:
        return np.asarray(value)
    except (ValueError, TypeError):
        raise BadRequest(f"{where} is ragged: its rows have different lengths") from None


# --- CSV and Parquet ----------------------------------------------------------------------


def parse_csv(body: bytes, charset: str | None = None) -> pd.DataFrame:
    import pandas as pd  # heavy: loaded on the first frame, not at server start

    if not body.strip():
        raise BadRequest("The CSV body is empty; send a header row and at least one row")
    try:
        frame = pd.read_csv(io.BytesIO(body), encoding=charset, low_memory=False)
    except LookupError:
        raise BadRequest(f"Unknown charset '{charset}' in the Content-Type header") from None
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        # EmptyDataError and ParserError are ValueErrors too; the message names the line.
        raise BadRequest(f"The CSV body could not be parsed: {str(exc).strip()}") from None
    if frame.empty:
        raise BadRequest("The CSV body has a header but no rows to score")
    return frame


def parse_parquet(body: bytes) -> pd.DataFrame:
    import pyarrow as pa  # heavy: loaded on the first Parquet request
    import pyarrow.parquet as pq

    if not body:
        raise BadRequest("The Parquet body is empty")
    try:
        frame = pq.read_table(pa.BufferReader(body)).to_pandas()
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise BadRequest(f"The body is not a readable Parquet file: {exc}") from None
    if frame.empty:
        raise BadRequest("The Parquet file has no rows to score")
    return frame
