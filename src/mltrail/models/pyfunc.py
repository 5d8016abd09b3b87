"""pyfunc: every model behind one ``predict``, and custom models written in Python.

``load_model(uri)`` reads ``MLmodel``, imports the ``python_function`` flavor's
``loader_module`` and calls its ``_load_pyfunc(path)``; the result is wrapped in a
``PyFuncModel`` whose ``predict`` checks the input and params against the model's signature
before the model sees them. The scoring server, batch prediction and the Spark UDF all score
through it.

Custom models are a ``PythonModel`` subclass (``load_context`` once, ``predict`` per call),
or a plain function of the input, saved with cloudpickle together with their artifacts and
code; or a ``loader_module`` of your own with ``data_path`` and ``code_paths``.

Loading unpickles: load only models from a source you trust (a local file you made, your own
tracking store).
"""

from __future__ import annotations

import atexit
import inspect
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mltrail.errors import InvalidArgument
from mltrail.models import saving
from mltrail.models.environment import python_version
from mltrail.models.flavors import loader_module as _loader_module
from mltrail.models.format import PYFUNC, Model

if TYPE_CHECKING:
    from mltrail.models.signature import ParamSchema, Schema
    from mltrail.tracking.client import MltrailClient

__all__ = [
    "PyFuncModel",
    "PythonModel",
    "PythonModelContext",
    "get_model_dependencies",
    "load_model",
    "log_model",
    "save_model",
]

log = logging.getLogger(__name__)

PYTHON_MODEL_FILE = "python_model.pkl"
ARTIFACTS_DIR = "artifacts"
DATA_DIR = "data"


class PythonModelContext:
    """What a custom model's ``load_context`` gets: local paths of its artifacts, by name,
    and the model's configuration."""

    def __init__(self, artifacts: dict[str, str], model_config: dict[str, Any] | None = None):
        self.artifacts = artifacts
        self.model_config = model_config or {}


class PythonModel:
    """Subclass this for a custom model: ``load_context`` runs once at load time;
    ``predict(context, model_input, params=None)`` per call."""

    def load_context(self, context: PythonModelContext) -> None:
        """Load what ``predict`` needs (artifacts are in ``context.artifacts``)."""

    def predict(
        self, context: PythonModelContext, model_input: Any, params: dict[str, Any] | None = None
    ) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement predict")


class _FunctionModel(PythonModel):
    """A plain function ``f(model_input)`` as a PythonModel."""

    def __init__(self, function: Callable[[Any], Any]) -> None:
        self.function = function

    def predict(
        self, context: PythonModelContext, model_input: Any, params: dict[str, Any] | None = None
    ) -> Any:
        return self.function(model_input)


def _accepts(function: Callable[..., Any], name: str) -> bool:
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False
    return name in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
    )


class PyFuncModel:
    """A loaded model: ``predict(data, params=None)`` whatever its flavor."""

    def __init__(self, metadata: Model, implementation: Any, path: str) -> None:
        predict = getattr(implementation, "predict", None)
        if not callable(predict):
            raise InvalidArgument(
                f"The model's loader returned a {type(implementation).__name__} without predict"
            )
        self.metadata = metadata
        self.path = path
        self._implementation = implementation
        self._predict: Callable[..., Any] = predict
        self._takes_params = _accepts(predict, "params")

    @property
    def input_schema(self) -> Schema | None:
        return self.metadata.get_input_schema()

    @property
    def params_schema(self) -> ParamSchema | None:
        return self.metadata.get_params_schema()

    @property
    def loader_module(self) -> str:
        return str(self.metadata.pyfunc_conf.get("loader_module"))

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        """Check ``data`` and ``params`` against the signature (converting safely, or an
        ``InvalidArgument`` naming every problem), then score."""
        schema = self.input_schema
        if schema is not None:
            from mltrail.models.enforcement import enforce_schema

            data = enforce_schema(data, schema)
        params_schema = self.params_schema
        if params_schema is not None or params:
            from mltrail.models.enforcement import enforce_params

            params = enforce_params(params, params_schema)
        if self._takes_params:
            return self._predict(data, params=params or None)
        return self._predict(data)

    def unwrap_python_model(self) -> PythonModel:
        """The ``PythonModel`` of a custom model."""
        inner = getattr(self._implementation, "python_model", None)
        if inner is None:
            raise InvalidArgument("This model is not a custom PythonModel")
        return inner  # type: ignore[no-any-return]

    def get_raw_model(self) -> Any:
        """The framework's own object (the estimator, the PythonModel, ...)."""
        return getattr(self._implementation, "raw_model", self._implementation)

    def __repr__(self) -> str:
        return f"PyFuncModel(loader_module={self.loader_module!r}, path={self.path!r})"


