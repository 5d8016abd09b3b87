"""Reading the model registry: rows into entities, single rows by key, and the two searches.

Speed matters here: a page of versions, whatever its size, is read in a constant number of
queries. One query selects the version rows; one more fetches the tags and aliases of every
model on the page (a UNION of the two tables, restricted by name and by the page's range of
version numbers). Registered models add one query for their newest version per stage.

As in MLflow, searches leave out prompts (models tagged ``mlflow.prompt.is_prompt = 'true'``)
unless the filter asks for them with that tag.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from mltrail._gc import collector_paused
from mltrail.entities import PagedList
from mltrail.entities.registry import (
    SEARCH_MODEL_VERSIONS_MAX,
    SEARCH_REGISTERED_MODELS_MAX,
    ModelVersion,
    ModelVersionStatus,
    RegisteredModel,
    Stage,
)
from mltrail.entities.registry_search import (
    parse_model_version_filter,
    parse_model_version_order_by,
    parse_registered_model_filter,
    parse_registered_model_order_by,
)
from mltrail.entities.search import Comparison, OrderBy, decode_page_token, encode_page_token
from mltrail.entities.validation import validate_max_results
from mltrail.errors import NotFound
from mltrail.storage.sql import schema
from mltrail.storage.sql.predicates import string_predicate

RM = schema.registered_models
RMT = schema.registered_model_tags
MV = schema.model_versions
MVT = schema.model_version_tags
ALIAS = schema.registered_model_aliases

IS_PROMPT_TAG_KEY = "mlflow.prompt.is_prompt"
_CHUNK = 500  # names per IN (...) list, well under every backend's bound-parameter limit
_STAGE_ORDER = {stage: index for index, stage in enumerate(Stage)}
# Stored names to members, read for every row: a dict lookup instead of ``coerce``.
_STAGES = {stage.value: stage for stage in Stage}
_STATUSES = {status.value: status for status in ModelVersionStatus}

# Every column a ModelVersion needs (not storage_location, which only the download URI reads).
MV_COLUMNS = (
    MV.c.name,
    MV.c.version,
    MV.c.creation_timestamp,
    MV.c.last_updated_timestamp,
    MV.c.user_id,
    MV.c.current_stage,
    MV.c.description,
    MV.c.source,
    MV.c.run_id,
    MV.c.run_link,
    MV.c.status,
    MV.c.status_message,
    MV.c.model_id,
)
_MV_ATTRIBUTES = {
    "name": MV.c.name,
    "run_id": MV.c.run_id,
    "source_path": MV.c.source,
    "version_number": MV.c.version,
    "creation_timestamp": MV.c.creation_timestamp,
    "last_updated_timestamp": MV.c.last_updated_timestamp,
}
_RM_ATTRIBUTES = {
    "name": RM.c.name,
    "creation_timestamp": RM.c.creation_timestamp,
    "last_updated_timestamp": RM.c.last_updated_timestamp,
}


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


# Rows into entities


class _Extras:
    """The tags and aliases of some models' versions (and the models' own aliases)."""

    def __init__(self) -> None:
        self.version_tags: dict[tuple[str, int], dict[str, str]] = {}
        self.aliases: dict[str, dict[str, int]] = {}  # model -> alias -> version
        self.version_aliases: dict[tuple[str, int], list[str]] = {}


def _extras(conn: Connection, names: Sequence[str], low: int, high: int) -> _Extras:
    """Tags of the versions ``low..high`` of ``names``, and every alias of ``names``: one
    query per ``_CHUNK`` names."""
    extras = _Extras()
    for chunk in _chunks(names):
        tags = sa.select(
            sa.literal("t").label("kind"), MVT.c.name, MVT.c.version, MVT.c.key, MVT.c.value
        ).where(MVT.c.name.in_(chunk), MVT.c.version.between(low, high))
        aliases = sa.select(
            sa.literal("a").label("kind"),
            ALIAS.c.name,
            ALIAS.c.version,
            ALIAS.c.alias,
            sa.cast(sa.literal(""), sa.Text),
        ).where(ALIAS.c.name.in_(chunk))
        for kind, name, version, key, value in conn.execute(sa.union_all(tags, aliases)).all():
            if kind == "t":
                extras.version_tags.setdefault((name, version), {})[key] = value
            else:
                extras.aliases.setdefault(name, {})[key] = version
                extras.version_aliases.setdefault((name, version), []).append(key)
    return extras


def _version(row: Any, extras: _Extras) -> ModelVersion:
    # Unpacked by position (in MV_COLUMNS order): reading a Row's fields by name costs more
    # than building the entity, over a page of thousands.
    (name, version, created, updated, user, stage, description, source, run_id, link,
     status, message, model_id) = row[:13]
    key = (name, version)
    tags = extras.version_tags.get(key)
    aliases = extras.version_aliases.get(key)
    return ModelVersion(
        name=name,
        version=version,
        creation_timestamp=created,
        last_updated_timestamp=updated,
        source=source,
        current_stage=_STAGES.get(stage) or Stage.coerce(stage),
        status=_STATUSES.get(status) or ModelVersionStatus.coerce(status),
        status_message=message,
        description=description,
        user_id=user,
        run_id=run_id,
        run_link=link,
        model_id=model_id,
        tags=dict(sorted(tags.items())) if tags else {},
        aliases=tuple(sorted(aliases)) if aliases else (),
    )


def versions_from_rows(conn: Connection, rows: Sequence[Any]) -> list[ModelVersion]:
    """Entities for version rows (of ``MV_COLUMNS``), in their order, with tags and aliases."""
    if not rows:
        return []
    names = sorted({row.name for row in rows})
    numbers = [row.version for row in rows]
    extras = _extras(conn, names, min(numbers), max(numbers))
    with collector_paused():
        return [_version(row, extras) for row in rows]


def _latest_version_rows(conn: Connection, names: Sequence[str]) -> list[Any]:
    """The newest version in each stage of each of ``names``."""
    found: list[Any] = []
    for chunk in _chunks(names):
        newest = (
            sa.select(MV.c.name, MV.c.current_stage, sa.func.max(MV.c.version).label("version"))
            .where(MV.c.name.in_(chunk))
            .group_by(MV.c.name, MV.c.current_stage)
            .subquery()
        )
        found.extend(
            conn.execute(
                sa.select(*MV_COLUMNS).join(
                    newest, sa.and_(MV.c.name == newest.c.name, MV.c.version == newest.c.version)
                )
            )
        )
    found.sort(key=lambda r: (r.name, _STAGE_ORDER[Stage.coerce(r.current_stage)], r.version))
    return found


def models_from_rows(conn: Connection, rows: Sequence[Any]) -> list[RegisteredModel]:
    """Entities for registered model rows, in their order, with tags, aliases and latest
    versions: four queries for a page of up to ``_CHUNK`` models."""
    if not rows:
        return []
    names = [row.name for row in rows]
    tags: dict[str, dict[str, str]] = {}
    for chunk in _chunks(names):
        for name, key, value in conn.execute(
            sa.select(RMT.c.name, RMT.c.key, RMT.c.value)
            .where(RMT.c.name.in_(chunk))
            .order_by(RMT.c.name, RMT.c.key)
        ):
            tags.setdefault(name, {})[key] = value
    latest = _latest_version_rows(conn, names)
    if latest:
        numbers = [row.version for row in latest]
        extras = _extras(conn, sorted(set(names)), min(numbers), max(numbers))
    else:
        extras = _extras(conn, sorted(set(names)), 0, 0)
    latest_by_model: dict[str, list[ModelVersion]] = {}
    for row in latest:
        latest_by_model.setdefault(row.name, []).append(_version(row, extras))
    return [
        RegisteredModel(
            name=row.name,
            creation_timestamp=row.creation_timestamp,
            last_updated_timestamp=row.last_updated_timestamp,
            description=row.description,
            user_id=row.user_id,
            tags=tags.get(row.name, {}),
            aliases=dict(sorted(extras.aliases.get(row.name, {}).items())),
            latest_versions=tuple(latest_by_model.get(row.name, ())),
        )
        for row in rows
    ]


def latest_versions(conn: Connection, name: str) -> list[ModelVersion]:
    """The newest version of ``name`` in each stage, ordered by stage (None, Staging,
    Production, Archived)."""
    return versions_from_rows(conn, _latest_version_rows(conn, [name]))


# Single rows


def model_not_found(name: str) -> NotFound:
    return NotFound(f"Registered Model with name={name} not found")


def version_not_found(name: str, version: int) -> NotFound:
    return NotFound(f"Model Version (name={name}, version={version}) not found")


def require_model(conn: Connection, name: str) -> Any:
    """The registered model's row; NotFound naming it."""
    row = conn.execute(sa.select(RM).where(RM.c.name == name)).first()
    if row is None:
        raise model_not_found(name)
    return row


