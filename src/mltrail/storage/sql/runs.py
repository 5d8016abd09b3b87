"""Runs in the SQL store: their lifecycle, and loading them whole."""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from mltrail._gc import collector_paused
from mltrail.entities import (
    LifecycleStage,
    Metric,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunOutputs,
    RunStatus,
    RunTag,
)
from mltrail.entities.validation import validate_key, validate_run_id, validate_tag
from mltrail.errors import InvalidArgument, NotFound
from mltrail.storage.sql import experiments, model_links, run_rows, schema
from mltrail.storage.sql.engine import driver_cursor

RUN_NAME_TAG = "mlflow.runName"
_R = schema.runs


def create(
    conn: Connection,
    experiment_id: str,
    user_id: str,
    start_time: int,
    tags: Sequence[RunTag],
    run_name: str | None,
    generate_name: object,
) -> Run:
    experiment = experiments.require_active(conn, experiment_id)
    checked = dict(validate_tag(t.key, t.value) for t in tags)
    tagged_name = checked.get(RUN_NAME_TAG)
    if run_name and tagged_name and run_name != tagged_name:
        raise InvalidArgument(
            f"Both run_name '{run_name}' and tag {RUN_NAME_TAG}='{tagged_name}' were given "
            "and they differ"
        )
    name = run_name or tagged_name
    if not name:
        assert callable(generate_name)
        name = str(generate_name())
    name = validate_tag(RUN_NAME_TAG, name)[1]
    checked[RUN_NAME_TAG] = name
    run_id = uuid.uuid4().hex
    artifact_uri = f"{experiment.artifact_location.rstrip('/')}/{run_id}/artifacts"
    conn.execute(
        _R.insert().values(
            run_uuid=run_id,
            name=name,
            experiment_id=int(experiment_id),
            user_id=user_id,
            status=RunStatus.RUNNING.name,
            start_time=start_time,
            end_time=None,
            lifecycle_stage=LifecycleStage.ACTIVE,
            artifact_uri=artifact_uri,
        )
    )
    conn.execute(
        schema.tags.insert(),
        [{"run_uuid": run_id, "key": k, "value": v} for k, v in checked.items()],
    )
    return load(conn, [run_id])[0]


def metric_value(value: float, is_nan: bool) -> float:
    return math.nan if is_nan else float(value)


def load(conn: Connection, run_ids: Sequence[str]) -> list[Run]:
    """Whole runs for ``run_ids``, in that order; a few queries for any number of runs."""
    with collector_paused():
        return build(run_rows.fetch(conn, run_ids))


def build(rows: run_rows.RunRows) -> list[Run]:
    """Entities from a page's rows."""
    nan = math.nan
    no_metrics: list[run_rows.MetricRow] = []
    no_items: list[run_rows.ItemRow] = []
    out = []
    for run_id, experiment_id, *info in rows.infos:
        metric_objs = tuple(
            [
                Metric(key, nan if is_nan else value, timestamp, step)
                for _, key, value, is_nan, timestamp, step in rows.metrics.get(run_id, no_metrics)
            ]
        )
        data = RunData(
            metrics={m.key: m.value for m in metric_objs},
            params={key: value for _, key, value in rows.params.get(run_id, no_items)},
            tags={key: value for _, key, value in rows.tags.get(run_id, no_items)},
            metric_objs=metric_objs,
        )
        out.append(
            Run(
                RunInfo(run_id, str(experiment_id), *info),
                data,
                RunInputs(
                    tuple(rows.datasets.get(run_id, ())),
                    tuple(rows.model_inputs.get(run_id, ())),
                ),
                RunOutputs(tuple(rows.model_outputs.get(run_id, ()))),
            )
        )
    return out


def get(conn: Connection, run_id: str) -> Run:
    found = load(conn, [run_id]) if _looks_like_run_id(run_id) else []
    if not found:
        raise NotFound(f"Run with id={run_id} not found")
    return found[0]


def _looks_like_run_id(run_id: str) -> bool:
    try:
        validate_run_id(run_id)
    except InvalidArgument:
        return False
    return True


