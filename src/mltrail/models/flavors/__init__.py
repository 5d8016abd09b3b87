"""Flavors: the ways a model can be saved and loaded, and how ``MLmodel`` names them.

A flavor is a module with ``save_model``, ``log_model``, ``load_model`` and
``_load_pyfunc(path)``; the last is what ``python_function.loader_module`` in ``MLmodel``
points at. Built in: ``sklearn``, ``xgboost``, ``lightgbm`` and ``python_function``
(custom models). Others plug in
through the ``mltrail.flavor`` entry-point group (entry name: the flavor's name; object: its
module). MLflow's own loader modules for the flavors mltrail has are read by mltrail's code,
so a model MLflow saved loads without MLflow installed.
"""

from __future__ import annotations

import importlib
import logging
from types import ModuleType
from typing import Any

from mltrail.errors import InvalidArgument, MltrailError

__all__ = [
    "ENTRY_POINT_GROUP",
    "flavor_conf",
    "flavor_module",
    "loader_module",
    "warn_if_versions_differ",
]

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "mltrail.flavor"

_BUILTIN = {
    "sklearn": "mltrail.models.flavors.sklearn",
    "xgboost": "mltrail.models.flavors.xgboost",
    "lightgbm": "mltrail.models.flavors.lightgbm",
    "python_function": "mltrail.models.pyfunc",
}

# Loader modules in MLmodel files (ours, and MLflow's for what we can read) -> our module.
_LOADERS = {
    "mltrail.sklearn": "mltrail.models.flavors.sklearn",
    "mltrail.pyfunc": "mltrail.models.pyfunc",
    "mltrail.xgboost": "mltrail.models.flavors.xgboost",
    "mltrail.lightgbm": "mltrail.models.flavors.lightgbm",
    "mlflow.sklearn": "mltrail.models.flavors.sklearn",
    "mlflow.xgboost": "mltrail.models.flavors.xgboost",
    "mlflow.lightgbm": "mltrail.models.flavors.lightgbm",
    "mlflow.pyfunc.model": "mltrail.models.pyfunc",
}


def _import(name: str, what: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and name.startswith(exc.name):
            raise InvalidArgument(
                f"Cannot load the model: its {what} {name!r} is not installed or not on the "
                "path (a module of your own is saved with the model through code_paths)"
            ) from exc
        raise MltrailError(
            f"Cannot load the model: its {what} {name!r} needs {exc.name!r}, which is not "
            f"installed (pip install {exc.name})"
        ) from exc


def loader_module(name: str) -> ModuleType:
    """The module that loads a ``python_function`` model whose ``loader_module`` is ``name``."""
    if not isinstance(name, str) or not name:
        raise InvalidArgument("Invalid MLmodel: python_function has no loader_module")
    module = _import(_LOADERS.get(name, name), "loader module")
    if not callable(getattr(module, "_load_pyfunc", None)):
        raise InvalidArgument(
            f"Cannot load the model: its loader module {name!r} has no _load_pyfunc(path)"
        )
    return module


def flavor_module(flavor: str) -> ModuleType:
    """The module of a flavor, built in or from an entry point."""
    target = _BUILTIN.get(flavor)
    if target is not None:
        return _import(target, "flavor module")
    from importlib.metadata import entry_points

    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name == flavor:
            try:
                loaded = entry.load()
            except Exception as exc:
                raise MltrailError(
                    f"Could not load the flavor plugin {entry.value!r} for {flavor!r}: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            if not isinstance(loaded, ModuleType):
                raise MltrailError(f"The flavor plugin {entry.value!r} is not a module")
            return loaded
    known = ", ".join(sorted(_BUILTIN))
    raise InvalidArgument(
        f"Unknown flavor {flavor!r}: built-in flavors are {known}; others plug in through "
        f"the {ENTRY_POINT_GROUP!r} entry points"
    )


def flavor_conf(path: str, flavor: str) -> dict[str, Any]:
    """The ``flavor`` keys of the ``MLmodel`` at ``path``; a clear error when the model was
    not saved with that flavor."""
    from mltrail.models.format import Model

    metadata = Model.load(path)
    conf = metadata.flavors.get(flavor)
    if conf is None:
        raise InvalidArgument(
            f"The model at {path!r} has no {flavor} flavor (its flavors: "
            f"{', '.join(sorted(metadata.flavors)) or 'none'})"
        )
    return conf


def warn_if_versions_differ(library: str, saved: object, installed: str) -> None:
    if saved and saved != installed:
        log.warning(
            "The model was saved with %s %s and is loaded with %s: it may not load or predict "
            "the same", library, saved, installed
        )
