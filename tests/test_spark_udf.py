"""``spark_udf`` on a real local[2] SparkSession: result types, how columns reach the model,
params, SQL, and the errors a user can make."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mltrail
from mltrail.errors import InvalidArgument
from mltrail.models.signature import infer_signature
from mltrail.models.spark import spark_udf
from mltrail.pyfunc import PythonModel, PythonModelContext
from mltrail.tracking.fluent import Session

pytest.importorskip("pyspark", reason="spark_udf needs pyspark: pip install 'mltrail[spark]'")

from pyspark.errors import PythonException  # noqa: E402
from pyspark.sql import DataFrame, SparkSession  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402
from pyspark.sql import types as T  # noqa: E402

# Models are pickled in this process and unpickled by Spark's Python workers, which cannot
# import this test module: pickle what it defines by value.
import cloudpickle  # noqa: E402

cloudpickle.register_pickle_by_value(sys.modules[__name__])

ROWS = 100_000


class LoadCounter(PythonModel):
    """Appends its process id to a file each time it is loaded; predicts 2a + b."""

    def load_context(self, context: PythonModelContext) -> None:
        with open(context.model_config["log"], "a") as f:
            f.write(f"{os.getpid()}\n")

    def predict(self, context: PythonModelContext, model_input: Any) -> Any:
        return model_input["a"] * 2 + model_input["b"]


class TwoOutputs(PythonModel):
    """A frame of two columns: an integer label and a float score."""

    def predict(self, context: PythonModelContext, model_input: Any) -> Any:
        return pd.DataFrame({"label": (model_input["a"] > 1).astype("int64"),
                             "score": model_input["a"] / 10})


class Offset(PythonModel):
    def predict(
        self, context: PythonModelContext, model_input: Any, params: dict[str, Any] | None = None
    ) -> Any:
        return model_input["x"] + (params or {}).get("offset", 0.0)


def column_names(frame: pd.DataFrame) -> pd.Series:
    """Predicts the names of the columns the model was given, comma separated."""
    return pd.Series([",".join(map(str, frame.columns))] * len(frame))


def labels_as_text(frame: pd.DataFrame) -> pd.Series:
    return pd.Series(np.where(frame.iloc[:, 0] > 1, "big", "small"))


@pytest.fixture(scope="module")
def small(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame([(1.0, 10.0), (2.0, 20.0), (3.0, 30.0)], ["a", "b"])


@pytest.fixture(scope="module")
def names_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = str(tmp_path_factory.mktemp("names") / "m")
    mltrail.pyfunc.save_model(path, python_model=column_names)
    return path


def test_a_model_loads_once_per_worker_and_sums_as_a_scalar(
    spark: SparkSession, tmp_path: Path
) -> None:
    log = tmp_path / "loads.txt"
    mltrail.pyfunc.save_model(
        str(tmp_path / "m"), python_model=LoadCounter(), model_config={"log": str(log)}
    )
    udf = spark_udf(spark, str(tmp_path / "m"))
    df = spark.range(0, ROWS, 1, 4).select(
        (F.col("id") % 7).cast("double").alias("a"), (F.col("id") % 5).alias("b")
    )
    scored = df.select(udf("a", "b").alias("p"))

    assert scored.schema["p"].dataType == T.DoubleType()  # a scalar, not array<...>
    total, count = scored.agg(F.sum("p"), F.count("p")).collect()[0]
    ids = np.arange(ROWS)
    assert count == ROWS and total == float(((ids % 7) * 2 + ids % 5).sum())
    # Ten batches and more, four tasks: each worker process loaded the model once.
    pids = log.read_text().split()
    assert 1 <= len(pids) <= 2 and len(set(pids)) == len(pids)


def test_a_classifier_scores_as_long_double_or_string(spark: SparkSession, tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    x = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [0.0, 0.0, 1.0, 1.0]})
    estimator = LogisticRegression().fit(x, [0, 0, 1, 1])
    mltrail.sklearn.save_model(estimator, str(tmp_path / "m"), serialization_format="cloudpickle")
    df = spark.createDataFrame(x)
    expected = [int(v) for v in estimator.predict(x)]

    for result_type, spark_type, values in [
        (None, T.DoubleType(), [float(v) for v in expected]),  # no signature: double
        ("long", T.LongType(), expected),
        (T.LongType(), T.LongType(), expected),
        ("double", T.DoubleType(), [float(v) for v in expected]),
        ("string", T.StringType(), [str(v) for v in expected]),
    ]:
        udf = spark_udf(spark, str(tmp_path / "m"), result_type=result_type)
        scored = df.select(udf("a", "b").alias("p"))
        assert scored.schema["p"].dataType == spark_type
        assert [r.p for r in scored.collect()] == values


def test_a_signature_names_the_columns_and_the_result_type(
    spark: SparkSession, tmp_path: Path
) -> None:
    from sklearn.linear_model import LogisticRegression

    x = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0], "y": [0.0, 0.0, 1.0, 1.0]})
    estimator = LogisticRegression().fit(x, np.array([0, 0, 1, 1], dtype="int64"))
    signature = infer_signature(x, estimator.predict(x))
    mltrail.sklearn.save_model(
        estimator, str(tmp_path / "m"), serialization_format="cloudpickle", signature=signature
    )
    udf = spark_udf(spark, str(tmp_path / "m"))
    df = spark.createDataFrame(x.rename(columns={"x": "a", "y": "b"}))

    scored = df.select(udf("a", "b").alias("p"))  # positions map to the signature's x, y
    assert scored.schema["p"].dataType == T.LongType()  # integer labels: long
    assert [r.p for r in scored.collect()] == [int(v) for v in estimator.predict(x)]
    assert scored.agg(F.sum("p")).collect()[0][0] == int(estimator.predict(x).sum())
    with pytest.raises(InvalidArgument, match=r"takes 2 input columns \['x', 'y'\].*called with 3"):
        udf("a", "b", "a")
    with pytest.raises(InvalidArgument, match="input columns"):
        udf()


def test_array_and_struct_results(spark: SparkSession, small: DataFrame, tmp_path: Path) -> None:
    mltrail.pyfunc.save_model(str(tmp_path / "m"), python_model=TwoOutputs())

    as_struct = spark_udf(spark, str(tmp_path / "m"), "struct<score: double, label: long>")
    rows = small.select(as_struct("a", "b").alias("p")).select("p.score", "p.label").collect()
    assert [(r.score, r.label) for r in rows] == [(0.1, 0), (0.2, 1), (0.3, 1)]  # by name

    as_array = spark_udf(spark, str(tmp_path / "m"), T.ArrayType(T.DoubleType()))
    rows = small.select(as_array("a", "b").alias("p")).collect()
    assert [r.p for r in rows] == [[0.0, 0.1], [1.0, 0.2], [1.0, 0.3]]

    missing = spark_udf(spark, str(tmp_path / "m"), "struct<label: long, rank: int>")
    with pytest.raises(PythonException, match=r"fields \['rank'\] are not among"):
        small.select(missing("a", "b")).collect()
    two_columns = spark_udf(spark, str(tmp_path / "m"))  # default double: one value per row
    with pytest.raises(PythonException, match="returned 2 columns"):
        small.select(two_columns("a", "b")).collect()


def test_columns_reach_the_model_by_name_or_position(
    spark: SparkSession, small: DataFrame, names_model: str
) -> None:
    udf = spark_udf(spark, names_model, result_type="string")
    calls: list[tuple[tuple[Any, ...], str]] = [
        (("a", "b"), "a,b"),
        ((F.col("a"), small["b"]), "a,b"),
        ((F.col("a").alias("x"), "b"), "x,b"),
        ((F.col("a") + 1, "b"), "0,1"),  # an expression: positions for every column
        (("a",), "a"),
        ((F.col("a") * 2,), "0"),
        ((F.struct("b", "a"),), "b,a"),  # one struct: its fields are the columns
        ((F.struct(F.col("a").alias("u"), F.col("b").alias("v")),), "u,v"),
    ]
    row = small.select(*[udf(*cols).alias(f"c{i}") for i, (cols, _) in enumerate(calls)]).first()
    assert row is not None
    assert list(row) == [names for _, names in calls]


def test_a_signature_renames_positional_columns_but_not_struct_fields(
    spark: SparkSession, small: DataFrame, tmp_path: Path
) -> None:
    signature = infer_signature(pd.DataFrame({"x": [1.0], "y": [1.0]}), pd.Series(["x,y"]))
    mltrail.pyfunc.save_model(str(tmp_path / "m"), python_model=column_names, signature=signature)
    udf = spark_udf(spark, str(tmp_path / "m"))

    scored = small.select(
        udf("a", "b").alias("positional"),
        udf(F.struct(F.col("a").alias("x"), F.col("b").alias("y"))).alias("struct"),
    )
    assert scored.schema["positional"].dataType == T.StringType()  # from the signature
    assert tuple(scored.first()) == ("x,y", "x,y")  # type: ignore[arg-type]
    with pytest.raises(PythonException, match="missing inputs"):
        small.select(udf(F.struct("a", "b"))).collect()  # fields are taken as they are named


def test_params_reach_every_batch(spark: SparkSession, small: DataFrame, tmp_path: Path) -> None:
    signature = infer_signature(
        pd.DataFrame({"x": [1.0]}), pd.Series([1.0]), params={"offset": 0.0}
    )
    mltrail.pyfunc.save_model(str(tmp_path / "m"), python_model=Offset(), signature=signature)

    udf = spark_udf(spark, str(tmp_path / "m"), params={"offset": 100.0})
    assert [r.p for r in small.select(udf("a").alias("p")).collect()] == [101.0, 102.0, 103.0]
    plain = spark_udf(spark, str(tmp_path / "m"))
    assert [r.p for r in small.select(plain("a").alias("p")).collect()] == [1.0, 2.0, 3.0]
    with pytest.raises(InvalidArgument, match="offset"):
        spark_udf(spark, str(tmp_path / "m"), params={"offset": "far"})


def test_registered_for_sql(spark: SparkSession, small: DataFrame, names_model: str) -> None:
    udf = spark_udf(spark, names_model, result_type="string")
    spark.udf.register("model_columns", udf)
    small.createOrReplaceTempView("wine")

    rows = spark.sql("SELECT model_columns(a, b) AS p FROM wine").collect()
    assert [r.p for r in rows] == ["0,1"] * 3  # SQL calls are positional
    fields = spark.sql("SELECT model_columns(named_struct('x', a, 'y', b)) AS p FROM wine")
    assert fields.first().p == "x,y"  # type: ignore[union-attr]


def test_a_model_logged_in_a_run(spark: SparkSession, session: Session, small: DataFrame) -> None:
    with mltrail.start_run() as run:
        mltrail.pyfunc.log_model(name="model", python_model=labels_as_text)
    udf = spark_udf(spark, f"runs:/{run.info.run_id}/model", result_type="string")
    assert [r.p for r in small.select(udf("a").alias("p")).collect()] == ["small", "big", "big"]


def test_extra_env_is_set_while_the_model_scores(
    spark: SparkSession, small: DataFrame, tmp_path: Path
) -> None:
    mltrail.pyfunc.save_model(
        str(tmp_path / "m"),
        python_model=lambda frame: pd.Series([os.environ.get("MLTRAIL_TEST_GREETING")] * len(frame)),
    )
    udf = spark_udf(spark, str(tmp_path / "m"), "string", extra_env={"MLTRAIL_TEST_GREETING": "hi"})
    assert [r.p for r in small.select(udf("a").alias("p")).collect()] == ["hi"] * 3
    assert "MLTRAIL_TEST_GREETING" not in os.environ  # set in the workers, not here


def test_clear_errors(spark: SparkSession, small: DataFrame, tmp_path: Path) -> None:
    mltrail.pyfunc.save_model(str(tmp_path / "m"), python_model=labels_as_text)
    model = str(tmp_path / "m")

    with pytest.raises(InvalidArgument, match="only 'local' is supported in this version"):
        spark_udf(spark, model, env_manager="conda")
    with pytest.raises(InvalidArgument, match="Unsupported result_type 'map<string,int>'"):
        spark_udf(spark, model, result_type="map<string, int>")
    with pytest.raises(InvalidArgument, match="Invalid result_type 'no such type'"):
        spark_udf(spark, model, result_type="no such type")
    with pytest.raises(InvalidArgument, match="extra_env"):
        spark_udf(spark, model, extra_env={"A": 1})  # type: ignore[dict-item]
    with pytest.raises(mltrail.MltrailError, match="MLmodel"):
        spark_udf(spark, str(tmp_path))  # not a model directory

    as_double = spark_udf(spark, model)  # strings cannot become doubles
    with pytest.raises(PythonException, match=r"string values.*give result_type='string'"):
        small.select(as_double("a")).collect()


@pytest.mark.parametrize("data_filter", [True, False], ids=["data-filter", "own-checks"])
def test_unpacking_stays_inside_its_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data_filter: bool
) -> None:
    import io
    import tarfile

    from mltrail.models.spark import _unpack

    if not data_filter:
        monkeypatch.delattr(tarfile, "data_filter", raising=False)
    for name, kind in [("../escape.txt", tarfile.REGTYPE), ("model/link", tarfile.SYMTYPE)]:
        archive = tmp_path / "evil.tar"
        with tarfile.open(archive, "w") as tar:
            member = tarfile.TarInfo(name)
            member.type = kind
            member.linkname = "/etc/passwd" if kind == tarfile.SYMTYPE else ""
            member.size = 0 if kind == tarfile.SYMTYPE else 2
            tar.addfile(member, None if kind == tarfile.SYMTYPE else io.BytesIO(b"hi"))
        target = tmp_path / "out"
        with pytest.raises(InvalidArgument, match="Refusing"):
            _unpack(str(archive), str(target))
        assert not (tmp_path / "escape.txt").exists()
