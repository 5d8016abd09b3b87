"""Logged models in the SQL store: create, read, finalize, tag, search, and the metrics and
run links that point at them.

As in MLflow: a new model is ``PENDING`` in an active experiment, its files under
``<experiment artifact location>/models/<model_id>/artifacts``; deleting is soft (reads skip
deleted models unless asked, writes still reach them); params are immutable (the same value
again is accepted); metrics logged with a ``model_id`` are kept for the model as well as for
the run. Tag values may hold up to ``MAX_MODEL_TAG_VALUE_LENGTH`` characters.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from mltrail.entities import (
    LifecycleStage,
    LoggedModel,
    LoggedModelInput,
    LoggedModelOutput,
    LoggedModelStatus,
    Metric,
    PagedList,
)
from mltrail.entities.logged_model import (
    MAX_MODEL_TYPE_LENGTH,
    is_model_id,
    validate_model_id,
    validate_model_name,
)
from mltrail.entities.logged_model_search import (
    DatasetFilter,
    ModelOrderBy,
    parse_dataset_filters,
    parse_logged_model_filter,
    parse_logged_model_order_by,
)
from mltrail.entities.search import Comparison, decode_page_token, encode_page_token
from mltrail.entities.validation import (
    MAX_DATASET_DIGEST_LENGTH,
    MAX_DATASET_NAME_LENGTH,
    MAX_KEY_LENGTH,
    validate_int,
    validate_key,
    validate_metric,
    validate_param,
)
from mltrail.errors import InvalidArgument, NotFound
from mltrail.storage.sql import experiments, runs, schema
from mltrail.storage.sql import params as immutable_params
from mltrail.storage.sql.predicates import string_predicate

MAX_MODEL_TAG_VALUE_LENGTH = 100_000
_LM = schema.logged_models
_TAGS = schema.logged_model_tags
_PARAMS = schema.logged_model_params
_METRICS = schema.logged_model_metrics
_CHUNK = 500  # ids per IN (...) list, well under every backend's bound-parameter limit



def _not_found(model_id: str) -> NotFound:
    return NotFound(f"Logged model with ID '{model_id}' not found.")


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


# Validation


def _text(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise InvalidArgument(f"Invalid {field} {value!r}: must be a string")
    if "\x00" in value:
        raise InvalidArgument(f"Invalid {field}: must not contain a NUL character")
    return value


def _checked_tags(tags: Mapping[str, str] | None) -> dict[str, str]:
    checked: dict[str, str] = {}
    for key, value in (tags or {}).items():
        key = validate_key(key, "logged model tag key")
        field = f"value of logged model tag '{key}'"
        text = _text("" if value is None else value, field)
        if len(text) > MAX_MODEL_TAG_VALUE_LENGTH:
            raise InvalidArgument(
                f"Invalid {field}: {len(text)} characters, the limit is "
                f"{MAX_MODEL_TAG_VALUE_LENGTH}"
            )
        checked[key] = text
    return checked


def _checked_params(params: Mapping[str, str] | None, truncate: bool) -> dict[str, str]:
    return dict(
        validate_param(k, "" if v is None else v, truncate=truncate)
        for k, v in (params or {}).items()
    )


# Reading


def _require(conn: Connection, model_id: str) -> sa.Row[Any]:
    """The model's row, deleted or not; NotFound for an unknown or malformed id."""
    row = None
    if is_model_id(model_id):
        row = conn.execute(sa.select(_LM).where(_LM.c.model_id == model_id)).first()
    if row is None:
        raise _not_found(model_id)
    return row


def load(conn: Connection, model_ids: Sequence[str]) -> list[LoggedModel]:
    """Whole models for ``model_ids``, in that order; a few queries for any number."""
    rows: dict[str, sa.Row[Any]] = {}
    tags: dict[str, dict[str, str]] = {m: {} for m in model_ids}
    params: dict[str, dict[str, str]] = {m: {} for m in model_ids}
    metrics: dict[str, list[Metric]] = {m: [] for m in model_ids}
    m = _METRICS
    for chunk in _chunks(model_ids):
        for row in conn.execute(sa.select(_LM).where(_LM.c.model_id.in_(chunk))):
            rows[row.model_id] = row
        for table, target in ((_TAGS, tags), (_PARAMS, params)):
            for row in conn.execute(
                sa.select(table.c.model_id, table.c.key, table.c.value)
                .where(table.c.model_id.in_(chunk))
                .order_by(table.c.key)
            ):
                target[row[0]][row[1]] = row[2]
        for row in conn.execute(
            sa.select(m)
            .where(m.c.model_id.in_(chunk))
            .order_by(m.c.key, m.c.step, m.c.timestamp, m.c.run_uuid)
        ):
            metrics[row.model_id].append(
                Metric(
                    key=row.key,
                    value=runs.metric_value(row.value, row.is_nan),
                    timestamp=row.timestamp,
                    step=row.step,
                    dataset_name=row.dataset_name,
                    dataset_digest=row.dataset_digest,
                    model_id=row.model_id,
                    run_id=row.run_uuid,
                )
            )
    found = []
    for model_id in model_ids:
        model = rows.get(model_id)
        if model is None:
            continue
        found.append(
            LoggedModel(
                model_id=model.model_id,
                experiment_id=str(model.experiment_id),
                name=model.name,
                artifact_location=model.artifact_location,
                creation_timestamp=model.creation_timestamp_ms,
                last_updated_timestamp=model.last_updated_timestamp_ms,
                status=LoggedModelStatus.coerce(model.status),
                model_type=model.model_type,
                source_run_id=model.source_run_id,
                status_message=model.status_message,
                tags=tags[model_id],
                params=params[model_id],
                metrics=tuple(metrics[model_id]),
            )
        )
    return found


