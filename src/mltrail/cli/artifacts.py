"""``mltrail artifacts``: list, download and log a run's files."""

from __future__ import annotations

import posixpath

import click

from mltrail.cli.options import open_client, store_line, tracking_uri_option
from mltrail.cli.output import Column, Table, format_size, note, output_option, show
from mltrail.errors import InvalidArgument
from mltrail.settings import Settings


@click.group()
def artifacts() -> None:
    """List, download and log the files of runs."""


@artifacts.command("list")
@click.option("--run-id", required=True, help="The run whose files to list.")
@click.option(
    "--artifact-path", default=None, help="A folder inside the run's artifacts [default: root]."
)
@tracking_uri_option
@output_option
def list_artifacts(
    run_id: str, artifact_path: str | None, tracking_uri: str | None, output: str
) -> None:
    """List the files and folders directly under an artifact path."""
    client = open_client(tracking_uri)
    root_uri = client.artifact_repository(run_id).artifact_uri
    files = client.list_artifacts(run_id, artifact_path)

    def build() -> list[Table]:
        where = posixpath.join(root_uri, artifact_path) if artifact_path else root_uri
        table = Table(
            [Column("Path", overflow="fold"), Column("Size", justify="right", no_wrap=True)],
            empty=f"No artifacts under {where}",
        )
        table.rows = [
            [f"{f.path}/" if f.is_dir else f.path, "" if f.is_dir else format_size(f.file_size)]
            for f in files
        ]
        table.caption = [f"Artifact root: {root_uri}", store_line(client)]
        return [table]

    show(output, {"root_uri": root_uri, "files": [f.to_dict() for f in files]}, build)


@artifacts.command("download")
@click.option("--run-id", default=None, help="The run whose files to download.")
@click.option(
    "--artifact-path", default=None, help="A file or folder in the run [default: everything]."
)
@click.option(
    "--artifact-uri",
    default=None,
    metavar="URI",
    help="Instead of --run-id/--artifact-path: runs:/<run_id>/<path>, or any artifact URI.",
)
@click.option(
    "--dst-path",
    type=click.Path(file_okay=False),
    default=None,
    help="Local folder to download into [default: a new temporary folder].",
)
@tracking_uri_option
def download(
    run_id: str | None,
    artifact_path: str | None,
    artifact_uri: str | None,
    dst_path: str | None,
    tracking_uri: str | None,
) -> None:
    """Download a run's file or folder and print its local path."""
    if artifact_uri is not None:
        if run_id is not None or artifact_path is not None:
            raise click.UsageError(
                "Give --artifact-uri, or --run-id with --artifact-path; not both"
            )
        if not artifact_uri.startswith("runs:/"):
            click.echo(_download_uri(artifact_uri, dst_path))
            return
        run_id, _, artifact_path = artifact_uri[len("runs:/") :].lstrip("/").partition("/")
        if not run_id:
            raise InvalidArgument(
                f"Invalid artifact URI {artifact_uri!r}: expected runs:/<run_id>/<path>"
            )
    elif run_id is None:
        raise click.UsageError("Missing option '--run-id' (or '--artifact-uri')")
    client = open_client(tracking_uri)
    local = client.download_artifacts(run_id, artifact_path or "", dst_path)
    click.echo(local)
    what = repr(artifact_path) if artifact_path else "all artifacts"
    note(f"Downloaded {what} of run {run_id} (store: {client.tracking_uri})")


def _download_uri(artifact_uri: str, dst_path: str | None) -> str:
    """Download what an artifact URI (``s3://b/k``, ``file:///d/f``) names, file or folder."""
    from mltrail.storage.artifacts import get_artifact_repository

    trimmed = artifact_uri.rstrip("/")
    parent, _, name = trimmed.rpartition("/")
    if not name or parent.endswith(":") or parent.endswith(":/"):
        raise InvalidArgument(f"Invalid artifact URI {artifact_uri!r}: it names no file or folder")
    settings = Settings.from_env()
    repo = get_artifact_repository(parent, s3_endpoint_url=settings.s3_endpoint_url)
    return repo.download_artifacts(name, dst_path)


@artifacts.command("log-artifact")
@click.option(
    "--local-file",
    required=True,
    type=click.Path(exists=True),
    help="The file (or folder) to upload.",
)
@click.option("--run-id", required=True, help="The run to attach it to.")
@click.option(
    "--artifact-path", default=None, help="A folder inside the run's artifacts [default: root]."
)
@tracking_uri_option
def log_artifact(
    local_file: str, run_id: str, artifact_path: str | None, tracking_uri: str | None
) -> None:
    """Upload a local file (or folder) to a run's artifacts."""
    client = open_client(tracking_uri)
    client.log_artifact(run_id, local_file, artifact_path)
    root = client.artifact_repository(run_id).artifact_uri
    name = posixpath.basename(local_file.rstrip("/\\").replace("\\", "/"))
    target = posixpath.join(root, *([artifact_path] if artifact_path else []), name)
    note(f"Logged {local_file} to {target}")
