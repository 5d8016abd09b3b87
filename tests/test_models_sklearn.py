"""The scikit-learn flavor: save and load in every format, log to a run, and both ways with
MLflow (its models load in mltrail, mltrail's load in MLflow)."""

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
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

import mltrail
from mltrail.entities import LoggedModelStatus
from mltrail.errors import InvalidArgument, NotFound
from mltrail.tracking.fluent import Session


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"a": rng.random(200), "b": rng.random(200)})
    return x, (x["a"] > 0.5).astype(int)


@pytest.fixture(scope="module")
def logreg(data: tuple[pd.DataFrame, pd.Series]) -> LogisticRegression:
    return LogisticRegression().fit(*data)


def mlmodel(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((path / "MLmodel").read_text())
    return loaded


@pytest.mark.parametrize(
    ("fmt", "file"), [("skops", "model.skops"), ("cloudpickle", "model.pkl"), ("pickle", "model.pkl")]
)
def test_each_format_saves_and_loads_the_same_predictions(
    tmp_path: Path, data: tuple[pd.DataFrame, pd.Series], logreg: LogisticRegression, fmt: str, file: str
) -> None:
    x, _ = data
    mltrail.sklearn.save_model(logreg, str(tmp_path / "m"), serialization_format=fmt)

    meta = mlmodel(tmp_path / "m")
    assert meta["flavors"]["sklearn"]["serialization_format"] == fmt
    assert meta["flavors"]["sklearn"]["pickled_model"] == file
    assert meta["flavors"]["python_function"]["loader_module"] == "mltrail.sklearn"
    assert meta["flavors"]["python_function"]["model_path"] == file
    assert (tmp_path / "m" / file).is_file()
    np.testing.assert_array_equal(mltrail.pyfunc.load_model(str(tmp_path / "m")).predict(x), logreg.predict(x))
    loaded = mltrail.sklearn.load_model(str(tmp_path / "m"))
    np.testing.assert_array_equal(loaded.predict_proba(x), logreg.predict_proba(x))


def test_the_environment_pins_what_is_installed(tmp_path: Path, logreg: LogisticRegression) -> None:
    import sklearn

    mltrail.sklearn.save_model(logreg, str(tmp_path / "m"), extra_pip_requirements=["requests>=2"])

    requirements = (tmp_path / "m" / "requirements.txt").read_text().splitlines()
    assert requirements[0].startswith("mltrail")
    assert f"scikit-learn=={sklearn.__version__}" in requirements
    assert requirements[-1] == "requests>=2"
    python_env = yaml.safe_load((tmp_path / "m" / "python_env.yaml").read_text())
    assert python_env["python"] == ".".join(map(str, sys.version_info[:3]))
    assert python_env["dependencies"] == ["-r requirements.txt"]
    conda = yaml.safe_load((tmp_path / "m" / "conda.yaml").read_text())
    assert conda["dependencies"][-1]["pip"] == requirements


def test_skops_trusts_a_forests_own_types_so_the_safe_format_just_works(
    tmp_path: Path, data: tuple[pd.DataFrame, pd.Series]
) -> None:
    x, y = data
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(x, y)
    mltrail.sklearn.save_model(forest, str(tmp_path / "rf"))

    assert mlmodel(tmp_path / "rf")["flavors"]["sklearn"]["skops_trusted_types"] == [
        "sklearn.tree._tree.Tree"
    ]
    np.testing.assert_array_equal(mltrail.pyfunc.load_model(str(tmp_path / "rf")).predict(x), forest.predict(x))


class Thresholder(BaseEstimator, ClassifierMixin):  # type: ignore[misc]
    """An estimator of the user's own: skops does not trust it on the user's behalf."""

    def fit(self, x: Any, y: Any) -> Thresholder:
        return self

    def predict(self, x: Any) -> Any:
        return (np.asarray(x)[:, 0] > 0.5).astype(int)


def test_skops_refuses_types_of_your_own_and_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="Thresholder.*cloudpickle"):
        mltrail.sklearn.save_model(Thresholder(), str(tmp_path / "m"))
    assert not (tmp_path / "m").exists()

    mltrail.sklearn.save_model(Thresholder(), str(tmp_path / "m"), serialization_format="cloudpickle")
    assert list(mltrail.pyfunc.load_model(str(tmp_path / "m")).predict(np.array([[0.9], [0.1]]))) == [1, 0]


