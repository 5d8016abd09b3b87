"""Logged models (MLflow 3): the models, their tags, params and metrics, and runs' model
outputs and inputs.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _model_id(primary_key: bool = True) -> "sa.Column[str]":
    return sa.Column(
        "model_id", sa.String(36), sa.ForeignKey("logged_models.model_id"), primary_key=primary_key
    )


def upgrade() -> None:
    op.create_table(
        "logged_models",
        sa.Column("model_id", sa.String(36), primary_key=True),
        sa.Column(
            "experiment_id",
            sa.Integer,
            sa.ForeignKey("experiments.experiment_id"),
            nullable=False,
        ),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("artifact_location", sa.String(2000), nullable=False),
        sa.Column("creation_timestamp_ms", sa.BigInteger, nullable=False),
        sa.Column("last_updated_timestamp_ms", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("status_message", sa.String(1000), nullable=True),
        sa.Column("lifecycle_stage", sa.String(32), nullable=False),
        sa.Column("model_type", sa.String(500), nullable=True),
        sa.Column("source_run_id", sa.String(32), nullable=True),
    )
    op.create_index(
        "ix_logged_models_experiment_created",
        "logged_models",
        ["experiment_id", "lifecycle_stage", "creation_timestamp_ms"],
    )
    op.create_index("ix_logged_models_source_run", "logged_models", ["source_run_id"])
    for name in ("logged_model_tags", "logged_model_params"):
        op.create_table(
            name,
            _model_id(),
            sa.Column("key", sa.String(250), primary_key=True),
            sa.Column("value", sa.Text, nullable=False),
        )
    op.create_table(
        "logged_model_metrics",
        _model_id(),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("timestamp", sa.BigInteger, primary_key=True),
        sa.Column("step", sa.BigInteger, primary_key=True),
        sa.Column("run_uuid", sa.String(32), primary_key=True),
        sa.Column("value", sa.Float(53), nullable=False),
        sa.Column("is_nan", sa.Boolean, nullable=False),
        sa.Column("dataset_name", sa.String(500), nullable=True),
        sa.Column("dataset_digest", sa.String(36), nullable=True),
    )
    op.create_index("ix_logged_model_metrics_run", "logged_model_metrics", ["run_uuid"])
    op.create_table(
        "run_model_outputs",
        sa.Column("run_uuid", sa.String(32), primary_key=True),
        _model_id(),
        sa.Column("step", sa.BigInteger, primary_key=True),
    )
    op.create_table(
        "run_model_inputs",
        sa.Column("run_uuid", sa.String(32), primary_key=True),
        _model_id(),
    )


def downgrade() -> None:
    for name in (
        "run_model_inputs",
        "run_model_outputs",
        "logged_model_metrics",
        "logged_model_params",
        "logged_model_tags",
        "logged_models",
    ):
        op.drop_table(name)
