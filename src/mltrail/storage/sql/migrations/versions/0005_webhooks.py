"""Registry webhooks: the webhooks, the events each subscribes to, and every delivery made.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _webhook_id() -> "sa.Column[str]":
    return sa.Column(
        "webhook_id",
        sa.String(36),
        sa.ForeignKey("webhooks.webhook_id", ondelete="CASCADE"),
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "webhooks",
        sa.Column("webhook_id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("description", sa.String(1000), nullable=True),
        sa.Column("url", sa.String(500), nullable=False),
        sa.Column("secret", sa.String(1000), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("creation_timestamp", sa.BigInteger, nullable=False),
        sa.Column("last_updated_timestamp", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_webhooks_created", "webhooks", ["creation_timestamp"])
    op.create_table(
        "webhook_events",
        _webhook_id(),
        sa.Column("entity", sa.String(50), nullable=False),
        sa.Column("action", sa.String(50), nullable=False),
        sa.PrimaryKeyConstraint("webhook_id", "entity", "action"),
    )
    op.create_index("ix_webhook_events_event", "webhook_events", ["entity", "action"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("delivery_id", sa.String(36), primary_key=True),
        _webhook_id(),
        sa.Column("entity", sa.String(50), nullable=False),
        sa.Column("action", sa.String(50), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("response_status", sa.Integer, nullable=True),
        sa.Column("response_body", sa.Text, nullable=True),
        sa.Column("error_message", sa.Text, nullable=True),
        sa.Column("creation_timestamp", sa.BigInteger, nullable=False),
        sa.Column("last_updated_timestamp", sa.BigInteger, nullable=False),
    )
    op.create_index(
        "ix_webhook_deliveries_webhook_created",
        "webhook_deliveries",
        ["webhook_id", "creation_timestamp"],
    )


def downgrade() -> None:
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_events")
    op.drop_table("webhooks")