def require_version(conn: Connection, name: str, version: int) -> Any:
    """The version's row (``MV_COLUMNS`` and ``storage_location``); NotFound naming the
    model when it is unknown, else the version."""
    row = conn.execute(
        sa.select(*MV_COLUMNS, MV.c.storage_location).where(
            MV.c.name == name, MV.c.version == version
        )
    ).first()
    if row is None:
        require_model(conn, name)
        raise version_not_found(name, version)
    return row


def load_model(conn: Connection, name: str) -> RegisteredModel:
    return models_from_rows(conn, [require_model(conn, name)])[0]


def load_version(conn: Connection, name: str, version: int) -> ModelVersion:
    return versions_from_rows(conn, [require_version(conn, name, version)])[0]


# Searches


def _asks_for_prompts(clauses: Sequence[Comparison]) -> bool:
    for clause in clauses:
        if clause.kind == "tag" and clause.key == IS_PROMPT_TAG_KEY:
            value = str(clause.value).lower()
            return (clause.op == "=" and value == "true") or (
                clause.op == "!=" and value == "false"
            )
    return False


def _prompt_filter(
    clauses: Sequence[Comparison], name: sa.ColumnElement[str]
) -> tuple[list[Comparison], list[sa.ColumnElement[bool]]]:
    """The clauses left to compile, and the condition leaving prompts out unless asked for."""
    if _asks_for_prompts(clauses):
        return list(clauses), []
    kept = [c for c in clauses if not (c.kind == "tag" and c.key == IS_PROMPT_TAG_KEY)]
    is_prompt = (
        sa.select(RMT.c.name)
        .where(RMT.c.name == name, RMT.c.key == IS_PROMPT_TAG_KEY, RMT.c.value == "true")
        .exists()
    )
    return kept, [~is_prompt]


