"""``search_runs`` compiled to one SQL statement: filters become EXISTS clauses on the
latest-metric, param, tag and dataset tables; orderings become outer joins."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from mltrail._gc import collector_paused
from mltrail.entities import LifecycleStage, PagedList, Run, ViewType
from mltrail.entities.search import (
    Comparison,
    OrderBy,
    decode_page_token,
    encode_page_token,
    parse_run_filter,
    parse_run_order_by,
)
from mltrail.storage.sql import run_rows, runs, schema
from mltrail.storage.sql.predicates import string_predicate
from mltrail.storage.tracking import RunColumns

_R = schema.runs
_ATTRIBUTE_COLUMNS = {
    "run_id": _R.c.run_uuid,
    "run_name": _R.c.name,
    "status": _R.c.status,
    "user_id": _R.c.user_id,
    "artifact_uri": _R.c.artifact_uri,
    "start_time": _R.c.start_time,
    "end_time": _R.c.end_time,
}
DATASET_CONTEXT_TAG = "mlflow.data.context"


def _metric_condition(clause: Comparison) -> sa.ColumnElement[bool]:
    lm = schema.metric_series
    # NaN never satisfies a comparison, as in MLflow.
    return (
        sa.select(lm.c.key)
        .where(
            lm.c.run_uuid == _R.c.run_uuid,
            lm.c.key == clause.key,
            lm.c.is_nan == sa.false(),
            string_predicate(lm.c.value, clause.op, clause.value),
        )
        .exists()
    )


def _key_value_condition(table: sa.Table, clause: Comparison) -> sa.ColumnElement[bool]:
    match = sa.select(table.c.key).where(table.c.run_uuid == _R.c.run_uuid, table.c.key == clause.key)
    if clause.op == "IS NULL":
        return ~match.exists()
    if clause.op == "IS NOT NULL":
        return match.exists()
    return match.where(string_predicate(table.c.value, clause.op, clause.value)).exists()


def _dataset_condition(clause: Comparison) -> sa.ColumnElement[bool]:
    ri, ds, it = schema.run_inputs, schema.datasets, schema.input_tags
    query = sa.select(ri.c.run_uuid).where(ri.c.run_uuid == _R.c.run_uuid)
    if clause.key == "context":
        query = query.join(
            it, sa.and_(it.c.run_uuid == ri.c.run_uuid, it.c.dataset_id == ri.c.dataset_id)
        ).where(
            it.c.key == DATASET_CONTEXT_TAG, string_predicate(it.c.value, clause.op, clause.value)
        )
    else:
        query = query.join(ds, ds.c.dataset_id == ri.c.dataset_id).where(
            string_predicate(ds.c[clause.key], clause.op, clause.value)
        )
    return query.exists()


def _cost(clause: Comparison) -> int:
    """The order clauses are tested in, cheapest and most selective first: SQLite tests
    correlated conditions in the order written, and stops at the first that fails. Column
    tests cost nothing; equality on a param or tag usually keeps few runs; metric ranges
    keep many. PostgreSQL plans the conditions itself."""
    if clause.kind == "attribute":
        return 0
    if clause.kind in ("param", "tag") and clause.op in ("=", "IN"):
        return 1
    if clause.kind == "dataset":
        return 2
    return 3


def condition(clause: Comparison) -> sa.ColumnElement[bool]:
    if clause.kind == "metric":
        return _metric_condition(clause)
    if clause.kind == "param":
        return _key_value_condition(schema.params, clause)
    if clause.kind == "tag":
        return _key_value_condition(schema.tags, clause)
    if clause.kind == "dataset":
        return _dataset_condition(clause)
    return string_predicate(_ATTRIBUTE_COLUMNS[clause.key], clause.op, clause.value)


def _ordering(
    query: sa.Select[Any], orders: Sequence[OrderBy]
) -> tuple[sa.Select[Any], list[sa.ColumnElement[Any]]]:
    ordering: list[sa.ColumnElement[Any]] = []
    for index, order in enumerate(orders):
        if order.kind == "attribute":
            column: sa.ColumnElement[Any] = _ATTRIBUTE_COLUMNS[order.key]
            missing: sa.ColumnElement[Any] = column.is_(None)
        else:
            table = {
                "metric": schema.metric_series,
                "param": schema.params,
                "tag": schema.tags,
            }[order.kind]
            alias = table.alias(f"order_{index}")
            query = query.outerjoin(
                alias, sa.and_(alias.c.run_uuid == _R.c.run_uuid, alias.c.key == order.key)
            )
            column = alias.c.value
            missing = column.is_(None)
        # Real values first, then NaN metrics, then runs without the value, either direction.
        if order.kind == "metric":
            rank = sa.case((missing, 2), (alias.c.is_nan == sa.true(), 1), else_=0)
        else:
            rank = sa.case((missing, 1), else_=0)
        ordering.append(rank)
        ordering.append(column.asc() if order.ascending else column.desc())
    keys = {(o.kind, o.key) for o in orders}
    if ("attribute", "start_time") not in keys:
        ordering.append(_R.c.start_time.desc())
    ordering.append(_R.c.run_uuid.asc())
    return query, ordering


def _page(
    conn: Connection,
    experiment_ids: Sequence[str],
    filter_string: str | None,
    view_type: ViewType,
    max_results: int,
    order_by: Sequence[str] | None,
    page_token: str | None,
    projection: RunColumns | None = None,
) -> tuple[run_rows.RunRows, str | None]:
    """One page of the search's runs, as rows (with ``projection``, only its keys), and the
    next page's token."""
    clauses = parse_run_filter(filter_string)
    orders = parse_run_order_by(order_by)
    offset = decode_page_token(page_token)
    ids = [int(i) for i in experiment_ids if str(i).isdigit()]
    if not ids:
        return run_rows.fetch(conn, [], []), None
    stages = LifecycleStage.view_type_to_stages(view_type)
    query: sa.Select[Any] = sa.select(*run_rows.INFO_COLUMNS).where(
        _R.c.experiment_id.in_(ids), _R.c.lifecycle_stage.in_(stages)
    )
    for clause in sorted(clauses, key=_cost):
        query = query.where(condition(clause))
    query, ordering = _ordering(query, orders)
    query = query.order_by(*ordering).offset(offset).limit(max_results + 1)
    infos = [tuple(row) for row in conn.execute(query).all()]
    token = None
    if len(infos) > max_results:
        infos = infos[:max_results]
        token = encode_page_token(offset + max_results)
    return run_rows.fetch(conn, [info[0] for info in infos], infos, projection), token


def search(
    conn: Connection,
    experiment_ids: Sequence[str],
    filter_string: str | None,
    view_type: ViewType,
    max_results: int,
    order_by: Sequence[str] | None,
    page_token: str | None,
) -> PagedList[Run]:
    with collector_paused():
        rows, token = _page(
            conn, experiment_ids, filter_string, view_type, max_results, order_by, page_token
        )
        return PagedList(runs.build(rows), token)


def search_dicts(
    conn: Connection,
    experiment_ids: Sequence[str],
    filter_string: str | None,
    view_type: ViewType,
    max_results: int,
    order_by: Sequence[str] | None,
    page_token: str | None,
    projection: RunColumns | None = None,
) -> PagedList[dict[str, Any]]:
    """``search``'s page in the REST shape (each run's ``to_dict()``), without entities."""
    with collector_paused():
        rows, token = _page(
            conn, experiment_ids, filter_string, view_type, max_results, order_by, page_token,
            projection,
        )
        dicts = run_rows.to_dicts(rows)
        del rows  # freed before the collector resumes, so that it never walks them
    return PagedList(dicts, token)
