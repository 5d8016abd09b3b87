"""The rules every input meets, used alike by the client, the stores and the server.

Each check raises ``InvalidArgument`` naming the field and the rule. Limits follow MLflow's
(``shared/mlflow_rest_api.md`` section 6). Values longer than their limit are refused unless
``truncate`` is asked for, which cuts them as MLflow does by default.
"""

from __future__ import annotations

import math
import numbers
import posixpath
import re
from typing import Any

from mltrail.errors import InvalidArgument

MAX_KEY_LENGTH = 250
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000
MAX_EXPERIMENT_NAME_LENGTH = 500
MAX_EXPERIMENT_TAG_VALUE_LENGTH = 20000
MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_PER_BATCH = 100
MAX_TAGS_PER_BATCH = 100
MAX_ENTITIES_PER_BATCH = 1000
MAX_RESULTS_LIMIT = 50000
MAX_DATASET_NAME_LENGTH = 500
MAX_DATASET_DIGEST_LENGTH = 36
MAX_DATASET_SOURCE_LENGTH = 65535
MAX_DATASET_SCHEMA_LENGTH = 1048575
MAX_DATASET_PROFILE_LENGTH = 16777215
MAX_INPUT_TAG_KEY_LENGTH = 255
MAX_INPUT_TAG_VALUE_LENGTH = 500
MAX_INT64 = 2**63 - 1

_KEY_RE = re.compile(r"^[/\w.\- :]*$")
_RUN_ID_RE = re.compile(r"^[a-zA-Z0-9][\w\-]{0,255}$")
_EXPERIMENT_ID_RE = re.compile(r"^[0-9]{1,19}$")

# Keys seen before pass at the cost of a set lookup: log_metric sits in training loops.
_valid_keys: set[str] = set()


def validate_key(key: Any, field: str = "key") -> str:
    if type(key) is str and key in _valid_keys:
        return key
    if not isinstance(key, str):
        raise InvalidArgument(f"Invalid {field} {key!r}: must be a string")
    if not key:
        raise InvalidArgument(f"Invalid {field}: must not be empty")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidArgument(
            f"Invalid {field} '{key[:40]}...': {len(key)} characters, "
            f"the limit is {MAX_KEY_LENGTH}"
        )
    if not _KEY_RE.match(key):
        raise InvalidArgument(
            f"Invalid {field} {key!r}: names may only contain alphanumerics, underscores (_), "
            "dashes (-), periods (.), spaces ( ), colons (:) and slashes (/)"
        )
    if key.startswith("/") or posixpath.normpath(key) != key or key.startswith(".."):
        raise InvalidArgument(
            f"Invalid {field} {key!r}: must be a relative name with no '..' segment "
            "and no leading or repeated '/'"
        )
    if len(_valid_keys) < 100_000:
        _valid_keys.add(key)
    return key


def known_keys() -> set[str]:
    """The keys that passed ``validate_key`` before: the live set, read by hot loops."""
    return _valid_keys


def _check_length(value: str, limit: int, field: str, truncate: bool) -> str:
    if len(value) <= limit:
        return value
    if truncate:
        return value[:limit]
    raise InvalidArgument(
        f"Invalid {field}: {len(value)} characters, the limit is {limit} "
        "(set MLTRAIL_TRUNCATE_LONG_VALUES=true to cut long values as MLflow does)"
    )


def _as_text(value: Any, field: str) -> str:
    if value is None:
        raise InvalidArgument(f"Missing value for {field}")
    text = value if isinstance(value, str) else str(value)
    if "\x00" in text:
        raise InvalidArgument(f"Invalid {field}: must not contain a NUL character")
    return text


def validate_param(key: Any, value: Any, *, truncate: bool = False) -> tuple[str, str]:
    key = validate_key(key, "param key")
    text = _as_text(value, f"value of param '{key}'")
    return key, _check_length(text, MAX_PARAM_VALUE_LENGTH, f"value of param '{key}'", truncate)


def validate_tag(key: Any, value: Any, *, truncate: bool = False) -> tuple[str, str]:
    key = validate_key(key, "tag key")
    text = _as_text(value, f"value of tag '{key}'")
    return key, _check_length(text, MAX_TAG_VALUE_LENGTH, f"value of tag '{key}'", truncate)


