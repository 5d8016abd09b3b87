"""Experiments in the SQL store."""

from __future__ import annotations

import time
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from mltrail.entities import Experiment, ExperimentTag, LifecycleStage, PagedList, ViewType
from mltrail.entities.search import (
    Comparison,
    decode_page_token,
    encode_page_token,
    parse_experiment_filter,
    parse_experiment_order_by,
)
from mltrail.entities.validation import (
    validate_experiment_id,
    validate_experiment_name,
    validate_experiment_tag,
    validate_key,
)
from mltrail.errors import AlreadyExists, InvalidArgument, NotFound
from mltrail.storage.sql import model_links, schema
from mltrail.storage.sql.predicates import string_predicate

_E = schema.experiments
_ET = schema.experiment_tags


def now_ms() -> int:
    return int(time.time() * 1000)


def create(
    conn: Connection,
    name: str,
    artifact_location: str | None,
    artifact_root: str,
    tags: Sequence[ExperimentTag],
) -> str:
    name = validate_experiment_name(name)
    checked_tags = [validate_experiment_tag(t.key, t.value) for t in tags]
    existing = conn.execute(sa.select(_E.c.lifecycle_stage).where(_E.c.name == name)).first()
    if existing is not None:
        hint = " (it is deleted: restore it, or purge it with `mltrail gc`)" if (
            existing[0] == LifecycleStage.DELETED
        ) else ""
        raise AlreadyExists(f"Experiment '{name}' already exists{hint}")
    now = now_ms()
    # The artifact location needs the id, so insert first and fill it in after.
    result = conn.execute(
        _E.insert().values(
            name=name,
            artifact_location=artifact_location or "",
            lifecycle_stage=LifecycleStage.ACTIVE,
            creation_time=now,
            last_update_time=now,
        )
    )
    assert result.inserted_primary_key is not None
    experiment_id = int(result.inserted_primary_key[0])
    if not artifact_location:
        location = f"{artifact_root.rstrip('/')}/{experiment_id}"
        conn.execute(
            _E.update().where(_E.c.experiment_id == experiment_id).values(artifact_location=location)
        )
    if checked_tags:
        conn.execute(
            _ET.insert(),
            [{"experiment_id": experiment_id, "key": k, "value": v} for k, v in checked_tags],
        )
    return str(experiment_id)


def _tags_for(conn: Connection, ids: Sequence[int]) -> dict[int, dict[str, str]]:
    out: dict[int, dict[str, str]] = {i: {} for i in ids}
    if ids:
        rows = conn.execute(sa.select(_ET).where(_ET.c.experiment_id.in_(ids)))
        for row in rows:
            out[row.experiment_id][row.key] = row.value
    return out


def _entity(row: sa.Row[tuple[object, ...]], tags: dict[str, str]) -> Experiment:
    return Experiment(
        experiment_id=str(row.experiment_id),
        name=row.name,
        artifact_location=row.artifact_location,
        lifecycle_stage=row.lifecycle_stage,
        tags=tags,
        creation_time=row.creation_time,
        last_update_time=row.last_update_time,
    )


def get(conn: Connection, experiment_id: str) -> Experiment:
    try:
        numeric = int(validate_experiment_id(experiment_id))
    except InvalidArgument:
        raise NotFound(f"No Experiment with id={experiment_id} exists") from None
    row = conn.execute(sa.select(_E).where(_E.c.experiment_id == numeric)).first()
    if row is None:
        raise NotFound(f"No Experiment with id={experiment_id} exists")
    return _entity(row, _tags_for(conn, [numeric])[numeric])


def get_by_name(conn: Connection, name: str) -> Experiment | None:
    row = conn.execute(sa.select(_E).where(_E.c.name == name)).first()
    if row is None:
        return None
    return _entity(row, _tags_for(conn, [row.experiment_id])[row.experiment_id])


def require_active(conn: Connection, experiment_id: str) -> Experiment:
    experiment = get(conn, experiment_id)
    if experiment.lifecycle_stage != LifecycleStage.ACTIVE:
        raise InvalidArgument(
            f"The experiment {experiment_id} must be in the 'active' state; "
            f"it is {experiment.lifecycle_stage}"
        )
    return experiment


def rename(conn: Connection, experiment_id: str, new_name: str) -> None:
    new_name = validate_experiment_name(new_name)
    experiment = get(conn, experiment_id)
    if experiment.lifecycle_stage != LifecycleStage.ACTIVE:
        raise InvalidArgument(f"Cannot rename the deleted experiment {experiment_id}")
    clash = conn.execute(sa.select(_E.c.experiment_id).where(_E.c.name == new_name)).first()
    if clash is not None and str(clash[0]) != experiment.experiment_id:
        raise AlreadyExists(f"Experiment '{new_name}' already exists")
    conn.execute(
        _E.update()
        .where(_E.c.experiment_id == int(experiment_id))
        .values(name=new_name, last_update_time=now_ms())
    )


