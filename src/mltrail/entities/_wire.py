"""Reading MLflow's JSON shapes back: the lenient half of ``to_dict``.

A missing field means its default. int64 fields may arrive as JSON numbers (MLflow's server)
or strings (canonical proto3 JSON); doubles may arrive as the strings ``"NaN"``,
``"Infinity"`` and ``"-Infinity"``. A value of the wrong type is ``InvalidArgument`` naming
the field, never a ``TypeError`` from deep inside.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mltrail.errors import InvalidArgument


def _bad(field: str, value: Any, expected: str) -> InvalidArgument:
    return InvalidArgument(f"Invalid {field} {value!r} in a server response: expected {expected}")


def mapping(data: Any, field: str) -> Mapping[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise _bad(field, data, "a JSON object")
    return data


def items(data: Mapping[str, Any], field: str) -> list[Mapping[str, Any]]:
    """The objects of the repeated field ``field`` ([] when missing)."""
    value = data.get(field)
    if value is None:
        return []
    if not isinstance(value, list):
        raise _bad(field, value, "a JSON array")
    return [mapping(item, field) for item in value]


def text(data: Mapping[str, Any], field: str, default: str = "") -> str:
    value = data.get(field)
    if value is None:
        return default
    if not isinstance(value, str):
        raise _bad(field, value, "a string")
    return value


def identifier(data: Mapping[str, Any], field: str) -> str:
    """An id: a string, or a number some servers send for numeric ids."""
    value = data.get(field)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return text(data, field)


def optional_text(data: Mapping[str, Any], field: str) -> str | None:
    return text(data, field) if data.get(field) is not None else None


def integer(value: Any, field: str) -> int:
    if isinstance(value, bool):
        raise _bad(field, value, "an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise _bad(field, value, "an integer")


def optional_integer(data: Mapping[str, Any], field: str) -> int | None:
    value = data.get(field)
    return None if value is None else integer(value, field)


def number(value: Any, field: str) -> float:
    """A double; ``"NaN"``, ``"Infinity"`` and ``"-Infinity"`` are the non-finite ones."""
    if isinstance(value, bool):
        raise _bad(field, value, "a number")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            pass
    raise _bad(field, value, "a number")


def enum(value: Any, field: str) -> str | int:
    """An enum as sent: its name or its number (checked by the enum's ``coerce``)."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise _bad(field, value, "a name or a number")
    return value


def flag(data: Mapping[str, Any], field: str, default: bool = False) -> bool:
    value = data.get(field)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise _bad(field, value, "true or false")


def key_values(data: Mapping[str, Any], field: str) -> dict[str, str]:
    """A repeated ``{key, value}`` field as a dict, in order (a later key wins)."""
    return {text(item, "key"): text(item, "value") for item in items(data, field)}
