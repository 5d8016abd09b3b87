"""The XGBoost and LightGBM flavors: save and load Boosters and scikit-learn wrappers, log to
a run, and both ways with MLflow (its models load in mltrail, mltrail's load in MLflow)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

xgb = pytest.importorskip("xgboost", reason="the xgboost flavor needs xgboost installed")
lgb = pytest.importorskip("lightgbm", reason="the lightgbm flavor needs lightgbm installed")

import mltrail  # noqa: E402
import mltrail.lightgbm  # noqa: E402
import mltrail.pyfunc  # noqa: E402
import mltrail.xgboost  # noqa: E402
from mltrail.errors import InvalidArgument  # noqa: E402
from mltrail.tracking.fluent import Session  # noqa: E402

Data = tuple[pd.DataFrame, pd.Series]


@pytest.fixture(scope="module")
def data() -> Data:
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"a": rng.random(200), "b": rng.random(200)})
    return x, (x["a"] > 0.5).astype(int)


@pytest.fixture(scope="module")
def xgb_clf(data: Data) -> Any:
    return xgb.XGBClassifier(n_estimators=5, max_depth=2).fit(*data)


@pytest.fixture(scope="module")
def xgb_booster(data: Data) -> Any:
    x, y = data
    return xgb.train({"objective": "binary:logistic", "max_depth": 2}, xgb.DMatrix(x, label=y), 5)


@pytest.fixture(scope="module")
def lgb_clf(data: Data) -> Any:
    return lgb.LGBMClassifier(n_estimators=5, num_leaves=4, verbose=-1).fit(*data)


@pytest.fixture(scope="module")
def lgb_booster(data: Data) -> Any:
    x, y = data
    params = {"objective": "binary", "num_leaves": 4, "verbose": -1}
    return lgb.train(params, lgb.Dataset(x, label=y), 5)


def mlmodel(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((path / "MLmodel").read_text())
    return loaded


# XGBoost


@pytest.mark.parametrize("fmt", ["ubj", "json", "xgb"])
def test_xgboost_wrapper_saves_natively_and_loads_the_same_class(
    tmp_path: Path, data: Data, xgb_clf: Any, fmt: str
) -> None:
    x, _ = data
    mltrail.xgboost.save_model(xgb_clf, str(tmp_path / "m"), model_format=fmt)

    conf = mlmodel(tmp_path / "m")["flavors"]
    assert conf["xgboost"] == {
        "xgb_version": xgb.__version__,
        "data": f"model.{fmt}",
        "model_class": "xgboost.sklearn.XGBClassifier",
        "model_format": fmt,
        "code": None,
    }
    assert conf["python_function"]["loader_module"] == "mltrail.xgboost"
    assert (tmp_path / "m" / f"model.{fmt}").is_file()
    loaded = mltrail.xgboost.load_model(str(tmp_path / "m"))
    assert type(loaded) is xgb.XGBClassifier
    np.testing.assert_allclose(loaded.predict_proba(x), xgb_clf.predict_proba(x))
    np.testing.assert_array_equal(mltrail.pyfunc.load_model(str(tmp_path / "m")).predict(x), xgb_clf.predict(x))


def test_xgboost_booster_pyfunc_wraps_the_frame_in_a_dmatrix(
    tmp_path: Path, data: Data, xgb_booster: Any
) -> None:
    x, _ = data
    mltrail.xgboost.save_model(xgb_booster, str(tmp_path / "b"), input_example=x.head(3))

    assert mlmodel(tmp_path / "b")["flavors"]["xgboost"]["model_class"] == "xgboost.core.Booster"
    want = xgb_booster.predict(xgb.DMatrix(x))
    assert isinstance(mltrail.xgboost.load_model(str(tmp_path / "b")), xgb.Booster)
    model = mltrail.pyfunc.load_model(str(tmp_path / "b"))
    np.testing.assert_allclose(model.predict(x), want)
    assert model.metadata.signature is not None


def test_xgboost_bad_arguments_are_refused_before_anything_is_written(
    tmp_path: Path, xgb_clf: Any
) -> None:
    with pytest.raises(InvalidArgument, match="model_format 'pkl'"):
        mltrail.xgboost.save_model(xgb_clf, str(tmp_path / "a"), model_format="pkl")
    with pytest.raises(InvalidArgument, match="got builtins.dict"):
        mltrail.xgboost.save_model({}, str(tmp_path / "b"))
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_xgboost_builds_only_xgboost_classes(tmp_path: Path, xgb_clf: Any) -> None:
    mltrail.xgboost.save_model(xgb_clf, str(tmp_path / "m"))
    meta = mlmodel(tmp_path / "m")
    meta["flavors"]["xgboost"]["model_class"] = "subprocess.Popen"
    (tmp_path / "m" / "MLmodel").write_text(yaml.safe_dump(meta))
    with pytest.raises(InvalidArgument, match="'subprocess.Popen' is not an XGBoost class"):
        mltrail.xgboost.load_model(str(tmp_path / "m"))


# LightGBM


def test_lightgbm_booster_saves_as_text(tmp_path: Path, data: Data, lgb_booster: Any) -> None:
    x, _ = data
    mltrail.lightgbm.save_model(lgb_booster, str(tmp_path / "b"))

    conf = mlmodel(tmp_path / "b")["flavors"]
    assert conf["lightgbm"] == {
        "lgb_version": lgb.__version__,
        "data": "model.lgb",
        "model_class": "lightgbm.basic.Booster",
        "code": None,
    }
    assert conf["python_function"]["loader_module"] == "mltrail.lightgbm"
    assert (tmp_path / "b" / "model.lgb").read_text().startswith("tree")
    assert isinstance(mltrail.lightgbm.load_model(str(tmp_path / "b")), lgb.Booster)
    np.testing.assert_allclose(mltrail.pyfunc.load_model(str(tmp_path / "b")).predict(x), lgb_booster.predict(x))


@pytest.mark.parametrize(("fmt", "file"), [("skops", "model.skops"), ("cloudpickle", "model.pkl")])
def test_lightgbm_wrapper_saves_and_loads_the_same_class(
    tmp_path: Path, data: Data, lgb_clf: Any, fmt: str, file: str
) -> None:
    x, _ = data
    mltrail.lightgbm.save_model(lgb_clf, str(tmp_path / "m"), serialization_format=fmt)

    conf = mlmodel(tmp_path / "m")["flavors"]["lightgbm"]
    assert (conf["data"], conf["model_class"], conf["serialization_format"]) == (
        file, "lightgbm.sklearn.LGBMClassifier", fmt
    )
    if fmt == "skops":
        assert "lightgbm.basic.Booster" in conf["skops_trusted_types"]
    loaded = mltrail.lightgbm.load_model(str(tmp_path / "m"))
    assert type(loaded) is lgb.LGBMClassifier
    np.testing.assert_allclose(loaded.predict_proba(x), lgb_clf.predict_proba(x))
    np.testing.assert_array_equal(mltrail.pyfunc.load_model(str(tmp_path / "m")).predict(x), lgb_clf.predict(x))


def test_lightgbm_bad_arguments_are_refused_before_anything_is_written(
    tmp_path: Path, lgb_clf: Any
) -> None:
    with pytest.raises(InvalidArgument, match="serialization_format 'json'"):
        mltrail.lightgbm.save_model(lgb_clf, str(tmp_path / "a"), serialization_format="json")
    with pytest.raises(InvalidArgument, match="got builtins.list"):
        mltrail.lightgbm.save_model([], str(tmp_path / "b"))
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    mltrail.lightgbm.save_model(lgb_clf, str(tmp_path / "c"))
    with pytest.raises(InvalidArgument, match="no xgboost flavor.*lightgbm"):
        mltrail.xgboost.load_model(str(tmp_path / "c"))


# Logging to a run


def test_log_model_loads_back_through_runs_and_models_uris(
    session: Session, data: Data, xgb_clf: Any, lgb_booster: Any
) -> None:
    x, _ = data
    with mltrail.start_run() as run:
        xinfo = mltrail.xgboost.log_model(xgb_clf, name="xgb")
        linfo = mltrail.lightgbm.log_model(lgb_booster, artifact_path="lgb")

    client = session.client()
    assert client.get_logged_model(xinfo.model_id).model_type == "xgboost"
    assert client.get_logged_model(linfo.model_id).model_type == "lightgbm"
    for uri in (f"runs:/{run.info.run_id}/xgb", xinfo.model_uri):
        np.testing.assert_array_equal(mltrail.pyfunc.load_model(uri).predict(x), xgb_clf.predict(x))
        assert type(mltrail.xgboost.load_model(uri)) is xgb.XGBClassifier
    for uri in (f"runs:/{run.info.run_id}/lgb", linfo.model_uri):
        np.testing.assert_allclose(mltrail.pyfunc.load_model(uri).predict(x), lgb_booster.predict(x))
        assert isinstance(mltrail.lightgbm.load_model(uri), lgb.Booster)


# Both ways with MLflow (the official package, in a subprocess: it is a test-only dependency)


def run_python(code: str, cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLTRAIL_"))}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.fixture(scope="module")
def mlflow_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Models MLflow 3 saved: XGBoost wrapper and Booster, LightGBM wrapper (skops) and Booster."""
    root = tmp_path_factory.mktemp("mlflow-boosting")
    run_python(
        """
        import numpy as np, pandas as pd, xgboost as xgb, lightgbm as lgb
        import mlflow.xgboost, mlflow.lightgbm
        rng = np.random.default_rng(1)
        x = pd.DataFrame({"a": rng.random(100), "b": rng.random(100)})
        y = (x["a"] > 0.5).astype(int)
        xc = xgb.XGBClassifier(n_estimators=3, max_depth=2).fit(x, y)
        xb = xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(x, label=y), 3)
        lc = lgb.LGBMClassifier(n_estimators=3, num_leaves=4, verbose=-1).fit(x, y)
        lb = lgb.train({"objective": "binary", "verbose": -1}, lgb.Dataset(x, label=y), 3)
        # Given requirements, MLflow skips inferring them (a subprocess of seconds each).
        mlflow.xgboost.save_model(xc, "xgb_clf", pip_requirements=["xgboost"])
        mlflow.xgboost.save_model(
            xb, "xgb_booster", model_format="json", pip_requirements=["xgboost"])
        mlflow.lightgbm.save_model(lc, "lgb_clf", pip_requirements=["lightgbm"])
        mlflow.lightgbm.save_model(lb, "lgb_booster", pip_requirements=["lightgbm"])
        head = x.head(5)
        head.to_json("x.json", orient="split")
        want = {
            "xgb_clf": xc.predict(head).tolist(),
            "xgb_booster": xb.predict(xgb.DMatrix(head)).tolist(),
            "lgb_clf": lc.predict(head).tolist(),
            "lgb_booster": lb.predict(head).tolist(),
        }
        pd.Series(want).to_json("want.json")
        """,
        root,
    )
    return root


