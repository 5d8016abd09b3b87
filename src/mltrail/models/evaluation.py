"""``evaluate``: score a classifier or a regressor on a labelled dataset and log the results.

The model is a model URI, a loaded ``PyFuncModel``, an object with ``predict`` or a plain
callable; or ``None`` when ``predictions`` names a column of ``data`` that already holds the
model's outputs (MLflow's static-dataset mode). Everything is computed before anything is
logged, so bad input (an ``InvalidArgument`` naming the problem) leaves no trace in the store.

Results go to the active run, or to a run started (and ended) for the call, as MLflow does:
metrics under MLflow's default evaluator names, plots as PNG artifacts. scikit-learn,
matplotlib, numpy and pandas load inside the functions that use them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mltrail.errors import InvalidArgument
from mltrail.tracking import fluent

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["EvaluationResult", "evaluate"]

MODEL_TYPES = ("classifier", "regressor")


@dataclass(frozen=True)
class EvaluationResult:
    """What ``evaluate`` logged: metric name → value, artifact name → artifact URI."""

    metrics: dict[str, float] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)
    run_id: str | None = None


@dataclass
class _Scored:
    """The labels, the model's outputs and, for classifiers, its class probabilities."""

    y_true: Any
    y_pred: Any
    proba: Any = None
    classes: Any = None


def evaluate(
    model: Any = None,
    data: Any = None,
    *,
    targets: Any = None,
    model_type: str = "classifier",
    predictions: str | None = None,
    feature_names: Sequence[str] | None = None,
    evaluator_config: Mapping[str, Any] | None = None,
) -> EvaluationResult:
    """Score ``model`` on ``data`` against ``targets`` and log metrics and plots to a run.

    ``targets`` is the label column of a DataFrame ``data``, or an array as long as ``data``.
    ``evaluator_config`` may hold ``pos_label`` (the positive class of a binary classifier;
    default 1 when it is a label, else the largest label) and ``metric_prefix``.
    """
    if model_type not in MODEL_TYPES:
        raise InvalidArgument(
            f"model_type must be one of {', '.join(MODEL_TYPES)}, got {model_type!r}"
        )
    config = dict(evaluator_config or {})
    features, y_true = _split(data, targets, predictions if model is None else None, feature_names)
    _check_targets(y_true, model_type)
    scored = _score(model, data, features, y_true, predictions, model_type)
    if model_type == "classifier":
        metrics, figures = _classifier_results(scored, config.get("pos_label"))
    else:
        metrics, figures = _regressor_results(scored)
    prefix = str(config.get("metric_prefix") or "")
    metrics = {f"{prefix}{name}": value for name, value in metrics.items()}
    return _log(metrics, figures)


# Input


def _split(
    data: Any, targets: Any, prediction_column: str | None, feature_names: Sequence[str] | None
) -> tuple[Any, Any]:
    """The model's input and the labels, checked."""
    import numpy as np
    import pandas as pd

    if data is None:
        raise InvalidArgument("data is required: a pandas DataFrame or a numpy array")
    if targets is None:
        raise InvalidArgument("targets is required for a classifier or a regressor")
    if isinstance(data, pd.DataFrame):
        dropped: list[Any] = []
        if isinstance(targets, str):
            if targets not in data.columns:
                raise InvalidArgument(f"targets column {targets!r} is not a column of data")
            y_true = data[targets].to_numpy()
            dropped.append(targets)
        else:
            y_true = _labels(targets, len(data))
        if prediction_column is not None:
            if prediction_column not in data.columns:
                raise InvalidArgument(
                    f"predictions column {prediction_column!r} is not a column of data"
                )
            dropped.append(prediction_column)
        features = data.drop(columns=dropped)
        if feature_names is not None:
            missing = [name for name in feature_names if name not in features.columns]
            if missing:
                raise InvalidArgument(f"feature_names not in data: {', '.join(map(str, missing))}")
            features = features[list(feature_names)]
        return features, y_true
    if isinstance(targets, str):
        raise InvalidArgument(
            "targets names a column, which needs a DataFrame; with an array, pass the labels"
        )
    if prediction_column is not None:
        raise InvalidArgument("predictions names a column, which needs data as a DataFrame")
    array = np.asarray(data)
    if array.ndim != 2:
        raise InvalidArgument(f"data must be 2-dimensional, got {array.ndim} dimension(s)")
    if feature_names is not None:
        if len(feature_names) != array.shape[1]:
            raise InvalidArgument(
                f"feature_names has {len(feature_names)} names for {array.shape[1]} columns"
            )
        return pd.DataFrame(array, columns=list(feature_names)), _labels(targets, len(array))
    return array, _labels(targets, len(array))


