"""``mltrail gc``: remove deleted runs and experiments for good, with their files.

What goes:

- no ids given: every deleted run and every deleted experiment (with ``--older-than``, only
  those deleted at least that long ago), each experiment with all its runs;
- ``--run-ids``: just those runs, which must be deleted;
- ``--experiment-ids``: just those experiments, which must be deleted, with all their runs.

Everything named is checked before anything is removed. A run's artifacts are deleted before
its row, so a failure leaves the row for the next gc to retry. An experiment is purged after
its runs, which frees its name.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import time
from typing import TYPE_CHECKING, Any, NamedTuple

import click

from mltrail.cli.options import open_client, split_ids, tracking_uri_option
from mltrail.cli.output import output_option, plural, print_json
from mltrail.entities import Experiment, LifecycleStage, Run, ViewType
from mltrail.errors import InvalidArgument, MltrailError
from mltrail.storage.artifacts import (
    ArtifactRepository,
    LocalArtifactRepository,
    get_artifact_repository,
)

if TYPE_CHECKING:
    from mltrail.tracking.client import MltrailClient

_UNIT_MS = {"w": 604_800_000, "d": 86_400_000, "h": 3_600_000, "m": 60_000, "s": 1_000}
_PART = re.compile(r"(\d+(?:\.\d+)?)([wdhms])")
_PAGE = 1000


class Age(NamedTuple):
    text: str
    ms: int


if TYPE_CHECKING:
    _ParamType = click.ParamType[Age]
else:  # click before 8.2 has no type parameter here
    _ParamType = click.ParamType


class AgeType(_ParamType):
    """``30d``, ``12h``, ``90m``, ``45s``, ``2w``, or combined: ``1d12h``."""

    name = "age"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Age:
        if isinstance(value, Age):
            return value
        text = str(value).strip().lower().replace(" ", "")
        total = 0.0
        position = 0
        for match in _PART.finditer(text):
            if match.start() != position:
                break
            total += float(match.group(1)) * _UNIT_MS[match.group(2)]
            position = match.end()
        if not text or position != len(text):
            self.fail(
                f"{value!r} is not an age: use a number and a unit (w, d, h, m, s), "
                "e.g. 30d, 12h, 1d12h, 90m or 45s",
                param,
                ctx,
            )
        return Age(str(value).strip(), int(total))


def now_ms() -> int:
    """The clock ``--older-than`` counts back from (tests replace it)."""
    return time.time_ns() // 1_000_000


@dataclasses.dataclass
class Plan:
    runs: list[Run]
    experiments: list[Experiment]


@click.command()
@click.option(
    "--older-than",
    type=AgeType(),
    default=None,
    help="Only what was deleted at least this long ago: 30d, 12h, 1d12h, 90m, 45s, 2w.",
)
@click.option(
    "--run-ids",
    default=None,
    metavar="ID,ID",
    help="Comma-separated deleted runs to remove [default: every deleted run].",
)
@click.option(
    "--experiment-ids",
    default=None,
    metavar="ID,ID",
    help=(
        "Comma-separated deleted experiments to remove, with all their runs "
        "[default: every deleted experiment, unless --run-ids is given]."
    ),
)
@click.option("--dry-run", is_flag=True, help="Show what would be removed; remove nothing.")
@tracking_uri_option
@output_option
def gc(
    older_than: Age | None,
    run_ids: str | None,
    experiment_ids: str | None,
    dry_run: bool,
    tracking_uri: str | None,
    output: str,
) -> None:
    """Remove deleted runs (with their files) and deleted experiments, for good."""
    client = open_client(tracking_uri)
    cutoff = None if older_than is None else now_ms() - older_than.ms
    plan = make_plan(client, split_ids(run_ids), split_ids(experiment_ids), older_than, cutoff)
    table = output != "json"
    verb = "Would remove" if dry_run else "Removed"
    for run in plan.runs:
        if not dry_run:
            purge_run(client, run)
        if table:
            click.echo(
                f"{verb} run {run.info.run_id} ({run.info.run_name}, experiment "
                f"{run.info.experiment_id}) and its artifacts at {run.info.artifact_uri}"
            )
    for experiment in plan.experiments:
        if not dry_run:
            purge_experiment(client, experiment)
        if table:
            click.echo(f"{verb} experiment {experiment.experiment_id} ({experiment.name!r})")
    if table:
        if not plan.runs and not plan.experiments:
            click.echo(f"Nothing to remove in {client.tracking_uri}")
        else:
            runs_text = plural(len(plan.runs), "run")
            experiments_text = plural(len(plan.experiments), "experiment")
            click.echo(f"{verb} {runs_text} and {experiments_text} in {client.tracking_uri}")
    else:
        print_json(
            {
                "dry_run": dry_run,
                "run_ids": [r.info.run_id for r in plan.runs],
                "experiment_ids": [e.experiment_id for e in plan.experiments],
            }
        )


def make_plan(
    client: MltrailClient,
    run_ids: list[str],
    experiment_ids: list[str],
    older_than: Age | None,
    cutoff: int | None,
) -> Plan:
    """What gc removes; raises, before anything is removed, if a named item may not go."""
    targeted = bool(run_ids or experiment_ids)
    chosen: dict[str, Run] = {}
    if run_ids:
        eligible = set(client.store.deleted_run_ids(cutoff))
        for run_id in run_ids:
            run = client.get_run(run_id)
            if run.info.lifecycle_stage != LifecycleStage.DELETED:
                raise InvalidArgument(
                    f"Run {run_id} is active; gc removes only deleted runs. "
                    f"Delete it first: mltrail runs delete --run-id {run_id}"
                )
            if run_id not in eligible:
                raise InvalidArgument(f"Run {run_id} was deleted less than {_ago(older_than)}")
            chosen[run_id] = run
    elif not targeted:
        for run_id in client.store.deleted_run_ids(cutoff):
            chosen[run_id] = client.get_run(run_id)

    experiments: list[Experiment] = []
    if experiment_ids:
        for experiment_id in experiment_ids:
            experiment = client.get_experiment(experiment_id)
            if experiment.lifecycle_stage != LifecycleStage.DELETED:
                raise InvalidArgument(
                    f"Experiment {experiment_id} ({experiment.name!r}) is active; gc removes "
                    "only deleted experiments. Delete it first: "
                    f"mltrail experiments delete --experiment-id {experiment_id}"
                )
            if not _old_enough(experiment, cutoff):
                raise InvalidArgument(
                    f"Experiment {experiment_id} was deleted less than {_ago(older_than)}"
                )
            experiments.append(experiment)
    elif not targeted:
        experiments = [e for e in _deleted_experiments(client) if _old_enough(e, cutoff)]
    for experiment in experiments:
        for run in _every_run(client, experiment.experiment_id):
            chosen.setdefault(run.info.run_id, run)
    return Plan(list(chosen.values()), experiments)


def _ago(older_than: Age | None) -> str:
    return "" if older_than is None else f"{older_than.text} ago"


def _old_enough(experiment: Experiment, cutoff: int | None) -> bool:
    # An experiment's last update is its deletion, as deleted experiments take no writes.
    return cutoff is None or (experiment.last_update_time or 0) < cutoff


def _deleted_experiments(client: MltrailClient) -> list[Experiment]:
    found: list[Experiment] = []
    token: str | None = None
    while True:
        page = client.search_experiments(ViewType.DELETED_ONLY, _PAGE, page_token=token)
        found.extend(page)
        token = page.token
        if not token:
            return found


def _every_run(client: MltrailClient, experiment_id: str) -> list[Run]:
    found: list[Run] = []
    token: str | None = None
    while True:
        page = client.search_runs(experiment_id, "", ViewType.ALL, _PAGE, None, token)
        found.extend(page)
        token = page.token
        if not token:
            return found


def purge_run(client: MltrailClient, run: Run) -> None:
    """Delete a run's artifacts, then its row (soft-deleting it first if needed)."""
    run_id = run.info.run_id
    repo = client.artifact_repository(run_id)
    repo.delete_artifacts()
    _remove_empty_run_folders(repo, run_id)
    if run.info.lifecycle_stage != LifecycleStage.DELETED:
        client.delete_run(run_id)  # a live run of a deleted experiment
    client.store.purge_run(run_id)


def purge_experiment(client: MltrailClient, experiment: Experiment) -> None:
    client.store.purge_experiment(experiment.experiment_id)
    with contextlib.suppress(MltrailError):
        repo = get_artifact_repository(experiment.artifact_location)
        if isinstance(repo, LocalArtifactRepository):
            _remove_if_empty(repo.root)


def _remove_empty_run_folders(repo: ArtifactRepository, run_id: str) -> None:
    """A local run's ``<run_id>/artifacts`` folders, once emptied, go too."""
    if not isinstance(repo, LocalArtifactRepository):
        return  # object stores have no folders to leave behind
    _remove_if_empty(repo.root)
    parent = os.path.dirname(repo.root)
    if os.path.basename(parent) == run_id:
        _remove_if_empty(parent)


def _remove_if_empty(folder: str) -> None:
    with contextlib.suppress(OSError):
        os.rmdir(folder)
