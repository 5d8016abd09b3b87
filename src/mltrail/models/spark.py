"""Batch scoring on Spark: ``spark_udf`` turns any pyfunc model into a Spark pandas UDF.

    udf = spark_udf(spark, "runs:/<run_id>/model")
    df.withColumn("prediction", udf("alcohol", "chlorides", ...))
    spark.udf.register("predict_quality", udf)       # and from SQL: predict_quality(a, b)

How the model travels: the driver fetches it once (any model URI), packs it into an
uncompressed tar (model weights hardly compress, and packing stays fast) and ships it with
``SparkContext.addFile``, so it reaches every executor of a real cluster as it does
``local[n]``. On an executor the first Python worker to need it unpacks it (each member
checked to stay inside the target directory) into a temporary directory renamed into place,
so concurrent workers never see half a model; each worker process then loads it once and keeps
it in a module-level cache keyed by the archive's name. The UDF is an Arrow iterator pandas
UDF: batches stream through a model loaded before the first one.

Inputs. ``udf(*columns)`` maps the columns, in order, to the signature's input names; a model
without a signature (or with unnamed inputs) sees the Spark column names when every argument
is a plain column (a name, ``col("x")``, an alias), else positions ``0..n-1`` (mixed names
would upset scikit-learn). Several columns travel to Python as one struct, so Spark itself
names them; a single column is named only when given as a string. ``udf(struct(...))``, one
struct column, gives a frame of its fields. SQL calls (``predict_quality(a, b)``) are
positional: signature names, else ``0..n-1``.

Results. ``result_type`` defaults to a scalar: the single output column's type from the
signature (``long`` for integer labels, ``double`` for floats, ``string`` for strings), a
struct of the output columns when the signature lists several, else ``double``. A DDL string
(``"long"``, ``"array<double>"``, ``"struct<a: double, b: string>"``) or a pyspark
``DataType`` chooses another; struct fields are filled from the model's output columns by
name. Conversions are the lossless ones (integers to doubles, integral floats to longs,
anything to strings); a lossy or impossible one is an ``InvalidArgument`` naming the types.

Speed: ``spark.sql.execution.arrow.maxRecordsPerBatch`` is a session setting, so this module
leaves it alone. Spark's default of 10,000 rows is a good value: for a logistic regression on
20 features over 1,000,000 rows on ``local[2]``, 10,000 to 100,000 rows per batch score
alike (about 2 s warm) and 2,000 takes twice as long. Lower it for models that need much
memory per row. The first pass also pays each worker's import of the model's framework.

Loading unpickles on the executors: score only models from a source you trust.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import os
import shutil
import tarfile
import tempfile
import threading
import uuid
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from mltrail.errors import InvalidArgument
from mltrail.models.format import Model

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import Column, SparkSession
    from pyspark.sql.types import DataType

    from mltrail.models.pyfunc import PyFuncModel
    from mltrail.models.signature import Schema

__all__ = ["SparkModelUDF", "spark_udf"]

_MODEL_DIR = "model"  # the model's directory inside the archive
_ENV_MANAGERS = (None, "local")


# --- the driver: fetch, pack, ship ---------------------------------------------------------


_staging: str | None = None
_staging_lock = threading.Lock()


def _staging_dir() -> str:
    """A private directory for archives, kept while this process lives: on a cluster the
    executors fetch them from the driver whenever they first need them."""
    global _staging
    with _staging_lock:
        if _staging is None:
            _staging = tempfile.mkdtemp(prefix="mltrail-spark-")
            atexit.register(shutil.rmtree, _staging, True)
        return _staging


def _fetch_and_pack(model_uri: str, archive: str) -> Model:
    """Pack the model at ``model_uri`` into the tar ``archive``; its MLmodel."""
    from mltrail.models.pyfunc import local_model_path
    from mltrail.registry.uris import is_local

    download = None if is_local(model_uri) else tempfile.mkdtemp(dir=os.path.dirname(archive))
    try:
        path = local_model_path(model_uri, download)
        metadata = Model.load(path)
        metadata.pyfunc_conf  # noqa: B018 - a clear error now for a model pyfunc cannot load
        # Links become the files they point to: the extraction accepts no links.
        with tarfile.open(archive, "w", dereference=True) as tar:
            tar.add(path, arcname=_MODEL_DIR)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(archive)
        raise
    finally:
        if download is not None:
            shutil.rmtree(download, ignore_errors=True)
    return metadata


# --- result types ----------------------------------------------------------------------------


_SIGNATURE_TYPES = {
    "boolean": "boolean",
    "integer": "int",
    "long": "bigint",
    "float": "float",
    "double": "double",
    "string": "string",
    "binary": "binary",
    "datetime": "timestamp",
}


def _ddl_of(t: Any) -> str | None:
    """The Spark type of a signature column type, when there is one."""
    from mltrail.models.signature import Array, DataType

    if isinstance(t, DataType):
        return _SIGNATURE_TYPES[t.value]
    if isinstance(t, Array):
        inner = _ddl_of(t.dtype)
        return f"array<{inner}>" if inner is not None and "<" not in inner else None
    return None


def _default_result_type(outputs: Schema | None) -> str:
    """A scalar for one output, a struct of several named ones, else double."""
    from mltrail.models.signature import DataType, TensorSpec

    specs = list(outputs.inputs) if outputs is not None else []
    if len(specs) == 1 and isinstance(specs[0], TensorSpec):
        spec = specs[0]
        try:
            scalar = _SIGNATURE_TYPES[DataType.from_numpy(spec.dtype).value]
        except InvalidArgument:
            return "double"
        dims = [d for d in spec.shape[1:] if d != 1]
        return scalar if not dims else f"array<{scalar}>" if len(dims) == 1 else "double"
    types = [_ddl_of(s.type) for s in specs if not isinstance(s, TensorSpec)]
    if len(specs) == 1 and types[0] is not None:
        return types[0]
    names = [s.name for s in specs]
    if len(specs) > 1 and len(types) == len(specs) and all(types) and all(names):
        fields = ", ".join(f"`{n}`: {t}" for n, t in zip(names, types))
        return f"struct<{fields}>"
    return "double"


def _scalar_ok(t: DataType) -> bool:
    from pyspark.sql import types as T

    return isinstance(
        t,
        (T.BooleanType, T.ByteType, T.ShortType, T.IntegerType, T.LongType, T.FloatType,
         T.DoubleType, T.StringType, T.BinaryType, T.DateType, T.TimestampType,
         T.TimestampNTZType),
    )


def _result_type(given: Any, outputs: Schema | None) -> DataType:
    """``result_type`` as a pyspark DataType, checked to be one the UDF can fill."""
    from pyspark.sql import types as T

    if given is None:
        given = _default_result_type(outputs)
    if isinstance(given, str):
        try:
            parsed = T._parse_datatype_string(given)
        except Exception as exc:  # pyspark's ParseException and friends
            raise InvalidArgument(
                f"Invalid result_type {given!r}: not a Spark type ({str(exc).splitlines()[0]})"
            ) from exc
    elif isinstance(given, T.DataType):
        parsed = given
    else:
        raise InvalidArgument(
            f"Invalid result_type {given!r}: give a Spark type, as a DDL string ('double', "
            "'array<double>', 'struct<a: double, b: string>') or a pyspark DataType"
        )

    def fits(t: DataType) -> bool:
        return _scalar_ok(t) or isinstance(t, T.ArrayType) and _scalar_ok(t.elementType)

    ok = fits(parsed) or isinstance(parsed, T.StructType) and all(
        fits(f.dataType) for f in parsed.fields
    )
    if not ok:
        raise InvalidArgument(
            f"Unsupported result_type {parsed.simpleString()!r}: use a scalar type, an array "
            "of one, or a struct of those"
        )
    return parsed


# --- the public surface ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Call:
    """What a Python worker needs to score: shipped inside the UDF, so it stays small."""

    archive: str
    result_type: Any  # a pyspark DataType
    input_names: tuple[str, ...] | None  # the signature's, in order
    required_names: tuple[str, ...]
    params: dict[str, Any] | None
    extra_env: dict[str, str] | None
    arg_names: tuple[str | None, ...] = ()  # a name given as a string, per argument
    wrapped: bool = False  # the arguments arrive as one struct made by __call__


class SparkModelUDF:
    """What ``spark_udf`` returns: call it on columns to get a prediction column, or
    register it with ``spark.udf.register(name, udf)`` for SQL."""

    def __init__(self, call: _Call, deterministic: bool = True) -> None:
        self._call = call
        sql_udf = _pandas_udf(call)
        if not deterministic:
            sql_udf = sql_udf.asNondeterministic()
        self._sql_udf = sql_udf
        # The attributes spark.udf.register reads from a user-defined function.
        self.func = sql_udf.func
        self.returnType: DataType = sql_udf.returnType
        self.evalType: int = sql_udf.evalType
        self.deterministic: bool = sql_udf.deterministic
        self.__name__ = "predict"

    def asNondeterministic(self) -> SparkModelUDF:  # noqa: N802 - pyspark's name
        return SparkModelUDF(self._call, deterministic=False)

    def __call__(self, *cols: Column | str) -> Column:
        from pyspark.sql import Column
        from pyspark.sql.functions import struct

        if not cols:
            expected = self._call.input_names
            hint = f" (the model's inputs: {list(expected)})" if expected else ""
            raise InvalidArgument(
                f"Call the model's UDF with its input columns, udf(*columns), or with one "
                f"struct column{hint}"
            )
        for c in cols:
            if not isinstance(c, (Column, str)):
                raise InvalidArgument(
                    f"The model's UDF takes columns or column names, got {type(c).__name__}"
                )
        arg_names = tuple(c if isinstance(c, str) else None for c in cols)
        if len(cols) > 1 and self._call.input_names is not None:
            _signature_names(len(cols), self._call)
        call = dataclasses.replace(self._call, arg_names=arg_names, wrapped=len(cols) > 1)
        scorer = _pandas_udf(call)
        if not self.deterministic:
            scorer = scorer.asNondeterministic()
        column: Column = scorer(struct(*cols)) if len(cols) > 1 else scorer(cols[0])
        return column

    def __repr__(self) -> str:
        return f"SparkModelUDF(result_type={self.returnType.simpleString()!r})"


def spark_udf(
    spark: SparkSession,
    model_uri: str,
    result_type: DataType | str | None = None,
    env_manager: str | None = "local",
    params: Mapping[str, Any] | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> SparkModelUDF:
    """A Spark UDF that scores the model at ``model_uri`` with its pyfunc ``predict``.

    ``params`` go to every predict call; ``extra_env`` is set in the Python workers while
    the model loads and predicts. Only ``env_manager="local"`` exists in this version: the
    workers use the Python environment Spark gives them.
    """
    if env_manager not in _ENV_MANAGERS:
        raise InvalidArgument(
            f"Unsupported env_manager {env_manager!r}: only 'local' is supported in this "
            "version (the workers score in the Python environment Spark runs them with)"
        )
    if params is not None and not isinstance(params, Mapping):
        raise InvalidArgument(f"params must be a mapping of names to values, got {params!r}")
    if extra_env is not None and not (
        isinstance(extra_env, Mapping)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in extra_env.items())
    ):
        raise InvalidArgument(f"extra_env must map names to string values, got {extra_env!r}")
    try:
        context = spark.sparkContext
    except Exception as exc:  # Spark Connect sessions have no SparkContext
        raise InvalidArgument(
            "spark_udf needs a classic SparkSession (it ships the model with "
            "SparkContext.addFile); Spark Connect is not supported yet"
        ) from exc
    name = f"mltrail-model-{uuid.uuid4().hex}.tar"
    archive = os.path.join(_staging_dir(), name)
    metadata = _fetch_and_pack(model_uri, archive)
    try:
        call = _make_call(name, metadata, result_type, params, extra_env)
        context.addFile(archive)
    except BaseException:
        os.remove(archive)
        raise
    return SparkModelUDF(call)


def _make_call(
    archive: str,
    metadata: Model,
    result_type: Any,
    params: Mapping[str, Any] | None,
    extra_env: Mapping[str, str] | None,
) -> _Call:
    signature = metadata.signature
    inputs = signature.inputs if signature is not None else None
    rtype = _result_type(result_type, signature.outputs if signature is not None else None)
    if params:
        from mltrail.models.enforcement import enforce_params

        # Checked once here (a clear error before any job runs, the warning for params the
        # signature does not declare given once), then passed as they are to every batch.
        params = enforce_params(params, signature.params if signature is not None else None)
    named = inputs is not None and not inputs.is_tensor_spec() and inputs.has_input_names()
    return _Call(
        archive=archive,
        result_type=rtype,
        input_names=tuple(inputs.input_names()) if named and inputs is not None else None,
        required_names=tuple(inputs.required_input_names()) if named and inputs else (),
        params=dict(params) if params else None,
        extra_env=dict(extra_env) if extra_env else None,
    )


def _pandas_udf(call: _Call) -> Any:
    """The Arrow iterator pandas UDF scoring with ``call``."""
    import typing

    import pandas as pd
    from pyspark.sql.pandas import functions as pandas_functions
    from pyspark.sql.types import StructType

    def predict(batches: Any) -> Any:
        return _score_batches(call, batches)

    # Real objects, not strings: pyspark reads these hints to choose the UDF's kind.
    out = pd.DataFrame if isinstance(call.result_type, StructType) else pd.Series
    predict.__annotations__ = {
        "batches": typing.Iterator[typing.Tuple[typing.Union[pd.Series, pd.DataFrame], ...]],
        "return": typing.Iterator[out],  # type: ignore[valid-type]
    }
    # pyspark's overloads cannot see through hints set at run time.
    make: Any = pandas_functions.pandas_udf
    return make(predict, call.result_type)


# --- the workers: unpack once, load once, score batches ------------------------------------


_models: dict[str, PyFuncModel] = {}
_models_lock = threading.Lock()


def _unpack(archive: str, target: str) -> None:
    """Extract ``archive`` into the new directory ``target``, refusing any member that would
    land outside it (absolute paths, ``..``, links, devices)."""
    with tarfile.open(archive) as tar:
        if hasattr(tarfile, "data_filter"):  # Python 3.12, and 3.10.12/3.11.4 onwards
            try:
                tar.extractall(target, filter="data")
            except tarfile.FilterError as exc:
                raise InvalidArgument(f"Refusing the archive {archive!r}: {exc}") from exc
            return
        root = os.path.realpath(target)
        for member in tar.getmembers():
            dest = os.path.realpath(os.path.join(root, member.name))
            inside = dest == root or dest.startswith(root + os.sep)
            if not inside or not (member.isfile() or member.isdir()):
                raise InvalidArgument(f"Refusing archive member {member.name!r} of {archive!r}")
        tar.extractall(target)  # every member checked above  # noqa: S202


def _model_dir(archive_name: str) -> str:
    """The unpacked model of the shipped archive, unpacked once per executor."""
    from pyspark import SparkFiles

    archive = SparkFiles.get(archive_name)
    parent = os.path.dirname(archive)
    target = os.path.join(parent, archive_name[: -len(".tar")])
    if not os.path.isdir(target):
        staging = tempfile.mkdtemp(prefix=".unpack-", dir=parent)
        try:
            _unpack(archive, staging)
            os.rename(staging, target)  # atomic: other workers see all of it or nothing
        except OSError:
            if not os.path.isdir(target):
                raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return os.path.join(target, _MODEL_DIR)


@contextlib.contextmanager
def _environ(extra: dict[str, str] | None) -> Iterator[None]:
    """``extra`` set in this worker's environment for the duration, then restored."""
    if not extra:
        yield
        return
    saved = {k: os.environ.get(k) for k in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _worker_model(call: _Call) -> PyFuncModel:
    """The model of ``call``, loaded once per worker process."""
    with _models_lock:
        model = _models.get(call.archive)
        if model is None:
            from mltrail.models.pyfunc import load_model

            with _environ(call.extra_env):
                model = load_model(_model_dir(call.archive))
            _models[call.archive] = model
    return model


def _score_batches(call: _Call, batches: Iterator[Any]) -> Iterator[Any]:
    model = _worker_model(call)
    for batch in batches:
        frame = _input_frame(batch, call)
        with _environ(call.extra_env):
            output = model.predict(frame, call.params)
        yield _to_result(output, call.result_type, len(frame))


def _signature_names(n: int, call: _Call) -> list[str]:
    expected = call.input_names or ()
    if n == len(expected):
        return list(expected)
    required = call.required_names
    if n == len(required) and tuple(expected[:n]) == required:
        return list(required)
    raise InvalidArgument(
        f"The model takes {len(expected)} input columns {list(expected)}, in this order, but "
        f"the UDF was called with {n}; pass the columns in the signature's order, or one "
        "struct column whose fields are named after the inputs"
    )


def _input_frame(batch: Any, call: _Call) -> pd.DataFrame:
    """One batch as the frame the model scores, its columns named as the module docstring
    says."""
    import pandas as pd

    if isinstance(batch, pd.DataFrame) and not call.wrapped:
        return batch  # one struct column: its fields are the columns
    if isinstance(batch, pd.DataFrame):
        frame = batch
        spark_names: list[Any] = list(frame.columns)
    else:
        series = batch if isinstance(batch, tuple) else (batch,)
        if any(isinstance(s, pd.DataFrame) for s in series):
            raise InvalidArgument(
                "A struct column must be the model UDF's only argument; pass its fields as "
                "columns instead"
            )
        frame = pd.concat(series, axis=1, ignore_index=True)
        spark_names = list(call.arg_names) or [None] * len(series)
    n = frame.shape[1]
    if call.input_names is not None:
        names: list[Any] = _signature_names(n, call)
    else:
        given = list(call.arg_names) + [None] * (n - len(call.arg_names))
        plain = [
            isinstance(name, str) and (given[i] is not None or name != f"col{i + 1}")
            for i, name in enumerate(spark_names)
        ]
        unique = len(set(spark_names)) == n
        names = spark_names if all(plain) and unique else list(range(n))
    frame.columns = names
    return frame


# --- model output -> the result column ---------------------------------------------------


def _fail(message: str) -> InvalidArgument:
    return InvalidArgument(f"Cannot return the model's predictions as the UDF's result: {message}")


def _rows(output: Any) -> int:
    try:
        return len(output)
    except TypeError as exc:
        raise _fail(f"the model returned {type(output).__name__}, not one value per row") from exc


def _to_result(output: Any, rtype: DataType, n: int) -> Any:
    from pyspark.sql.types import ArrayType, StructType

    if isinstance(output, dict):
        import pandas as pd

        output = pd.DataFrame(output)
    if _rows(output) != n:
        raise _fail(f"the model returned {_rows(output)} predictions for {n} rows")
    if isinstance(rtype, StructType):
        return _to_struct(output, rtype)
    if isinstance(rtype, ArrayType):
        return _to_array(output, rtype.elementType, "")
    return _to_scalar(_one_column(output, rtype), rtype, "")


def _to_struct(output: Any, rtype: Any) -> pd.DataFrame:
    import numpy as np
    import pandas as pd
    from pyspark.sql.types import ArrayType

    fields = list(rtype.fields)
    if isinstance(output, pd.Series) and output.name is not None:
        output = output.to_frame()
    if not isinstance(output, pd.DataFrame):
        if len(fields) != 1:
            raise _fail(
                f"a struct result_type is filled from the columns of a DataFrame by name, and "
                f"the model returned {type(output).__name__}"
            )
        output = pd.DataFrame({fields[0].name: list(np.asarray(output))})
    if len(fields) == 1 and output.shape[1] == 1:
        output = output.set_axis([fields[0].name], axis=1)
    missing = [f.name for f in fields if f.name not in output.columns]
    if missing:
        raise _fail(
            f"the struct's fields {missing} are not among the model's output columns "
            f"{[str(c) for c in output.columns]}"
        )
    columns = {}
    for f in fields:
        where = f" (field {f.name!r})"
        if isinstance(f.dataType, ArrayType):
            columns[f.name] = _to_array(output[f.name], f.dataType.elementType, where)
        else:
            columns[f.name] = _to_scalar(output[f.name], f.dataType, where)
    return pd.DataFrame(columns, index=pd.RangeIndex(len(output)))


def _one_column(output: Any, rtype: DataType) -> Any:
    import numpy as np
    import pandas as pd

    if isinstance(output, pd.DataFrame):
        if output.shape[1] != 1:
            raise _fail(
                f"the model returned {output.shape[1]} columns "
                f"{[str(c) for c in output.columns]} for the one-value result_type "
                f"{rtype.simpleString()!r}; give result_type a struct of them (or an array)"
            )
        return output.iloc[:, 0]
    if isinstance(output, np.ndarray) and output.ndim == 2:
        if output.shape[1] != 1:
            raise _fail(
                f"the model returned {output.shape[1]} values per row for the one-value "
                f"result_type {rtype.simpleString()!r}; give result_type='array<...>'"
            )
        return output[:, 0]
    return output


_NUMPY_FOR = {
    "BooleanType": "bool",
    "ByteType": "int8",
    "ShortType": "int16",
    "IntegerType": "int32",
    "LongType": "int64",
    "FloatType": "float32",
    "DoubleType": "float64",
}


def _to_scalar(values: Any, rtype: DataType, where: str) -> pd.Series:
    """``values`` (one per row) as a Series of ``rtype``'s values, converted losslessly."""
    import numpy as np
    import pandas as pd

    wanted = _NUMPY_FOR.get(type(rtype).__name__)
    dtype = getattr(values, "dtype", None)
    if wanted is not None and dtype is not None and dtype == np.dtype(wanted):
        return pd.Series(np.asarray(values))  # already the result's type: no copy
    return _to_arrow_scalar(_arrow_array(values, where), rtype, where).to_pandas()


def _arrow_array(values: Any, where: str) -> Any:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    if isinstance(values, pd.Series):
        values = values.to_numpy() if values.dtype != object else values
    elif not isinstance(values, np.ndarray):
        values = list(values)
    try:
        return pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
        raise _fail(f"the predictions{where} are not values of one type ({exc})") from exc


def _kind(t: Any) -> str:
    """A Spark or Arrow type's family: number, boolean, string, binary, temporal, other."""
    import pyarrow as pa
    from pyspark.sql import types as T

    if isinstance(t, pa.DataType):
        for kind, test in (
            ("boolean", pa.types.is_boolean),
            ("number", lambda x: pa.types.is_integer(x) or pa.types.is_floating(x)),
            ("string", lambda x: pa.types.is_string(x) or pa.types.is_large_string(x)),
            ("binary", lambda x: pa.types.is_binary(x) or pa.types.is_large_binary(x)),
            ("temporal", lambda x: pa.types.is_timestamp(x) or pa.types.is_date(x)),
            ("null", pa.types.is_null),
        ):
            if test(t):
                return kind
        return "other"
    if isinstance(t, T.BooleanType):
        return "boolean"
    if isinstance(t, T.NumericType):
        return "number"
    if isinstance(t, T.StringType):
        return "string"
    if isinstance(t, T.BinaryType):
        return "binary"
    return "temporal"


# Which value families each result family accepts (numbers take booleans as 0 and 1).
_ACCEPTS = {
    "number": {"number", "boolean", "null"},
    "boolean": {"boolean", "null"},
    "string": {"string", "number", "boolean", "temporal", "null"},
    "binary": {"binary", "string", "null"},
    "temporal": {"temporal", "null"},
}


def _to_arrow_scalar(arr: Any, rtype: DataType, where: str) -> Any:
    import pyarrow as pa

    target, found = _kind(rtype), _kind(arr.type)
    if found not in _ACCEPTS[target]:
        raise _fail(
            f"the model returned {arr.type} values{where}, which do not convert to "
            f"{rtype.simpleString()}; give result_type={_suggest(found)!r}"
        )
    if target == "temporal":
        return arr
    arrow_type = {
        "BooleanType": pa.bool_(),
        "ByteType": pa.int8(),
        "ShortType": pa.int16(),
        "IntegerType": pa.int32(),
        "LongType": pa.int64(),
        "FloatType": pa.float32(),
        "DoubleType": pa.float64(),
        "StringType": pa.string(),
        "BinaryType": pa.binary(),
    }[type(rtype).__name__]
    try:
        return arr.cast(arrow_type, safe=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        raise _fail(
            f"the model's {arr.type} values{where} do not fit {rtype.simpleString()} "
            f"without loss ({exc})"
        ) from exc


def _suggest(kind: str) -> str:
    return {"number": "double", "boolean": "boolean", "binary": "binary",
            "temporal": "timestamp"}.get(kind, "string")


def _to_array(output: Any, element: DataType, where: str) -> pd.Series:
    """One list per row: a 2-D array's rows, a frame's rows, a column of lists, or each value
    of a 1-D column as a list of one."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    if isinstance(output, pd.DataFrame):
        output = output.to_numpy()
    if isinstance(output, pd.Series) and output.dtype != object:
        output = output.to_numpy()
    if isinstance(output, np.ndarray) and output.dtype != object and output.ndim in (1, 2):
        n = len(output)
        width = output.shape[1] if output.ndim == 2 else 1
        flat = _arrow_array(output.reshape(-1), where)
        offsets = pa.array(np.arange(0, n * width + 1, width, dtype=np.int32))
        values = _to_arrow_scalar(flat, element, where)
        return pa.ListArray.from_arrays(offsets, values).to_pandas()
    arr = _arrow_array(output, where)
    if not (pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type)):
        raise _fail(f"the model returned {arr.type} values{where}, not one list per row")
    values = _to_arrow_scalar(arr.values, element, where)
    rebuilt = pa.ListArray.from_arrays(arr.offsets, values, mask=arr.is_null())
    return rebuilt.to_pandas()
