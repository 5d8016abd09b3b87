"""``register_model``: a model's files become a new version of a registered model.

What the version points at (its ``source``) depends on the URI given:

    runs:/<run_id>/<name>    the logged model the run produced under ``<name>``, as
                             ``models:/<model_id>`` (MLflow 3), else the run's artifacts
    models:/<model_id>       that logged model
    models:/<name>/<version> (or @alias, a stage, latest) the same files as that version
    a local path or file:    uploaded first as a logged model of the active experiment, so the
                             registry never points at a folder on one person's machine
    anything else            the artifact URI as given (s3://, mlflow-artifacts:/, ...)

The registered model is created when it does not exist yet.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mltrail.entities.registry import ModelVersion, validate_registered_model_name
from mltrail.errors import AlreadyExists, InvalidArgument, NotFound
from mltrail.registry.uris import is_local, local_path, parse_model_uri, run_model, version_of

if TYPE_CHECKING:
    from mltrail.tracking.client import MltrailClient

__all__ = ["register_model"]


def register_model(
    model_uri: str,
    name: str,
    await_registration_for: int = 300,
    *,
    tags: Mapping[str, Any] | None = None,
    client: MltrailClient | None = None,
) -> ModelVersion:
    """Register the model at ``model_uri`` as the next version of ``name``."""
    from mltrail.tracking import fluent

    validate_registered_model_name(name)
    client = client or fluent.get_session().client()
    source, run_id, model_id = _source_of(model_uri, client)
    try:
        client.create_registered_model(name)
        print(f"Successfully registered model {name!r}.", file=sys.stderr)
    except AlreadyExists:
        print(
            f"Registered model {name!r} already exists. Creating a new version of this model...",
            file=sys.stderr,
        )
    version = client.create_model_version(
        name,
        source,
        run_id=run_id,
        tags=tags,
        await_creation_for=await_registration_for,
        model_id=model_id,
    )
    print(f"Created version '{version.version}' of model {name!r}.", file=sys.stderr)
    return version


def _source_of(model_uri: str, client: MltrailClient) -> tuple[str, str | None, str | None]:
    """The version's source, run id and logged model id for ``model_uri``."""
    parsed = parse_model_uri(model_uri)
    if parsed.kind == "run":
        assert parsed.run_id is not None
        model = run_model(client, parsed.run_id, parsed.path)
        if model is not None and parsed.path == model.name:
            return model.model_uri, parsed.run_id, model.model_id
        return model_uri, parsed.run_id, None
    if parsed.kind == "logged_model":
        assert parsed.model_id is not None
        logged = client.get_logged_model(parsed.model_id)
        if parsed.path:
            raise InvalidArgument(
                f"Cannot register {model_uri!r}: register the whole model, models:/{logged.model_id}"
            )
        return logged.model_uri, logged.source_run_id, logged.model_id
    if parsed.kind == "registered":
        existing = client.get_model_version(*version_of(parsed, client))
        return existing.source, existing.run_id, existing.model_id
    if is_local(model_uri):
        return _upload_local_model(model_uri, client)
    return model_uri, None, None


def _upload_local_model(
    model_uri: str, client: MltrailClient
) -> tuple[str, str | None, str | None]:
    from mltrail.tracking import fluent

    path = local_path(model_uri)
    if not os.path.isfile(os.path.join(path, "MLmodel")):
        raise NotFound(f"No model at {model_uri!r}: {path!r} is not a folder with an MLmodel file")
    run = fluent.active_run()
    run_id = run.info.run_id if run is not None else None
    experiment_id = run.info.experiment_id if run is not None else fluent.experiment_id_in_force()
    model = client.create_logged_model(experiment_id, "model", run_id)
    with client.finalizing_logged_model(model.model_id):
        client.artifact_repository_for_uri(model.artifact_location).log_artifacts(path)
    return model.model_uri, run_id, model.model_id