@pytest.mark.parametrize(
    ("name", "flavor", "cls"),
    [
        ("xgb_clf", "xgboost", "XGBClassifier"),
        ("xgb_booster", "xgboost", "Booster"),
        ("lgb_clf", "lightgbm", "LGBMClassifier"),
        ("lgb_booster", "lightgbm", "Booster"),
    ],
)
def test_mltrail_loads_models_mlflow_saved(mlflow_models: Path, name: str, flavor: str, cls: str) -> None:
    x = pd.read_json(mlflow_models / "x.json", orient="split")
    want = json.loads((mlflow_models / "want.json").read_text())[name]

    np.testing.assert_allclose(mltrail.pyfunc.load_model(str(mlflow_models / name)).predict(x), want, rtol=1e-6)
    module = mltrail.xgboost if flavor == "xgboost" else mltrail.lightgbm
    assert type(module.load_model(str(mlflow_models / name))).__name__ == cls


def test_mlflow_loads_models_mltrail_saved(
    tmp_path: Path, data: Data, xgb_clf: Any, xgb_booster: Any, lgb_clf: Any, lgb_booster: Any
) -> None:
    x, _ = data
    mltrail.xgboost.save_model(xgb_clf, str(tmp_path / "xgb_clf"))
    mltrail.xgboost.save_model(xgb_booster, str(tmp_path / "xgb_booster"), model_format="json")
    mltrail.lightgbm.save_model(lgb_clf, str(tmp_path / "lgb_clf"))
    mltrail.lightgbm.save_model(lgb_clf, str(tmp_path / "lgb_clf_cp"), serialization_format="cloudpickle")
    mltrail.lightgbm.save_model(lgb_booster, str(tmp_path / "lgb_booster"))
    head = x.head(5)
    head.to_json(tmp_path / "x.json", orient="split")

    out = run_python(
        """
        import json, pandas as pd, mlflow.pyfunc, mlflow.xgboost, mlflow.lightgbm
        x = pd.read_json("x.json", orient="split")
        names = ("xgb_clf", "xgb_booster", "lgb_clf", "lgb_clf_cp", "lgb_booster")
        got = {n: [float(v) for v in mlflow.pyfunc.load_model(n).predict(x)] for n in names}
        got["classes"] = [
            type(mlflow.xgboost.load_model("xgb_clf")).__name__,
            type(mlflow.lightgbm.load_model("lgb_clf")).__name__,
        ]
        print(json.dumps(got))
        """,
        tmp_path,
    )
    got = json.loads(out.strip().splitlines()[-1])
    assert got.pop("classes") == ["XGBClassifier", "LGBMClassifier"]
    want = {
        "xgb_clf": xgb_clf.predict(head),
        "xgb_booster": xgb_booster.predict(xgb.DMatrix(head)),
        "lgb_clf": lgb_clf.predict(head),
        "lgb_clf_cp": lgb_clf.predict(head),
        "lgb_booster": lgb_booster.predict(head),
    }
    assert set(got) == set(want)
    for name, values in want.items():
        np.testing.assert_allclose(got[name], values, rtol=1e-6, err_msg=name)