def set_stage(conn: Connection, experiment_id: str, stage: str) -> None:
    get(conn, experiment_id)
    conn.execute(
        _E.update()
        .where(_E.c.experiment_id == int(experiment_id))
        .values(lifecycle_stage=stage, last_update_time=now_ms())
    )


def set_tag(conn: Connection, experiment_id: str, tag: ExperimentTag) -> None:
    key, value = validate_experiment_tag(tag.key, tag.value)
    require_active(conn, experiment_id)
    numeric = int(experiment_id)
    where = sa.and_(_ET.c.experiment_id == numeric, _ET.c.key == key)
    if conn.execute(sa.select(_ET.c.key).where(where)).first() is None:
        conn.execute(_ET.insert().values(experiment_id=numeric, key=key, value=value))
    else:
        conn.execute(_ET.update().where(where).values(value=value))


def delete_tag(conn: Connection, experiment_id: str, key: str) -> None:
    key = validate_key(key, "experiment tag key")
    require_active(conn, experiment_id)
    where = sa.and_(_ET.c.experiment_id == int(experiment_id), _ET.c.key == key)
    if conn.execute(_ET.delete().where(where)).rowcount == 0:
        raise NotFound(f"No tag with key '{key}' in experiment {experiment_id}")


def _condition(clause: Comparison) -> sa.ColumnElement[bool]:
    if clause.kind == "tag":
        tag_match = sa.select(_ET.c.key).where(
            _ET.c.experiment_id == _E.c.experiment_id, _ET.c.key == clause.key
        )
        if clause.op == "IS NULL":
            return ~tag_match.exists()
        if clause.op == "IS NOT NULL":
            return tag_match.exists()
        return tag_match.where(string_predicate(_ET.c.value, clause.op, clause.value)).exists()
    column = _E.c[clause.key]
    if clause.key == "experiment_id":
        values = clause.value if isinstance(clause.value, tuple) else (clause.value,)
        ids = [int(validate_experiment_id(str(v))) for v in values]
        if clause.op in ("IN", "="):
            return column.in_(ids)
        return column.not_in(ids)
    if clause.key in ("creation_time", "last_update_time"):
        return string_predicate(column, clause.op, clause.value)
    return string_predicate(column, clause.op, clause.value)


def search(
    conn: Connection,
    view_type: ViewType,
    max_results: int,
    filter_string: str | None,
    order_by: Sequence[str] | None,
    page_token: str | None,
) -> PagedList[Experiment]:
    offset = decode_page_token(page_token)
    stages = LifecycleStage.view_type_to_stages(view_type)
    query = sa.select(_E).where(_E.c.lifecycle_stage.in_(stages))
    for clause in parse_experiment_filter(filter_string):
        query = query.where(_condition(clause))
    ordering: list[sa.ColumnElement[object]] = []
    keys = set()
    for order in parse_experiment_order_by(order_by):
        column = _E.c[order.key]
        ordering.append(column.asc() if order.ascending else column.desc())
        keys.add(order.key)
    if "creation_time" not in keys:
        ordering.append(_E.c.creation_time.desc())
    if "experiment_id" not in keys:
        ordering.append(_E.c.experiment_id.asc())
    rows = conn.execute(query.order_by(*ordering).offset(offset).limit(max_results + 1)).all()
    more = len(rows) > max_results
    rows = rows[:max_results]
    tags = _tags_for(conn, [r.experiment_id for r in rows])
    token = encode_page_token(offset + max_results) if more else None
    return PagedList([_entity(r, tags[r.experiment_id]) for r in rows], token)


def purge(conn: Connection, experiment_id: str) -> None:
    numeric = int(validate_experiment_id(experiment_id))
    conn.execute(_ET.delete().where(_ET.c.experiment_id == numeric))
    dataset_ids = sa.select(schema.datasets.c.dataset_id).where(
        schema.datasets.c.experiment_id == numeric
    )
    conn.execute(schema.input_tags.delete().where(schema.input_tags.c.dataset_id.in_(dataset_ids)))
    conn.execute(schema.run_inputs.delete().where(schema.run_inputs.c.dataset_id.in_(dataset_ids)))
    conn.execute(schema.datasets.delete().where(schema.datasets.c.experiment_id == numeric))
    model_links.purge_experiment(conn, numeric)
    conn.execute(_E.delete().where(_E.c.experiment_id == numeric))