def get(conn: Connection, model_id: str, allow_deleted: bool = False) -> LoggedModel:
    row = _require(conn, model_id)
    if row.lifecycle_stage != LifecycleStage.ACTIVE and not allow_deleted:
        raise _not_found(model_id)
    return load(conn, [model_id])[0]


# Writing


def create(
    conn: Connection,
    experiment_id: str,
    name: str | None,
    source_run_id: str | None,
    tags: Mapping[str, str] | None,
    params: Mapping[str, str] | None,
    model_type: str | None,
    *,
    now: int,
    truncate: bool,
    generate_name: Callable[[], str],
) -> LoggedModel:
    if name is not None:
        validate_model_name(name)
    if model_type is not None:
        model_type = _text(model_type, "model_type")
        if len(model_type) > MAX_MODEL_TYPE_LENGTH:
            raise InvalidArgument(
                f"Invalid model_type: {len(model_type)} characters, the limit is "
                f"{MAX_MODEL_TYPE_LENGTH}"
            )
    checked_tags = _checked_tags(tags)
    checked_params = _checked_params(params, truncate)
    experiment = experiments.require_active(conn, str(experiment_id))
    if source_run_id:
        runs.get(conn, source_run_id)
    model_id = f"m-{uuid.uuid4().hex}"
    conn.execute(
        _LM.insert().values(
            model_id=model_id,
            experiment_id=int(experiment.experiment_id),
            name=name or generate_name(),
            artifact_location=(
                f"{experiment.artifact_location.rstrip('/')}/models/{model_id}/artifacts"
            ),
            creation_timestamp_ms=now,
            last_updated_timestamp_ms=now,
            status=LoggedModelStatus.PENDING.wire_name,
            status_message=None,
            lifecycle_stage=LifecycleStage.ACTIVE,
            model_type=model_type or None,
            source_run_id=source_run_id or None,
        )
    )
    for table, values in ((_TAGS, checked_tags), (_PARAMS, checked_params)):
        if values:
            conn.execute(
                table.insert(),
                [{"model_id": model_id, "key": k, "value": v} for k, v in values.items()],
            )
    return load(conn, [model_id])[0]


def finalize(
    conn: Connection, model_id: str, status: LoggedModelStatus | int | str, *, now: int
) -> LoggedModel:
    final = LoggedModelStatus.coerce(status)
    _require(conn, model_id)
    conn.execute(
        _LM.update()
        .where(_LM.c.model_id == model_id)
        .values(status=final.wire_name, last_updated_timestamp_ms=now)
    )
    return load(conn, [model_id])[0]


def delete(conn: Connection, model_id: str, *, now: int) -> None:
    _require(conn, model_id)
    conn.execute(
        _LM.update()
        .where(_LM.c.model_id == model_id)
        .values(lifecycle_stage=LifecycleStage.DELETED, last_updated_timestamp_ms=now)
    )


def set_tags(conn: Connection, model_id: str, tags: Mapping[str, str]) -> None:
    checked = _checked_tags(tags)
    _require(conn, model_id)
    if not checked:
        return
    existing = {
        row[0]
        for row in conn.execute(
            sa.select(_TAGS.c.key).where(_TAGS.c.model_id == model_id, _TAGS.c.key.in_(list(checked)))
        )
    }
    new = [{"model_id": model_id, "key": k, "value": v} for k, v in checked.items() if k not in existing]
    if new:
        conn.execute(_TAGS.insert(), new)
    for key in existing:
        conn.execute(
            _TAGS.update()
            .where(_TAGS.c.model_id == model_id, _TAGS.c.key == key)
            .values(value=checked[key])
        )


