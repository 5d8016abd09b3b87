"""The rows that tie logged models to runs and experiments: runs' model outputs and inputs,
read with the runs, and removed when a run or an experiment is purged.

A leaf module (it imports only the schema), so that ``runs`` and ``experiments`` can use it
while ``logged_models`` builds on both.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from mltrail.entities import LoggedModelInput, LoggedModelOutput
from mltrail.storage.sql import schema


def load_into(
    conn: Connection,
    run_ids: Sequence[str],
    inputs: dict[str, list[LoggedModelInput]],
    outputs: dict[str, list[LoggedModelOutput]],
) -> None:
    """Fill ``inputs`` and ``outputs`` (keyed by run id) for ``run_ids``."""
    mi, mo = schema.run_model_inputs, schema.run_model_outputs
    for run_id, model_id in conn.execute(
        sa.select(mi.c.run_uuid, mi.c.model_id)
        .where(mi.c.run_uuid.in_(run_ids))
        .order_by(mi.c.model_id)
    ):
        inputs.setdefault(run_id, []).append(LoggedModelInput(model_id))
    for run_id, model_id, step in conn.execute(
        sa.select(mo.c.run_uuid, mo.c.model_id, mo.c.step)
        .where(mo.c.run_uuid.in_(run_ids))
        .order_by(mo.c.step, mo.c.model_id)
    ):
        outputs.setdefault(run_id, []).append(LoggedModelOutput(model_id, step))


def purge_run(conn: Connection, run_id: str) -> None:
    """Remove a run's links to models, and the model metrics it logged."""
    for table in (
        schema.run_model_inputs,
        schema.run_model_outputs,
        schema.logged_model_metrics,
    ):
        conn.execute(table.delete().where(table.c.run_uuid == run_id))


def purge_experiment(conn: Connection, experiment_id: int) -> None:
    """Remove an experiment's logged models with their tags, params, metrics and links."""
    lm = schema.logged_models
    model_ids = sa.select(lm.c.model_id).where(lm.c.experiment_id == experiment_id)
    for table in (
        schema.run_model_inputs,
        schema.run_model_outputs,
        schema.logged_model_metrics,
        schema.logged_model_params,
        schema.logged_model_tags,
    ):
        conn.execute(table.delete().where(table.c.model_id.in_(model_ids)))
    conn.execute(lm.delete().where(lm.c.experiment_id == experiment_id))
