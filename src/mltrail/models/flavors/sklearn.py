"""The scikit-learn flavor: an estimator saved with skops (the default), cloudpickle or pickle.

    MLmodel
      flavors:
        sklearn: {pickled_model, serialization_format, sklearn_version, code,
                  skops_trusted_types}
        python_function: {loader_module: mltrail.sklearn, model_path, predict_fn, ...}

The keys are MLflow's, so MLflow's ``sklearn.load_model`` reads these models and mltrail
reads MLflow's (its default ``model.skops`` too, trusting the types its MLmodel lists).

skops is the safe format: loading builds only the types listed as trusted, where unpickling
runs whatever the file says. Saving lists the estimator's own types as trusted, when they all
come from scikit-learn, numpy or scipy, so the safe format works for forests and pipelines as
it does for a linear model; an estimator with types of your own needs
``serialization_format="cloudpickle"`` (or ``skops_trusted_types``). Load pickled models only
from a source you trust.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping, Sequence
from typing import Any

from mltrail.errors import InvalidArgument
from mltrail.models import saving
from mltrail.models.flavors import _pickled, flavor_conf, warn_if_versions_differ
from mltrail.models.flavors._pickled import (
    PICKLE,
    SERIALIZATION_FORMATS,
    SKOPS,
)
from mltrail.models.format import PYFUNC, Model

__all__ = [
    "FLAVOR_NAME",
    "SERIALIZATION_FORMATS",
    "load_model",
    "log_model",
    "save_model",
]

FLAVOR_NAME = "sklearn"


def _sklearn_version() -> str:
    import sklearn

    return str(sklearn.__version__)


def save_model(
    sk_model: Any,
    path: str,
    conda_env: Any = None,
    code_paths: Sequence[str] | None = None,
    mlflow_model: Model | None = None,
    serialization_format: str = SKOPS,
    signature: Any = None,
    input_example: Any = None,
    pip_requirements: Any = None,
    extra_pip_requirements: Any = None,
    pyfunc_predict_fn: str = "predict",
    metadata: Mapping[str, Any] | None = None,
    skops_trusted_types: Sequence[str] | None = None,
    registered_model_name: str | None = None,
) -> None:
    """Save ``sk_model`` to a new directory ``path``; with ``registered_model_name``, also
    upload it as a logged model and register it as that model's next version."""
    saving.check_registered_name(registered_model_name)
    _pickled.check_format(serialization_format)
    predict = getattr(sk_model, pyfunc_predict_fn, None)
    if not callable(predict):
        raise InvalidArgument(
            f"The model has no {pyfunc_predict_fn}() method (pyfunc_predict_fn), so it cannot "
            "be scored"
        )
    if serialization_format == SKOPS:
        _pickled.skops_io()  # a clear error before anything is written
    mlmodel = mlflow_model or Model()
    with saving.new_model_dir(path) as root:
        code = saving.copy_code_paths(root, code_paths)
        file = _pickled.FILES[serialization_format]
        _pickled.dump(sk_model, os.path.join(root, file), serialization_format)
        flavor: dict[str, Any] = {
            "pickled_model": file,
            "serialization_format": serialization_format,
            "sklearn_version": _sklearn_version(),
            "code": code,
        }
        packages = ["scikit-learn"]
        if serialization_format == SKOPS:
            flavor["skops_trusted_types"] = _pickled.trusted_types(
                os.path.join(root, file), skops_trusted_types, ("sklearn.",), "scikit-learn"
            )
            packages.append("skops")
        else:
            packages.append("cloudpickle")
        mlmodel.add_flavor(
            PYFUNC,
            loader_module="mltrail.sklearn",
            model_path=file,
            predict_fn=pyfunc_predict_fn,
            **({"code": code} if code else {}),
        )
        mlmodel.add_flavor(FLAVOR_NAME, **flavor)
        saving.finish_model(
            root,
            mlmodel,
            packages=packages,
            signature=signature,
            input_example=input_example,
            predict=predict,
            pip_requirements=pip_requirements,
            extra_pip_requirements=extra_pip_requirements,
            conda_env=conda_env,
            metadata=metadata,
        )
    saving.register_saved(path, registered_model_name)


def log_model(
    sk_model: Any,
    name: str | None = None,
    conda_env: Any = None,
    code_paths: Sequence[str] | None = None,
    serialization_format: str = SKOPS,
    registered_model_name: str | None = None,
    signature: Any = None,
    input_example: Any = None,
    pip_requirements: Any = None,
    extra_pip_requirements: Any = None,
    pyfunc_predict_fn: str = "predict",
    metadata: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    model_type: str | None = None,
    step: int = 0,
    skops_trusted_types: Sequence[str] | None = None,
    artifact_path: str | None = None,
) -> saving.ModelInfo:
    """Log ``sk_model`` as a logged model of the active run (``name`` defaults to
    "model"; ``artifact_path`` is its older spelling)."""

    def save(path: str, mlmodel: Model) -> None:
        save_model(
            sk_model,
            path,
            conda_env=conda_env,
            code_paths=code_paths,
            mlflow_model=mlmodel,
            serialization_format=serialization_format,
            signature=signature,
            input_example=input_example,
            pip_requirements=pip_requirements,
            extra_pip_requirements=extra_pip_requirements,
            pyfunc_predict_fn=pyfunc_predict_fn,
            metadata=metadata,
            skops_trusted_types=skops_trusted_types,
        )

    return saving.log_model(
        save,
        name=name,
        artifact_path=artifact_path,
        registered_model_name=registered_model_name,
        params=params,
        tags=tags,
        model_type=model_type or "sklearn",
        step=step,
    )


