"""The XGBoost flavor: a Booster or a scikit-learn wrapper saved in XGBoost's own format.

    MLmodel
      flavors:
        xgboost: {xgb_version, data, model_class, model_format, code}
        python_function: {loader_module: mltrail.xgboost, data, ...}

The keys are MLflow's, so MLflow's ``xgboost.load_model`` reads these models and mltrail
reads MLflow's. The model is written by its own ``save_model`` (no pickle): ``ubj`` (UBJSON,
the default, as in MLflow 3), ``json``, or ``xgb`` (MLflow 2's name; XGBoost 2.1 and later
write UBJSON under it). Loading builds ``model_class`` again, which must be an XGBoost
model class, and reads the file into it.
"""

from __future__ import annotations

import importlib
import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from mltrail.errors import InvalidArgument
from mltrail.models import saving
from mltrail.models.flavors import flavor_conf, warn_if_versions_differ
from mltrail.models.format import PYFUNC, Model

__all__ = ["FLAVOR_NAME", "MODEL_FORMATS", "load_model", "log_model", "save_model"]

FLAVOR_NAME = "xgboost"
MODEL_FORMATS = ("ubj", "json", "xgb")
_BOOSTER = "xgboost.core.Booster"


def _xgb_version() -> str:
    import xgboost  # optional dependency: imported only when a model is saved or loaded

    return str(xgboost.__version__)


@contextmanager
def _quiet_legacy_name() -> Iterator[None]:
    """XGBoost warns that ``.xgb`` is not a name it knows and writes UBJSON; that is what
    the ``xgb`` format means now, so only those two warnings are silenced."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Unknown file format", category=UserWarning)
        warnings.filterwarnings("ignore", message=".*UBJSON format as default", category=UserWarning)
        yield


def _class_name(model: Any) -> str:
    cls = type(model)
    return f"{cls.__module__}.{cls.__qualname__}"


def save_model(
    xgb_model: Any,
    path: str,
    conda_env: Any = None,
    code_paths: Sequence[str] | None = None,
    mlflow_model: Model | None = None,
    signature: Any = None,
    input_example: Any = None,
    pip_requirements: Any = None,
    extra_pip_requirements: Any = None,
    model_format: str = "ubj",
    metadata: Mapping[str, Any] | None = None,
) -> None:
    """Save ``xgb_model`` (an ``xgboost.Booster`` or a scikit-learn wrapper such as
    ``XGBClassifier``) to a new directory ``path``."""
    import xgboost

    if model_format not in MODEL_FORMATS:
        raise InvalidArgument(
            f"Unknown model_format {model_format!r}: use one of {', '.join(MODEL_FORMATS)}"
        )
    if not isinstance(xgb_model, (xgboost.Booster, xgboost.XGBModel)):
        raise InvalidArgument(
            f"Expected an xgboost.Booster or an XGBoost scikit-learn model, got "
            f"{_class_name(xgb_model)}"
        )
    mlmodel = mlflow_model or Model()
    with saving.new_model_dir(path) as root:
        code = saving.copy_code_paths(root, code_paths)
        file = f"model.{model_format}"
        with _quiet_legacy_name():
            xgb_model.save_model(os.path.join(root, file))
        mlmodel.add_flavor(
            PYFUNC,
            loader_module="mltrail.xgboost",
            data=file,
            **({"code": code} if code else {}),
        )
        mlmodel.add_flavor(
            FLAVOR_NAME,
            xgb_version=_xgb_version(),
            data=file,
            model_class=_class_name(xgb_model),
            model_format=model_format,
            code=code,
        )
        saving.finish_model(
            root,
            mlmodel,
            packages=["xgboost"],
            signature=signature,
            input_example=input_example,
            predict=_XGBoostModel(xgb_model).predict,
            pip_requirements=pip_requirements,
            extra_pip_requirements=extra_pip_requirements,
            conda_env=conda_env,
            metadata=metadata,
        )


def log_model(
    xgb_model: Any,
    name: str | None = None,
    conda_env: Any = None,
    code_paths: Sequence[str] | None = None,
    registered_model_name: str | None = None,
    signature: Any = None,
    input_example: Any = None,
    pip_requirements: Any = None,
    extra_pip_requirements: Any = None,
    model_format: str = "ubj",
    metadata: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    model_type: str | None = None,
    step: int = 0,
    artifact_path: str | None = None,
) -> saving.ModelInfo:
    """Log ``xgb_model`` as a logged model of the active run (``name`` defaults to "model";
    ``artifact_path`` is its older spelling)."""

    def save(path: str, mlmodel: Model) -> None:
        save_model(
            xgb_model,
            path,
            conda_env=conda_env,
            code_paths=code_paths,
            mlflow_model=mlmodel,
            signature=signature,
            input_example=input_example,
            pip_requirements=pip_requirements,
            extra_pip_requirements=extra_pip_requirements,
            model_format=model_format,
            metadata=metadata,
        )

    return saving.log_model(
        save,
        name=name,
        artifact_path=artifact_path,
        registered_model_name=registered_model_name,
        params=params,
        tags=tags,
        model_type=model_type or "xgboost",
        step=step,
    )


# Loading


def _model_class(name: str) -> Any:
    """The XGBoost class ``name`` names; nothing outside XGBoost is imported or built."""
    import xgboost

    module_name, _, class_name = name.rpartition(".")
    if not module_name.startswith("xgboost.") and module_name != "xgboost":
        raise InvalidArgument(f"The xgboost flavor's model_class {name!r} is not an XGBoost class")
    cls = getattr(importlib.import_module(module_name), class_name, None)
    if not isinstance(cls, type) or not issubclass(cls, (xgboost.Booster, xgboost.XGBModel)):
        raise InvalidArgument(f"The xgboost flavor's model_class {name!r} is not an XGBoost model")
    return cls


def _load_dir(path: str) -> Any:
    conf = flavor_conf(path, FLAVOR_NAME)
    file = conf.get("data")
    if not file:
        raise InvalidArgument(f"The {FLAVOR_NAME} flavor at {path!r} names no data file")
    warn_if_versions_differ("XGBoost", conf.get("xgb_version"), _xgb_version())
    model = _model_class(str(conf.get("model_class") or _BOOSTER))()
    with _quiet_legacy_name():
        model.load_model(os.path.join(path, file))
    return model


def load_model(model_uri: str, dst_path: str | None = None) -> Any:
    """The XGBoost model (of the class it was saved as) of a model saved with this flavor,
    by mltrail or MLflow."""
    from mltrail.models.pyfunc import local_model_path

    return _load_dir(local_model_path(model_uri, dst_path))


class _XGBoostModel:
    """The pyfunc face of an XGBoost model: a wrapper's ``predict``, or a Booster's on a
    ``DMatrix`` of the input."""

    def __init__(self, xgb_model: Any) -> None:
        self.raw_model = xgb_model

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        import xgboost

        if isinstance(self.raw_model, xgboost.Booster):
            if not isinstance(data, xgboost.DMatrix):
                data = xgboost.DMatrix(data)
            return self.raw_model.predict(data)
        return self.raw_model.predict(data)


def _load_pyfunc(path: str) -> _XGBoostModel:
    """``python_function``'s loader: ``path`` is the model directory or its data file."""
    return _XGBoostModel(_load_dir(os.path.dirname(path) if os.path.isfile(path) else path))