def test_bad_arguments_are_refused_before_anything_is_written(
    tmp_path: Path, logreg: LogisticRegression
) -> None:
    with pytest.raises(InvalidArgument, match="serialization_format 'json'"):
        mltrail.sklearn.save_model(logreg, str(tmp_path / "a"), serialization_format="json")
    with pytest.raises(InvalidArgument, match="no transform\\(\\) method"):
        mltrail.sklearn.save_model(logreg, str(tmp_path / "b"), pyfunc_predict_fn="transform")
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "keep.txt").write_text("mine")
    with pytest.raises(InvalidArgument, match="already exists and is not empty"):
        mltrail.sklearn.save_model(logreg, str(tmp_path / "c"))
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    assert os.listdir(tmp_path / "c") == ["keep.txt"]


def test_predict_fn_picks_the_method_pyfunc_calls(
    tmp_path: Path, data: tuple[pd.DataFrame, pd.Series], logreg: LogisticRegression
) -> None:
    x, _ = data
    mltrail.sklearn.save_model(logreg, str(tmp_path / "m"), pyfunc_predict_fn="predict_proba")
    np.testing.assert_allclose(mltrail.pyfunc.load_model(str(tmp_path / "m")).predict(x), logreg.predict_proba(x))


@pytest.mark.parametrize("predict_fn", ["predict", "predict_proba"])
def test_a_frame_of_the_feature_columns_predicts_as_the_estimator_does(
    tmp_path: Path, data: tuple[pd.DataFrame, pd.Series], predict_fn: str
) -> None:
    """The pyfunc passes a frame of the model's float feature columns as a matrix (the fast
    path): the same answers as the estimator's own method, and no warning about feature names
    (pytest turns warnings into errors here)."""
    x, y = data
    for estimator in (LogisticRegression().fit(x, y), RandomForestClassifier(
            n_estimators=5, random_state=0).fit(x, y)):
        path = tmp_path / f"{type(estimator).__name__}-{predict_fn}"
        mltrail.sklearn.save_model(estimator, str(path), pyfunc_predict_fn=predict_fn)
        model = mltrail.pyfunc.load_model(str(path))
        expected = getattr(estimator, predict_fn)(x)
        np.testing.assert_array_equal(model.predict(x), expected)
        np.testing.assert_array_equal(model.predict(x.head(1)), expected[:1])
        # Columns in another order, or of another type, take the estimator's own path.
        with pytest.raises(Exception, match="feature names"):
            model.predict(x[["b", "a"]])
        ints = (x * 10).astype("int64")
        np.testing.assert_array_equal(model.predict(ints), getattr(estimator, predict_fn)(ints))


