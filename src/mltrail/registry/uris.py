"""Where a model URI points, and fetching the model directory it names.

    runs:/<run_id>/<path>      the model logged under ``<path>`` in the run: MLflow 3 keeps it
                               as a logged model linked to the run (its own files); a model
                               saved among the run's artifacts (MLflow 2) is found there
    models:/<model_id>         a logged model (``m-<32 hex>``), by id
    models:/<name>/<version>   a registered model's version (``3``)
    models:/<name>@<alias>     the version an alias such as ``champion`` points at
    models:/<name>/<stage>     the newest version in a stage (``Production``, any case)
    models:/<name>/latest      the newest version
    anything else              an artifact URI: a local path, ``file:``, ``s3://``,
                               ``mlflow-artifacts:/``, ...

A path after a model (``runs:/<id>/model/MLmodel``, ``models:/<name>@champion/MLmodel``)
points inside it.
"""

from __future__ import annotations

import dataclasses
import os
import re
import urllib.parse
from typing import TYPE_CHECKING

from mltrail.entities.registry import Stage
from mltrail.errors import InvalidArgument, NotFound
from mltrail.storage.artifacts import join_artifact_uri, safe_relative_path

if TYPE_CHECKING:
    from mltrail.entities import LoggedModel
    from mltrail.tracking.client import MltrailClient

__all__ = ["ModelUri", "download_model", "is_local", "parse_model_uri", "resolve_model_uri"]

_MODEL_ID = re.compile(r"^m-[0-9a-f]{32}$")
_STAGES = {stage.value.lower() for stage in Stage}


def is_local(uri: str) -> bool:
    """Whether ``uri`` is a path on this machine (plain, or ``file:``)."""
    scheme = urllib.parse.urlsplit(uri).scheme
    return scheme in ("", "file") or len(scheme) == 1  # one letter: a Windows drive


def local_path(uri: str) -> str:
    if uri.startswith("file:"):
        parsed = urllib.parse.urlsplit(uri)
        return urllib.parse.unquote(parsed.path)
    return os.path.abspath(os.path.expanduser(uri))


@dataclasses.dataclass(frozen=True)
class ModelUri:
    """A parsed model URI. ``kind`` is ``run``, ``logged_model``, ``registered`` or
    ``artifact``; ``path`` is the part inside the model."""

    uri: str
    kind: str
    path: str = ""
    run_id: str | None = None
    model_id: str | None = None
    name: str | None = None
    version: int | None = None
    alias: str | None = None
    stage: str | None = None  # a stage name, or "latest"


def _split(rest: str, uri: str) -> tuple[str, str]:
    """``<head>/<tail>`` of a URI's path, the tail checked as a relative path."""
    head, _, tail = rest.strip("/").partition("/")
    if not head:
        raise InvalidArgument(f"Invalid model URI {uri!r}: it names no run or model")
    return head, safe_relative_path(tail, "path in the model URI")


def parse_model_uri(model_uri: str) -> ModelUri:
    if not isinstance(model_uri, str) or not model_uri.strip():
        raise InvalidArgument(f"Invalid model URI {model_uri!r}: expected a non-empty string")
    if model_uri.startswith("runs:"):
        run_id, path = _split(model_uri[len("runs:") :], model_uri)
        if not path:
            raise InvalidArgument(
                f"Invalid model URI {model_uri!r}: say which of the run's models, as "
                "runs:/<run_id>/<name>"
            )
        return ModelUri(model_uri, "run", path, run_id=run_id)
    if not model_uri.startswith("models:"):
        return ModelUri(model_uri, "artifact")
    rest = model_uri[len("models:") :]
    if rest.startswith("//"):
        raise InvalidArgument(
            f"Invalid model URI {model_uri!r}: models:/ URIs take no host; write "
            "models:/<name>/<version> or models:/<name>@<alias>"
        )
    head, path = _split(rest, model_uri)
    if _MODEL_ID.match(head):
        return ModelUri(model_uri, "logged_model", path, model_id=head)
    if "@" in head:
        name, _, alias = head.rpartition("@")
        if not name or not alias:
            raise InvalidArgument(f"Invalid model URI {model_uri!r}: expected models:/<name>@<alias>")
        return ModelUri(model_uri, "registered", path, name=name, alias=alias)
    selector, _, inner = path.partition("/")
    if not selector:
        raise InvalidArgument(
            f"Invalid model URI {model_uri!r}: say which version, as models:/{head}/<version>, "
            f"models:/{head}@<alias>, models:/{head}/<stage> or models:/{head}/latest"
        )
    if selector.isdigit():
        return ModelUri(model_uri, "registered", inner, name=head, version=int(selector))
    if selector.lower() == "latest" or selector.lower() in _STAGES:
        return ModelUri(model_uri, "registered", inner, name=head, stage=selector)
    raise InvalidArgument(
        f"Invalid model URI {model_uri!r}: {selector!r} is not a version number, 'latest' or a "
        "stage (None, Staging, Production, Archived)"
    )


