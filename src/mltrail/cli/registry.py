"""``mltrail registry``: registered models, their versions, aliases and stages.

Also reachable as ``mltrail models registry``. Every command takes ``--tracking-uri`` (the
registry lives beside the runs, in a database or behind a server); ``list`` and ``show``
print tables for people or, with ``--output json``, MLflow's REST shapes for scripts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click

from mltrail.cli.options import open_client, store_line, tracking_uri_option
from mltrail.cli.output import Cell, Column, Table, format_time, note, output_option, show
from mltrail.entities.registry import SEARCH_REGISTERED_MODELS_MAX, ModelVersion, RegisteredModel
from mltrail.errors import InvalidArgument

if TYPE_CHECKING:
    from mltrail.tracking.client import MltrailClient

FC = TypeVar("FC", bound=Callable[..., Any])
STAGE_STYLES = {"Production": "green", "Staging": "yellow", "Archived": "dim"}


def _name_option(help_text: str = "The registered model.") -> Callable[[FC], FC]:
    return click.option("--name", "-n", required=True, help=help_text)


@click.group()
def registry() -> None:
    """Register models, move aliases such as champion, and browse versions."""


def _all_models(client: MltrailClient, filter_string: str | None) -> list[RegisteredModel]:
    found: list[RegisteredModel] = []
    token: str | None = None
    while True:
        page = client.search_registered_models(
            filter_string, SEARCH_REGISTERED_MODELS_MAX, page_token=token
        )
        found.extend(page)
        token = page.token
        if not token:
            return found


def _aliases(model: RegisteredModel, version: int | None = None) -> str:
    return ", ".join(
        f"@{alias}" if version is not None else f"@{alias} → v{number}"
        for alias, number in sorted(model.aliases.items())
        if version is None or number == version
    )


@registry.command("list")
@click.option("--filter", "-f", "filter_string", default=None, metavar="FILTER",
              help="MLflow's filter grammar, e.g. \"name LIKE 'fraud%'\" or \"tags.team = 'risk'\".")
@tracking_uri_option
@output_option
def list_models(filter_string: str | None, tracking_uri: str | None, output: str) -> None:
    """List registered models."""
    client = open_client(tracking_uri)
    found = _all_models(client, filter_string)

    def build() -> list[Table]:
        table = Table(
            [
                Column("Name"),
                Column("Latest", justify="right", no_wrap=True),
                Column("Aliases"),
                Column("Description"),
                Column("Updated", no_wrap=True),
            ],
            empty="No registered models.",
        )
        for model in found:
            latest = max((v.version for v in model.latest_versions), default=None)
            table.rows.append(
                [
                    model.name,
                    "-" if latest is None else f"v{latest}",
                    _aliases(model),
                    model.description or "",
                    format_time(model.last_updated_timestamp),
                ]
            )
        table.caption = [store_line(client)]
        return [table]

    show(output, {"registered_models": [m.to_dict() for m in found]}, build)


def _stage_cell(stage: str) -> Cell:
    return (stage, STAGE_STYLES.get(stage, ""))


@registry.command("show")
@_name_option()
@tracking_uri_option
@output_option
def show_model(name: str, tracking_uri: str | None, output: str) -> None:
    """Show a registered model and its versions, newest first."""
    client = open_client(tracking_uri)
    model = client.get_registered_model(name)
    versions: list[ModelVersion] = []
    token: str | None = None
    escaped = name.replace("'", "\\'")
    while True:
        page = client.search_model_versions(
            f"name = '{escaped}'", order_by=["version_number DESC"], page_token=token
        )
        versions.extend(page)
        token = page.token
        if not token:
            break

    def build() -> list[Table]:
        about = Table([Column("Field", style="bold"), Column("Value", overflow="fold")],
                      title=model.name, show_header=False)
        about.rows.append(["Description", model.description or ""])
        about.rows.append(["Aliases", _aliases(model) or "-"])
        about.rows.append(["Tags", ", ".join(f"{k}={v}" for k, v in model.tags.items()) or "-"])
        about.rows.append(["Created", format_time(model.creation_timestamp)])
        about.rows.append(["Updated", format_time(model.last_updated_timestamp)])
        table = Table(
            [
                Column("Version", justify="right", no_wrap=True),
                Column("Aliases"),
                Column("Stage", no_wrap=True),
                Column("Status", no_wrap=True),
                Column("Run", no_wrap=True),
                Column("Source", overflow="fold"),
                Column("Created", no_wrap=True),
            ],
            empty="No versions yet: `mltrail registry register` adds one.",
        )
        for version in versions:
            table.rows.append(
                [
                    str(version.version),
                    ", ".join(f"@{a}" for a in sorted(version.aliases)),
                    _stage_cell(version.current_stage.value),
                    version.status.value,
                    version.run_id or "",
                    version.source,
                    format_time(version.creation_timestamp),
                ]
            )
        table.caption = [store_line(client)]
        return [about, table]

    show(
        output,
        {
            "registered_model": model.to_dict(),
            "model_versions": [v.to_dict() for v in versions],
        },
        build,
    )


def _parse_tags(items: Sequence[str]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidArgument(f"Invalid --tag {item!r}: expected KEY=VALUE")
        tags[key] = value
    return tags


@registry.command("register")
@click.option("--model-uri", "-m", required=True, metavar="URI",
              help="The model: runs:/<run_id>/<name>, models:/<model_id>, a local folder, ...")
@_name_option("The registered model (created if it does not exist).")
@click.option("--tag", "-t", "tags", multiple=True, metavar="KEY=VALUE",
              help="A tag for the new version (repeatable).")
@click.option("--description", "-d", default=None, help="A description of the new version.")
@tracking_uri_option
def register(
    model_uri: str, name: str, tags: Sequence[str], description: str | None,
    tracking_uri: str | None,
) -> None:
    """Register a model as the next version of NAME and print the version number."""
    from mltrail.registry.register import register_model

    client = open_client(tracking_uri, create=True)
    version = register_model(model_uri, name, tags=_parse_tags(tags), client=client)
    if description:
        version = client.update_model_version(name, version.version, description)
    click.echo(version.version)


@registry.command("alias")
@_name_option()
@click.option("--alias", "-a", required=True, help="The alias, e.g. champion.")
@click.option("--version", "-v", default=None, metavar="N",
              help="The version the alias should point at (moved there if it points elsewhere).")
@click.option("--delete", is_flag=True, help="Remove the alias instead.")
@tracking_uri_option
def alias(
    name: str, alias: str, version: str | None, delete: bool, tracking_uri: str | None
) -> None:
    """Point an alias at a version (models:/NAME@ALIAS then loads it), or remove it."""
    if delete == (version is not None):
        raise InvalidArgument("Give --version to set the alias, or --delete to remove it")
    client = open_client(tracking_uri)
    if delete:
        client.delete_registered_model_alias(name, alias)
        note(f"Removed alias @{alias} from {name!r}")
        return
    assert version is not None
    previous = client.get_registered_model(name).aliases.get(alias)
    client.set_registered_model_alias(name, alias, version)
    moved = f" (it was on version {previous})" if previous not in (None, int(version)) else ""
    note(f"models:/{name}@{alias} now loads version {version}{moved}")


@registry.command("stage")
@_name_option()
@click.option("--version", "-v", required=True, metavar="N")
@click.option("--stage", "-s", required=True,
              type=click.Choice(["None", "Staging", "Production", "Archived"], case_sensitive=False))
@click.option("--archive-existing-versions", is_flag=True,
              help="Move the model's other versions in that stage to Archived.")
@tracking_uri_option
def stage(
    name: str, version: str, stage: str, archive_existing_versions: bool,
    tracking_uri: str | None,
) -> None:
    """Move a version to a stage (MLflow's deprecated stages; aliases replace them)."""
    client = open_client(tracking_uri)
    moved = client.registry_store.transition_model_version_stage(
        name, version, stage, archive_existing_versions
    )
    note(f"Version {moved.version} of {name!r} is now in stage {moved.current_stage.value}")


@registry.command("delete")
@_name_option()
@click.option("--version", "-v", default=None, metavar="N",
              help="Delete only this version (and the aliases on it).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask before deleting a whole model.")
@tracking_uri_option
def delete(name: str, version: str | None, yes: bool, tracking_uri: str | None) -> None:
    """Delete a registered model with all its versions, or one version. The model files
    stay where they were logged."""
    client = open_client(tracking_uri)
    if version is not None:
        client.delete_model_version(name, version)
        note(f"Deleted version {version} of {name!r}")
        return
    model = client.get_registered_model(name)
    if not yes:
        click.confirm(
            f"Delete registered model {name!r} with all its versions and aliases?", abort=True
        )
    client.delete_registered_model(name)
    latest = max((v.version for v in model.latest_versions), default=0)
    note(f"Deleted registered model {name!r} (latest version was {latest or 'none'})")