def test_pipelines_and_meta_estimators_always_get_the_frame(
    data: tuple[pd.DataFrame, pd.Series],
) -> None:
    """A pipeline's steps may read columns by name: no matrix twin for it, nor for an
    estimator that holds estimators, nor for one fitted without feature names."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import VotingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    from mltrail.models.flavors.sklearn import _matrix_twin

    x, y = data
    by_name = Pipeline([
        ("pick", ColumnTransformer([("a", FunctionTransformer(lambda f: f[["a"]] * 2), ["a"])])),
        ("fit", LogisticRegression()),
    ]).fit(x, y)
    voting = VotingClassifier([("lr", LogisticRegression())]).fit(x, y)
    assert _matrix_twin(by_name) is None
    assert _matrix_twin(voting) is None
    assert _matrix_twin(LogisticRegression().fit(x.to_numpy(), y)) is None
    twin = _matrix_twin(LogisticRegression().fit(x, y))
    assert twin is not None and twin[1] == ["a", "b"]


def test_loading_something_that_is_not_a_model_says_so(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="No MLmodel file"):
        mltrail.pyfunc.load_model(str(tmp_path))
    (tmp_path / "MLmodel").write_text("flavors:\n  keras: {}\n")
    with pytest.raises(InvalidArgument, match="no python_function flavor.*keras"):
        mltrail.pyfunc.load_model(str(tmp_path))
    with pytest.raises(InvalidArgument, match="no sklearn flavor"):
        mltrail.sklearn.load_model(str(tmp_path))
    (tmp_path / "MLmodel").write_text("flavors:\n  python_function: {loader_module: no_such_mod}\n")
    with pytest.raises(InvalidArgument, match="loader module 'no_such_mod' is not installed"):
        mltrail.pyfunc.load_model(str(tmp_path))


# Logging to a run


def test_log_model_makes_a_logged_model_linked_to_the_run(
    session: Session, data: tuple[pd.DataFrame, pd.Series], logreg: LogisticRegression
) -> None:
    x, _ = data
    with mltrail.start_run() as run:
        info = mltrail.sklearn.log_model(logreg, name="clf", params={"C": 1.0})

    client = session.client()
    model = client.get_logged_model(info.model_id)
    assert model.status == LoggedModelStatus.READY
    assert model.source_run_id == run.info.run_id
    assert model.name == "clf" and model.params == {"C": "1.0"}
    assert info.model_uri == f"models:/{info.model_id}"
    outputs = client.get_run(run.info.run_id).outputs.model_outputs
    assert [o.model_id for o in outputs] == [info.model_id]
    meta = mltrail.pyfunc.load_model(info.model_uri).metadata
    assert (meta.model_id, meta.run_id, meta.artifact_path) == (info.model_id, run.info.run_id, "clf")
    for uri in (f"runs:/{run.info.run_id}/clf", info.model_uri):
        np.testing.assert_array_equal(mltrail.pyfunc.load_model(uri).predict(x), logreg.predict(x))
    assert isinstance(mltrail.sklearn.load_model(f"runs:/{run.info.run_id}/clf"), LogisticRegression)


def test_artifact_path_is_the_older_spelling_of_name(
    session: Session, logreg: LogisticRegression
) -> None:
    with mltrail.start_run() as run:
        info = mltrail.sklearn.log_model(logreg, artifact_path="model")
        with pytest.raises(InvalidArgument, match="name='a' and artifact_path='b' differ"):
            mltrail.sklearn.log_model(logreg, name="a", artifact_path="b")
    assert info.name == "model"
    assert mltrail.sklearn.load_model(f"runs:/{run.info.run_id}/model").coef_.shape == (1, 2)


def test_a_model_that_fails_to_save_is_marked_failed(session: Session) -> None:
    with mltrail.start_run(), pytest.raises(InvalidArgument, match="Thresholder"):
        mltrail.sklearn.log_model(Thresholder(), name="bad")
    client = session.client()
    models = client.search_logged_models([mltrail.tracking.fluent.experiment_id_in_force()])
    assert [(m.name, m.status) for m in models] == [("bad", LoggedModelStatus.FAILED)]


def test_runs_uri_errors_name_the_problem(session: Session, logreg: LogisticRegression) -> None:
    with mltrail.start_run() as run:
        mltrail.sklearn.log_model(logreg, name="model")
    with pytest.raises(InvalidArgument, match="runs:/<run_id>/<name>"):
        mltrail.pyfunc.load_model(f"runs:/{run.info.run_id}")
    with pytest.raises(InvalidArgument, match="'..' segments"):
        mltrail.pyfunc.load_model(f"runs:/{run.info.run_id}/../other")
    with pytest.raises(NotFound, match="MyModel"):
        mltrail.pyfunc.load_model("models:/MyModel/1")
    with pytest.raises(NotFound):
        mltrail.pyfunc.load_model(f"runs:/{run.info.run_id}/nothing-here")


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
    """Models saved by MLflow 3 itself: its default (skops) and cloudpickle, with inputs."""
    root = tmp_path_factory.mktemp("mlflow-models")
    run_python(
        """
        import numpy as np, pandas as pd, mlflow.sklearn
        from sklearn.ensemble import RandomForestClassifier
        from sklearn.linear_model import LogisticRegression
        rng = np.random.default_rng(1)
        x = pd.DataFrame({"a": rng.random(100), "b": rng.random(100)})
        y = (x["a"] > 0.5).astype(int)
        lr = LogisticRegression().fit(x, y)
        mlflow.sklearn.save_model(lr, "skops", input_example=x.head(3))
        mlflow.sklearn.save_model(lr, "cloudpickle", serialization_format="cloudpickle")
        forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(x, y)
        mlflow.sklearn.save_model(
            forest, "forest", skops_trusted_types=["sklearn.tree._tree.Tree"])
        x.head(5).to_json("x.json", orient="split")
        pd.Series(lr.predict(x.head(5))).to_json("lr.json", orient="values")
        pd.Series(forest.predict(x.head(5))).to_json("forest.json", orient="values")
        """,
        root,
    )
    return root


@pytest.mark.parametrize(("name", "expected"), [("skops", "lr"), ("cloudpickle", "lr"), ("forest", "forest")])
def test_mltrail_loads_models_mlflow_saved(mlflow_models: Path, name: str, expected: str) -> None:
    x = pd.read_json(mlflow_models / "x.json", orient="split")
    want = json.loads((mlflow_models / f"{expected}.json").read_text())

    assert list(mltrail.pyfunc.load_model(str(mlflow_models / name)).predict(x)) == want
    assert list(mltrail.sklearn.load_model(str(mlflow_models / name)).predict(x)) == want


def test_mlflow_loads_models_mltrail_saved(
    tmp_path: Path, data: tuple[pd.DataFrame, pd.Series], logreg: LogisticRegression
) -> None:
    x, _ = data
    mltrail.sklearn.save_model(logreg, str(tmp_path / "skops"))
    mltrail.sklearn.save_model(logreg, str(tmp_path / "cp"), serialization_format="cloudpickle")
    x.head(5).to_json(tmp_path / "x.json", orient="split")

    out = run_python(
        """
        import json, pandas as pd, mlflow.pyfunc, mlflow.sklearn
        x = pd.read_json("x.json", orient="split")
        print(json.dumps([
            [int(v) for v in mlflow.pyfunc.load_model(name).predict(x)] for name in ("skops", "cp")
        ] + [[int(v) for v in mlflow.sklearn.load_model("cp").predict(x)]]))
        """,
        tmp_path,
    )
    want = [int(v) for v in logreg.predict(x.head(5))]
    assert json.loads(out.strip().splitlines()[-1]) == [want, want, want]


@pytest.fixture(params=["mltrail", "mlflow"])
def server_session(request: pytest.FixtureRequest) -> Any:
    """A fluent session on a real tracking server: mltrail's, then MLflow's own."""
    from mltrail.settings import Settings
    from mltrail.tracking.fluent import use_session
    from fixtures_tracking import close_session

    if request.param == "mlflow":
        url: str = request.getfixturevalue("mlflow_server")
    else:
        url = request.getfixturevalue("tracking_server").url
    with use_session(Session(Settings(tracking_uri=url))) as bound:
        try:
            yield bound
        finally:
            close_session(bound)


def test_log_model_through_a_tracking_server(
    server_session: Session, data: tuple[pd.DataFrame, pd.Series], logreg: LogisticRegression
) -> None:
    """The model's files go through the server's artifact proxy, to the logged model's own
    location; both URIs load it back, from mltrail's server and from MLflow's."""
    x, _ = data
    mltrail.set_experiment(f"served-models-{os.getpid()}-{id(server_session)}")
    with mltrail.start_run() as run:
        info = mltrail.sklearn.log_model(logreg, name="model", input_example=x.head(2))
    model = server_session.client().get_logged_model(info.model_id)
    assert model.status == LoggedModelStatus.READY
    assert model.artifact_location.startswith("mlflow-artifacts:")
    for uri in (f"runs:/{run.info.run_id}/model", info.model_uri):
        np.testing.assert_array_equal(mltrail.pyfunc.load_model(uri).predict(x), logreg.predict(x))