# Loading


def _client() -> MltrailClient:
    from mltrail.tracking.fluent import get_session

    return get_session().client()


def _add_code_path(path: str, conf: Mapping[str, Any]) -> None:
    code = conf.get("code")
    if not code:
        return
    root = os.path.join(path, code)
    if not os.path.isdir(root):
        return
    # Modules saved with the model (code_paths) win over installed ones of the same name: the
    # code folder, and each folder copied into it that is not itself a package.
    folders = [
        os.path.join(root, name)
        for name in sorted(os.listdir(root))
        if os.path.isdir(os.path.join(root, name))
        and not os.path.isfile(os.path.join(root, name, "__init__.py"))
    ]
    for entry in reversed([root, *folders]):
        if entry not in sys.path:
            sys.path.insert(0, entry)


def _warn_on_python_mismatch(conf: Mapping[str, Any]) -> None:
    saved = str(conf.get("python_version") or "")
    if saved and saved.split(".")[:2] != python_version().split(".")[:2]:
        log.warning(
            "The model was saved with Python %s and is loaded with Python %s: it may not load "
            "or predict the same", saved, python_version()
        )


def local_model_path(model_uri: str, dst_path: str | None = None) -> str:
    """The model's directory on this machine. A model elsewhere is downloaded into
    ``dst_path``, else into a temporary directory removed when the process exits (a loaded
    model may still read its files, a custom model's artifacts say)."""
    from mltrail.registry.uris import download_model, is_local, resolve_model_uri

    client = _client()
    artifact_uri = resolve_model_uri(model_uri, client)  # looked up once: passes through below
    if dst_path is None and not is_local(artifact_uri):
        dst_path = tempfile.mkdtemp(prefix="mltrail-model-")
        atexit.register(shutil.rmtree, dst_path, ignore_errors=True)
    return download_model(artifact_uri, client, dst_path)


def load_model(
    model_uri: str,
    suppress_warnings: bool = False,
    dst_path: str | None = None,
    model_config: dict[str, Any] | None = None,
) -> PyFuncModel:
    """Load any model with a ``python_function`` flavor, from a path or a model URI
    (``runs:/<run_id>/<name>``, ``models:/<model_id>``, an artifact URI)."""
    path = local_model_path(model_uri, dst_path)
    metadata = Model.load(path)
    conf = metadata.pyfunc_conf
    if not suppress_warnings:
        _warn_on_python_mismatch(conf)
    _add_code_path(path, conf)
    module = _loader_module(conf.get("loader_module", ""))
    data_path = os.path.join(path, conf["data"]) if conf.get("data") else path
    if model_config is not None and _accepts(module._load_pyfunc, "model_config"):
        implementation = module._load_pyfunc(data_path, model_config=model_config)
    else:
        implementation = module._load_pyfunc(data_path)
    return PyFuncModel(metadata, implementation, path)


def get_model_dependencies(model_uri: str) -> str:
    """The local path of the model's ``requirements.txt``."""
    from mltrail.models.environment import REQUIREMENTS_FILE

    target = os.path.join(local_model_path(model_uri), REQUIREMENTS_FILE)
    if not os.path.isfile(target):
        raise InvalidArgument(f"The model at {model_uri!r} has no {REQUIREMENTS_FILE}")
    return target