def _labels(values: Any, rows: int) -> Any:
    import numpy as np

    labels = np.asarray(values)
    if labels.ndim != 1:
        raise InvalidArgument(f"targets must be 1-dimensional, got shape {labels.shape}")
    if len(labels) != rows:
        raise InvalidArgument(f"targets has {len(labels)} values but data has {rows} rows")
    return labels


def _check_targets(y_true: Any, model_type: str) -> None:
    """Labels a classifier can use (discrete), or numbers for a regressor."""
    import numpy as np
    from sklearn.utils.multiclass import type_of_target

    if model_type == "classifier":
        kind = type_of_target(y_true)
        if kind not in ("binary", "multiclass"):
            raise InvalidArgument(
                f"A classifier needs discrete class labels; targets look {kind} "
                "(use model_type='regressor' for continuous values)"
            )
    elif not np.issubdtype(np.asarray(y_true).dtype, np.number):
        try:
            np.asarray(y_true, dtype=float)
        except (TypeError, ValueError) as exc:
            raise InvalidArgument(f"A regressor needs numeric targets: {exc}") from exc


def _score(
    model: Any, data: Any, features: Any, y_true: Any, predictions: str | None, model_type: str
) -> _Scored:
    """Run the model (or read the predictions column) and, for classifiers, its probabilities."""
    if model is None:
        if predictions is None:
            raise InvalidArgument("Give a model, or name the column of data holding predictions")
        return _Scored(y_true, _outputs(data[predictions], None, len(y_true)))
    predict, raw = _predictor(model)
    y_pred = _outputs(predict(features), predictions, len(y_true))
    proba = classes = None
    if model_type == "classifier":
        proba, classes = _probabilities(raw, features, len(y_true))
    return _Scored(y_true, y_pred, proba, classes)


def _predictor(model: Any) -> tuple[Callable[[Any], Any], Any]:
    """The function to score with, and the object that may have ``predict_proba``."""
    from mltrail.models.pyfunc import PyFuncModel, load_model

    if isinstance(model, str):
        model = load_model(model)
    if isinstance(model, PyFuncModel):
        return model.predict, model.get_raw_model()
    predict = getattr(model, "predict", None)
    if callable(predict):
        return predict, model
    if callable(model):
        return model, None
    raise InvalidArgument(
        f"model must be a model URI, a PyFuncModel or a callable, got {type(model).__name__}"
    )


def _outputs(raw: Any, column: str | None, rows: int) -> Any:
    """The model's outputs as one 1-dimensional array of ``rows`` values."""
    import numpy as np
    import pandas as pd

    if isinstance(raw, pd.DataFrame):
        if column is not None:
            if column not in raw.columns:
                raise InvalidArgument(f"predictions column {column!r} is not in the model output")
            raw = raw[column]
        elif raw.shape[1] == 1:
            raw = raw.iloc[:, 0]
        else:
            raise InvalidArgument(
                f"The model returned {raw.shape[1]} columns; name one with predictions="
            )
    values = np.asarray(raw)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise InvalidArgument(f"Predictions must be 1-dimensional, got shape {values.shape}")
    if len(values) != rows:
        raise InvalidArgument(f"The model returned {len(values)} predictions for {rows} rows")
    return values


def _probabilities(raw: Any, features: Any, rows: int) -> tuple[Any, Any]:
    """``predict_proba``'s matrix and its column labels, or ``(None, None)``."""
    import numpy as np

    predict_proba = getattr(raw, "predict_proba", None)
    classes = getattr(raw, "classes_", None)
    if not callable(predict_proba) or classes is None:
        return None, None
    try:
        proba = np.asarray(predict_proba(features), dtype=float)
    except (AttributeError, NotImplementedError, TypeError, ValueError):
        return None, None  # e.g. an SVC fitted without probability=True
    if proba.ndim != 2 or proba.shape != (rows, len(classes)):
        return None, None
    return proba, np.asarray(classes)


