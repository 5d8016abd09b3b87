"""The tables of ``mltrail runs``: the run list, with as many metric and param columns as
fit the width, and the full description of one run."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

from mltrail.cli.options import store_line
from mltrail.cli.output import (
    Cell,
    Column,
    Table,
    column_width,
    format_number,
    format_time,
    plural,
    run_duration,
    shorten,
    stage_cell,
    status_cell,
    table_width,
)
from mltrail.entities import Experiment, Run, RunStatus
from mltrail.entities.search import parse_run_filter, parse_run_order_by
from mltrail.errors import NotFound

if TYPE_CHECKING:
    from mltrail.tracking.client import MltrailClient

# How many metric and param columns `runs list` shows, and how wide their values may be.
METRIC_COLUMNS = 4
PARAM_COLUMNS = 3
VALUE_WIDTH = 18
HEADER_WIDTH = 22
NAME_WIDTH = 30


def _ranked_keys(found: Sequence[Run], kind: str, mentioned: Sequence[str]) -> list[str]:
    """Keys in the order they earn a column: those the filter or ordering name, then by how
    many runs have them, then by name."""
    counts: Counter[str] = Counter()
    for run in found:
        counts.update((run.data.metrics if kind == "metric" else run.data.params).keys())
    ordered = [k for k in dict.fromkeys(mentioned) if k in counts]
    ordered += [k for k, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    return list(dict.fromkeys(ordered))


def _mentioned(filter_string: str | None, order_by: Sequence[str], kind: str) -> list[str]:
    # The search already accepted both, so they parse.
    keys = [c.key for c in parse_run_filter(filter_string) if c.kind == kind]
    return keys + [o.key for o in parse_run_order_by(list(order_by)) if o.kind == kind]


@dataclasses.dataclass(frozen=True)
class _KeyColumn:
    header: str
    cells: list[str]


def _key_columns(
    found: Sequence[Run], kind: str, keys: Sequence[str], limit: int
) -> list[_KeyColumn]:
    columns = []
    for key in keys[:limit]:
        if kind == "metric":
            cells = [_metric(run, key) for run in found]
        else:
            cells = [shorten(run.data.params.get(key, ""), VALUE_WIDTH) for run in found]
        columns.append(_KeyColumn(shorten(f"{kind}s.{key}", HEADER_WIDTH), cells))
    return columns


def _fit(columns: Sequence[_KeyColumn], budget: int) -> list[_KeyColumn]:
    """The leading columns that fit in ``budget`` characters."""
    kept = []
    for column in columns:
        budget -= column_width(column.header, column.cells)
        if budget < 0:
            break
        kept.append(column)
    return kept


def runs_table(
    client: MltrailClient,
    chosen: Sequence[Experiment],
    found: Sequence[Run],
    token: str | None,
    filter_string: str | None,
    order_by: Sequence[str],
    view: str,
) -> Table:
    """The run list: fixed columns first, then the metric and param columns that fit."""
    several = len(chosen) > 1
    deleted_too = view != "active_only"
    fixed: list[tuple[Column, list[Cell]]] = [
        (Column("Run ID", no_wrap=True, min_width=32, style="cyan"), []),
    ]
    if several:
        fixed.append((Column("Exp", justify="right"), []))
    fixed += [
        (Column("Name", min_width=8), []),
        (Column("Status", min_width=8), []),
        (Column("Started", min_width=10), []),
        (Column("Duration", justify="right", no_wrap=True), []),
    ]
    if deleted_too:
        fixed.append((Column("Stage"), []))
    for run in found:
        info = run.info
        cells: list[Cell] = [info.run_id]
        if several:
            cells.append(info.experiment_id)
        cells += [
            shorten(info.run_name, NAME_WIDTH),
            status_cell(info.status),
            format_time(info.start_time, seconds=False),
            run_duration(info.start_time, info.end_time, info.status == RunStatus.RUNNING.name),
        ]
        if deleted_too:
            cells.append(stage_cell(info.lifecycle_stage))
        for (_, column_cells), cell in zip(fixed, cells):
            column_cells.append(cell)

    metric_keys = _ranked_keys(found, "metric", _mentioned(filter_string, order_by, "metric"))
    param_keys = _ranked_keys(found, "param", _mentioned(filter_string, order_by, "param"))
    budget = table_width() - sum(
        column_width(c.header, [_plain(x) for x in cells]) for c, cells in fixed
    )
    metric_columns = _fit(_key_columns(found, "metric", metric_keys, METRIC_COLUMNS), budget)
    budget -= sum(column_width(c.header, c.cells) for c in metric_columns)
    param_columns = _fit(_key_columns(found, "param", param_keys, PARAM_COLUMNS), budget)

    columns = [c for c, _ in fixed]
    columns += [Column(c.header, justify="right") for c in metric_columns]
    columns += [Column(c.header) for c in param_columns]
    where = ("experiments " if several else "experiment ") + ", ".join(
        f"{e.name!r} (id {e.experiment_id})" for e in chosen
    )
    qualifier = " match the filter" if filter_string else ""
    table = Table(columns, empty=f"No runs in {where}{qualifier}.")
    for index in range(len(found)):
        row = [cells[index] for _, cells in fixed]
        row += [c.cells[index] for c in (*metric_columns, *param_columns)]
        table.rows.append(row)

    summary = f"{plural(len(found), 'run')} in {where}"
    if token:
        summary += "; more exist (raise --max-results, or pass --page-token)"
    hidden = []
    if len(metric_keys) > len(metric_columns):
        hidden.append(f"{len(metric_columns)} of {len(metric_keys)} metrics")
    if len(param_keys) > len(param_columns):
        hidden.append(f"{len(param_columns)} of {len(param_keys)} params")
    if hidden:
        summary += f"; showing {' and '.join(hidden)} (all: runs describe, or --output json)"
    table.caption = [summary, store_line(client)] if found else [store_line(client)]
    return table


def _plain(cell: Cell) -> str:
    return cell[0] if isinstance(cell, tuple) else cell


def _metric(run: Run, key: str) -> str:
    value = run.data.metrics.get(key)
    return "" if value is None else format_number(value)


def describe_tables(client: MltrailClient, run: Run) -> list[Table]:
    """One run: its info, then its params, latest metrics and tags (system tags dimmed)."""
    info = run.info
    running = info.status == RunStatus.RUNNING.name
    try:
        experiment = f"{info.experiment_id} ({client.get_experiment(info.experiment_id).name})"
    except NotFound:
        experiment = info.experiment_id
    overview = Table(
        [Column("Field", style="bold"), Column("Value", overflow="fold")], show_header=False
    )
    overview.title = f"Run {info.run_id}"
    overview.rows = [
        ["Name", info.run_name],
        ["Experiment", experiment],
        ["Status", status_cell(info.status)],
        ["Stage", stage_cell(info.lifecycle_stage)],
        ["User", info.user_id],
        ["Started", format_time(info.start_time)],
        ["Ended", format_time(info.end_time)],
        ["Duration", run_duration(info.start_time, info.end_time, running)],
        ["Artifact URI", info.artifact_uri],
    ]
    params = Table(
        [Column("Param"), Column("Value", overflow="fold")], title="Params", empty="No params."
    )
    params.rows = [[k, v] for k, v in sorted(run.data.params.items())]
    metrics = Table(
        [Column("Metric"), Column("Latest", justify="right"), Column("Step", justify="right")],
        title="Metrics",
        empty="No metrics.",
    )
    steps = {m.key: str(m.step) for m in run.data.metric_objs}
    metrics.rows = [
        [k, format_number(v), steps.get(k, "")] for k, v in sorted(run.data.metrics.items())
    ]
    tags = Table([Column("Tag"), Column("Value", overflow="fold")], title="Tags", empty="No tags.")
    tags.rows = [
        [(k, "dim"), (v, "dim")] if k.startswith("mlflow.") else [k, v]
        for k, v in sorted(run.data.tags.items())
    ]
    tags.caption = [store_line(client)]
    return [overview, params, metrics, tags]