def delete_tag(conn: Connection, model_id: str, key: str) -> None:
    _require(conn, model_id)
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH:
        raise NotFound(f"No tag with key {key!r} found for model with ID {model_id!r}.")
    result = conn.execute(
        _TAGS.delete().where(_TAGS.c.model_id == model_id, _TAGS.c.key == key)
    )
    if result.rowcount == 0:
        raise NotFound(f"No tag with key {key!r} found for model with ID {model_id!r}.")


def log_params(
    conn: Connection, model_id: str, params: Mapping[str, str], *, truncate: bool
) -> None:
    checked = _checked_params(params, truncate)
    _require(conn, model_id)
    if not checked:
        return
    immutable_params.insert_once(conn, _PARAMS, "model_id", model_id, "logged model", checked)


def _require_models(conn: Connection, model_ids: Iterable[str]) -> None:
    wanted = sorted({validate_model_id(m) for m in model_ids})
    found: set[str] = set()
    for chunk in _chunks(wanted):
        found.update(
            row[0] for row in conn.execute(sa.select(_LM.c.model_id).where(_LM.c.model_id.in_(chunk)))
        )
    missing = [m for m in wanted if m not in found]
    if missing:
        raise _not_found(missing[0])


def log_outputs(conn: Connection, run_id: str, models: Sequence[LoggedModelOutput]) -> None:
    """Link ``models`` to the run as its outputs; linking again changes nothing."""
    checked = {(m.model_id, validate_int(m.step, "step")) for m in models}
    runs.require_active(conn, run_id)
    _require_models(conn, (model_id for model_id, _ in checked))
    table = schema.run_model_outputs
    for model_id, step in sorted(checked):
        exists = conn.execute(
            sa.select(table.c.run_uuid).where(
                table.c.run_uuid == run_id, table.c.model_id == model_id, table.c.step == step
            )
        ).first()
        if exists is None:
            conn.execute(table.insert().values(run_uuid=run_id, model_id=model_id, step=step))


def log_inputs(conn: Connection, run_id: str, models: Sequence[LoggedModelInput]) -> None:
    """Link ``models`` to the run as its inputs; linking again changes nothing."""
    model_ids = sorted({m.model_id for m in models})
    runs.require_active(conn, run_id)
    _require_models(conn, model_ids)
    table = schema.run_model_inputs
    for model_id in model_ids:
        exists = conn.execute(
            sa.select(table.c.run_uuid).where(
                table.c.run_uuid == run_id, table.c.model_id == model_id
            )
        ).first()
        if exists is None:
            conn.execute(table.insert().values(run_uuid=run_id, model_id=model_id))


_MODEL_METRIC_INSERT = sa.text(
    "INSERT INTO logged_model_metrics "
    "(model_id, key, timestamp, step, run_uuid, value, is_nan, dataset_name, dataset_digest) "
    "VALUES (:model_id, :key, :timestamp, :step, :run_uuid, :value, :is_nan, "
    ":dataset_name, :dataset_digest) "
    "ON CONFLICT (model_id, key, timestamp, step, run_uuid) DO NOTHING"
)


def log_model_metrics(conn: Connection, run_id: str, metrics: Sequence[Metric]) -> None:
    """Keep the points of ``metrics`` that carry a ``model_id`` for their models too.

    The run keeps every point as well: MLflow's ``log_model`` logs the run's metrics again
    with the new model's id, and the run's history shows such a repeated point once.
    """
    model_points = [m for m in metrics if m.model_id]
    if not model_points:
        return
    for metric in model_points:
        if metric.dataset_name is not None and len(metric.dataset_name) > MAX_DATASET_NAME_LENGTH:
            raise InvalidArgument(
                f"Invalid dataset_name of metric '{metric.key}': the limit is "
                f"{MAX_DATASET_NAME_LENGTH} characters"
            )
        if (
            metric.dataset_digest is not None
            and len(metric.dataset_digest) > MAX_DATASET_DIGEST_LENGTH
        ):
            raise InvalidArgument(
                f"Invalid dataset_digest of metric '{metric.key}': the limit is "
                f"{MAX_DATASET_DIGEST_LENGTH} characters"
            )
    _require_models(conn, (str(m.model_id) for m in model_points))
    rows = []
    for metric in model_points:
        key, value, timestamp, step = validate_metric(
            metric.key, metric.value, metric.timestamp, metric.step
        )
        nan = value != value
        rows.append(
            {
                "model_id": metric.model_id,
                "key": key,
                "timestamp": timestamp,
                "step": step,
                "run_uuid": run_id,
                "value": 0.0 if nan else value,
                "is_nan": nan,
                "dataset_name": metric.dataset_name,
                "dataset_digest": metric.dataset_digest,
            }
        )
    conn.execute(_MODEL_METRIC_INSERT, rows)


# Search


def _status_values(
    value: float | str | tuple[str, ...] | None,
) -> str | tuple[str, ...]:
    if isinstance(value, tuple):
        return tuple(LoggedModelStatus.coerce(v).wire_name for v in value)
    return LoggedModelStatus.coerce(str(value)).wire_name


