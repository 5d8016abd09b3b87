"""The rows that tie logged models to runs and experiments (runs' model outputs and inputs),
removed when a run or an experiment is purged. ``run_rows`` reads them with the runs.

A leaf module (it imports only the schema), so that ``runs`` and ``experiments`` can use it
while ``logged_models`` builds on both.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from mltrail.storage.sql import schema


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