_STAGE_OF_RUN = "SELECT lifecycle_stage FROM runs WHERE run_uuid = {}"


def require_active(conn: Connection, run_id: str) -> None:
    """Writes go to runs that exist and are not deleted (finished runs take writes)."""
    stage = None
    if _looks_like_run_id(run_id):
        # On the driver's cursor: every write checks its run first.
        marker = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        with driver_cursor(conn) as cursor:
            cursor.execute(_STAGE_OF_RUN.format(marker), (run_id,))
            row = cursor.fetchone()
        stage = None if row is None else row[0]
    if stage is None:
        raise NotFound(f"Run with id={run_id} not found")
    if stage != LifecycleStage.ACTIVE:
        raise InvalidArgument(
            f"The run {run_id} must be in the 'active' state. Current state is {stage}."
        )


def update(
    conn: Connection,
    run_id: str,
    status: str | None,
    end_time: int | None,
    run_name: str | None,
) -> RunInfo:
    require_active(conn, run_id)
    values: dict[str, object] = {}
    if status is not None:
        values["status"] = RunStatus.coerce(status)
    if end_time is not None:
        values["end_time"] = end_time
    if run_name:
        name = validate_tag(RUN_NAME_TAG, run_name)[1]
        values["name"] = name
        set_tags(conn, run_id, {RUN_NAME_TAG: name}, sync_name=False)
    if values:
        conn.execute(_R.update().where(_R.c.run_uuid == run_id).values(**values))
    return get(conn, run_id).info


def set_stage(conn: Connection, run_id: str, stage: str, deleted_time: int | None) -> None:
    get(conn, run_id)
    conn.execute(
        _R.update()
        .where(_R.c.run_uuid == run_id)
        .values(lifecycle_stage=stage, deleted_time=deleted_time)
    )


def set_tags(conn: Connection, run_id: str, values: dict[str, str], *, sync_name: bool) -> None:
    """Insert or overwrite tags; ``mlflow.runName`` also renames the run."""
    table = schema.tags
    keys = list(values)
    existing = {
        row[0]
        for row in conn.execute(
            sa.select(table.c.key).where(table.c.run_uuid == run_id, table.c.key.in_(keys))
        )
    }
    new = [{"run_uuid": run_id, "key": k, "value": v} for k, v in values.items() if k not in existing]
    if new:
        conn.execute(table.insert(), new)
    for key in existing:
        conn.execute(
            table.update()
            .where(table.c.run_uuid == run_id, table.c.key == key)
            .values(value=values[key])
        )
    if sync_name and RUN_NAME_TAG in values:
        conn.execute(_R.update().where(_R.c.run_uuid == run_id).values(name=values[RUN_NAME_TAG]))


def delete_tag(conn: Connection, run_id: str, key: str) -> None:
    key = validate_key(key, "tag key")
    require_active(conn, run_id)
    table = schema.tags
    result = conn.execute(table.delete().where(table.c.run_uuid == run_id, table.c.key == key))
    if result.rowcount == 0:
        raise NotFound(f"No tag with name: {key} in run with id {run_id}")


def deleted_ids(conn: Connection, older_than_ms: int | None) -> list[str]:
    query = sa.select(_R.c.run_uuid).where(_R.c.lifecycle_stage == LifecycleStage.DELETED)
    if older_than_ms is not None:
        query = query.where(_R.c.deleted_time < older_than_ms)
    return [row[0] for row in conn.execute(query.order_by(_R.c.run_uuid))]


def purge(conn: Connection, run_id: str) -> None:
    model_links.purge_run(conn, run_id)
    series = schema.metric_series
    conn.execute(
        schema.metric_chunks.delete().where(
            schema.metric_chunks.c.series_id.in_(
                sa.select(series.c.series_id).where(series.c.run_uuid == run_id)
            )
        )
    )
    for table in (
        schema.input_tags,
        schema.run_inputs,
        schema.metric_series,
        schema.params,
        schema.tags,
        schema.runs,
    ):
        conn.execute(table.delete().where(table.c.run_uuid == run_id))