# Metrics and plots


def _classifier_results(
    scored: _Scored, pos_label: Any
) -> tuple[dict[str, float], dict[str, Figure]]:
    import numpy as np
    from sklearn import metrics as skm
    from sklearn.utils.multiclass import type_of_target

    y_true, y_pred = scored.y_true, scored.y_pred
    predicted = type_of_target(y_pred)
    if predicted not in ("binary", "multiclass"):
        raise InvalidArgument(
            f"A classifier's predictions must be class labels; they look {predicted}"
        )
    labels = np.unique(np.concatenate([y_true, y_pred]))
    binary = len(labels) <= 2
    if pos_label is None:
        pos_label = 1 if 1 in labels.tolist() else labels[-1]
    elif binary and pos_label not in labels.tolist():
        raise InvalidArgument(f"pos_label {pos_label!r} is not one of the labels {labels.tolist()}")
    averaging: dict[str, Any] = (
        {"pos_label": pos_label, "average": "binary"} if binary else {"average": "weighted"}
    )
    results: dict[str, float] = {
        "example_count": float(len(y_true)),
        "accuracy_score": float(skm.accuracy_score(y_true, y_pred)),
        "precision_score": float(skm.precision_score(y_true, y_pred, zero_division=0, **averaging)),
        "recall_score": float(skm.recall_score(y_true, y_pred, zero_division=0, **averaging)),
        "f1_score": float(skm.f1_score(y_true, y_pred, zero_division=0, **averaging)),
    }
    if binary:
        negatives = [label for label in labels.tolist() if label != pos_label]
        order = [*negatives[:1], pos_label] if negatives else [pos_label]
        matrix = skm.confusion_matrix(y_true, y_pred, labels=order)
        if matrix.shape == (2, 2):
            tn, fp, fn, tp = (int(v) for v in matrix.ravel())
            results.update(
                true_negatives=tn, false_positives=fp, false_negatives=fn, true_positives=tp
            )
    figures = {"confusion_matrix": _confusion_figure(y_true, y_pred, labels)}
    if scored.proba is not None:
        results.update(_probability_metrics(scored, pos_label, binary))
        if binary and pos_label in scored.classes.tolist() and len(np.unique(y_true)) == 2:
            positive = scored.proba[:, scored.classes.tolist().index(pos_label)]
            figures.update(_curve_figures(y_true == pos_label, positive))
    return results, figures


def _probability_metrics(scored: _Scored, pos_label: Any, binary: bool) -> dict[str, float]:
    """``roc_auc`` and ``log_loss`` from the class probabilities, where they are defined."""
    import numpy as np
    from sklearn import metrics as skm

    y_true, proba, classes = scored.y_true, scored.proba, scored.classes
    if not set(np.unique(y_true).tolist()) <= set(classes.tolist()):
        return {}  # labels the model never saw: probabilities do not cover them
    results = {"log_loss": float(skm.log_loss(y_true, proba, labels=classes))}
    if len(np.unique(y_true)) < 2:
        return results  # one class only: ROC AUC is undefined
    if binary:
        if pos_label in classes.tolist():
            positive = proba[:, classes.tolist().index(pos_label)]
            results["roc_auc"] = float(skm.roc_auc_score(y_true == pos_label, positive))
    elif len(np.unique(y_true)) == len(classes):
        results["roc_auc"] = float(
            skm.roc_auc_score(y_true, proba, multi_class="ovr", average="weighted", labels=classes)
        )
    return results