# Loading


def _load_file(file: str, conf: Mapping[str, Any]) -> Any:
    serialization_format = conf.get("serialization_format") or PICKLE
    _pickled.check_format(serialization_format, "scikit-learn")
    warn_if_versions_differ("scikit-learn", conf.get("sklearn_version"), _sklearn_version())
    return _pickled.load(file, serialization_format, conf.get("skops_trusted_types"))


def _load_dir(path: str) -> Any:
    conf = flavor_conf(path, FLAVOR_NAME)
    file = conf.get("pickled_model")
    if not file:
        raise InvalidArgument(f"The {FLAVOR_NAME} flavor at {path!r} names no pickled_model")
    return _load_file(os.path.join(path, file), conf)


def load_model(model_uri: str, dst_path: str | None = None) -> Any:
    """The scikit-learn estimator of a model saved with this flavor (by mltrail or MLflow)."""
    from mltrail.models.pyfunc import local_model_path

    return _load_dir(local_model_path(model_uri, dst_path))


# Estimators of these modules read X in predict as a plain numeric matrix, its columns in
# ``feature_names_in_`` order: no column names, dtypes or user code past the input check.
_MATRIX_MODULES = (
    "sklearn.linear_model.", "sklearn.svm.", "sklearn.neighbors.", "sklearn.naive_bayes.",
    "sklearn.tree.", "sklearn.ensemble.", "sklearn.discriminant_analysis.",
    "sklearn.neural_network.", "sklearn.kernel_ridge.",
)


def _holds_estimator(value: Any) -> bool:
    if hasattr(value, "get_params") and hasattr(value, "fit"):
        return True
    if isinstance(value, (list, tuple)):
        return any(_holds_estimator(item) for item in value)
    return False


def _matrix_twin(sk_model: Any) -> tuple[Any, list[str]] | None:
    """A shallow copy of ``sk_model`` without ``feature_names_in_`` (its arrays shared, not
    copied), and those names; or ``None`` where predicting from a matrix could differ from
    predicting from the frame (meta-estimators and pipelines, whose steps may read columns by
    name, and estimators outside ``_MATRIX_MODULES``)."""
    names = getattr(sk_model, "feature_names_in_", None)
    if names is None or not type(sk_model).__module__.startswith(_MATRIX_MODULES):
        return None
    try:
        if any(map(_holds_estimator, sk_model.get_params(deep=False).values())):
            return None
        twin = copy.copy(sk_model)
    except Exception:  # an estimator that does not copy: the frame path is always right
        return None
    twin.__dict__.pop("feature_names_in_", None)
    return twin, [str(name) for name in names]


class _SklearnModel:
    """The pyfunc face of an estimator: ``predict`` calls its ``predict_fn``.

    A frame whose columns are the estimator's feature names, in order, and all floats goes in
    as its float matrix, to a twin of the estimator that has no feature names to compare
    (``_matrix_twin``): the same numbers in the same order, so the same predictions, without
    scikit-learn's per-call checks of a frame's columns and dtypes, which cost a 1-row request
    to a linear model about three quarters of its time in the scoring server.
    """

    def __init__(self, sk_model: Any, predict_fn: str) -> None:
        self.raw_model = sk_model
        predict = getattr(sk_model, predict_fn, None)
        if not callable(predict):
            raise InvalidArgument(f"The scikit-learn model has no {predict_fn}() method")
        self._predict = predict
        self._matrix_predict: Any = None
        self._names: list[str] = []
        twin = _matrix_twin(sk_model)
        if twin is not None:
            self._matrix_predict, self._names = getattr(twin[0], predict_fn), twin[1]

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        if self._matrix_predict is not None:
            columns = getattr(data, "columns", None)
            if columns is not None and len(columns) == len(self._names) and (
                list(columns) == self._names
            ):
                matrix = data.to_numpy()
                if matrix.dtype.kind == "f":
                    return self._matrix_predict(matrix)
        return self._predict(data)


def _load_pyfunc(path: str) -> _SklearnModel:
    """``python_function``'s loader: ``path`` is the model directory (or, for models saved
    by MLflow 1, the pickle itself)."""
    if os.path.isfile(path):
        return _SklearnModel(_load_file(path, {"serialization_format": PICKLE}), "predict")
    metadata = Model.load(path)
    predict_fn = str((metadata.flavors.get(PYFUNC) or {}).get("predict_fn") or "predict")
    return _SklearnModel(_load_dir(path), predict_fn)
