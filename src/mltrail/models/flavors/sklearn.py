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

import logging
import os
import pickle
from collections.abc import Mapping, Sequence
from typing import Any

from mltrail.errors import InvalidArgument, MltrailError
from mltrail.models import saving
from mltrail.models.format import PYFUNC, Model

__all__ = [
    "FLAVOR_NAME",
    "SERIALIZATION_FORMATS",
    "load_model",
    "log_model",
    "save_model",
]

log = logging.getLogger(__name__)

FLAVOR_NAME = "sklearn"
SKOPS = "skops"
CLOUDPICKLE = "cloudpickle"
PICKLE = "pickle"
SERIALIZATION_FORMATS = (SKOPS, CLOUDPICKLE, PICKLE)
_FILES = {SKOPS: "model.skops", CLOUDPICKLE: "model.pkl", PICKLE: "model.pkl"}
# Types skops may be told to trust without asking: the estimator's own library and its arrays.
_TRUSTED_ROOTS = ("sklearn.", "numpy.", "scipy.", "builtins.", "collections.")


def _sklearn_version() -> str:
    import sklearn

    return str(sklearn.__version__)


def _skops() -> Any:
    try:
        import skops.io
    except ModuleNotFoundError as exc:
        raise MltrailError(
            "The skops format needs the skops package: pip install skops (or "
            "pip install 'mltrail[sklearn]'), or save with serialization_format='cloudpickle'"
        ) from exc
    return skops.io


def _trusted_types(file: str, given: Sequence[str] | None) -> list[str]:
    """The types loading ``file`` must trust: checked against what the user allowed, or
    against the libraries we trust on their behalf."""
    untrusted = sorted(_skops().get_untrusted_types(file=file))
    if given is not None:
        missing = [t for t in untrusted if t not in set(given)]
        if missing:
            raise InvalidArgument(
                f"The model holds types that skops_trusted_types does not list: {missing}"
            )
        return list(given)
    foreign = [t for t in untrusted if not t.startswith(_TRUSTED_ROOTS)]
    if foreign:
        raise InvalidArgument(
            f"The model holds types from outside scikit-learn, numpy and scipy: {foreign}. "
            "List them in skops_trusted_types if you trust them, or save with "
            "serialization_format='cloudpickle'"
        )
    return untrusted


def _dump(sk_model: Any, file: str, serialization_format: str) -> None:
    if serialization_format == SKOPS:
        _skops().dump(sk_model, file)
    elif serialization_format == CLOUDPICKLE:
        import cloudpickle

        with open(file, "wb") as out:
            cloudpickle.dump(sk_model, out)
    else:
        with open(file, "wb") as out:
            pickle.dump(sk_model, out, protocol=pickle.DEFAULT_PROTOCOL)


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
    """Save ``sk_model`` to a new directory ``path``. (``registered_model_name`` is accepted
    as users write it, and refused until the model registry exists.)"""
    saving.refuse_registration(registered_model_name)
    if serialization_format not in SERIALIZATION_FORMATS:
        raise InvalidArgument(
            f"Unknown serialization_format {serialization_format!r}: use one of "
            f"{', '.join(SERIALIZATION_FORMATS)}"
        )
    predict = getattr(sk_model, pyfunc_predict_fn, None)
    if not callable(predict):
        raise InvalidArgument(
            f"The model has no {pyfunc_predict_fn}() method (pyfunc_predict_fn), so it cannot "
            "be scored"
        )
    if serialization_format == SKOPS:
        _skops()  # a clear error before anything is written
    mlmodel = mlflow_model or Model()
    with saving.new_model_dir(path) as root:
        code = saving.copy_code_paths(root, code_paths)
        file = _FILES[serialization_format]
        _dump(sk_model, os.path.join(root, file), serialization_format)
        flavor: dict[str, Any] = {
            "pickled_model": file,
            "serialization_format": serialization_format,
            "sklearn_version": _sklearn_version(),
            "code": code,
        }
        packages = ["scikit-learn"]
        if serialization_format == SKOPS:
            flavor["skops_trusted_types"] = _trusted_types(
                os.path.join(root, file), skops_trusted_types
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
    if serialization_format not in SERIALIZATION_FORMATS:
        raise InvalidArgument(f"Unknown scikit-learn serialization_format {serialization_format!r}")
    saved_version = conf.get("sklearn_version")
    if saved_version and saved_version != _sklearn_version():
        log.warning(
            "The model was saved with scikit-learn %s and is loaded with %s: it may not load "
            "or predict the same", saved_version, _sklearn_version()
        )
    if serialization_format == SKOPS:
        trusted = list(conf.get("skops_trusted_types") or [])
        return _skops().load(file, trusted=trusted)
    with open(file, "rb") as f:
        if serialization_format == CLOUDPICKLE:
            import cloudpickle

            return cloudpickle.load(f)
        return pickle.load(f)


def _flavor_conf(path: str) -> dict[str, Any]:
    metadata = Model.load(path)
    conf = metadata.flavors.get(FLAVOR_NAME)
    if conf is None:
        raise InvalidArgument(
            f"The model at {path!r} has no {FLAVOR_NAME} flavor (its flavors: "
            f"{', '.join(sorted(metadata.flavors)) or 'none'})"
        )
    return conf


def _load_dir(path: str) -> Any:
    conf = _flavor_conf(path)
    file = conf.get("pickled_model")
    if not file:
        raise InvalidArgument(f"The {FLAVOR_NAME} flavor at {path!r} names no pickled_model")
    return _load_file(os.path.join(path, file), conf)


def load_model(model_uri: str, dst_path: str | None = None) -> Any:
    """The scikit-learn estimator of a model saved with this flavor (by mltrail or MLflow)."""
    from mltrail.models.pyfunc import local_model_path

    return _load_dir(local_model_path(model_uri, dst_path))


class _SklearnModel:
    """The pyfunc face of an estimator: ``predict`` calls its ``predict_fn``."""

    def __init__(self, sk_model: Any, predict_fn: str) -> None:
        self.raw_model = sk_model
        predict = getattr(sk_model, predict_fn, None)
        if not callable(predict):
            raise InvalidArgument(f"The scikit-learn model has no {predict_fn}() method")
        self._predict = predict

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        return self._predict(data)


def _load_pyfunc(path: str) -> _SklearnModel:
    """``python_function``'s loader: ``path`` is the model directory (or, for models saved
    by MLflow 1, the pickle itself)."""
    if os.path.isfile(path):
        return _SklearnModel(_load_file(path, {"serialization_format": PICKLE}), "predict")
    metadata = Model.load(path)
    predict_fn = str((metadata.flavors.get(PYFUNC) or {}).get("predict_fn") or "predict")
    return _SklearnModel(_load_dir(path), predict_fn)
