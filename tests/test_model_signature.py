"""Model signatures, input enforcement and input examples, held to MLflow 3's formats.

The JSON constants below were written by MLflow 3.17.2 (run in ``.venv-mlflow``), so reading
them tests compatibility with files MLflow saved, not with our own idea of them.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import subprocess
import sys
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mltrail.errors import InvalidArgument
from mltrail.models.enforcement import enforce_params, enforce_schema
from mltrail.models.input_example import load_input_example, save_input_example
from mltrail.models.signature import (
    AnyType,
    Array,
    ColSpec,
    DataType,
    Map,
    ModelSignature,
    Object,
    ParamSchema,
    ParamSpec,
    Property,
    Schema,
    TensorSpec,
    infer_schema,
    infer_signature,
)

# --- JSON written by MLflow 3.17.2 ---------------------------------------------------------

MLFLOW_COLUMNS = (
    '[{"type": "double", "name": "a", "required": true}, {"type": "long", "name": "b", '
    '"required": true}, {"type": "string", "name": "c", "required": true}, {"type": "boolean", '
    '"name": "d", "required": true}, {"type": "datetime", "name": "e", "required": true}, '
    '{"type": "binary", "name": "f", "required": true}, {"type": "integer", "name": "g", '
    '"required": true}, {"type": "float", "name": "h", "required": true}]'
)
MLFLOW_NESTED = (
    '[{"type": "map", "values": {"type": "string"}, "name": "m", "required": true}, '
    '{"type": "array", "items": {"type": "object", "properties": {"p": {"type": "long", '
    '"required": false}, "q": {"type": "array", "items": {"type": "string"}, "required": true}}}, '
    '"name": "a", "required": false}, {"type": "any", "name": "z", "required": true}, '
    '{"type": "map", "values": {"type": "array", "items": {"type": "double"}}, "name": "mm", '
    '"required": true}, {"type": "object", "properties": {"o": {"type": "object", "properties": '
    '{"x": {"type": "any", "required": true}}, "required": true}}, "name": "oo", '
    '"required": true}]'
)
MLFLOW_TENSOR = '[{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 4]}}]'
MLFLOW_NAMED_TENSORS = (
    '[{"name": "a", "type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}}, '
    '{"name": "b", "type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 3]}}]'
)
MLFLOW_STR_TENSOR = '[{"type": "tensor", "tensor-spec": {"dtype": "str", "shape": [-1]}}]'
MLFLOW_STRUCT_TENSOR = '[{"type": "tensor", "tensor-spec": {"dtype": "void96", "shape": [-1]}}]'
MLFLOW_UNNAMED_COLUMN = '[{"type": "double", "required": true}]'
MLFLOW_PARAMS = (
    '[{"name": "k", "default": 1.0, "shape": null, "type": "double"}, {"name": "n", "default": 3, '
    '"shape": null, "type": "long"}, {"name": "s", "default": "a", "shape": null, "type": '
    '"string"}, {"name": "b", "default": true, "shape": null, "type": "boolean"}, {"name": "l", '
    '"default": [1, 2], "shape": [-1], "type": "long"}, {"name": "ls", "default": ["a"], '
    '"shape": [-1], "type": "string"}, {"name": "dt", "default": "2020-01-01", "shape": null, '
    '"type": "datetime"}]'
)
MLFLOW_OBJECT_PARAM = (
    '[{"name": "o", "default": {"x": 1}, "shape": null, "type": "object", "properties": '
    '{"x": {"type": "long", "required": true}}}]'
)
MLFLOW_DATETIME_PARAM = (
    '[{"name": "dt", "default": "2020-01-01T03:04:00", "shape": null, "type": "datetime"}]'
)
# What MLflow wrote for save_model(..., input_example=pd.DataFrame(...)) and a float32 array.
MLFLOW_FRAME_EXAMPLE = (
    '{"columns": ["a", "b", "t", "n"], "data": [[1.0, "x", "2020-01-01T00:00:00", 1.0], '
    '[2.0, "y", "2020-01-02T00:00:00", NaN]]}'
)
MLFLOW_FRAME_SERVING = json.dumps({"dataframe_split": json.loads(MLFLOW_FRAME_EXAMPLE)}, indent=2)
MLFLOW_ARRAY_EXAMPLE = "[[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]"
MLFLOW_ARRAY_SERVING = json.dumps({"inputs": json.loads(MLFLOW_ARRAY_EXAMPLE)}, indent=2)


@pytest.mark.parametrize(
    "text",
    [
        MLFLOW_COLUMNS,
        MLFLOW_NESTED,
        MLFLOW_TENSOR,
        MLFLOW_NAMED_TENSORS,
        MLFLOW_STR_TENSOR,
        MLFLOW_STRUCT_TENSOR,
        MLFLOW_UNNAMED_COLUMN,
    ],
)
def test_schema_json_written_by_mlflow_reads_and_writes_back_unchanged(text: str) -> None:
    assert Schema.from_json(text).to_json() == text


@pytest.mark.parametrize("text", [MLFLOW_PARAMS, MLFLOW_OBJECT_PARAM, MLFLOW_DATETIME_PARAM])
def test_param_json_written_by_mlflow_reads_and_writes_back_unchanged(text: str) -> None:
    assert ParamSchema.from_json(text).to_json() == text


def test_mlflow_json_reads_into_the_types_it_describes() -> None:
    nested = Schema.from_json(MLFLOW_NESTED)
    assert nested.input_types()[:3] == [
        Map(DataType.string),
        Array(
            Object([Property("q", Array(DataType.string)), Property("p", DataType.long, False)])
        ),
        AnyType(),
    ]
    assert nested.optional_input_names() == ["a"]
    tensors = Schema.from_json(MLFLOW_NAMED_TENSORS)
    assert tensors.is_tensor_spec() and tensors.input_names() == ["a", "b"]
    assert tensors.numpy_types() == [np.dtype("int64"), np.dtype("float32")]
    assert Schema.from_json(MLFLOW_STR_TENSOR).numpy_types() == [np.dtype(str)]
    params = {p.name: p for p in ParamSchema.from_json(MLFLOW_PARAMS)}
    assert params["l"].shape == (-1,) and params["l"].default == [1, 2]
    assert params["dt"].default == dt.date(2020, 1, 1)


def test_signature_to_dict_is_three_json_strings_and_reads_back() -> None:
    sig = ModelSignature(
        Schema.from_json(MLFLOW_COLUMNS),
        Schema.from_json(MLFLOW_TENSOR),
        ParamSchema.from_json(MLFLOW_PARAMS),
    )
    d = sig.to_dict()
    assert d == {"inputs": MLFLOW_COLUMNS, "outputs": MLFLOW_TENSOR, "params": MLFLOW_PARAMS}
    assert ModelSignature.from_dict(d) == sig
    only_inputs = ModelSignature(Schema([ColSpec(DataType.double)]))
    assert only_inputs.to_dict() == {
        "inputs": MLFLOW_UNNAMED_COLUMN, "outputs": None, "params": None
    }
    assert ModelSignature.from_dict({"inputs": MLFLOW_UNNAMED_COLUMN}) == only_inputs
    assert only_inputs != sig
    assert "ModelSignature(inputs=Schema([ColSpec(type=DataType.double" in repr(only_inputs)


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ("not json", "not valid JSON"),
        ('{"type": "double"}', "must be a list"),
        ('[{"type": "decimal", "name": "a"}]', "unknown type 'decimal'"),
        ('[{"type": "array", "name": "a"}]', "needs the key 'items'"),
        ('[{"type": "tensor", "tensor-spec": {"dtype": "float64"}}]', "'dtype' and 'shape'"),
        (
            '[{"type": "tensor", "tensor-spec": {"dtype": "nope", "shape": [-1]}}]',
            "unknown numpy dtype",
        ),
        ('[{"type": "double", "name": "a"}, {"type": "double"}]', "all have names or all"),
    ],
)
def test_bad_schema_json_names_the_problem(bad: str, match: str) -> None:
    with pytest.raises(InvalidArgument, match=match):
        Schema.from_json(bad)


def test_signature_from_dict_rejects_bad_parts() -> None:
    with pytest.raises(InvalidArgument, match="signature inputs must be a JSON string"):
        ModelSignature.from_dict({"inputs": [{"type": "double"}]})
    with pytest.raises(InvalidArgument, match="at least one of inputs, outputs or params"):
        ModelSignature.from_dict({"inputs": None})


# --- the model: types, specs, schemas ------------------------------------------------------


@pytest.mark.parametrize(
    ("dtype", "expected"),
    [
        ("int64", DataType.long),
        ("int32", DataType.integer),
        ("int8", DataType.integer),
        ("uint16", DataType.integer),
        ("uint32", DataType.long),
        ("float32", DataType.float),
        ("float64", DataType.double),
        ("bool", DataType.boolean),
        ("object", DataType.string),
        ("U7", DataType.string),
        ("S3", DataType.binary),
        ("datetime64[ns]", DataType.datetime),
        ("datetime64[s]", DataType.datetime),
    ],
)
def test_datatype_from_numpy(dtype: str, expected: DataType) -> None:
    assert DataType.from_numpy(np.dtype(dtype)) is expected


def test_datatype_to_numpy_and_values() -> None:
    assert [t.value for t in DataType] == [
        "boolean", "integer", "long", "float", "double", "string", "binary", "datetime"
    ]
    assert DataType.long.to_numpy() == np.dtype("int64")
    assert DataType.integer.to_numpy() == np.dtype("int32")
    assert DataType.float.to_numpy() == np.dtype("float32")
    assert DataType.datetime.to_numpy() == np.dtype("datetime64[ns]")
    assert DataType.string.to_numpy() == np.dtype(str)
    assert DataType.double.to_python() is float
    assert DataType("double") is DataType.double and f"{DataType.double}" == "double"


@pytest.mark.parametrize("dtype", ["uint64", "complex128", "timedelta64[ns]", "float16x"])
def test_datatype_from_numpy_refuses_what_no_type_holds(dtype: str) -> None:
    if dtype == "float16x":
        dtype = "float128" if hasattr(np, "float128") else "complex64"
    with pytest.raises(InvalidArgument, match="has no signature type"):
        DataType.from_numpy(np.dtype(dtype))


@pytest.mark.parametrize(
    ("inputs", "match"),
    [
        ([], "at least one input"),
        ([ColSpec(DataType.double, "a"), TensorSpec(np.float64, (-1,), "b")], "cannot mix"),
        ([ColSpec(DataType.double, "a"), ColSpec(DataType.double)], "all have names"),
        (
            [ColSpec(DataType.double, "a"), ColSpec(DataType.long, "a")],
            r"duplicate input names \['a'\]",
        ),
        ([ColSpec(DataType.double, required=False)], "unnamed inputs cannot be optional"),
    ],
)
def test_schema_rules(inputs: list[Any], match: str) -> None:
    with pytest.raises(InvalidArgument, match=match):
        Schema(inputs)


def test_schema_accessors() -> None:
    schema = Schema(
        [ColSpec(DataType.double, "a"), ColSpec(Array(DataType.long), "b", required=False)]
    )
    assert schema.has_input_names() and not schema.is_tensor_spec()
    assert schema.input_names() == ["a", "b"]
    assert schema.required_input_names() == ["a"]
    assert schema.optional_input_names() == ["b"]
    assert schema.input_types() == [DataType.double, Array(DataType.long)]
    assert schema.numpy_types() == [np.dtype("float64"), np.dtype(object)]
    assert Schema.from_json(schema.to_json()) == schema
    assert schema.to_dict()[1] == {
        "type": "array", "items": {"type": "long"}, "name": "b", "required": False
    }
    unnamed = Schema([TensorSpec("float32", [-1, 2])])
    assert not unnamed.has_input_names() and unnamed.input_names() == ["0"]
    assert unnamed.inputs[0] == TensorSpec(np.float32, (-1, 2))


def test_spec_constructors_check_their_arguments() -> None:
    with pytest.raises(InvalidArgument, match="shape must be integers >= -1"):
        TensorSpec(np.float64, (-2,))
    with pytest.raises(InvalidArgument, match="must be a DataType, Array, Object, Map or AnyType"):
        ColSpec(float, "a")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match=r"duplicate properties \['x'\]"):
        Object([Property("x", DataType.long), Property("x", DataType.string)])
    with pytest.raises(InvalidArgument, match="param 'k' shape must be None or"):
        ParamSpec("k", DataType.long, [1], (2,))
    with pytest.raises(InvalidArgument, match="param 'b' type must be a DataType other than"):
        ParamSpec("b", DataType.binary, b"x")
    with pytest.raises(InvalidArgument, match="param 'k' must be long, got str 'x'"):
        ParamSpec("k", DataType.long, "x")
    assert ColSpec("double", "a").type is DataType.double  # type: ignore[arg-type]
    assert TensorSpec("U12", (-1,)).dtype == np.dtype(str)


# --- MLflow itself reads what we write, and infers what we infer -----------------------------


@pytest.fixture(scope="module")
def mlflow_models() -> ModuleType:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import mlflow.models
    except ImportError as exc:
        pytest.skip(f"mlflow-skinny (a test dependency) is not importable: {exc}")
    return mlflow.models


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "a": [1.0, 2.0],
            "b": [1, 2],
            "c": ["x", "y"],
            "d": [True, False],
            "e": pd.to_datetime(["2020-01-01", "2020-01-02"]),
            "f": [b"x", b"y"],
            "g": np.array([1, 2], dtype=np.int32),
            "h": np.array([1, 2], dtype=np.float32),
        }
    )


SAME_AS_MLFLOW: dict[str, tuple[Any, Any, dict[str, Any] | None]] = {
    "frame": (_frame(), np.array([1.0, 2.0]), None),
    "frame with gaps and nesting": (
        pd.DataFrame(
            {
                "a": [1.0, None],
                "c": ["x", None],
                "l": [[1, 2], [3]],
                "o": [{"x": 1, "y": "s"}, {"x": 2, "y": "t"}],
                "m": [{"k": 1}, {"j": 2}],
            }
        ),
        None,
        None,
    ),
    "nullable and categorical frame": (
        pd.DataFrame(
            {
                "i": pd.array([1, None], dtype="Int32"),
                "f": pd.array([1.0, None], dtype="Float32"),
                "b": pd.array([True, None], dtype="boolean"),
                "cat": pd.Categorical(["x", "y"]),
                "tz": pd.to_datetime(["2020-01-01", "2020-01-02"]).tz_localize("UTC"),
                "obj_int": pd.Series([1, None], dtype=object),
                "nothing": pd.Series([None, None], dtype=object),
                "small": np.array([1, 2], dtype=np.uint8),
            }
        ),
        None,
        None,
    ),
    "series": (pd.Series([1, 2], name="s"), pd.Series([1.0, 2.0]), None),
    "2-D array": (np.zeros((3, 4)), np.zeros(3, dtype=np.int32), None),
    "3-D array": (np.zeros((3, 4, 5), dtype=np.float32), None, None),
    "string array": (np.array(["a", "b"]), None, None),
    "dict of arrays": (
        {"a": np.array([1, 2]), "b": np.zeros((2, 3), dtype=np.float32)}, None, None
    ),
    "mixed dict": (
        {"a": np.array([1, 2]), "b": np.zeros((2, 3)), "c": [1, 2], "d": "s", "e": 3}, None, None
    ),
    "records": ([{"a": 1, "b": "x"}, {"a": 2}], None, None),
    "record with gaps": ({"a": [], "b": None, "c": [[]]}, None, None),
    "chat": ({"messages": [{"role": "user", "content": "hi"}], "options": {"k": 1}}, None, None),
    "list of scalars": ([1, 2, 3], ["a", "b", "c"], None),
    "list of lists": ([[1, 2], [3, 4]], None, None),
    "string": ("hello", None, None),
    "params": (
        {"x": 1},
        None,
        {
            "k": 1.0,
            "n": 3,
            "s": "a",
            "b": True,
            "l": [1, 2],
            "ls": ["a"],
            "f": np.float32(2.0),
            "i": np.int32(1),
            "dt": np.datetime64("2020-01-01"),
            "when": dt.datetime(2020, 1, 1, 3, 4),
            "o": {"x": 1},
        },
    ),
}


@pytest.mark.parametrize("case", list(SAME_AS_MLFLOW))
def test_mlflow_reads_our_signature_as_equal_to_its_own_inference(
    case: str, mlflow_models: ModuleType
) -> None:
    model_input, model_output, params = SAME_AS_MLFLOW[case]
    ours = infer_signature(model_input, model_output, params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = mlflow_models.infer_signature(model_input, model_output, params)
        read = mlflow_models.ModelSignature.from_dict(ours.to_dict())
    assert read == theirs
    assert ModelSignature.from_dict(theirs.to_dict()) == ours


# --- inference ------------------------------------------------------------------------------


def test_infer_frame_reads_dtypes_and_gaps() -> None:
    frame = pd.DataFrame(
        {
            "i": pd.array([1, None], dtype="Int64"),
            "f": [1.5, np.nan],
            "s": pd.array(["x", None], dtype="string"),
            "cat": pd.Categorical(["x", "y"]),
            "t": pd.to_datetime(["2020-01-01", "2020-01-02"]).tz_localize("UTC"),
            "obj_int": pd.Series([1, None], dtype=object),
            "nothing": pd.Series([None, None], dtype=object),
            "flags": [True, None],
            3: [1, 2],
        }
    )
    assert infer_schema(frame) == Schema(
        [
            ColSpec(DataType.long, "i", required=False),
            ColSpec(DataType.double, "f", required=False),
            ColSpec(DataType.string, "s", required=False),
            ColSpec(DataType.string, "cat"),
            ColSpec(DataType.datetime, "t"),
            ColSpec(DataType.double, "obj_int", required=False),
            ColSpec(AnyType(), "nothing", required=False),
            ColSpec(DataType.boolean, "flags", required=False),
            ColSpec(DataType.long, "3"),
        ]
    )


def test_infer_merges_nested_values_across_rows() -> None:
    frame = pd.DataFrame(
        {
            "l": [[1, 2], [], [3.5]],
            "o": [{"x": 1}, {"x": 2, "y": [1]}, {"x": 3}],
            "n": [np.array([[1.0]]), np.array([[2.0]]), None],
        }
    )
    assert infer_schema(frame) == Schema(
        [
            ColSpec(Array(DataType.double), "l"),
            ColSpec(
                Object([Property("x", DataType.long), Property("y", Array(DataType.long), False)]),
                "o",
            ),
            ColSpec(Array(Array(DataType.double)), "n", required=False),
        ]
    )


def test_infer_other_inputs() -> None:
    assert infer_schema(np.zeros((2, 3), dtype=np.float32)) == Schema(
        [TensorSpec(np.float32, (-1, 3))]
    )
    struct = np.array([(1, 2.0)], dtype=[("x", "i4"), ("y", "f8")])
    assert infer_schema(struct).to_dict() == [
        {"type": "tensor", "tensor-spec": {"dtype": "void96", "shape": [-1]}}
    ]
    assert infer_schema({"x": np.zeros((2, 2, 2))}) == Schema(
        [TensorSpec(np.float64, (-1, 2, 2), "x")]
    )
    assert infer_schema({"a": 1, "b": None, "c": b"z"}) == Schema(
        [
            ColSpec(DataType.long, "a"),
            ColSpec(AnyType(), "b", False),
            ColSpec(DataType.binary, "c"),
        ]
    )
    assert infer_schema([{"a": 1}, {"a": 2.5, "b": dt.date(2020, 1, 1)}]) == Schema(
        [ColSpec(DataType.double, "a"), ColSpec(DataType.datetime, "b", False)]
    )
    assert infer_schema(["x", "y"]) == Schema([ColSpec(DataType.string)])
    assert infer_schema(np.float32(1.0)) == Schema([ColSpec(DataType.float)])
    assert infer_schema(pd.Series([1.0, None], name="x")) == Schema(
        [ColSpec(DataType.double, "x", False)]
    )


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({1, 2}, "cannot infer a schema from builtins.set"),
        (pd.DataFrame({"m": ["x", 1]}), "column 'm' holds mixed-integer values"),
        (pd.DataFrame({"m": [[1], "x"]}), "column 'm' holds mixed values"),
        (pd.DataFrame({"d": pd.to_timedelta([1], unit="s")}), "column 'd' has dtype timedelta64"),
        ([1, "a"], "the input list mixes long and string values"),
        ([{"a": 1}, 2], "mixes dicts"),
        ([], "empty list"),
        ({}, "empty dict"),
        ({1: "a"}, "keys must be strings"),
        ([{"a": object()}], "field 'a': cannot infer a type for builtins.object"),
        (np.array(1.0), "0-dimensional"),
        (pd.Series(["a", None]), "unnamed inputs cannot be optional"),
    ],
)
def test_infer_schema_refuses_with_the_reason(data: Any, match: str) -> None:
    with pytest.raises(InvalidArgument, match=match):
        infer_schema(data)


def test_infer_params() -> None:
    sig = infer_signature(
        params={"k": 0.5, "ids": np.array([1, 2]), "stop": [], "d": "2020-01-01"}
    )
    assert sig.inputs is None and sig.params is not None
    assert sig.params == ParamSchema(
        [
            ParamSpec("k", DataType.double, 0.5),
            ParamSpec("ids", DataType.long, [1, 2], (-1,)),
            ParamSpec("stop", DataType.string, [], (-1,)),
            ParamSpec("d", DataType.string, "2020-01-01"),
        ]
    )
    refused: list[tuple[dict[str, Any], str]] = [
        ({"n": None}, "param 'n' is None"),
        ({"b": b"x"}, "param 'b' has type binary"),
        ({"m": [[1, 2]]}, r"param 'm' has type array<long>"),
        ({"m": np.zeros((2, 2))}, "param 'm' must be a scalar or a 1-D list"),
    ]
    for params, match in refused:
        with pytest.raises(InvalidArgument, match=match):
            infer_signature(params=params)


def test_importing_the_modules_loads_neither_numpy_nor_pandas() -> None:
    code = (
        "import sys, mltrail.models.signature, mltrail.models.enforcement, "
        "mltrail.models.input_example; print(sorted({'numpy', 'pandas'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- enforcement: columns -------------------------------------------------------------------

COLUMNS = Schema(
    [
        ColSpec(DataType.double, "a"),
        ColSpec(DataType.long, "b"),
        ColSpec(DataType.string, "c"),
        ColSpec(DataType.datetime, "t", required=False),
        ColSpec(DataType.boolean, "z", required=False),
    ]
)


def test_enforce_orders_columns_drops_extras_and_converts_safely() -> None:
    given = pd.DataFrame(
        {
            "extra": [0, 0],
            "c": ["x", "y"],
            "b": [1.0, 2.0],  # whole floats may become longs
            "a": np.array([1, 2], dtype=np.int32),  # ints widen to doubles
            "t": ["2020-01-01", "2020-01-02T03:00:00"],
        }
    )
    out = enforce_schema(given, COLUMNS)
    assert list(out.columns) == ["a", "b", "c", "t"]
    assert out.dtypes.to_dict() == {
        "a": np.dtype("float64"),
        "b": np.dtype("int64"),
        "c": np.dtype(object),
        "t": np.dtype("<M8[ns]"),
    }
    assert out["t"].iloc[1] == pd.Timestamp("2020-01-02 03:00")
    assert "extra" in given.columns and given["b"].dtype == np.float64  # the input is not changed


def test_enforce_names_every_problem_at_once() -> None:
    with pytest.raises(
        InvalidArgument,
        match=r"^Model is missing inputs \['b', 'c'\] and got inputs of the wrong type: "
        r"column 'a' must be double, got string values; "
        r"column 'z' must be boolean, got long values$",
    ):
        enforce_schema(pd.DataFrame({"a": ["1.5"], "z": [1]}), COLUMNS)


@pytest.mark.parametrize(
    ("column", "values", "match"),
    [
        ("b", [1.5], "column 'b' must be long, got double values that are not whole numbers"),
        ("b", [1.0, np.nan], r"column 'b' must be long, got double values with missing values"),
        ("b", [True], "column 'b' must be long, got boolean values"),
        ("b", ["1"], "column 'b' must be long, got string values"),
        ("a", [True], "column 'a' must be double, got boolean values"),
        ("c", [1], "column 'c' must be string, got long values"),
        ("c", [b"x"], "column 'c' must be string, got binary values"),
        ("t", ["yesterday"], "column 't' must be datetime, got strings that are not ISO 8601"),
        ("t", [1.5], "column 't' must be datetime, got double values"),
        ("z", ["true"], "column 'z' must be boolean, got string values"),
    ],
)
def test_enforce_refuses_unsafe_conversions(column: str, values: list[Any], match: str) -> None:
    data = {"a": [1.0] * len(values), "b": [1] * len(values), "c": ["x"] * len(values)}
    data[column] = values
    with pytest.raises(InvalidArgument, match=match):
        enforce_schema(pd.DataFrame(data), COLUMNS)


def test_enforce_integer_range_and_nullable_columns() -> None:
    small = Schema([ColSpec(DataType.integer, "i"), ColSpec(DataType.float, "f", required=False)])
    out = enforce_schema(pd.DataFrame({"i": [1, 2], "f": [1, None]}), small)
    assert out.dtypes.to_dict() == {"i": np.dtype("int32"), "f": np.dtype("float32")}
    assert np.isnan(out["f"].iloc[1])
    with pytest.raises(InvalidArgument, match="column 'i' must be integer, got values outside"):
        enforce_schema(pd.DataFrame({"i": [2**40]}), small)
    gaps = Schema(
        [
            ColSpec(DataType.long, "n", required=False),
            ColSpec(DataType.boolean, "q", required=False),
        ]
    )
    given = pd.DataFrame({"n": pd.array([1, None], dtype="Int64"), "q": [True, None]})
    out = enforce_schema(given, gaps)
    assert str(out["n"].dtype) == "Int64" and str(out["q"].dtype) == "boolean"


def test_enforce_accepts_dicts_records_arrays_and_scalars() -> None:
    expected = pd.DataFrame({"a": [1.5], "b": [2], "c": ["x"]})
    for given in (
        {"a": 1.5, "b": 2, "c": "x"},  # one record
        {"a": [1.5], "b": [2], "c": ["x"]},  # columns
        [{"a": 1.5, "b": 2, "c": "x", "other": 0}],  # records
        np.array([[1.5, 2, "x"]], dtype=object),  # rows, by position
    ):
        out = enforce_schema(given, Schema(COLUMNS.inputs[:3]))
        pd.testing.assert_frame_equal(out, expected)
    numbers = Schema([ColSpec(DataType.double, "x"), ColSpec(DataType.double, "y")])
    assert enforce_schema(np.array([[1, 2], [3, 4]]), numbers)["y"].tolist() == [2.0, 4.0]
    unnamed = Schema([ColSpec(DataType.double)])
    assert enforce_schema([1, 2], unnamed).iloc[:, 0].tolist() == [1.0, 2.0]
    assert enforce_schema("x", Schema([ColSpec(DataType.string)])).iloc[0, 0] == "x"
    with pytest.raises(InvalidArgument, match=r"shape \(2, 3\) cannot be matched to columns"):
        enforce_schema(np.zeros((2, 3)), numbers)
    with pytest.raises(InvalidArgument, match="input of type set cannot be matched"):
        enforce_schema({1.0}, numbers)


def test_enforce_nested_columns_leniently() -> None:
    schema = Schema(
        [
            ColSpec(Array(Object([Property("role", DataType.string)])), "messages"),
            ColSpec(Map(DataType.long), "options", required=False),
            ColSpec(AnyType(), "extra", required=False),
        ]
    )
    out = enforce_schema({"messages": [{"role": "user"}], "options": {"k": 1}, "extra": 3}, schema)
    assert out.to_dict("list") == {
        "messages": [[{"role": "user"}]], "options": [{"k": 1}], "extra": [3]
    }
    with pytest.raises(InvalidArgument, match="'messages' must be array<object>, got str values"):
        enforce_schema({"messages": "hello"}, schema)
    with pytest.raises(InvalidArgument, match="'options' must be map<long>, got double values"):
        enforce_schema(pd.DataFrame({"messages": [[]], "options": [1.0]}), schema)


# --- enforcement: tensors -------------------------------------------------------------------


def test_enforce_tensor_casts_safely_and_checks_shape() -> None:
    schema = Schema([TensorSpec(np.float32, (-1, 2))])
    out = enforce_schema([[1, 2], [3, 4]], schema)
    assert out.dtype == np.float32 and out.shape == (2, 2)
    assert enforce_schema(pd.DataFrame({"x": [1.0], "y": [2.0]}), schema).tolist() == [[1.0, 2.0]]
    with pytest.raises(InvalidArgument, match=r"input must have shape \(-1, 2\), got \(2, 3\)"):
        enforce_schema(np.zeros((2, 3)), schema)
    with pytest.raises(InvalidArgument, match="input must be float32, got str values"):
        enforce_schema(np.array([["a", "b"]]), schema)
    ints = Schema([TensorSpec(np.int32, (-1,))])
    assert enforce_schema(np.array([1.0, 2.0]), ints).dtype == np.int32
    for bad in (np.array([1.5]), np.array([np.nan]), np.array([2**40]), np.array([True])):
        with pytest.raises(InvalidArgument, match="input must be int32"):
            enforce_schema(bad, ints)


def test_enforce_tensor_keeps_booleans_strings_and_dates_apart() -> None:
    floats = Schema([TensorSpec(np.float64, (-1,))])
    with pytest.raises(InvalidArgument, match="input must be float64, got bool values"):
        enforce_schema(np.array([True, False]), floats)
    with pytest.raises(InvalidArgument, match="input must be str, got int64 values"):
        enforce_schema(np.array([1]), Schema([TensorSpec(np.dtype(str), (-1,))]))
    dates = Schema([TensorSpec("datetime64[ns]", (-1,))])
    out = enforce_schema(np.array(["2020-01-02T03:00:00"]), dates)
    assert out.dtype == np.dtype("datetime64[ns]") and str(out[0]).startswith("2020-01-02T03:00")
    with pytest.raises(InvalidArgument, match=r"must be datetime64\[ns\], got object values"):
        enforce_schema(np.array([1], dtype=object), dates)
    words = Schema([TensorSpec(np.dtype(object), (-1,))])
    assert enforce_schema(np.array(["a"], dtype=object), words).tolist() == ["a"]


def test_enforce_named_tensors_reports_all_problems() -> None:
    schema = Schema.from_json(MLFLOW_NAMED_TENSORS)  # a: int64 (-1,), b: float32 (-1, 3)
    out = enforce_schema({"a": [1, 2], "b": np.zeros((2, 3)), "c": 0}, schema)
    assert set(out) == {"a", "b"} and out["b"].dtype == np.float32
    one = Schema(schema.inputs[:1])
    assert enforce_schema(pd.DataFrame({"a": [1, 2]}), one)["a"].tolist() == [1, 2]
    with pytest.raises(
        InvalidArgument,
        match=r"^Model is missing inputs \['b'\] and got inputs of the wrong type: "
        r"tensor 'a' must be int64, got float64 values$",
    ):
        enforce_schema({"a": np.array([0.5])}, schema)


# --- params ---------------------------------------------------------------------------------

PARAMS = ParamSchema(
    [
        ParamSpec("k", DataType.double, 1.0),
        ParamSpec("n", DataType.long, 3),
        ParamSpec("ids", DataType.long, [1], (-1,)),
        ParamSpec("since", DataType.datetime, "2020-01-01"),
        ParamSpec("flag", DataType.boolean, False),
    ]
)


def test_params_defaults_and_conversions() -> None:
    assert enforce_params(None, PARAMS) == {
        "k": 1.0, "n": 3, "ids": [1], "since": dt.date(2020, 1, 1), "flag": False
    }
    got = enforce_params(
        {
            "k": 2,
            "n": 4.0,
            "ids": np.array([5, 6]),
            "since": "2021-02-03T04:05:06",
            "flag": np.bool_(True),
        },
        PARAMS,
    )
    assert got == {
        "k": 2.0, "n": 4, "ids": [5, 6], "since": dt.datetime(2021, 2, 3, 4, 5, 6), "flag": True
    }
    assert type(got["k"]) is float and type(got["n"]) is int


def test_params_errors_name_every_param() -> None:
    with pytest.raises(
        InvalidArgument,
        match=r"^Invalid params: param 'k' must be double, got str 'x'; "
        r"param 'n' must be long, got float 1\.5; "
        r"param 'ids' must be a list of long, got int 3; "
        r"param 'since' must be an ISO 8601 datetime, got 'soon'; "
        r"param 'flag' must be boolean, got int 1$",
    ):
        enforce_params({"k": "x", "n": 1.5, "ids": 3, "since": "soon", "flag": 1}, PARAMS)
    with pytest.raises(InvalidArgument, match="param 'n' value 9223372036854775808 is out of"):
        enforce_params({"n": 2**63}, PARAMS)
    with pytest.raises(InvalidArgument, match="params must be a dict, got list"):
        enforce_params([1], PARAMS)  # type: ignore[arg-type]


def test_params_not_declared_are_dropped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="mltrail.models.enforcement"):
        assert enforce_params({"k": 5, "temperature": 0.1}, PARAMS)["k"] == 5.0
        assert enforce_params({"temperature": 0.1}, None) == {}
        assert enforce_params(None, None) == {}
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "Ignoring params ['temperature']: the model's signature declares only "
        "['k', 'n', 'ids', 'since', 'flag']",
        "Ignoring params ['temperature']: the model's signature declares no params",
    ]


# --- input examples -------------------------------------------------------------------------


def test_frame_example_matches_mlflow_files_and_loads_back(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "a": [1.0, 2.0],
            "b": ["x", "y"],
            "t": pd.to_datetime(["2020-01-01", "2020-01-02"]),
            "n": [1.0, np.nan],
        }
    )
    info = save_input_example(str(tmp_path), frame)
    assert info == {
        "artifact_path": "input_example.json",
        "type": "dataframe",
        "pandas_orient": "split",
        "serving_input_path": "serving_input_example.json",
    }
    assert (tmp_path / "input_example.json").read_text() == MLFLOW_FRAME_EXAMPLE
    assert (tmp_path / "serving_input_example.json").read_text() == MLFLOW_FRAME_SERVING
    loaded = load_input_example(str(tmp_path), info)
    assert list(loaded.columns) == ["a", "b", "t", "n"] and loaded["b"].tolist() == ["x", "y"]
    # JSON carries datetimes as text; the signature restores them.
    restored = enforce_schema(loaded, infer_schema(frame))
    pd.testing.assert_frame_equal(restored, frame)


def test_array_example_matches_mlflow_files_and_loads_back(tmp_path: Path) -> None:
    array = np.arange(6, dtype=np.float32).reshape(2, 3)
    info = save_input_example(str(tmp_path), array)
    assert info == {
        "artifact_path": "input_example.json",
        "type": "ndarray",
        "serving_input_path": "serving_input_example.json",
    }
    assert (tmp_path / "input_example.json").read_text() == MLFLOW_ARRAY_EXAMPLE
    assert (tmp_path / "serving_input_example.json").read_text() == MLFLOW_ARRAY_SERVING
    np.testing.assert_array_equal(load_input_example(str(tmp_path), info), array)


def test_frame_example_spells_bytes_zones_and_lists_as_mlflow_does(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "b": [b"ab"],
            "i": [np.int32(3)],
            "d": [pd.Timestamp("2020-01-01 03:00", tz="UTC")],
            "l": [[1, 2]],
        }
    )
    save_input_example(str(tmp_path), frame)
    assert (tmp_path / "input_example.json").read_text() == (
        '{"columns": ["b", "i", "d", "l"], '
        '"data": [["YWI=\\n", 3, "2020-01-01T03:00:00+00:00", [1, 2]]]}'
    )


@pytest.mark.parametrize(
    ("example", "kind", "written"),
    [
        ({"a": 1, "b": "x", "c": [1, 2]}, "json_object", '{"a": 1, "b": "x", "c": [1, 2]}'),
        (
            {"a": np.array([1, 2]), "b": np.zeros((1, 2))},
            "ndarray",
            '{"a": [1, 2], "b": [[0.0, 0.0]]}',
        ),
        ([{"a": 1}, {"a": 2}], "json_object", '[{"a": 1}, {"a": 2}]'),
        ("hello", "json_object", '"hello"'),
        ({"f": np.float32(1.5), "d": np.datetime64("2020-01-01"), "b": b"ab"}, "json_object",
         '{"f": 1.5, "d": "2020-01-01", "b": "YWI=\\n"}'),
    ],
)
def test_other_examples_round_trip(tmp_path: Path, example: Any, kind: str, written: str) -> None:
    info = save_input_example(str(tmp_path), example)
    assert info["type"] == kind and "pandas_orient" not in info
    assert (tmp_path / "input_example.json").read_text() == written
    serving = json.loads((tmp_path / "serving_input_example.json").read_text())
    assert serving == {"inputs": json.loads(written)}
    loaded = load_input_example(str(tmp_path), info)
    if kind == "ndarray":
        assert {k: v.tolist() for k, v in loaded.items()} == {
            k: v.tolist() for k, v in example.items()
        }
    else:
        assert loaded == json.loads(written)


def test_input_example_bad_input(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="example of type builtins.set is not supported"):
        save_input_example(str(tmp_path), {1, 2})
    with pytest.raises(InvalidArgument, match="cannot be written as JSON"):
        save_input_example(str(tmp_path), {"a": object()})
    assert list(tmp_path.iterdir()) == []  # nothing half-written
    with pytest.raises(InvalidArgument, match="does not exist"):
        save_input_example(str(tmp_path / "missing"), [1])
    for path in ("../secret.json", "/etc/passwd", "a/../../x.json"):
        with pytest.raises(InvalidArgument, match="must stay inside the model directory"):
            load_input_example(str(tmp_path), {"artifact_path": path, "type": "json_object"})
    (tmp_path / "input_example.json").write_text("[1]")
    with pytest.raises(InvalidArgument, match="type 'sparse_matrix_csc' is not supported"):
        load_input_example(
            str(tmp_path), {"artifact_path": "input_example.json", "type": "sparse_matrix_csc"}
        )