def _tag_condition(
    table: sa.Table, match: Sequence[sa.ColumnElement[bool]], clause: Comparison
) -> sa.ColumnElement[bool]:
    return (
        sa.select(table.c.key)
        .where(*match, table.c.key == clause.key)
        .where(string_predicate(table.c.value, clause.op, clause.value))
        .exists()
    )


def _version_condition(clause: Comparison) -> sa.ColumnElement[bool]:
    if clause.kind == "tag":
        return _tag_condition(MVT, (MVT.c.name == MV.c.name, MVT.c.version == MV.c.version), clause)
    value: object = clause.value
    if clause.key == "version_number":
        value = int(float(str(value)))
    return string_predicate(_MV_ATTRIBUTES[clause.key], clause.op, value)


def _model_condition(clause: Comparison) -> sa.ColumnElement[bool]:
    if clause.kind == "tag":
        return _tag_condition(RMT, (RMT.c.name == RM.c.name,), clause)
    return string_predicate(_RM_ATTRIBUTES[clause.key], clause.op, clause.value)


def _ordering(
    orders: Sequence[OrderBy], columns: Mapping[str, sa.ColumnElement[Any]]
) -> list[sa.ColumnElement[Any]]:
    return [
        columns[o.key].asc() if o.ascending else columns[o.key].desc() for o in orders
    ]


def _page(
    conn: Connection, query: sa.Select[Any], offset: int, max_results: int
) -> tuple[list[Any], str | None]:
    rows = list(conn.execute(query.offset(offset).limit(max_results + 1)).all())
    if len(rows) > max_results:
        return rows[:max_results], encode_page_token(offset + max_results)
    return rows, None


def search_versions(
    conn: Connection,
    filter_string: str | None,
    max_results: int,
    order_by: Sequence[str] | None,
    page_token: str | None,
) -> PagedList[ModelVersion]:
    limit = validate_max_results(max_results, SEARCH_MODEL_VERSIONS_MAX)
    clauses, conditions = _prompt_filter(parse_model_version_filter(filter_string), MV.c.name)
    orders = parse_model_version_order_by(order_by)
    offset = decode_page_token(page_token)
    if not orders:
        # MLflow's default: the most recently changed first.
        orders = (OrderBy("attribute", "last_updated_timestamp", ascending=False),)
    keys = {o.key for o in orders}
    ordering = _ordering(orders, _MV_ATTRIBUTES)
    if "name" not in keys:
        ordering.append(MV.c.name.asc())
    if "version_number" not in keys:
        ordering.append(MV.c.version.desc())
    query = (
        sa.select(*MV_COLUMNS)
        .where(*(_version_condition(c) for c in clauses), *conditions)
        .order_by(*ordering)
    )
    rows, token = _page(conn, query, offset, limit)
    return PagedList(versions_from_rows(conn, rows), token)


def search_models(
    conn: Connection,
    filter_string: str | None,
    max_results: int,
    order_by: Sequence[str] | None,
    page_token: str | None,
) -> PagedList[RegisteredModel]:
    limit = validate_max_results(max_results, SEARCH_REGISTERED_MODELS_MAX)
    clauses, conditions = _prompt_filter(parse_registered_model_filter(filter_string), RM.c.name)
    orders = parse_registered_model_order_by(order_by)
    offset = decode_page_token(page_token)
    ordering = _ordering(orders, _RM_ATTRIBUTES)
    if "name" not in {o.key for o in orders}:
        ordering.append(RM.c.name.asc())
    query = (
        sa.select(RM)
        .where(*(_model_condition(c) for c in clauses), *conditions)
        .order_by(*ordering)
    )
    rows, token = _page(conn, query, offset, limit)
    return PagedList(models_from_rows(conn, rows), token)