# Custom models: the loader module ``mltrail.pyfunc`` names in MLmodel


class _CustomModel:
    """A PythonModel ready to score: its context made, ``load_context`` called."""

    def __init__(self, python_model: PythonModel, context: PythonModelContext) -> None:
        self.python_model = python_model
        self.raw_model = python_model
        self.context = context
        predict: Callable[..., Any] = python_model.predict
        self._model_predict = predict
        parameters = list(inspect.signature(predict).parameters)
        # MLflow 3 allows predict(self, model_input, params=None), without the context.
        self._with_context = len(parameters) >= 2 and parameters[0] in ("context", "ctx")
        self._takes_params = _accepts(predict, "params")

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> Any:
        args = (self.context, model_input) if self._with_context else (model_input,)
        if self._takes_params:
            return self._model_predict(*args, params=params)
        return self._model_predict(*args)


def _load_pyfunc(path: str, model_config: dict[str, Any] | None = None) -> _CustomModel:
    import cloudpickle

    metadata = Model.load(path)
    conf = metadata.pyfunc_conf
    pickled = conf.get("python_model")
    if not pickled:
        raise InvalidArgument(f"The model at {path!r} names no python_model file")
    with open(os.path.join(path, pickled), "rb") as f:
        python_model = cloudpickle.load(f)
    artifacts = {
        name: os.path.join(path, entry["path"] if isinstance(entry, dict) else entry)
        for name, entry in (conf.get("artifacts") or {}).items()
    }
    config = {**(conf.get("model_config") or {}), **(model_config or {})}
    context = PythonModelContext(artifacts, config)
    python_model.load_context(context)
    return _CustomModel(python_model, context)


# Saving


