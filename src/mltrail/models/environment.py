"""A model's environment: the packages it needs, pinned, written as MLflow writes them.

    requirements.txt     one requirement a line: mltrail and the flavor's packages, pinned
                         at the versions installed when the model was saved
    python_env.yaml      the Python version, and ``-r requirements.txt``
    conda.yaml           the same for conda users

``pip_requirements`` replaces the inferred list; ``extra_pip_requirements`` adds to it;
``conda_env`` (a path or a mapping) replaces the conda file and gives the pip list.
"""

from __future__ import annotations

import os
import platform
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import yaml

from mltrail.errors import InvalidArgument

__all__ = [
    "CONDA_FILE",
    "PYTHON_ENV_FILE",
    "REQUIREMENTS_FILE",
    "pinned",
    "python_version",
    "read_requirements",
    "write_environment",
]

REQUIREMENTS_FILE = "requirements.txt"
PYTHON_ENV_FILE = "python_env.yaml"
CONDA_FILE = "conda.yaml"

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def python_version() -> str:
    return platform.python_version()


def pinned(package: str) -> str:
    """``package==<installed version>``, or the bare name when it is not installed (or is
    mltrail installed from a source tree, which no index serves)."""
    import importlib.metadata  # here: it costs 20 ms at start, and few calls need it

    try:
        version = importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return package
    return f"{package}=={version}"


def requirement_name(requirement: str) -> str:
    """The normalised package name a requirement line is about."""
    match = _NAME.match(requirement)
    return re.sub(r"[-_.]+", "-", match.group(1)).lower() if match else requirement


def _merged(base: Iterable[str], extra: Iterable[str]) -> list[str]:
    """``base`` then ``extra``, an extra requirement replacing a base one of the same name."""
    extra = list(extra)
    replaced = {requirement_name(r) for r in extra}
    return [r for r in base if requirement_name(r) not in replaced] + extra


def _checked_list(value: Any, field: str) -> list[str]:
    if isinstance(value, str):
        if os.path.isfile(value):
            return read_requirements(value)
        raise InvalidArgument(f"Invalid {field}: {value!r} is not a file; give a list of requirements")
    if not isinstance(value, Sequence) or not all(isinstance(r, str) for r in value):
        raise InvalidArgument(f"Invalid {field}: expected a list of requirement strings")
    return [r.strip() for r in value if r.strip()]


def read_requirements(path: str) -> list[str]:
    with open(path, encoding="utf-8") as f:
        return [
            line.strip() for line in f if line.strip() and not line.lstrip().startswith("#")
        ]


def _conda_pip(conda_env: Mapping[str, Any]) -> list[str]:
    for dependency in conda_env.get("dependencies") or []:
        if isinstance(dependency, dict) and isinstance(dependency.get("pip"), list):
            return [str(r) for r in dependency["pip"]]
    return []


def write_environment(
    path: str,
    packages: Sequence[str],
    *,
    pip_requirements: Any = None,
    extra_pip_requirements: Any = None,
    conda_env: Any = None,
) -> list[str]:
    """Write the three environment files into the model directory ``path``; return the
    requirements. ``packages`` are the flavor's (pinned here); mltrail itself comes first."""
    if pip_requirements is not None and conda_env is not None:
        raise InvalidArgument("Give pip_requirements or conda_env, not both")
    conda: dict[str, Any] | None = None
    if conda_env is not None:
        if isinstance(conda_env, str):
            with open(conda_env, encoding="utf-8") as f:
                conda_env = yaml.safe_load(f)
        if not isinstance(conda_env, Mapping):
            raise InvalidArgument("Invalid conda_env: expected a mapping or a YAML file path")
        conda = dict(conda_env)
        requirements = _conda_pip(conda)
    elif pip_requirements is not None:
        requirements = _checked_list(pip_requirements, "pip_requirements")
    else:
        requirements = [pinned("mltrail"), *(pinned(p) for p in packages)]
    if extra_pip_requirements is not None:
        requirements = _merged(
            requirements, _checked_list(extra_pip_requirements, "extra_pip_requirements")
        )
    version = python_version()
    if conda is None:
        conda = {
            "name": "mltrail-env",
            "channels": ["conda-forge"],
            "dependencies": [f"python={version}", "pip", {"pip": requirements}],
        }
    with open(os.path.join(path, REQUIREMENTS_FILE), "w", encoding="utf-8") as f:
        f.write("".join(f"{r}\n" for r in requirements))
    python_env = {
        "python": version,
        "build_dependencies": ["pip", "setuptools", "wheel"],
        "dependencies": [f"-r {REQUIREMENTS_FILE}"],
    }
    for name, content in ((PYTHON_ENV_FILE, python_env), (CONDA_FILE, conda)):
        with open(os.path.join(path, name), "w", encoding="utf-8") as f:
            yaml.safe_dump(content, f, default_flow_style=False, sort_keys=False)
    return requirements


def env_conf() -> dict[str, str]:
    """The ``env`` entry of the ``python_function`` flavor."""
    return {"conda": CONDA_FILE, "virtualenv": PYTHON_ENV_FILE}

