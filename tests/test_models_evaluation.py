"""``evaluate``: real scikit-learn models scored on a real SQLite store; the logged metrics
match ``sklearn.metrics`` computed directly, the plots land as PNG run artifacts, and bad input
raises ``InvalidArgument`` with nothing logged."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.linear_model import LinearRegression, LogisticRegression

import mltrail
import mltrail.sklearn
from mltrail.errors import InvalidArgument
from mltrail.models.evaluation import EvaluationResult, evaluate
from mltrail.models.pyfunc import load_model
from mltrail.tracking.fluent import Session

CLASSIFIER_PLOTS = {"confusion_matrix", "roc_curve_plot", "precision_recall_curve_plot"}


@pytest.fixture(scope="module")
def binary_frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300)})
    noise = rng.normal(scale=0.8, size=300)
    frame["label"] = (frame["a"] + 0.5 * frame["b"] + noise > 0).astype(int)
    return frame


@pytest.fixture(scope="module")
def logreg(binary_frame: pd.DataFrame) -> LogisticRegression:
    return LogisticRegression().fit(binary_frame[["a", "b"]], binary_frame["label"])


@pytest.fixture(scope="module")
def saved_logreg(logreg: LogisticRegression, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = str(tmp_path_factory.mktemp("models") / "logreg")
    mltrail.sklearn.save_model(logreg, path, serialization_format="cloudpickle")
    return path


@pytest.fixture(scope="module")
def regression_frame() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"x1": rng.normal(size=200), "x2": rng.normal(size=200)})
    frame["y"] = 3 * frame["x1"] - 2 * frame["x2"] + 10 + rng.normal(size=200)
    return frame


def artifact_names(run_id: str) -> set[str]:
    return {info.path for info in mltrail.list_artifacts(run_id=run_id)}


def logged_metrics(run_id: str) -> dict[str, float]:
    return dict(mltrail.get_run(run_id).data.metrics)


def test_binary_classifier_from_a_saved_model(
    session: Session, binary_frame: pd.DataFrame, logreg: LogisticRegression, saved_logreg: str
) -> None:
    with mltrail.start_run() as run:
        result = evaluate(saved_logreg, binary_frame, targets="label", model_type="classifier")
    assert isinstance(result, EvaluationResult)
    assert result.run_id == run.info.run_id

    x, y = binary_frame[["a", "b"]], binary_frame["label"].to_numpy()
    y_pred = logreg.predict(x)
    proba = logreg.predict_proba(x)[:, 1]
    tn, fp, fn, tp = skm.confusion_matrix(y, y_pred).ravel()
    expected = {
        "example_count": 300,
        "accuracy_score": skm.accuracy_score(y, y_pred),
        "precision_score": skm.precision_score(y, y_pred),
        "recall_score": skm.recall_score(y, y_pred),
        "f1_score": skm.f1_score(y, y_pred),
        "roc_auc": skm.roc_auc_score(y, proba),
        "log_loss": skm.log_loss(y, logreg.predict_proba(x)),
        "true_negatives": tn,
        "false_positives": fp,
        "false_negatives": fn,
        "true_positives": tp,
    }
    assert result.metrics == pytest.approx(expected)
    assert logged_metrics(run.info.run_id) == pytest.approx(expected)

    assert set(result.artifacts) == CLASSIFIER_PLOTS
    assert artifact_names(run.info.run_id) == {f"{name}.png" for name in CLASSIFIER_PLOTS}
    for name, uri in result.artifacts.items():
        assert uri.endswith(f"{name}.png")
        local = mltrail.download_artifacts(run_id=run.info.run_id, artifact_path=f"{name}.png")
        assert Path(local).read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_a_loaded_pyfunc_model_gets_probabilities_from_the_raw_model(
    session: Session, binary_frame: pd.DataFrame, saved_logreg: str
) -> None:
    result = evaluate(load_model(saved_logreg), binary_frame, targets="label")
    assert {"roc_auc", "log_loss"} <= set(result.metrics)
    assert set(result.artifacts) == CLASSIFIER_PLOTS


def test_starts_and_ends_a_run_when_none_is_active(
    session: Session, binary_frame: pd.DataFrame, logreg: LogisticRegression
) -> None:
    assert mltrail.active_run() is None
    result = evaluate(logreg.predict, binary_frame, targets="label")
    assert mltrail.active_run() is None
    assert result.run_id is not None
    run = mltrail.get_run(result.run_id)
    assert run.info.status == "FINISHED"
    # A plain callable gives no probabilities: no roc_auc, log_loss or curves.
    assert "roc_auc" not in run.data.metrics and "log_loss" not in run.data.metrics
    assert set(run.data.metrics) >= {"accuracy_score", "true_positives", "example_count"}
    assert artifact_names(result.run_id) == {"confusion_matrix.png"}


def test_multiclass_uses_weighted_averages(session: Session) -> None:
    rng = np.random.default_rng(2)
    x = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300)})
    y = np.where(x["a"] > 0.5, "high", np.where(x["a"] < -0.5, "low", "mid"))
    model = LogisticRegression().fit(x, y)
    with mltrail.start_run() as run:
        result = evaluate(model, x, targets=y, model_type="classifier")

    y_pred = model.predict(x)
    proba = model.predict_proba(x)
    expected = {
        "example_count": 300,
        "accuracy_score": skm.accuracy_score(y, y_pred),
        "precision_score": skm.precision_score(y, y_pred, average="weighted", zero_division=0),
        "recall_score": skm.recall_score(y, y_pred, average="weighted", zero_division=0),
        "f1_score": skm.f1_score(y, y_pred, average="weighted", zero_division=0),
        "log_loss": skm.log_loss(y, proba, labels=model.classes_),
        "roc_auc": skm.roc_auc_score(y, proba, multi_class="ovr", average="weighted"),
    }
    assert result.metrics == pytest.approx(expected)
    assert logged_metrics(run.info.run_id) == pytest.approx(expected)
    assert artifact_names(run.info.run_id) == {"confusion_matrix.png"}


def test_regressor(session: Session, regression_frame: pd.DataFrame, tmp_path: Path) -> None:
    x, y = regression_frame[["x1", "x2"]], regression_frame["y"].to_numpy()
    model = LinearRegression().fit(x, y)
    path = str(tmp_path / "linreg")
    mltrail.sklearn.save_model(model, path, serialization_format="cloudpickle")
    with mltrail.start_run() as run:
        result = evaluate(path, regression_frame, targets="y", model_type="regressor")

    y_pred = model.predict(x)
    expected = {
        "example_count": 200,
        "mean_absolute_error": skm.mean_absolute_error(y, y_pred),
        "mean_squared_error": skm.mean_squared_error(y, y_pred),
        "root_mean_squared_error": np.sqrt(skm.mean_squared_error(y, y_pred)),
        "sum_on_target": y.sum(),
        "mean_on_target": y.mean(),
        "r2_score": skm.r2_score(y, y_pred),
        "max_error": skm.max_error(y, y_pred),
        "mean_absolute_percentage_error": skm.mean_absolute_percentage_error(y, y_pred),
    }
    assert result.metrics == pytest.approx(expected)
    assert logged_metrics(run.info.run_id) == pytest.approx(expected)
    assert set(result.artifacts) == {"residuals_plot"}
    assert artifact_names(run.info.run_id) == {"residuals_plot.png"}


def test_numpy_data_with_target_array(session: Session, regression_frame: pd.DataFrame) -> None:
    x, y = regression_frame[["x1", "x2"]].to_numpy(), regression_frame["y"].to_numpy()
    model = LinearRegression().fit(x, y)
    result = evaluate(model, x, targets=y, model_type="regressor")
    assert result.metrics["r2_score"] == pytest.approx(skm.r2_score(y, model.predict(x)))


def test_static_dataset_mode(
    session: Session, binary_frame: pd.DataFrame, logreg: LogisticRegression
) -> None:
    frame = binary_frame.copy()
    frame["pred"] = logreg.predict(frame[["a", "b"]])
    with mltrail.start_run() as run:
        result = evaluate(data=frame, targets="label", predictions="pred", model_type="classifier")
    y, y_pred = frame["label"], frame["pred"]
    assert result.metrics["accuracy_score"] == pytest.approx(skm.accuracy_score(y, y_pred))
    assert result.metrics["f1_score"] == pytest.approx(skm.f1_score(y, y_pred))
    assert "roc_auc" not in result.metrics
    assert artifact_names(run.info.run_id) == {"confusion_matrix.png"}


def test_pos_label_and_metric_prefix(session: Session) -> None:
    y = np.array(["no", "yes", "yes", "no", "yes", "no"])
    frame = pd.DataFrame({"y": y, "p": ["no", "yes", "no", "no", "yes", "yes"]})
    result = evaluate(
        data=frame,
        targets="y",
        predictions="p",
        evaluator_config={"pos_label": "no", "metric_prefix": "val_"},
    )
    assert result.metrics["val_precision_score"] == pytest.approx(
        skm.precision_score(y, frame["p"], pos_label="no")
    )
    assert "precision_score" not in result.metrics


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model_type": "ranker"}, "model_type"),
        ({"targets": "missing"}, "missing"),
        ({"targets": [0, 1, 0]}, "3 values but data has 300 rows"),
        ({"targets": None}, "targets is required"),
        ({"targets": "a"}, "continuous"),
        ({"feature_names": ["a", "zz"]}, "zz"),
    ],
)
def test_bad_input_logs_nothing(
    session: Session,
    binary_frame: pd.DataFrame,
    logreg: LogisticRegression,
    kwargs: dict[str, object],
    message: str,
) -> None:
    arguments: dict[str, object] = {"targets": "label", "model_type": "classifier", **kwargs}
    with mltrail.start_run() as run:
        with pytest.raises(InvalidArgument, match=message):
            evaluate(logreg, binary_frame, **arguments)  # type: ignore[arg-type]
    assert logged_metrics(run.info.run_id) == {}
    assert artifact_names(run.info.run_id) == set()


def test_bad_input_starts_no_run(session: Session, binary_frame: pd.DataFrame) -> None:
    with pytest.raises(InvalidArgument, match="predictions column 'nope'"):
        evaluate(data=binary_frame, targets="label", predictions="nope")
    with pytest.raises(InvalidArgument, match="Give a model"):
        evaluate(data=binary_frame, targets="label")
    assert mltrail.active_run() is None
    assert mltrail.search_runs(output_format="list") == []


def test_import_stays_cheap() -> None:
    code = (
        "import sys, mltrail.models.evaluation; "
        "print(sorted(m for m in ('sklearn', 'matplotlib', 'pandas', 'numpy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_regressor_rejects_text_targets(session: Session, regression_frame: pd.DataFrame) -> None:
    x = regression_frame[["x1", "x2"]]
    with pytest.raises(InvalidArgument, match="numeric targets"):
        evaluate(lambda frame: np.zeros(len(frame)), x, targets=["a"] * 200, model_type="regressor")
    assert mltrail.active_run() is None
