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

The machinery under ``prepare_env`` (the cache root, the per-key lock, the ready marker,
finding uv, making a uv environment with an installed Python) is shared with the project
environments of :mod:`mltrail.projects.envs`, which build the same way from other inputs.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import urllib.parse
from collections.abc import Callable, Iterator, Sequence

import yaml

from mltrail._version import __version__
from mltrail.errors import InvalidArgument, MltrailError
from mltrail.models.environment import (
    PYTHON_ENV_FILE,
    REQUIREMENTS_FILE,
    read_requirements,
    requirement_name,
)

__all__ = [
    "READY_MARKER",
    "build_once",
    "env_root",
    "find_uv",
    "is_ready",
    "major_minor",
    "make_uv_env",
    "mltrail_requirement",
    "prepare_env",
    "python_in",
    "python_version_of",
    "run_step",
]

READY_MARKER = ".mltrail-ready"


def env_root(environ: dict[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    chosen = env.get("MLTRAIL_ENV_ROOT")
    if chosen:
        return os.path.abspath(chosen)
    cache = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "mltrail", "envs")


# What scoring needs of mltrail beyond its core: frames and files, and the scoring server.
SCORING_EXTRAS = "server,models"


def mltrail_requirement(extras: str = SCORING_EXTRAS) -> str:
    """How an environment gets this mltrail, with ``extras`` (by default what scoring needs):
    from its source folder, or the released version."""
    name = f"mltrail[{extras}]" if extras else "mltrail"
    import importlib.metadata  # here: it costs 20 ms at start, and few calls need it

    try:
        text = importlib.metadata.distribution("mltrail").read_text("direct_url.json")
    except importlib.metadata.PackageNotFoundError:
        text = None
    if text:
        url = json.loads(text).get("url", "")
        if url.startswith("file://"):
            path = urllib.parse.unquote(urllib.parse.urlsplit(url).path)
            if os.path.isfile(os.path.join(path, "pyproject.toml")):
                return f"{name} @ {urllib.parse.urljoin('file:', path)}"
    return f"{name}=={__version__}"


def major_minor(version: str, where: str) -> str:
    """``"3.11"`` of ``"3.11.7"``; an InvalidArgument naming ``where`` for anything else."""
    parts = version.split(".")
    if len(parts) < 2 or not all(p.isdigit() for p in parts[:2]):
        raise InvalidArgument(f"Invalid Python version {version!r} in {where}")
    return ".".join(parts[:2])


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
    return major_minor(version, path)


def _requirements(model_dir: str) -> list[str]:
    path = os.path.join(model_dir, REQUIREMENTS_FILE)
    found = read_requirements(path) if os.path.isfile(path) else []
    # mltrail comes from where this process has it, whatever version the model names.
    kept = [r for r in found if requirement_name(r) != "mltrail"]
    return [*kept, mltrail_requirement()]


def find_uv() -> list[str]:
    """The command that runs uv: on PATH, or the uv wheel installed in this Python."""
    found = shutil.which("uv")
    if found:
        return [found]
    if importlib.util.find_spec("uv") is not None:  # the uv wheel, installed in this Python
        return [sys.executable, "-m", "uv"]
    raise MltrailError(
        "--env-manager uv needs uv: pip install uv (or see https://docs.astral.sh/uv/)"
    )


def run_step(command: Sequence[str], what: str, *, cwd: str | None = None) -> None:
    """Run one build step; on failure, an MltrailError saying ``what`` failed, with the end
    of the tool's own message."""
    try:
        done = subprocess.run(list(command), capture_output=True, text=True, cwd=cwd)
    except OSError as e:
        raise MltrailError(f"Could not {what}: {e}") from None
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()[-15:]
        raise MltrailError(f"Could not {what}:\n" + "\n".join(detail))


@contextlib.contextmanager
def _locked(path: str, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
            fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def python_in(env_dir: str) -> str:
    return os.path.join(env_dir, "bin", "python")


def is_ready(env_dir: str) -> bool:
    return os.path.isfile(os.path.join(env_dir, READY_MARKER))


def build_once(
    env_dir: str,
    build: Callable[[], None],
    record: str,
    *,
    on_wait: Callable[[], None] | None = None,
) -> bool:
    """Make ``env_dir`` with ``build()`` unless it is ready; True when this call built it.

    Builds of one directory take turns on ``<env_dir>.lock`` (``on_wait`` is called when
    another process holds it); whatever a failed build left is removed, and the ready marker
    (holding ``record``, what the environment was built from) is written only at the end."""
    if is_ready(env_dir):
        return False
    with _locked(env_dir + ".lock", on_wait):
        if is_ready(env_dir):
            return False  # another process built it while this one waited
        shutil.rmtree(env_dir, ignore_errors=True)
        try:
            build()
        except BaseException:
            shutil.rmtree(env_dir, ignore_errors=True)
            raise
        with open(os.path.join(env_dir, READY_MARKER), "w", encoding="utf-8") as f:
            f.write(record if record.endswith("\n") else record + "\n")
    return True


def make_uv_env(
    env_dir: str,
    version: str,
    installs: Sequence[tuple[Sequence[str], str]],
    *,
    missing_python_hint: str = "",
    cwd: str | None = None,
) -> str:
    """A uv virtual environment in ``env_dir`` with an installed Python ``version`` (none is
    downloaded), then each ``(arguments of uv pip install, what it installs)`` in turn, run in
    ``cwd``; returns its interpreter. Used inside ``build_once``."""
    uv = find_uv()
    python = python_in(env_dir)
    run_step(
        [*uv, "venv", "--quiet", "--no-python-downloads", "--python", version, env_dir],
        f"make a Python {version} environment (is Python {version} installed? uv "
        f"looks on PATH and in its own Python folder; none is downloaded){missing_python_hint}",
        cwd=cwd,
    )
    for arguments, what in installs:
        run_step([*uv, "pip", "install", "--quiet", "--python", python, *arguments],
                 f"install {what}", cwd=cwd)
    return python


def prepare_env(model_dir: str, root: str | None = None) -> str:
    """The interpreter of the environment for the model in ``model_dir`` (built if needed)."""
    version = python_version_of(model_dir)
    requirements = _requirements(model_dir)
    key = hashlib.sha256("\n".join([version, *requirements]).encode()).hexdigest()[:16]
    env_dir = os.path.join(root or env_root(), key)

    def build() -> None:
        make_uv_env(env_dir, version, [(requirements, "the model's requirements")])

    build_once(env_dir, build, "\n".join([version, *requirements]))
    return python_in(env_dir)
