"""Estimators kept as serialized Python objects: skops (the safe format), cloudpickle or
pickle. Shared by the scikit-learn flavor and LightGBM's scikit-learn wrappers, whose
``MLmodel`` keys (``serialization_format``, ``skops_trusted_types``) are the same.

skops builds only the types it is told to trust. Saving lists the model's own types as
trusted when they all come from libraries the flavor names (its ``roots``); a type from
anywhere else must be listed by the user, or the model saved with cloudpickle.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from typing import Any

from mltrail.errors import InvalidArgument, MltrailError

__all__ = [
    "CLOUDPICKLE",
    "FILES",
    "PICKLE",
    "SERIALIZATION_FORMATS",
    "SKOPS",
    "check_format",
    "dump",
    "load",
    "skops_io",
    "trusted_types",
]

SKOPS = "skops"
CLOUDPICKLE = "cloudpickle"
PICKLE = "pickle"
SERIALIZATION_FORMATS = (SKOPS, CLOUDPICKLE, PICKLE)
FILES = {SKOPS: "model.skops", CLOUDPICKLE: "model.pkl", PICKLE: "model.pkl"}
# Always trusted beside the flavor's own libraries: arrays and plain containers.
_BASE_ROOTS = ("numpy.", "scipy.", "builtins.", "collections.")


def check_format(serialization_format: str, what: str = "") -> None:
    if serialization_format not in SERIALIZATION_FORMATS:
        raise InvalidArgument(
            f"Unknown {what + ' ' if what else ''}serialization_format "
            f"{serialization_format!r}: use one of {', '.join(SERIALIZATION_FORMATS)}"
        )


def skops_io() -> Any:
    try:
        import skops.io
    except ModuleNotFoundError as exc:
        raise MltrailError(
            "The skops format needs the skops package: pip install skops (or "
            "pip install 'mltrail[sklearn]'), or save with serialization_format='cloudpickle'"
        ) from exc
    return skops.io


def trusted_types(
    file: str, given: Sequence[str] | None, roots: Sequence[str], libraries: str
) -> list[str]:
    """The types loading the skops ``file`` must trust: those under ``roots`` (the flavor's
    ``libraries``, by name in the error) and the numpy/scipy/builtins ones, plus ``given``;
    any other type is refused."""
    untrusted = sorted(skops_io().get_untrusted_types(file=file))
    allowed = set(given or ())
    trusted_roots = (*roots, *_BASE_ROOTS)
    foreign = [t for t in untrusted if t not in allowed and not t.startswith(trusted_roots)]
    if foreign:
        raise InvalidArgument(
            f"The model holds types from outside {libraries}, numpy and scipy: {foreign}. "
            "List them in skops_trusted_types if you trust them, or save with "
            "serialization_format='cloudpickle'"
        )
    return sorted(set(untrusted) | allowed)


def dump(model: Any, file: str, serialization_format: str) -> None:
    if serialization_format == SKOPS:
        skops_io().dump(model, file)
    elif serialization_format == CLOUDPICKLE:
        import cloudpickle

        with open(file, "wb") as out:
            cloudpickle.dump(model, out)
    else:
        with open(file, "wb") as out:
            pickle.dump(model, out, protocol=pickle.DEFAULT_PROTOCOL)


def load(file: str, serialization_format: str, trusted: Sequence[str] | None) -> Any:
    if serialization_format == SKOPS:
        return skops_io().load(file, trusted=list(trusted or []))
    with open(file, "rb") as f:
        if serialization_format == CLOUDPICKLE:
            import cloudpickle

            return cloudpickle.load(f)
        return pickle.load(f)
