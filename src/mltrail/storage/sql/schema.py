"""The tables of the SQL store, in SQLAlchemy Core. Alembic's migrations create them.

Ids: experiments have integer ids (exposed as strings), runs 32-hex ids. Times are
milliseconds since the epoch. A metric's NaN is stored as value 0 with ``is_nan`` set, since
SQLite turns NaN into NULL; the infinities are stored as they are.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

experiments = sa.Table(
    "experiments",
    metadata,
    sa.Column("experiment_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(500), nullable=False, unique=True),
    sa.Column("artifact_location", sa.String(2000), nullable=False),
    sa.Column("lifecycle_stage", sa.String(32), nullable=False),
    sa.Column("creation_time", sa.BigInteger, nullable=False),
    sa.Column("last_update_time", sa.BigInteger, nullable=False),
    # Ids are never reused, even after a purge: artifact locations carry them.
    sqlite_autoincrement=True,
)

experiment_tags = sa.Table(
    "experiment_tags",
    metadata,
    sa.Column(
        "experiment_id",
        sa.Integer,
        sa.ForeignKey("experiments.experiment_id"),
        primary_key=True,
    ),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("run_uuid", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(250), nullable=False),
    sa.Column(
        "experiment_id", sa.Integer, sa.ForeignKey("experiments.experiment_id"), nullable=False
    ),
    sa.Column("user_id", sa.String(256), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("start_time", sa.BigInteger, nullable=False),
    sa.Column("end_time", sa.BigInteger, nullable=True),
    sa.Column("deleted_time", sa.BigInteger, nullable=True),
    sa.Column("lifecycle_stage", sa.String(20), nullable=False),
    sa.Column("artifact_uri", sa.String(2000), nullable=False),
    sa.Index("ix_runs_experiment_start", "experiment_id", "lifecycle_stage", "start_time"),
)

params = sa.Table(
    "params",
    metadata,
    sa.Column("run_uuid", sa.String(32), sa.ForeignKey("runs.run_uuid"), primary_key=True),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

tags = sa.Table(
    "tags",
    metadata,
    sa.Column("run_uuid", sa.String(32), sa.ForeignKey("runs.run_uuid"), primary_key=True),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

# One row per (run, metric key): the series' id and its latest point, which search reads.
metric_series = sa.Table(
    "metric_series",
    metadata,
    sa.Column("series_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_uuid", sa.String(32), sa.ForeignKey("runs.run_uuid"), nullable=False),
    sa.Column("key", sa.String(250), nullable=False),
    sa.Column("value", sa.Float(53), nullable=False),
    sa.Column("is_nan", sa.Boolean, nullable=False),
    sa.Column("timestamp", sa.BigInteger, nullable=False),
    sa.Column("step", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("run_uuid", "key", name="uq_metric_series_run_key"),
    sa.Index("ix_metric_series_key_value", "key", "value"),
)

# Every point, packed: one row per series per logged batch (see ``points.py``). The
# arrays are little-endian int64 (steps, timestamps) and float64 (values).
metric_chunks = sa.Table(
    "metric_chunks",
    metadata,
    sa.Column("chunk_id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column(
        "series_id", sa.Integer, sa.ForeignKey("metric_series.series_id"), nullable=False
    ),
    sa.Column("n_points", sa.Integer, nullable=False),
    sa.Column("min_step", sa.BigInteger, nullable=False),
    sa.Column("max_step", sa.BigInteger, nullable=False),
    sa.Column("steps", sa.LargeBinary, nullable=False),
    sa.Column("timestamps", sa.LargeBinary, nullable=False),
    sa.Column("metric_values", sa.LargeBinary, nullable=False),
    sa.Index("ix_metric_chunks_series", "series_id", "chunk_id"),
)

datasets = sa.Table(
    "datasets",
    metadata,
    sa.Column("dataset_id", sa.String(32), primary_key=True),
    sa.Column(
        "experiment_id", sa.Integer, sa.ForeignKey("experiments.experiment_id"), nullable=False
    ),
    sa.Column("name", sa.String(500), nullable=False),
    sa.Column("digest", sa.String(36), nullable=False),
    sa.Column("source_type", sa.String(36), nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("schema", sa.Text, nullable=True),
    sa.Column("profile", sa.Text, nullable=True),
    sa.UniqueConstraint("experiment_id", "name", "digest", name="uq_datasets_name_digest"),
)

run_inputs = sa.Table(
    "run_inputs",
    metadata,
    sa.Column("run_uuid", sa.String(32), sa.ForeignKey("runs.run_uuid"), primary_key=True),
    sa.Column(
        "dataset_id", sa.String(32), sa.ForeignKey("datasets.dataset_id"), primary_key=True
    ),
)

input_tags = sa.Table(
    "input_tags",
    metadata,
    sa.Column("run_uuid", sa.String(32), primary_key=True),
    sa.Column("dataset_id", sa.String(32), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("value", sa.String(500), nullable=False),
    sa.ForeignKeyConstraint(
        ["run_uuid", "dataset_id"], ["run_inputs.run_uuid", "run_inputs.dataset_id"]
    ),
)

# Logged models (MLflow 3), revision 0002. Their ids are ``m-<32 hex>``; ``status`` holds the
# wire name (``LOGGED_MODEL_READY``). Rows that name a run carry its id without a foreign key,
# and are removed with the run when it is purged.

logged_models = sa.Table(
    "logged_models",
    metadata,
    sa.Column("model_id", sa.String(36), primary_key=True),
    sa.Column(
        "experiment_id", sa.Integer, sa.ForeignKey("experiments.experiment_id"), nullable=False
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
    sa.Index(
        "ix_logged_models_experiment_created",
        "experiment_id",
        "lifecycle_stage",
        "creation_timestamp_ms",
    ),
    sa.Index("ix_logged_models_source_run", "source_run_id"),
)

logged_model_tags = sa.Table(
    "logged_model_tags",
    metadata,
    sa.Column(
        "model_id", sa.String(36), sa.ForeignKey("logged_models.model_id"), primary_key=True
    ),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

logged_model_params = sa.Table(
    "logged_model_params",
    metadata,
    sa.Column(
        "model_id", sa.String(36), sa.ForeignKey("logged_models.model_id"), primary_key=True
    ),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

# Every point a run logged with a model_id (the run's own ``metrics`` rows hold it as well).
logged_model_metrics = sa.Table(
    "logged_model_metrics",
    metadata,
    sa.Column(
        "model_id", sa.String(36), sa.ForeignKey("logged_models.model_id"), primary_key=True
    ),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("timestamp", sa.BigInteger, primary_key=True),
    sa.Column("step", sa.BigInteger, primary_key=True),
    sa.Column("run_uuid", sa.String(32), primary_key=True),
    sa.Column("value", sa.Float(53), nullable=False),
    sa.Column("is_nan", sa.Boolean, nullable=False),
    sa.Column("dataset_name", sa.String(500), nullable=True),
    sa.Column("dataset_digest", sa.String(36), nullable=True),
    sa.Index("ix_logged_model_metrics_run", "run_uuid"),
)

# Runs' model outputs (log_model) and model inputs (log_inputs with models).
run_model_outputs = sa.Table(
    "run_model_outputs",
    metadata,
    sa.Column("run_uuid", sa.String(32), primary_key=True),
    sa.Column(
        "model_id", sa.String(36), sa.ForeignKey("logged_models.model_id"), primary_key=True
    ),
    sa.Column("step", sa.BigInteger, primary_key=True),
)

run_model_inputs = sa.Table(
    "run_model_inputs",
    metadata,
    sa.Column("run_uuid", sa.String(32), primary_key=True),
    sa.Column(
        "model_id", sa.String(36), sa.ForeignKey("logged_models.model_id"), primary_key=True
    ),
)

# Registry webhooks (migration 0005): a webhook, the events it subscribes to (one row each,
# so the dispatcher finds an event's webhooks by index), and every delivery made to it, with
# its attempts and outcome. The secret is kept to sign deliveries and never returned.
webhooks = sa.Table(
    "webhooks",
    metadata,
    sa.Column("webhook_id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("description", sa.String(1000), nullable=True),
    sa.Column("url", sa.String(500), nullable=False),
    sa.Column("secret", sa.String(1000), nullable=True),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("creation_timestamp", sa.BigInteger, nullable=False),
    sa.Column("last_updated_timestamp", sa.BigInteger, nullable=False),
    sa.Index("ix_webhooks_created", "creation_timestamp"),
)

webhook_events = sa.Table(
    "webhook_events",
    metadata,
    sa.Column(
        "webhook_id",
        sa.String(36),
        sa.ForeignKey("webhooks.webhook_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("entity", sa.String(50), primary_key=True),
    sa.Column("action", sa.String(50), primary_key=True),
    sa.Index("ix_webhook_events_event", "entity", "action"),
)

webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("delivery_id", sa.String(36), primary_key=True),
    sa.Column(
        "webhook_id",
        sa.String(36),
        sa.ForeignKey("webhooks.webhook_id", ondelete="CASCADE"),
        nullable=False,
    ),
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
    sa.Index("ix_webhook_deliveries_webhook_created", "webhook_id", "creation_timestamp"),
)

# The model registry, revision 0004. A registered model's name is its key; its versions are
# numbered from 1 by ``last_version``, which only grows, so a deleted version's number is
# never given again (as in MLflow). Child rows follow a rename and a delete: PostgreSQL by
# its cascading foreign keys, SQLite (which does not enforce them) by the store's own updates.


def _model_name() -> sa.Column[str]:
    return sa.Column(
        "name",
        sa.String(256),
        sa.ForeignKey("registered_models.name", onupdate="CASCADE", ondelete="CASCADE"),
        primary_key=True,
    )

registered_models = sa.Table(
    "registered_models",
    metadata,
    sa.Column("name", sa.String(256), primary_key=True),
    sa.Column("creation_timestamp", sa.BigInteger, nullable=False),
    sa.Column("last_updated_timestamp", sa.BigInteger, nullable=False),
    sa.Column("description", sa.String(5000), nullable=True),
    sa.Column("user_id", sa.String(256), nullable=True),
    sa.Column("last_version", sa.Integer, nullable=False),
)

registered_model_tags = sa.Table(
    "registered_model_tags",
    metadata,
    _model_name(),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

model_versions = sa.Table(
    "model_versions",
    metadata,
    _model_name(),
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("creation_timestamp", sa.BigInteger, nullable=False),
    sa.Column("last_updated_timestamp", sa.BigInteger, nullable=False),
    sa.Column("user_id", sa.String(256), nullable=True),
    sa.Column("current_stage", sa.String(20), nullable=False),
    sa.Column("description", sa.String(5000), nullable=True),
    sa.Column("source", sa.String(500), nullable=False),
    # Where the files are (what get_model_version_download_uri answers), resolved once.
    sa.Column("storage_location", sa.Text, nullable=False),
    sa.Column("run_id", sa.String(32), nullable=True),
    sa.Column("run_link", sa.String(500), nullable=True),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("status_message", sa.String(500), nullable=True),
    sa.Column("model_id", sa.String(36), nullable=True),
    sa.Index("ix_model_versions_run_id", "run_id"),
    sa.Index("ix_model_versions_last_updated", "last_updated_timestamp"),
)

model_version_tags = sa.Table(
    "model_version_tags",
    metadata,
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

registered_model_aliases = sa.Table(
    "registered_model_aliases",
    metadata,
    _model_name(),
    sa.Column("alias", sa.String(255), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
)
