"""The model registry: registered models, their numbered versions, tags and aliases.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _name(table: str = "registered_models") -> "sa.Column[str]":
    # Child rows follow a rename or a delete of their model (PostgreSQL enforces these keys).
    return sa.Column(
        "name",
        sa.String(256),
        sa.ForeignKey(f"{table}.name", onupdate="CASCADE", ondelete="CASCADE"),
        primary_key=True,
    )


def upgrade() -> None:
    op.create_table(
        "registered_models",
        sa.Column("name", sa.String(256), primary_key=True),
        sa.Column("creation_timestamp", sa.BigInteger, nullable=False),
        sa.Column("last_updated_timestamp", sa.BigInteger, nullable=False),
        sa.Column("description", sa.String(5000), nullable=True),
        sa.Column("user_id", sa.String(256), nullable=True),
        sa.Column("last_version", sa.Integer, nullable=False),
    )
    op.create_table(
        "registered_model_tags",
        _name(),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "model_versions",
        _name(),
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("creation_timestamp", sa.BigInteger, nullable=False),
        sa.Column("last_updated_timestamp", sa.BigInteger, nullable=False),
        sa.Column("user_id", sa.String(256), nullable=True),
        sa.Column("current_stage", sa.String(20), nullable=False),
        sa.Column("description", sa.String(5000), nullable=True),
        sa.Column("source", sa.String(500), nullable=False),
        sa.Column("storage_location", sa.Text, nullable=False),
        sa.Column("run_id", sa.String(32), nullable=True),
        sa.Column("run_link", sa.String(500), nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("status_message", sa.String(500), nullable=True),
        sa.Column("model_id", sa.String(36), nullable=True),
    )
    op.create_index("ix_model_versions_run_id", "model_versions", ["run_id"])
    op.create_index(
        "ix_model_versions_last_updated", "model_versions", ["last_updated_timestamp"]
    )
    op.create_table(
        "model_version_tags",
        sa.Column("name", sa.String(256), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.ForeignKeyConstraint(
            ["name", "version"],
            ["model_versions.name", "model_versions.version"],
            onupdate="CASCADE",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "registered_model_aliases",
        _name(),
        sa.Column("alias", sa.String(255), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    for name in (
        "registered_model_aliases",
        "model_version_tags",
        "model_versions",
        "registered_model_tags",
        "registered_models",
    ):
        op.drop_table(name)
