"""``mltrail runs``: list, describe, delete and restore runs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from mltrail.cli.options import open_client, tracking_uri_option, view_option, view_type
from mltrail.cli.output import note, output_option, show
from mltrail.cli.run_tables import describe_tables, runs_table
from mltrail.entities import Experiment, LifecycleStage
from mltrail.errors import InvalidArgument, NotFound
from mltrail.settings import Settings

if TYPE_CHECKING:
    from mltrail.tracking.client import MltrailClient


@click.group()
def runs() -> None:
    """List, describe, delete and restore runs."""


@runs.command("list")
@click.option(
    "--experiment-id",
    "experiment_ids",
    multiple=True,
    help=(
        "Experiment whose runs to list (repeatable) [default: MLTRAIL_EXPERIMENT_NAME "
        "or MLTRAIL_EXPERIMENT_ID, else 0, the Default experiment]."
    ),
)
@click.option(
    "--experiment-name",
    "experiment_names",
    multiple=True,
    help="Experiment by name (repeatable); combines with --experiment-id.",
)
@click.option(
    "--filter", "filter_string", default=None, help='A search filter, e.g. "metrics.acc > 0.9".'
)
@click.option(
    "--order-by",
    multiple=True,
    help='Sort key, e.g. "metrics.acc DESC" (repeatable) [default: newest first].',
)
@click.option(
    "--max-results",
    type=click.IntRange(1, 50_000),
    default=1000,
    show_default=True,
    help="How many runs to show.",
)
@click.option(
    "--page-token", default=None, help="Continue after a page (next_page_token in the JSON)."
)
@view_option("runs")
@tracking_uri_option
@output_option
def list_runs(
    experiment_ids: tuple[str, ...],
    experiment_names: tuple[str, ...],
    filter_string: str | None,
    order_by: tuple[str, ...],
    max_results: int,
    page_token: str | None,
    view: str,
    tracking_uri: str | None,
    output: str,
) -> None:
    """List the runs of experiments, with their main metrics and params."""
    client = open_client(tracking_uri)
    chosen = _experiments(client, experiment_ids, experiment_names)
    found = client.search_runs(
        [e.experiment_id for e in chosen],
        filter_string or "",
        view_type(view),
        max_results,
        list(order_by) or None,
        page_token,
    )
    payload: dict[str, object] = {"runs": [r.to_dict() for r in found]}
    if found.token:
        payload["next_page_token"] = found.token
    show(
        output,
        payload,
        lambda: [
            runs_table(client, chosen, found, found.token, filter_string, order_by, view)
        ],
    )


def _experiments(
    client: MltrailClient, ids: Sequence[str], names: Sequence[str]
) -> list[Experiment]:
    """The experiments named on the command line, checked; the default one when none is."""
    if not ids and not names:
        settings = Settings.from_env()
        if settings.experiment_name:
            names = [settings.experiment_name]
        else:
            ids = [settings.experiment_id or "0"]
    chosen: dict[str, Experiment] = {}
    for experiment_id in ids:
        experiment = client.get_experiment(experiment_id)
        chosen[experiment.experiment_id] = experiment
    for name in names:
        found = client.get_experiment_by_name(name)
        if found is None:
            raise NotFound(f"No experiment named {name!r}")
        chosen[found.experiment_id] = found
    return list(chosen.values())


@runs.command("describe")
@click.option("--run-id", required=True, help="The run to show.")
@tracking_uri_option
@output_option
def describe(run_id: str, tracking_uri: str | None, output: str) -> None:
    """Show a run: its info, params, latest metrics and tags."""
    client = open_client(tracking_uri)
    run = client.get_run(run_id)
    show(output, run.to_dict(), lambda: describe_tables(client, run))


@runs.command("delete")
@click.option("--run-id", required=True, help="The run to delete.")
@tracking_uri_option
def delete(run_id: str, tracking_uri: str | None) -> None:
    """Mark a run deleted; `mltrail gc` removes it and its files for good."""
    client = open_client(tracking_uri)
    run = client.get_run(run_id)
    if run.info.lifecycle_stage == LifecycleStage.DELETED:
        raise InvalidArgument(f"Run {run_id} is already deleted")
    client.delete_run(run_id)
    note(
        f"Deleted run {run_id} ({run.info.run_name}) in {client.tracking_uri}; "
        "`mltrail runs restore` brings it back"
    )


@runs.command("restore")
@click.option("--run-id", required=True, help="The deleted run to restore.")
@tracking_uri_option
def restore(run_id: str, tracking_uri: str | None) -> None:
    """Restore a deleted run."""
    client = open_client(tracking_uri)
    run = client.get_run(run_id)
    if run.info.lifecycle_stage != LifecycleStage.DELETED:
        raise InvalidArgument(f"Run {run_id} is not deleted")
    client.restore_run(run_id)
    note(f"Restored run {run_id} ({run.info.run_name}) in {client.tracking_uri}")

