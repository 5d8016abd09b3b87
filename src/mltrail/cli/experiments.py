"""``mltrail experiments``: create, list, rename, delete and restore experiments."""

from __future__ import annotations

import click

from mltrail.cli.options import (
    open_client,
    store_line,
    tracking_uri_option,
    view_option,
    view_type,
)
from mltrail.cli.output import (
    Cell,
    Column,
    Table,
    format_time,
    note,
    output_option,
    show,
    stage_cell,
)
from mltrail.entities import Experiment, LifecycleStage
from mltrail.errors import InvalidArgument


@click.group()
def experiments() -> None:
    """Create, list, rename, delete and restore experiments."""


@experiments.command("create")
@click.option("--experiment-name", "-n", required=True, help="The new experiment's name.")
@click.option(
    "--artifact-location",
    "-l",
    default=None,
    metavar="URI",
    help="Where its runs' files go [default: the store's artifact root].",
)
@tracking_uri_option
def create(experiment_name: str, artifact_location: str | None, tracking_uri: str | None) -> None:
    """Create an experiment and print its id."""
    client = open_client(tracking_uri, create=True)
    experiment_id = client.create_experiment(experiment_name, artifact_location)
    click.echo(experiment_id)
    note(f"Created experiment {experiment_name!r} with id {experiment_id} in {client.tracking_uri}")


@experiments.command("list")
@view_option("experiments")
@tracking_uri_option
@output_option
def list_experiments(view: str, tracking_uri: str | None, output: str) -> None:
    """List experiments."""
    client = open_client(tracking_uri)
    found: list[Experiment] = []
    token: str | None = None
    while True:
        page = client.search_experiments(view_type(view), max_results=1000, page_token=token)
        found.extend(page)
        token = page.token
        if not token:
            break

    def build() -> list[Table]:
        columns = [
            Column("ID", justify="right", no_wrap=True),
            Column("Name"),
            Column("Artifact location", overflow="fold"),
            Column("Created", no_wrap=True),
        ]
        if view != "active_only":
            columns.insert(2, Column("Stage"))
        table = Table(columns, empty=f"No experiments ({view.replace('_', ' ')}).")
        for experiment in found:
            row: list[Cell] = [
                experiment.experiment_id,
                experiment.name,
                experiment.artifact_location,
                format_time(experiment.creation_time),
            ]
            if view != "active_only":
                row.insert(2, stage_cell(experiment.lifecycle_stage))
            table.rows.append(row)
        table.caption = [store_line(client)]
        return [table]

    show(output, {"experiments": [e.to_dict() for e in found]}, build)


@experiments.command("rename")
@click.option("--experiment-id", required=True, help="The experiment to rename.")
@click.option("--new-name", required=True, help="Its new name.")
@tracking_uri_option
def rename(experiment_id: str, new_name: str, tracking_uri: str | None) -> None:
    """Rename an experiment."""
    client = open_client(tracking_uri)
    old_name = client.get_experiment(experiment_id).name
    client.rename_experiment(experiment_id, new_name)
    note(
        f"Renamed experiment {experiment_id} from {old_name!r} to {new_name!r} "
        f"in {client.tracking_uri}"
    )


@experiments.command("delete")
@click.option("--experiment-id", required=True, help="The experiment to delete.")
@tracking_uri_option
def delete(experiment_id: str, tracking_uri: str | None) -> None:
    """Mark an experiment deleted (with its runs); `mltrail gc` removes it for good."""
    client = open_client(tracking_uri)
    experiment = client.get_experiment(experiment_id)
    if experiment.lifecycle_stage == LifecycleStage.DELETED:
        raise InvalidArgument(
            f"Experiment {experiment_id} ({experiment.name!r}) is already deleted"
        )
    client.delete_experiment(experiment_id)
    note(
        f"Deleted experiment {experiment_id} ({experiment.name!r}) in {client.tracking_uri}; "
        "`mltrail experiments restore` brings it back, `mltrail gc` frees its name"
    )


@experiments.command("restore")
@click.option("--experiment-id", required=True, help="The deleted experiment to restore.")
@tracking_uri_option
def restore(experiment_id: str, tracking_uri: str | None) -> None:
    """Restore a deleted experiment."""
    client = open_client(tracking_uri)
    experiment = client.get_experiment(experiment_id)
    if experiment.lifecycle_stage != LifecycleStage.DELETED:
        raise InvalidArgument(f"Experiment {experiment_id} ({experiment.name!r}) is not deleted")
    client.restore_experiment(experiment_id)
    note(f"Restored experiment {experiment_id} ({experiment.name!r}) in {client.tracking_uri}")
