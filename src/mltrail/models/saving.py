"""What every flavor does when it saves or logs a model, written once.

Saving: the directory must be new (or empty); the flavor writes its files; then this module
writes the input example, the signature (inferred from the example when none is given), the
environment files and ``MLmodel``. Anything that fails leaves no directory behind.

Logging (MLflow 3's design): a logged model is created in the tracking store (``PENDING``,
linked to the active run if any), the model is saved to a temporary directory with the new
model's id in its ``MLmodel``, uploaded to the logged model's own artifact location, and the
model is finalized ``READY`` (``FAILED`` if the upload fails) and recorded as an output of
the run. ``runs:/<run_id>/<name>`` and ``models:/<model_id>`` then both load it.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from mltrail.entities.registry import validate_registered_model_name
from mltrail.errors import InvalidArgument, MltrailError
from mltrail.models import environment
from mltrail.models.format import PYFUNC, Model, directory_size

__all__ = ["ModelInfo", "finish_model", "log_model", "new_model_dir"]


@contextmanager
def new_model_dir(path: str) -> Iterator[str]:
    """The absolute ``path``, made for a model's files; removed again if saving fails."""
    path = os.path.abspath(os.fspath(path))
    if os.path.exists(path) and (not os.path.isdir(path) or os.listdir(path)):
        raise InvalidArgument(f"Path {path!r} already exists and is not empty: choose a new one")
    existed = os.path.isdir(path)
    os.makedirs(path, exist_ok=True)
    try:
        yield path
    except BaseException:
        if existed:
            for name in os.listdir(path):
                target = os.path.join(path, name)
                if os.path.isdir(target) and not os.path.islink(target):
                    shutil.rmtree(target, ignore_errors=True)
                else:
                    os.remove(target)
        else:
            shutil.rmtree(path, ignore_errors=True)
        raise


def copy_code_paths(path: str, code_paths: Sequence[str] | None) -> str | None:
    """Copy each file or folder of ``code_paths`` into ``<model>/code``; the flavor's
    ``code`` entry (None when there is nothing to copy)."""
    if not code_paths:
        return None
    if isinstance(code_paths, str):
        raise InvalidArgument("code_paths must be a list of paths, not one string")
    target = os.path.join(path, "code")
    os.makedirs(target, exist_ok=True)
    skipped = shutil.ignore_patterns(
        "__pycache__", "*.pyc", ".git", ".venv", "mlruns", "mlartifacts", "mltrail.db*"
    )

    def ignore(folder: str, names: list[str]) -> set[str]:
        # A model saved inside the folder being copied must not copy itself.
        inside = {n for n in names if os.path.abspath(os.path.join(folder, n)) == path}
        return set(skipped(folder, names)) | inside

    for source in code_paths:
        source = os.path.abspath(os.fspath(source))
        if not os.path.exists(source):
            raise InvalidArgument(f"Invalid code path {source!r}: it does not exist")
        name = os.path.basename(source.rstrip(os.sep)) or "code"
        if os.path.isdir(source):
            shutil.copytree(
                source,
                os.path.join(target, name),
                ignore=ignore,
                dirs_exist_ok=True,
            )
        else:
            shutil.copy2(source, os.path.join(target, name))
    return "code"


def finish_model(
    path: str,
    mlmodel: Model,
    *,
    packages: Sequence[str],
    signature: Any = None,
    input_example: Any = None,
    predict: Callable[[Any], Any] | None = None,
    pip_requirements: Any = None,
    extra_pip_requirements: Any = None,
    conda_env: Any = None,
    metadata: Mapping[str, Any] | None = None,
) -> Model:
    """Write the parts every model has, then ``MLmodel``. ``predict`` (when the flavor can
    score the example) gives the inferred signature its outputs."""
    if input_example is not None:
        from mltrail.models.input_example import save_input_example

        mlmodel.saved_input_example_info = save_input_example(path, input_example)
        if signature is None:
            from mltrail.models.signature import infer_signature

            output = predict(input_example) if predict is not None else None
            signature = infer_signature(input_example, output)
    if signature is not None and signature is not False:
        mlmodel.signature = signature
    if metadata:
        mlmodel.metadata = dict(metadata)
    environment.write_environment(
        path,
        packages,
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
        conda_env=conda_env,
    )
    pyfunc = mlmodel.flavors.get(PYFUNC)
    if pyfunc is not None:
        pyfunc.setdefault("env", environment.env_conf())
        pyfunc.setdefault("python_version", environment.python_version())
    mlmodel.model_size_bytes = directory_size(path)
    mlmodel.save(path)
    return mlmodel


