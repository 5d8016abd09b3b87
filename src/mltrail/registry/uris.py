"""Where a model URI points, and fetching the model directory it names.

    runs:/<run_id>/<path>      the model logged under ``<path>`` in the run: MLflow 3 keeps it
                               as a logged model linked to the run (its own files); a model
                               saved among the run's artifacts (MLflow 2) is found there
    models:/<model_id>         a logged model (``m-<32 hex>``), by id
    models:/<name>/<version>   a registered model's version (the registry; not served yet)
    anything else              an artifact URI: a local path, ``file:``, ``s3://``,
                               ``mlflow-artifacts:/``, ...

A path after a model (``runs:/<id>/model/MLmodel``, ``models:/<id>/MLmodel``) points inside it.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from typing import TYPE_CHECKING

from mltrail.errors import InvalidArgument, MltrailError, NotFound
from mltrail.storage.artifacts import join_artifact_uri, safe_relative_path

if TYPE_CHECKING:
    from mltrail.entities import LoggedModel
    from mltrail.tracking.client import MltrailClient

__all__ = ["download_model", "is_local", "resolve_model_uri"]

_MODEL_ID = re.compile(r"^m-[0-9a-f]{32}$")


def is_local(uri: str) -> bool:
    """Whether ``uri`` is a path on this machine (plain, or ``file:``)."""
    scheme = urllib.parse.urlsplit(uri).scheme
    return scheme in ("", "file") or len(scheme) == 1  # one letter: a Windows drive


def _local_path(uri: str) -> str:
    if uri.startswith("file:"):
        parsed = urllib.parse.urlsplit(uri)
        return urllib.parse.unquote(parsed.path)
    return os.path.abspath(os.path.expanduser(uri))


def _split(rest: str, uri: str) -> tuple[str, str]:
    """``<head>/<tail>`` of a URI's path, the tail checked as a relative path."""
    head, _, tail = rest.strip("/").partition("/")
    if not head:
        raise InvalidArgument(f"Invalid model URI {uri!r}: it names no run or model")
    return head, safe_relative_path(tail, "path in the model URI")


def _run_model(client: MltrailClient, run_id: str, path: str) -> LoggedModel | None:
    """The logged model that is an output of the run under the name ``path`` (or under the
    first segments of it), the latest if several."""
    run = client.get_run(run_id)
    found: LoggedModel | None = None
    for output in run.outputs.model_outputs:
        try:
            model = client.get_logged_model(output.model_id)
        except NotFound:
            continue
        if (path == model.name or path.startswith(model.name + "/")) and (
            found is None or model.creation_timestamp >= found.creation_timestamp
        ):
            found = model
    return found


def resolve_model_uri(model_uri: str, client: MltrailClient) -> str:
    """The artifact URI of the directory (or file) that ``model_uri`` names."""
    if not isinstance(model_uri, str) or not model_uri.strip():
        raise InvalidArgument(f"Invalid model URI {model_uri!r}: expected a non-empty string")
    if model_uri.startswith("runs:"):
        run_id, path = _split(model_uri[len("runs:") :], model_uri)
        if not path:
            raise InvalidArgument(
                f"Invalid model URI {model_uri!r}: say which of the run's models, as "
                "runs:/<run_id>/<name>"
            )
        model = _run_model(client, run_id, path)
        if model is not None:
            inner = path[len(model.name) :].lstrip("/")
            return join_artifact_uri(model.artifact_location, inner)
        return join_artifact_uri(client.get_run(run_id).info.artifact_uri, path)
    if model_uri.startswith("models:"):
        head, path = _split(model_uri[len("models:") :], model_uri)
        if _MODEL_ID.match(head):
            model = client.get_logged_model(head)
            return join_artifact_uri(model.artifact_location, path)
        raise MltrailError(
            f"Cannot resolve {model_uri!r}: registered models (models:/<name>/<version> and "
            "models:/<name>@<alias>) need the model registry, which this version of mltrail "
            "does not have yet; load the model by its id (models:/m-...) or runs:/ URI"
        )
    return model_uri


def download_model(
    model_uri: str, client: MltrailClient, dst_path: str | None = None
) -> str:
    """A local path to the model's files: the path itself for a local model (nothing is
    copied unless ``dst_path`` is given), else a download into ``dst_path`` (default: a new
    temporary directory)."""
    artifact_uri = resolve_model_uri(model_uri, client)
    if is_local(artifact_uri) and dst_path is None:
        path = _local_path(artifact_uri)
        if not os.path.exists(path):
            raise NotFound(f"No model at {model_uri!r}: {path!r} does not exist")
        return path
    repo = client.artifact_repository_for_uri(artifact_uri)
    return repo.download_artifacts("", dst_path)
