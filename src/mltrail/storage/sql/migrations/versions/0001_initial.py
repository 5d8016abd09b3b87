"""The first schema: experiments, runs, params, tags, metrics, latest metrics, datasets.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "experiments",
        sa.Column("experiment_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(500), nullable=False, unique=True),
        sa.Column("artifact_location", sa.String(2000), nullable=False),
        sa.Column("lifecycle_stage", sa.String(32), nullable=False),
        sa.Column("creation_time", sa.BigInteger, nullable=False),
        sa.Column("last_update_time", sa.BigInteger, nullable=False),
        # Ids are never reused, even after a purge: artifact locations carry them.
        sqlite_autoincrement=True,
    )
    op.create_table(
        "experiment_tags",
        sa.Column(
            "experiment_id",
            sa.Integer,
            sa.ForeignKey("experiments.experiment_id"),
            primary_key=True,
        ),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "runs",
        sa.Column("run_uuid", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(250), nullable=False),
        sa.Column(
            "experiment_id",
            sa.Integer,
            sa.ForeignKey("experiments.experiment_id"),
            nullable=False,
        ),
        sa.Column("user_id", sa.String(256), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("start_time", sa.BigInteger, nullable=False),
        sa.Column("end_time", sa.BigInteger, nullable=True),
        sa.Column("deleted_time", sa.BigInteger, nullable=True),
        sa.Column("lifecycle_stage", sa.String(20), nullable=False),
        sa.Column("artifact_uri", sa.String(2000), nullable=False),
    )
    op.create_index(
        "ix_runs_experiment_start", "runs", ["experiment_id", "lifecycle_stage", "start_time"]
    )
    for name in ("params", "tags"):
        op.create_table(
            name,
            sa.Column("run_uuid", sa.String(32), sa.ForeignKey("runs.run_uuid"), primary_key=True),
            sa.Column("key", sa.String(250), primary_key=True),
            sa.Column("value", sa.Text, nullable=False),
        )
    op.create_table(
        "metric_series",
        sa.Column("series_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_uuid", sa.String(32), sa.ForeignKey("runs.run_uuid"), nullable=False),
        sa.Column("key", sa.String(250), nullable=False),
        sa.Column("value", sa.Float(53), nullable=False),
        sa.Column("is_nan", sa.Boolean, nullable=False),
        sa.Column("timestamp", sa.BigInteger, nullable=False),
        sa.Column("step", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("run_uuid", "key", name="uq_metric_series_run_key"),
    )
    op.create_index("ix_metric_series_key_value", "metric_series", ["key", "value"])
    op.create_table(
        "metrics",
        sa.Column(
            "series_id",
            sa.Integer,
            sa.ForeignKey("metric_series.series_id"),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column("step", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("timestamp", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("value", sa.Float(53), primary_key=True),
        sa.Column("is_nan", sa.Boolean, primary_key=True),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "datasets",
        sa.Column("dataset_id", sa.String(32), primary_key=True),
        sa.Column(
            "experiment_id",
            sa.Integer,
            sa.ForeignKey("experiments.experiment_id"),
            nullable=False,
        ),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("digest", sa.String(36), nullable=False),
        sa.Column("source_type", sa.String(36), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("schema", sa.Text, nullable=True),
        sa.Column("profile", sa.Text, nullable=True),
        sa.UniqueConstraint("experiment_id", "name", "digest", name="uq_datasets_name_digest"),
    )
    op.create_table(
        "run_inputs",
        sa.Column("run_uuid", sa.String(32), sa.ForeignKey("runs.run_uuid"), primary_key=True),
        sa.Column(
            "dataset_id", sa.String(32), sa.ForeignKey("datasets.dataset_id"), primary_key=True
        ),
    )
    op.create_table(
        "input_tags",
        sa.Column("run_uuid", sa.String(32), primary_key=True),
        sa.Column("dataset_id", sa.String(32), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("value", sa.String(500), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_uuid", "dataset_id"], ["run_inputs.run_uuid", "run_inputs.dataset_id"]
        ),
    )


def downgrade() -> None:
    for name in (
        "input_tags",
        "run_inputs",
        "datasets",
        "metrics",
        "metric_series",
        "tags",
        "params",
        "runs",
        "experiment_tags",
        "experiments",
    ):
        op.drop_table(name)