def _copy_artifacts(path: str, artifacts: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """Download each artifact (a local path or any artifact URI) into ``<model>/artifacts``."""
    from mltrail.registry.uris import download_model

    out: dict[str, dict[str, str]] = {}
    root = os.path.join(path, ARTIFACTS_DIR)
    os.makedirs(root, exist_ok=True)
    client = None
    for name, uri in artifacts.items():
        if not isinstance(name, str) or not name or "/" in name or name in (".", ".."):
            raise InvalidArgument(f"Invalid artifact name {name!r}: use a plain name")
        target = os.path.join(root, name)
        if os.path.exists(os.path.expanduser(str(uri))):
            source = os.path.abspath(os.path.expanduser(str(uri)))
            if os.path.isdir(source):
                shutil.copytree(source, target)
            else:
                os.makedirs(target)
                shutil.copy2(source, target)
                target = os.path.join(target, os.path.basename(source))
        else:
            client = client or _client()
            target = download_model(str(uri), client, target)
        out[name] = {"path": os.path.relpath(target, path), "uri": str(uri)}
    return out


def save_model(
    path: str,
    loader_module: str | None = None,
    data_path: str | None = None,
    code_paths: Sequence[str] | None = None,
    conda_env: Any = None,
    mlflow_model: Model | None = None,
    python_model: PythonModel | Callable[[Any], Any] | None = None,
    artifacts: Mapping[str, str] | None = None,
    signature: Any = None,
    input_example: Any = None,
    pip_requirements: Any = None,
    extra_pip_requirements: Any = None,
    metadata: Mapping[str, Any] | None = None,
    model_config: Mapping[str, Any] | None = None,
    code_path: Sequence[str] | None = None,
) -> None:
    """Save a custom model: ``python_model`` (a PythonModel or a function) with its
    ``artifacts``, or a ``loader_module`` of your own with ``data_path``; ``code_paths``
    (also spelt ``code_path``, MLflow 1's name) are copied in and put on the path at load."""
    if code_path is not None:
        if code_paths is not None:
            raise InvalidArgument("Give code_paths or code_path (its older name), not both")
        code_paths = code_path
    if (python_model is None) == (loader_module is None):
        raise InvalidArgument("Give exactly one of python_model or loader_module")
    if artifacts and python_model is None:
        raise InvalidArgument("artifacts go with python_model; with loader_module use data_path")
    if python_model is not None and not isinstance(python_model, PythonModel):
        if not callable(python_model):
            raise InvalidArgument(
                "python_model must be a PythonModel instance or a function of the input, got "
                f"{type(python_model).__name__}"
            )
        python_model = _FunctionModel(python_model)
    mlmodel = mlflow_model or Model()
    with saving.new_model_dir(path) as root:
        conf: dict[str, Any] = {}
        code = saving.copy_code_paths(root, code_paths)
        predict: Callable[[Any], Any] | None = None
        if python_model is not None:
            import cloudpickle

            with open(os.path.join(root, PYTHON_MODEL_FILE), "wb") as f:
                cloudpickle.dump(python_model, f)
            conf = {"loader_module": "mltrail.pyfunc", "python_model": PYTHON_MODEL_FILE}
            if artifacts:
                conf["artifacts"] = _copy_artifacts(root, artifacts)
            if model_config:
                conf["model_config"] = dict(model_config)
            packages = ["cloudpickle"]
        else:
            assert loader_module is not None
            conf = {"loader_module": loader_module}
            if data_path is not None:
                source = os.path.abspath(os.fspath(data_path))
                if not os.path.exists(source):
                    raise InvalidArgument(f"Invalid data_path {source!r}: it does not exist")
                target = os.path.join(root, DATA_DIR, os.path.basename(source.rstrip(os.sep)))
                if os.path.isdir(source):
                    shutil.copytree(source, target)
                else:
                    os.makedirs(os.path.dirname(target))
                    shutil.copy2(source, target)
                conf["data"] = os.path.relpath(target, root)
            packages = []
        if code:
            conf["code"] = code
        mlmodel.add_flavor(PYFUNC, **conf)
        if input_example is not None and signature is None and python_model is not None:
            predict = _example_predictor(root, mlmodel, conf, model_config)
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


def _example_predictor(
    root: str, mlmodel: Model, conf: dict[str, Any], model_config: Mapping[str, Any] | None
) -> Callable[[Any], Any]:
    """Score the input example with the model as it will load, for the signature's outputs;
    a model that cannot score it yet gets a signature without outputs."""

    def predict(example: Any) -> Any:
        mlmodel.save(root)
        try:
            return _load_pyfunc(root, dict(model_config or {})).predict(example)
        except Exception as exc:  # the user's model: any failure just means no outputs
            log.warning("Could not score the input example for the signature: %s", exc)
            return None

    return predict


def log_model(
    name: str | None = None,
    loader_module: str | None = None,
    data_path: str | None = None,
    code_paths: Sequence[str] | None = None,
    conda_env: Any = None,
    python_model: PythonModel | Callable[[Any], Any] | None = None,
    artifacts: Mapping[str, str] | None = None,
    registered_model_name: str | None = None,
    signature: Any = None,
    input_example: Any = None,
    pip_requirements: Any = None,
    extra_pip_requirements: Any = None,
    metadata: Mapping[str, Any] | None = None,
    model_config: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    model_type: str | None = None,
    step: int = 0,
    artifact_path: str | None = None,
    code_path: Sequence[str] | None = None,
) -> saving.ModelInfo:
    """Log a custom model (see ``save_model``) as a logged model of the active run."""

    def save(path: str, mlmodel: Model) -> None:
        save_model(
            path,
            loader_module=loader_module,
            data_path=data_path,
            code_paths=code_paths,
            conda_env=conda_env,
            mlflow_model=mlmodel,
            python_model=python_model,
            artifacts=artifacts,
            signature=signature,
            input_example=input_example,
            pip_requirements=pip_requirements,
            extra_pip_requirements=extra_pip_requirements,
            metadata=metadata,
            model_config=model_config,
            code_path=code_path,
        )

    return saving.log_model(
        save,
        name=name,
        artifact_path=artifact_path,
        registered_model_name=registered_model_name,
        params=params,
        tags=tags,
        model_type=model_type,
        step=step,
    )