def _dataset_match(table: Any, datasets: Sequence[DatasetFilter]) -> sa.ColumnElement[bool]:
    options = []
    for dataset in datasets:
        match = table.c.dataset_name == dataset.name
        if dataset.digest is not None:
            match = sa.and_(match, table.c.dataset_digest == dataset.digest)
        options.append(match)
    return sa.or_(*options)


def _condition(clause: Comparison, datasets: Sequence[DatasetFilter]) -> sa.ColumnElement[bool]:
    if clause.kind == "metric":
        m = _METRICS.alias("filter_metric")
        query = sa.select(m.c.model_id).where(
            m.c.model_id == _LM.c.model_id,
            m.c.key == clause.key,
            m.c.is_nan == sa.false(),
            string_predicate(m.c.value, clause.op, clause.value),
        )
        if datasets:
            query = query.where(_dataset_match(m, datasets))
        return query.exists()
    if clause.kind in ("param", "tag"):
        table = _PARAMS if clause.kind == "param" else _TAGS
        match = sa.select(table.c.key).where(
            table.c.model_id == _LM.c.model_id, table.c.key == clause.key
        )
        if clause.op == "IS NULL":
            return ~match.exists()
        if clause.op == "IS NOT NULL":
            return match.exists()
        return match.where(string_predicate(table.c.value, clause.op, clause.value)).exists()
    value = clause.value
    if clause.key == "status" and clause.op in ("=", "!=", "IN", "NOT IN"):
        value = _status_values(value)
    return string_predicate(_LM.c[clause.key], clause.op, value)


def _latest_metric(order: ModelOrderBy) -> sa.ScalarSelect[Any]:
    m = _METRICS.alias("order_metric")
    query = sa.select(sa.case((m.c.is_nan == sa.true(), sa.null()), else_=m.c.value)).where(
        m.c.model_id == _LM.c.model_id, m.c.key == order.key
    )
    if order.dataset_name is not None:
        query = query.where(m.c.dataset_name == order.dataset_name)
    if order.dataset_digest is not None:
        query = query.where(m.c.dataset_digest == order.dataset_digest)
    return (
        query.order_by(m.c.timestamp.desc(), m.c.step.desc(), m.c.run_uuid.asc())
        .limit(1)
        .scalar_subquery()
    )


def _ordering(orders: Sequence[ModelOrderBy]) -> list[sa.ColumnElement[Any]]:
    ordering: list[sa.ColumnElement[Any]] = []
    for order in orders:
        column: sa.ColumnElement[Any] = (
            _LM.c[order.key] if order.kind == "attribute" else _latest_metric(order)
        )
        # Models without the value (or whose latest point is NaN) sort last either way.
        ordering.append(sa.case((column.is_(None), 1), else_=0))
        ordering.append(column.asc() if order.ascending else column.desc())
    keys = {(o.kind, o.key) for o in orders}
    if ("attribute", "creation_timestamp_ms") not in keys:
        ordering.append(_LM.c.creation_timestamp_ms.desc())
    if ("attribute", "model_id") not in keys:
        ordering.append(_LM.c.model_id.asc())
    return ordering


def search(
    conn: Connection,
    experiment_ids: Sequence[str],
    filter_string: str | None,
    datasets: Sequence[Mapping[str, Any]] | None,
    max_results: int,
    order_by: Sequence[Mapping[str, Any]] | None,
    page_token: str | None,
) -> PagedList[LoggedModel]:
    clauses = parse_logged_model_filter(filter_string)
    dataset_filters = parse_dataset_filters(datasets)
    orders = parse_logged_model_order_by(order_by)
    offset = decode_page_token(page_token)
    ids = [int(i) for i in experiment_ids if str(i).isdigit()]
    if not ids:
        return PagedList([], None)
    query = sa.select(_LM.c.model_id).where(
        _LM.c.experiment_id.in_(ids), _LM.c.lifecycle_stage == LifecycleStage.ACTIVE
    )
    for clause in clauses:
        query = query.where(_condition(clause, dataset_filters))
    if dataset_filters and not any(c.kind == "metric" for c in clauses):
        m = _METRICS.alias("dataset_metric")
        query = query.where(
            sa.select(m.c.model_id)
            .where(m.c.model_id == _LM.c.model_id, _dataset_match(m, dataset_filters))
            .exists()
        )
    query = query.order_by(*_ordering(orders)).offset(offset).limit(max_results + 1)
    model_ids = [row[0] for row in conn.execute(query)]
    token = None
    if len(model_ids) > max_results:
        model_ids = model_ids[:max_results]
        token = encode_page_token(offset + max_results)
    return PagedList(load(conn, model_ids), token)