def validate_experiment_tag(key: Any, value: Any) -> tuple[str, str]:
    key = validate_key(key, "experiment tag key")
    text = _as_text(value, f"value of experiment tag '{key}'")
    field = f"value of experiment tag '{key}'"
    return key, _check_length(text, MAX_EXPERIMENT_TAG_VALUE_LENGTH, field, False)


def validate_metric_value(key: str, value: Any) -> float:
    """A metric value is a real number; NaN and the infinities are kept."""
    if type(value) is float:
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        # numpy's bool_ is not a numbers.Real, and neither are strings or None.
        raise InvalidArgument(
            f"Invalid value {value!r} for metric '{key}': must be a number "
            f"(got {type(value).__name__})"
        )
    return float(value)


def validate_int(value: Any, field: str, *, minimum: int | None = None) -> int:
    if type(value) is int and (minimum is None or value >= minimum) and -MAX_INT64 <= value <= MAX_INT64:
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        elif isinstance(value, str) and value.lstrip("-").isdigit():
            value = int(value)
        else:
            raise InvalidArgument(f"Invalid {field} {value!r}: must be an integer")
    number = int(value)
    if minimum is not None and number < minimum:
        raise InvalidArgument(f"Invalid {field} {number}: must be at least {minimum}")
    if abs(number) > MAX_INT64:
        raise InvalidArgument(f"Invalid {field} {number}: must fit in 64 bits")
    return number


def validate_timestamp(value: Any, field: str = "timestamp") -> int:
    return validate_int(value, field, minimum=0)


def validate_step(value: Any) -> int:
    return validate_int(value, "step")


def validate_metric(key: Any, value: Any, timestamp: Any, step: Any) -> tuple[str, float, int, int]:
    key = validate_key(key, "metric key")
    return (
        key,
        validate_metric_value(key, value),
        validate_timestamp(timestamp, f"timestamp of metric '{key}'"),
        validate_step(step),
    )


def validate_run_id(run_id: Any) -> str:
    if not isinstance(run_id, str) or not _RUN_ID_RE.match(run_id):
        raise InvalidArgument(
            f"Invalid run_id {run_id!r}: expected letters, digits, '_' or '-', at most 256"
        )
    return run_id


def validate_experiment_id(experiment_id: Any) -> str:
    text = str(experiment_id) if isinstance(experiment_id, int) else experiment_id
    if not isinstance(text, str) or not _EXPERIMENT_ID_RE.match(text):
        raise InvalidArgument(f"Invalid experiment_id {experiment_id!r}: expected an integer id")
    return text


def validate_experiment_name(name: Any) -> str:
    if not isinstance(name, str):
        raise InvalidArgument(f"Invalid experiment name {name!r}: must be a string")
    if not name.strip():
        raise InvalidArgument("Invalid experiment name: must not be empty")
    if len(name) > MAX_EXPERIMENT_NAME_LENGTH:
        raise InvalidArgument(
            f"Invalid experiment name: {len(name)} characters, "
            f"the limit is {MAX_EXPERIMENT_NAME_LENGTH}"
        )
    if "\x00" in name:
        raise InvalidArgument("Invalid experiment name: must not contain a NUL character")
    return name


def validate_max_results(value: Any, limit: int = MAX_RESULTS_LIMIT) -> int:
    number = validate_int(value, "max_results")
    if not 1 <= number <= limit:
        raise InvalidArgument(
            f"Invalid value {number} for parameter 'max_results': must be between 1 and {limit}"
        )
    return number


def validate_batch_sizes(n_metrics: int, n_params: int, n_tags: int) -> None:
    for count, limit, what in (
        (n_metrics, MAX_METRICS_PER_BATCH, "metrics"),
        (n_params, MAX_PARAMS_PER_BATCH, "params"),
        (n_tags, MAX_TAGS_PER_BATCH, "tags"),
    ):
        if count > limit:
            raise InvalidArgument(
                f"A batch logged {count} {what}: the limit is {limit} {what} per batch"
            )
    total = n_metrics + n_params + n_tags
    if total > MAX_ENTITIES_PER_BATCH:
        raise InvalidArgument(
            f"A batch logged {total} metrics, params and tags: the limit is "
            f"{MAX_ENTITIES_PER_BATCH} in all"
        )


def is_nan(value: float) -> bool:
    return math.isnan(value)