def check_registered_name(registered_model_name: str | None) -> None:
    """A bad ``registered_model_name`` is refused before anything is saved or logged."""
    if registered_model_name is not None:
        validate_registered_model_name(registered_model_name, "registered_model_name")


def register_saved(path: str, registered_model_name: str | None) -> int | None:
    """Register a model saved at ``path`` (uploaded first as a logged model); its version."""
    if registered_model_name is None:
        return None
    from mltrail.registry.register import register_model

    return register_model(path, registered_model_name).version


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """What ``log_model`` logged: where it is and what it is."""

    model_id: str
    name: str
    model_uri: str
    artifact_path: str
    run_id: str | None
    flavors: dict[str, Any]
    signature: Any
    saved_input_example_info: dict[str, Any] | None
    model_uuid: str
    utc_time_created: str
    mltrail_version: str | None
    metadata: dict[str, Any] | None
    registered_model_version: int | None = None

    @property
    def artifact_uri(self) -> str:
        return self.model_uri


def log_model(
    save: Callable[[str, Model], Any],
    *,
    name: str | None,
    artifact_path: str | None,
    registered_model_name: str | None = None,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    model_type: str | None = None,
    step: int = 0,
) -> ModelInfo:
    """Log the model that ``save(path, mlmodel)`` writes, to the active run (if any) and
    experiment. ``artifact_path`` is MLflow 2's name for ``name``."""
    from mltrail.tracking import fluent

    if name is not None and artifact_path is not None and name != artifact_path:
        raise InvalidArgument(
            f"Give the model's name once: name={name!r} and artifact_path={artifact_path!r} "
            "differ (artifact_path is the older spelling of name)"
        )
    name = name or artifact_path or "model"
    check_registered_name(registered_model_name)
    run = fluent.active_run()
    run_id = run.info.run_id if run is not None else None
    experiment_id = run.info.experiment_id if run is not None else fluent.experiment_id_in_force()
    client = fluent.get_session().client()
    model = client.create_logged_model(
        experiment_id, name, run_id, tags=tags, params=params, model_type=model_type
    )
    with client.finalizing_logged_model(model.model_id):
        with tempfile.TemporaryDirectory(prefix="mltrail-model-") as tmp:
            local = os.path.join(tmp, "model")
            prototype = Model(model_id=model.model_id, run_id=run_id, artifact_path=name)
            save(local, prototype)
            mlmodel = Model.load(local)
            client.artifact_repository_for_uri(model.artifact_location).log_artifacts(local)
    if run_id is not None:
        client.link_model_to_run(run_id, model.model_id, step)
    registered_version = None
    if registered_model_name is not None:
        from mltrail.registry.register import register_model

        registered_version = register_model(
            model.model_uri, registered_model_name, client=client
        ).version
    return ModelInfo(
        model_id=model.model_id,
        name=name,
        model_uri=model.model_uri,
        artifact_path=name,
        run_id=run_id,
        flavors=mlmodel.flavors,
        signature=mlmodel.signature,
        saved_input_example_info=mlmodel.saved_input_example_info,
        model_uuid=mlmodel.model_uuid,
        utc_time_created=mlmodel.utc_time_created,
        mltrail_version=mlmodel.mltrail_version,
        metadata=mlmodel.metadata,
        registered_model_version=registered_version,
    )
