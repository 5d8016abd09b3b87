"""The search grammars of the model registry, on the run grammar's tokenizer and parser.

``search_registered_models`` filters on ``name`` (``= != LIKE ILIKE IN NOT IN``) and
``tags.<key>`` (``= != LIKE ILIKE``), and orders by ``name``, ``creation_timestamp`` (also
spelt ``timestamp``) or ``last_updated_timestamp``.

``search_model_versions`` filters on ``name`` and ``run_id`` (strings, ``IN`` lists too),
``source_path`` (strings), ``version_number`` (whole numbers) and ``tags.<key>``, and orders
by ``name``, ``version_number``, ``creation_timestamp`` or ``last_updated_timestamp``.

Clauses are joined by AND, as for runs. Filters and orderings use separate grammars, since
what may be ordered on is not what may be filtered on. Naming one field twice in an
``order_by`` is refused, as MLflow refuses it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from mltrail.entities.search import (
    _LIST_OPS,
    _NUMERIC_OPS,
    _STRING_OPS,
    Comparison,
    Kind,
    OrderBy,
    _Grammar,
    _parse_filter,
    _parse_order_by,
    _Rule,
)
from mltrail.errors import InvalidArgument

_ENTITIES: dict[str, Kind] = {
    "attribute": "attribute",
    "attributes": "attribute",
    "attr": "attribute",
    "tag": "tag",
    "tags": "tag",
}
_TIMES = ("creation_timestamp", "last_updated_timestamp")
_TIME_SPELLINGS = {
    "creation_timestamp": "creation_timestamp",
    "timestamp": "creation_timestamp",
    "last_updated_timestamp": "last_updated_timestamp",
}
_TAG_RULE = _Rule(_STRING_OPS, "string")

_MODEL_FILTER = _Grammar(
    subject="registered model",
    entities=_ENTITIES,
    attributes={"name": "name"},
    attribute_rules={"name": _Rule(_STRING_OPS + _LIST_OPS, "string")},
    kind_rules={"tag": _TAG_RULE},
    dataset_keys=(),
    orderable_kinds=(),
    orderable_attributes=(),
)
_MODEL_ORDER = dataclasses.replace(
    _MODEL_FILTER,
    attributes={"name": "name", **_TIME_SPELLINGS},
    attribute_rules={
        "name": _Rule(_STRING_OPS, "string"),
        **{t: _Rule(_NUMERIC_OPS, "number") for t in _TIMES},
    },
    orderable_kinds=("attribute",),
    orderable_attributes=("name", *_TIMES),
)

_VERSION_FILTER = _Grammar(
    subject="model version",
    entities=_ENTITIES,
    attributes={
        "name": "name",
        "run_id": "run_id",
        "source_path": "source_path",
        "version_number": "version_number",
    },
    attribute_rules={
        "name": _Rule(_STRING_OPS + _LIST_OPS, "string"),
        "run_id": _Rule(_STRING_OPS + _LIST_OPS, "string"),
        "source_path": _Rule(_STRING_OPS, "string"),
        "version_number": _Rule(_NUMERIC_OPS, "number"),
    },
    kind_rules={"tag": _TAG_RULE},
    dataset_keys=(),
    orderable_kinds=(),
    orderable_attributes=(),
)
_VERSION_ORDER = dataclasses.replace(
    _VERSION_FILTER,
    attributes={"name": "name", "version_number": "version_number", **_TIME_SPELLINGS},
    attribute_rules={
        "name": _Rule(_STRING_OPS, "string"),
        "version_number": _Rule(_NUMERIC_OPS, "number"),
        **{t: _Rule(_NUMERIC_OPS, "number") for t in _TIMES},
    },
    orderable_kinds=("attribute",),
    orderable_attributes=("name", "version_number", *_TIMES),
)


def _without_repeats(orders: tuple[OrderBy, ...], clauses: Sequence[str]) -> tuple[OrderBy, ...]:
    seen: set[str] = set()
    for order in orders:
        if order.key in seen:
            raise InvalidArgument(
                f"Invalid order_by {list(clauses)!r}: '{order.key}' is named more than once"
            )
        seen.add(order.key)
    return orders


def parse_registered_model_filter(text: str | None) -> tuple[Comparison, ...]:
    """The clauses of a ``search_registered_models`` filter; empty, None or blank gives ``()``."""
    return _parse_filter(text, _MODEL_FILTER)


def parse_registered_model_order_by(clauses: Sequence[str] | None) -> tuple[OrderBy, ...]:
    """``search_registered_models`` order_by clauses, ``<name|creation_timestamp|timestamp|
    last_updated_timestamp> [ASC|DESC]``; None or ``[]`` gives ``()``."""
    orders = _parse_order_by(clauses, _MODEL_ORDER)
    return _without_repeats(orders, [clauses] if isinstance(clauses, str) else clauses or [])


def parse_model_version_filter(text: str | None) -> tuple[Comparison, ...]:
    """The clauses of a ``search_model_versions`` filter; ``version_number`` must be a whole
    number."""
    clauses = _parse_filter(text, _VERSION_FILTER)
    for clause in clauses:
        if clause.key == "version_number" and clause.kind == "attribute":
            value = clause.value
            assert isinstance(value, float)
            if not value.is_integer():
                raise InvalidArgument(
                    f"Invalid filter {text!r}: version_number must be a whole number, "
                    f"found {value!r}"
                )
    return clauses


def parse_model_version_order_by(clauses: Sequence[str] | None) -> tuple[OrderBy, ...]:
    """``search_model_versions`` order_by clauses, ``<name|version_number|creation_timestamp|
    last_updated_timestamp> [ASC|DESC]``; None or ``[]`` gives ``()``."""
    orders = _parse_order_by(clauses, _VERSION_ORDER)
    return _without_repeats(orders, [clauses] if isinstance(clauses, str) else clauses or [])
