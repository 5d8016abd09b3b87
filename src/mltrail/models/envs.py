"""Environments built from a model's requirements, once, with uv, and reused.

``prepare_env(model_dir)`` makes a virtual environment with the model's Python (its
major.minor, from ``python_env.yaml``: any installed 3.11 meets "3.11.7"; none is downloaded)
and its pinned ``requirements.txt``, and returns its interpreter. Environments live in
``~/.cache/mltrail/envs/<key>`` (``MLTRAIL_ENV_ROOT`` elsewhere), keyed by a hash of the
Python version and the requirements, so every model with the same needs shares one, and
serve, predict and prepare-env reuse it. A half-built environment is never used: it is marked
ready only at the end, and builds of the same key wait for each other.

mltrail itself is installed as this process has it: from its source folder when it was
installed from one (no index serves a development version), else ``mltrail==<version>``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator, Sequence

import yaml

from mltrail._version import __version__
from mltrail.errors import InvalidArgument, MltrailError
from mltrail.models.environment import (
    PYTHON_ENV_FILE,
    REQUIREMENTS_FILE,
    read_requirements,
    requirement_name,
)

__all__ = ["env_root", "mltrail_requirement", "prepare_env", "python_version_of"]

_READY = ".mltrail-ready"


def env_root(environ: dict[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    chosen = env.get("MLTRAIL_ENV_ROOT")
    if chosen:
        return os.path.abspath(chosen)
    cache = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "mltrail", "envs")


# What scoring needs of mltrail beyond its core: frames and files, and the scoring server.
SCORING_EXTRAS = "server,models"


def mltrail_requirement() -> str:
    """How an environment gets this mltrail, with what scoring needs: from its source folder,
    or the released version."""
    try:
        text = importlib.metadata.distribution("mltrail").read_text("direct_url.json")
    except importlib.metadata.PackageNotFoundError:
        text = None
    if text:
        url = json.loads(text).get("url", "")
        if url.startswith("file://"):
            path = urllib.parse.unquote(urllib.parse.urlsplit(url).path)
            if os.path.isfile(os.path.join(path, "pyproject.toml")):
                return f"mltrail[{SCORING_EXTRAS}] @ {urllib.parse.urljoin('file:', path)}"
    return f"mltrail[{SCORING_EXTRAS}]=={__version__}"


def python_version_of(model_dir: str) -> str:
    """The major.minor Python the model was saved with (this one's when it does not say)."""
    path = os.path.join(model_dir, PYTHON_ENV_FILE)
    version = ""
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
        version = str(data.get("python") or "") if isinstance(data, dict) else ""
    if not version:
        return f"{sys.version_info.major}.{sys.version_info.minor}"
    parts = version.split(".")
    if len(parts) < 2 or not all(p.isdigit() for p in parts[:2]):
        raise InvalidArgument(f"Invalid Python version {version!r} in {path}")
    return ".".join(parts[:2])


def _requirements(model_dir: str) -> list[str]:
    path = os.path.join(model_dir, REQUIREMENTS_FILE)
    found = read_requirements(path) if os.path.isfile(path) else []
    # mltrail comes from where this process has it, whatever version the model names.
    kept = [r for r in found if requirement_name(r) != "mltrail"]
    return [*kept, mltrail_requirement()]


def _uv() -> list[str]:
    found = shutil.which("uv")
    if found:
        return [found]
    if importlib.util.find_spec("uv") is not None:  # the uv wheel, installed in this Python
        return [sys.executable, "-m", "uv"]
    raise MltrailError(
        "--env-manager uv needs uv: pip install uv (or see https://docs.astral.sh/uv/)"
    )


def _run(command: Sequence[str], what: str) -> None:
    done = subprocess.run(list(command), capture_output=True, text=True)
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()[-15:]
        raise MltrailError(f"Could not {what}:\n" + "\n".join(detail))


@contextlib.contextmanager
def _locked(path: str) -> Iterator[None]:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _python_in(env_dir: str) -> str:
    return os.path.join(env_dir, "bin", "python")


def prepare_env(model_dir: str, root: str | None = None) -> str:
    """The interpreter of the environment for the model in ``model_dir`` (built if needed)."""
    version = python_version_of(model_dir)
    requirements = _requirements(model_dir)
    key = hashlib.sha256("\n".join([version, *requirements]).encode()).hexdigest()[:16]
    env_dir = os.path.join(root or env_root(), key)
    python = _python_in(env_dir)
    if os.path.isfile(os.path.join(env_dir, _READY)):
        return python
    with _locked(env_dir + ".lock"):
        if os.path.isfile(os.path.join(env_dir, _READY)):
            return python  # another process built it while this one waited
        shutil.rmtree(env_dir, ignore_errors=True)
        uv = _uv()
        try:
            _run(
                [*uv, "venv", "--quiet", "--no-python-downloads", "--python", version, env_dir],
                f"make a Python {version} environment (is Python {version} installed? uv "
                "looks on PATH and in its own Python folder; none is downloaded)",
            )
            _run(
                [*uv, "pip", "install", "--quiet", "--python", python, *requirements],
                "install the model's requirements",
            )
        except BaseException:
            shutil.rmtree(env_dir, ignore_errors=True)
            raise
        with open(os.path.join(env_dir, _READY), "w", encoding="utf-8") as f:
            f.write("\n".join([version, *requirements]) + "\n")
    return python
