"""The search grammar of ``search_logged_models``, on the run grammar's tokenizer and parser.

A filter is clauses joined by AND, as for runs: ``metrics.<key>`` (numbers), ``params.<key>``
and ``tags.<key>`` (quoted strings), and the attributes ``name``, ``model_id``,
``model_type``, ``status``, ``source_run_id`` (strings, ``IN`` lists too), and
``creation_time`` / ``last_updated_time`` (numbers; also spelt ``creation_timestamp``,
``last_updated_timestamp`` and with ``_ms``). Canonical attribute keys are the ones the
comparisons carry: ``creation_timestamp_ms`` and ``last_updated_timestamp_ms`` for the times.

Orderings arrive as objects, not text: ``{field_name, ascending, dataset_name,
dataset_digest}``, where ``field_name`` is an attribute or ``metrics.<key>``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from mltrail.entities.search import (
    _LIST_OPS,
    _NULL_OPS,
    _NUMERIC_OPS,
    _STRING_OPS,
    KEY_VALUE_ENTITIES,
    Comparison,
    _ClauseError,
    _Grammar,
    _parse_filter,
    _parse_identifier,
    _Rule,
    _shown,
    _tokenize,
)
from mltrail.errors import InvalidArgument

_STRING_ATTRIBUTES = ("name", "model_id", "model_type", "status", "source_run_id")
_TIME_ATTRIBUTES = ("creation_timestamp_ms", "last_updated_timestamp_ms")

_GRAMMAR = _Grammar(
    subject="logged model",
    entities=dict(KEY_VALUE_ENTITIES),
    attributes={
        **{name: name for name in _STRING_ATTRIBUTES},
        "creation_time": "creation_timestamp_ms",
        "creation_timestamp": "creation_timestamp_ms",
        "creation_timestamp_ms": "creation_timestamp_ms",
        "last_updated_time": "last_updated_timestamp_ms",
        "last_updated_timestamp": "last_updated_timestamp_ms",
        "last_updated_timestamp_ms": "last_updated_timestamp_ms",
    },
    attribute_rules={
        **{name: _Rule(_STRING_OPS + _LIST_OPS, "string") for name in _STRING_ATTRIBUTES},
        **{name: _Rule(_NUMERIC_OPS, "number") for name in _TIME_ATTRIBUTES},
    },
    kind_rules={
        "metric": _Rule(_NUMERIC_OPS, "number"),
        "param": _Rule(_STRING_OPS + _LIST_OPS + _NULL_OPS, "string"),
        "tag": _Rule(_STRING_OPS + _LIST_OPS + _NULL_OPS, "string"),
    },
    dataset_keys=(),
    orderable_kinds=("metric", "attribute"),
    orderable_attributes=(*_STRING_ATTRIBUTES, *_TIME_ATTRIBUTES),
)


@dataclasses.dataclass(frozen=True)
class DatasetFilter:
    """Metrics computed on this dataset (any digest when ``digest`` is None)."""

    name: str
    digest: str | None = None


@dataclasses.dataclass(frozen=True)
class ModelOrderBy:
    """One ordering: an attribute, or the latest value of a metric (on a dataset if given)."""

    kind: str  # "attribute" or "metric"
    key: str
    ascending: bool = True
    dataset_name: str | None = None
    dataset_digest: str | None = None


def parse_logged_model_filter(text: str | None) -> tuple[Comparison, ...]:
    """The clauses of a ``search_logged_models`` filter; empty, None or blank gives ``()``."""
    return _parse_filter(text, _GRAMMAR)


def _optional_text(item: Mapping[str, Any], field: str, where: str) -> str | None:
    value = item.get(field)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidArgument(f"Invalid {where}: '{field}' must be a string, got {value!r}")
    return value


def parse_dataset_filters(datasets: Sequence[Mapping[str, Any]] | None) -> tuple[DatasetFilter, ...]:
    """``[{dataset_name, dataset_digest?}]``; every entry needs a ``dataset_name``."""
    parsed = []
    for index, item in enumerate(datasets or ()):
        where = f"datasets[{index}]"
        if not isinstance(item, Mapping):
            raise InvalidArgument(f"Invalid {where} {item!r}: expected an object")
        name = _optional_text(item, "dataset_name", where)
        if name is None:
            raise InvalidArgument(f"Invalid {where}: `dataset_name` must be specified")
        parsed.append(DatasetFilter(name, _optional_text(item, "dataset_digest", where)))
    return tuple(parsed)


def _order_by_field(field: str) -> tuple[str, str]:
    expected = (
        "expected metrics.<key> or an attribute ("
        + ", ".join(_GRAMMAR.orderable_attributes)
        + ", creation_time, last_updated_time)"
    )
    tokens = _tokenize(field, "order_by field_name")
    if not tokens:
        raise InvalidArgument(f"Invalid order_by field_name {_shown(field)}: {expected}")
    try:
        kind, key, used = _parse_identifier(tokens, _GRAMMAR)
    except _ClauseError as error:
        raise InvalidArgument(f"Invalid order_by field_name {_shown(field)}: {error.detail}") from None
    if used != len(tokens) or kind not in _GRAMMAR.orderable_kinds:
        raise InvalidArgument(f"Invalid order_by field_name {_shown(field)}: {expected}")
    return kind, key


def parse_logged_model_order_by(
    order_by: Sequence[Mapping[str, Any]] | None,
) -> tuple[ModelOrderBy, ...]:
    """``[{field_name, ascending?, dataset_name?, dataset_digest?}]``; a dataset may only
    qualify a metric, and a digest only with a dataset name."""
    parsed = []
    for index, item in enumerate(order_by or ()):
        where = f"order_by[{index}]"
        if not isinstance(item, Mapping):
            raise InvalidArgument(f"Invalid {where} {item!r}: expected an object")
        field = _optional_text(item, "field_name", where)
        if field is None:
            raise InvalidArgument(f"Invalid {where}: `field_name` must be specified")
        kind, key = _order_by_field(field)
        ascending = item.get("ascending", True)
        if ascending is None:
            ascending = True
        if not isinstance(ascending, bool):
            raise InvalidArgument(f"Invalid {where}: 'ascending' must be true or false")
        dataset_name = _optional_text(item, "dataset_name", where)
        dataset_digest = _optional_text(item, "dataset_digest", where)
        if (dataset_name or dataset_digest) and kind != "metric":
            raise InvalidArgument(f"Invalid {where}: a dataset may only qualify a metric")
        if dataset_digest and not dataset_name:
            raise InvalidArgument(f"Invalid {where}: dataset_digest needs a dataset_name")
        parsed.append(ModelOrderBy(kind, key, ascending, dataset_name, dataset_digest))
    return tuple(parsed)