def _regressor_results(scored: _Scored) -> tuple[dict[str, float], dict[str, Figure]]:
    import numpy as np
    from sklearn import metrics as skm

    try:
        y_true = np.asarray(scored.y_true, dtype=float)
        y_pred = np.asarray(scored.y_pred, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"A regressor needs numeric targets and predictions: {exc}") from exc
    mse = float(skm.mean_squared_error(y_true, y_pred))
    results = {
        "example_count": float(len(y_true)),
        "mean_absolute_error": float(skm.mean_absolute_error(y_true, y_pred)),
        "mean_squared_error": mse,
        "root_mean_squared_error": float(np.sqrt(mse)),
        "sum_on_target": float(np.sum(y_true)),
        "mean_on_target": float(np.mean(y_true)),
        "max_error": float(skm.max_error(y_true, y_pred)),
        "mean_absolute_percentage_error": float(
            skm.mean_absolute_percentage_error(y_true, y_pred)
        ),
    }
    if len(y_true) >= 2:
        results["r2_score"] = float(skm.r2_score(y_true, y_pred))
    return results, {"residuals_plot": _residuals_figure(y_true, y_pred)}


def _new_figure(width: float = 6.0, height: float = 5.0) -> Figure:
    """A figure drawn by Agg, with no pyplot state."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def _confusion_figure(y_true: Any, y_pred: Any, labels: Any) -> Figure:
    from sklearn.metrics import confusion_matrix

    matrix = confusion_matrix(y_true, y_pred, labels=labels)
    figure = _new_figure()
    axes = figure.add_subplot()
    image = axes.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=axes)
    ticks = range(len(labels))
    names = [str(label) for label in labels.tolist()]
    axes.set_xticks(list(ticks), names)
    axes.set_yticks(list(ticks), names)
    threshold = matrix.max() / 2 if matrix.size else 0
    for row in ticks:
        for col in ticks:
            colour = "white" if matrix[row, col] > threshold else "black"
            axes.text(col, row, str(matrix[row, col]), ha="center", va="center", color=colour)
    axes.set_xlabel("Predicted label")
    axes.set_ylabel("True label")
    axes.set_title("Confusion matrix")
    figure.tight_layout()
    return figure


def _curve_figures(is_positive: Any, score: Any) -> dict[str, Figure]:
    from sklearn import metrics as skm

    fpr, tpr, _ = skm.roc_curve(is_positive, score)
    roc = _new_figure()
    axes = roc.add_subplot()
    axes.plot(fpr, tpr, label=f"AUC = {skm.auc(fpr, tpr):.3f}")
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey")
    axes.set_xlabel("False positive rate")
    axes.set_ylabel("True positive rate")
    axes.set_title("ROC curve")
    axes.legend(loc="lower right")

    precision, recall, _ = skm.precision_recall_curve(is_positive, score)
    pr = _new_figure()
    axes = pr.add_subplot()
    average = skm.average_precision_score(is_positive, score)
    axes.plot(recall, precision, label=f"AP = {average:.3f}")
    axes.set_xlabel("Recall")
    axes.set_ylabel("Precision")
    axes.set_title("Precision-recall curve")
    axes.legend(loc="lower left")
    return {"roc_curve_plot": roc, "precision_recall_curve_plot": pr}


def _residuals_figure(y_true: Any, y_pred: Any) -> Figure:
    figure = _new_figure()
    axes = figure.add_subplot()
    axes.scatter(y_pred, y_true - y_pred, s=12, alpha=0.7)
    axes.axhline(0.0, linestyle="--", color="grey")
    axes.set_xlabel("Predicted value")
    axes.set_ylabel("Residual (target - predicted)")
    axes.set_title("Residuals")
    figure.tight_layout()
    return figure


# Logging


def _log(metrics: dict[str, float], figures: dict[str, Figure]) -> EvaluationResult:
    """Log to the active run, or to a run started and ended for this call."""
    started = fluent.active_run() is None
    run = fluent.start_run() if started else fluent.active_run()
    assert run is not None
    run_id = run.info.run_id
    status = "FAILED"
    try:
        fluent.log_metrics(metrics)
        artifacts: dict[str, str] = {}
        for name, figure in figures.items():
            artifact_file = f"{name}.png"
            fluent.log_figure(figure, artifact_file, run_id=run_id)
            artifacts[name] = fluent.get_artifact_uri(artifact_file)
        status = "FINISHED"
    finally:
        if started:
            fluent.end_run(status)
    return EvaluationResult(metrics=dict(metrics), artifacts=artifacts, run_id=run_id)
