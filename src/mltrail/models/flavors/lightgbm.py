"""The LightGBM flavor: a Booster in LightGBM's text format, a scikit-learn wrapper with
skops (the default), cloudpickle or pickle.

    MLmodel
      flavors:
        lightgbm: {lgb_version, data, model_class, code,
                   serialization_format, skops_trusted_types}   # the last two for wrappers
        python_function: {loader_module: mltrail.lightgbm, data, ...}

The keys and files are MLflow 3's (``model.lgb`` for a Booster; ``model.skops`` or
``model.pkl`` for ``LGBMClassifier`` and the other wrappers), so each side loads the
other's models. skops is the safe format for wrappers: loading builds only the types the
MLmodel lists, which saving checks come from LightGBM, scikit-learn, numpy or scipy unless
``skops_trusted_types`` says otherwise. Load pickled models only from a source you trust.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from mltrail.errors import InvalidArgument
from mltrail.models import saving
from mltrail.models.flavors import _pickled, flavor_conf, warn_if_versions_differ
from mltrail.models.flavors._pickled import CLOUDPICKLE, SERIALIZATION_FORMATS, SKOPS
from mltrail.models.format import PYFUNC, Model

__all__ = ["FLAVOR_NAME", "SERIALIZATION_FORMATS", "load_model", "log_model", "save_model"]

FLAVOR_NAME = "lightgbm"
_BOOSTER_FILE = "model.lgb"
_BOOSTER = "lightgbm.basic.Booster"


def _lgb_version() -> str:
    import lightgbm  # optional dependency: imported only when a model is saved or loaded

    return str(lightgbm.__version__)


def _class_name(model: Any) -> str:
    cls = type(model)
    return f"{cls.__module__}.{cls.__qualname__}"


def save_model(
    lgb_model: Any,
    path: str,
    conda_env: Any = None,
    code_paths: Sequence[str] | None = None,
    mlflow_model: Model | None = None,
    signature: Any = None,
    input_example: Any = None,
    pip_requirements: Any = None,
    extra_pip_requirements: Any = None,
    metadata: Mapping[str, Any] | None = None,
    serialization_format: str = SKOPS,
    skops_trusted_types: Sequence[str] | None = None,
) -> None:
    """Save ``lgb_model`` (a ``lightgbm.Booster`` or a scikit-learn wrapper such as
    ``LGBMClassifier``) to a new directory ``path``; ``serialization_format`` applies to
    wrappers only."""
    import lightgbm

    _pickled.check_format(serialization_format)
    is_booster = isinstance(lgb_model, lightgbm.Booster)
    if not is_booster and not isinstance(lgb_model, lightgbm.LGBMModel):
        raise InvalidArgument(
            f"Expected a lightgbm.Booster or a LightGBM scikit-learn model, got "
            f"{_class_name(lgb_model)}"
        )
    if not is_booster and serialization_format == SKOPS:
        _pickled.skops_io()  # a clear error before anything is written
    mlmodel = mlflow_model or Model()
    with saving.new_model_dir(path) as root:
        code = saving.copy_code_paths(root, code_paths)
        flavor: dict[str, Any] = {"lgb_version": _lgb_version()}
        packages = ["lightgbm"]
        if is_booster:
            file = _BOOSTER_FILE
            lgb_model.save_model(os.path.join(root, file))
        else:
            file = _pickled.FILES[serialization_format]
            _pickled.dump(lgb_model, os.path.join(root, file), serialization_format)
            flavor["serialization_format"] = serialization_format
            if serialization_format == SKOPS:
                flavor["skops_trusted_types"] = _pickled.trusted_types(
                    os.path.join(root, file),
                    skops_trusted_types,
                    ("lightgbm.", "sklearn."),
                    "LightGBM, scikit-learn",
                )
                packages.append("skops")
            else:
                packages.append("cloudpickle")
        flavor.update(data=file, model_class=_class_name(lgb_model), code=code)
        mlmodel.add_flavor(
            PYFUNC,
            loader_module="mltrail.lightgbm",
            data=file,
            **({"code": code} if code else {}),
        )
        mlmodel.add_flavor(FLAVOR_NAME, **flavor)
        saving.finish_model(
            root,
            mlmodel,
            packages=packages,
            signature=signature,
            input_example=input_example,
            predict=lgb_model.predict,
            pip_requirements=pip_requirements,
            extra_pip_requirements=extra_pip_requirements,
            conda_env=conda_env,
            metadata=metadata,
        )


def log_model(
    lgb_model: Any,
    name: str | None = None,
    conda_env: Any = None,
    code_paths: Sequence[str] | None = None,
    registered_model_name: str | None = None,
    signature: Any = None,
    input_example: Any = None,
    pip_requirements: Any = None,
    extra_pip_requirements: Any = None,
    metadata: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    model_type: str | None = None,
    step: int = 0,
    serialization_format: str = SKOPS,
    skops_trusted_types: Sequence[str] | None = None,
    artifact_path: str | None = None,
) -> saving.ModelInfo:
    """Log ``lgb_model`` as a logged model of the active run (``name`` defaults to "model";
    ``artifact_path`` is its older spelling)."""

    def save(path: str, mlmodel: Model) -> None:
        save_model(
            lgb_model,
            path,
            conda_env=conda_env,
            code_paths=code_paths,
            mlflow_model=mlmodel,
            signature=signature,
            input_example=input_example,
            pip_requirements=pip_requirements,
            extra_pip_requirements=extra_pip_requirements,
            metadata=metadata,
            serialization_format=serialization_format,
            skops_trusted_types=skops_trusted_types,
        )

    return saving.log_model(
        save,
        name=name,
        artifact_path=artifact_path,
        registered_model_name=registered_model_name,
        params=params,
        tags=tags,
        model_type=model_type or "lightgbm",
        step=step,
    )


# Loading


def _load_file(file: str, conf: Mapping[str, Any]) -> Any:
    if str(conf.get("model_class") or _BOOSTER) == _BOOSTER:
        import lightgbm

        return lightgbm.Booster(model_file=file)
    # Wrappers saved before MLflow offered skops were always cloudpickled.
    serialization_format = conf.get("serialization_format") or CLOUDPICKLE
    _pickled.check_format(serialization_format, "LightGBM")
    return _pickled.load(file, serialization_format, conf.get("skops_trusted_types"))


def _load_dir(path: str) -> Any:
    conf = flavor_conf(path, FLAVOR_NAME)
    file = conf.get("data")
    if not file:
        raise InvalidArgument(f"The {FLAVOR_NAME} flavor at {path!r} names no data file")
    warn_if_versions_differ("LightGBM", conf.get("lgb_version"), _lgb_version())
    return _load_file(os.path.join(path, file), conf)


def load_model(model_uri: str, dst_path: str | None = None) -> Any:
    """The LightGBM model (a Booster, or the scikit-learn wrapper it was saved as) of a
    model saved with this flavor, by mltrail or MLflow."""
    from mltrail.models.pyfunc import local_model_path

    return _load_dir(local_model_path(model_uri, dst_path))


class _LightGBMModel:
    """The pyfunc face of a LightGBM model: its ``predict``."""

    def __init__(self, lgb_model: Any) -> None:
        self.raw_model = lgb_model

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        return self.raw_model.predict(data)


def _load_pyfunc(path: str) -> _LightGBMModel:
    """``python_function``'s loader: ``path`` is the model directory or its data file."""
    return _LightGBMModel(_load_dir(os.path.dirname(path) if os.path.isfile(path) else path))