def run_model(client: MltrailClient, run_id: str, path: str) -> LoggedModel | None:
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


def version_of(parsed: ModelUri, client: MltrailClient) -> tuple[str, int]:
    """The registered model name and version number a ``models:/<name>...`` URI means."""
    name = parsed.name
    assert name is not None
    if parsed.version is not None:
        return name, parsed.version
    if parsed.alias is not None:
        return name, client.get_model_version_by_alias(name, parsed.alias).version
    stage = parsed.stage or "latest"
    if stage.lower() == "latest":
        versions = client.get_latest_versions(name)
        if not versions:
            raise NotFound(f"Registered model {name!r} has no versions")
        return name, max(v.version for v in versions)
    versions = client.get_latest_versions(name, [stage])
    if not versions:
        raise NotFound(f"Registered model {name!r} has no version in stage {stage!r}")
    return name, versions[0].version


def resolve_model_uri(model_uri: str, client: MltrailClient) -> str:
    """The artifact URI of the directory (or file) that ``model_uri`` names."""
    parsed = parse_model_uri(model_uri)
    if parsed.kind == "run":
        assert parsed.run_id is not None
        model = run_model(client, parsed.run_id, parsed.path)
        if model is not None:
            inner = parsed.path[len(model.name) :].lstrip("/")
            return join_artifact_uri(model.artifact_location, inner)
        return join_artifact_uri(client.get_run(parsed.run_id).info.artifact_uri, parsed.path)
    if parsed.kind == "logged_model":
        assert parsed.model_id is not None
        logged = client.get_logged_model(parsed.model_id)
        return join_artifact_uri(logged.artifact_location, parsed.path)
    if parsed.kind == "registered":
        name, version = version_of(parsed, client)
        location = client.get_model_version_download_uri(name, version)
        # A store may answer with a model URI (a version registered from runs:/ by an old
        # client): resolve that too, once.
        if location.startswith(("runs:", "models:")):
            if parse_model_uri(location).kind == "registered":
                raise InvalidArgument(
                    f"Version {version} of {name!r} points at another registered model, "
                    f"{location!r}; register the model's files instead"
                )
            location = resolve_model_uri(location, client)
        return join_artifact_uri(location, parsed.path)
    return model_uri


def download_model(
    model_uri: str, client: MltrailClient, dst_path: str | None = None
) -> str:
    """A local path to the model's files: the path itself for a local model (nothing is
    copied unless ``dst_path`` is given), else a download into ``dst_path`` (default: a new
    temporary directory). A URI with a path inside a model (``.../MLmodel``) may name a
    single file: it is fetched from its folder, into ``dst_path/<file>``."""
    artifact_uri = resolve_model_uri(model_uri, client)
    if is_local(artifact_uri) and dst_path is None:
        path = local_path(artifact_uri)
        if not os.path.exists(path):
            raise NotFound(f"No model at {model_uri!r}: {path!r} does not exist")
        return path
    if parse_model_uri(model_uri).path and parse_model_uri(model_uri).kind != "artifact":
        parent, _, base = artifact_uri.rstrip("/").rpartition("/")
        return client.artifact_repository_for_uri(parent).download_artifacts(base, dst_path)
    repo = client.artifact_repository_for_uri(artifact_uri)
    return repo.download_artifacts("", dst_path)
