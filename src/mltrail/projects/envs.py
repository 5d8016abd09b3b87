"""The environment a project's command runs in, built once per content and reused.

``prepare_project_env(project, env_manager)`` picks the environment manager as MLflow does
when none is given (a ``docker_env`` project runs in its image, a ``conda_env`` one with
conda, a ``python_env`` one in a virtual environment, a project that declares nothing in the
current environment), makes the environment if needed, and returns a :class:`ProjectEnv`: the
variables that make ``python`` and console scripts resolve to it, and ``wrap``, the argv that
runs a command line in it.

* ``uv`` (and ``virtualenv``, MLflow's name, built with uv too: uv makes the same virtual
  environments, faster, with no pyenv): a venv with an installed Python of the file's
  major.minor (none is downloaded), its ``build_dependencies``, then its ``dependencies``
  (``-r``/``-c`` files relative to the project folder), and mltrail itself so the project's
  ``import mltrail`` works (as :func:`mltrail.models.envs.mltrail_requirement` installs it).
  The cache key hashes the Python version, both lists and the contents of the referenced
  requirement files, so editing any of them builds a new environment and a second run with the
  same ones starts at once. A ``conda.yaml`` run with uv uses its pinned ``python`` and its
  packages (conda ones through pip, as MLflow does).
* ``conda``: ``conda env create`` into the same cache, keyed by the file's contents.
* ``docker``: the project's image (pulled when missing) with the project folder mounted.
* ``local``: this interpreter, as it is.

Builds share :mod:`mltrail.models.envs`'s machinery: the cache root (``MLTRAIL_ENV_ROOT``), one
lock per key so concurrent runs build once, and a ready marker written last, so a half-built
environment is never used. ``progress`` hears what happens (one line when the environment is
already there).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

import yaml

from mltrail.errors import InvalidArgument, MltrailError
from mltrail.models.environment import requirement_name
from mltrail.models.envs import (
    build_once,
    env_root,
    find_uv,
    is_ready,
    major_minor,
    make_uv_env,
    mltrail_requirement,
    python_in,
    run_step,
)
from mltrail.projects.spec import Project

__all__ = ["DOCKER_WORKDIR", "ENV_MANAGERS", "ProjectEnv", "prepare_project_env"]

ENV_MANAGERS = ("local", "uv", "virtualenv", "conda", "docker")

# Where the project folder is mounted in a container (MLflow's path), and a local store.
DOCKER_WORKDIR = "/mlflow/projects/code"
_DOCKER_TRACKING_DIR = "/mlflow/tmp/mlruns"

_PYTHON_ENV_KEYS = ("python", "build_dependencies", "dependencies")
_TRACKING_URI_VARS = ("MLFLOW_TRACKING_URI", "MLTRAIL_TRACKING_URI")
_ARTIFACT_ROOT_VARS = ("MLFLOW_DEFAULT_ARTIFACT_ROOT", "MLTRAIL_ARTIFACT_ROOT")
# Variables a container gets by name only (``-e NAME``: docker copies the value from its own
# environment), so that credentials never appear on a command line.
_SECRET_WORDS = ("TOKEN", "PASSWORD", "SECRET", "KEY", "CREDENTIAL")
_CLOUD_PREFIXES = ("AWS_", "AZURE_STORAGE_")
_LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "[::1]")


@dataclasses.dataclass(frozen=True)
class ProjectEnv:
    """A prepared environment: who made it, its interpreter, the variables that select it."""

    manager: str
    python: str | None  # runs ``python ...``; None in a container
    env_vars: dict[str, str] = dataclasses.field(default_factory=dict)
    env_dir: str | None = None  # the cached environment's folder (uv, virtualenv, conda)
    image: str | None = None  # docker
    volumes: tuple[str, ...] = ()  # docker: the MLproject's volumes
    environment: tuple[Any, ...] = ()  # docker: names to copy, [name, value] pairs to set

    def wrap(self, command: str, *, project_dir: str, child_env: Mapping[str, str]) -> list[str]:
        """The argv that runs the shell ``command`` in this environment.

        Run it with ``child_env`` (which includes ``env_vars``) as its environment: in docker,
        credentials pass as ``-e NAME`` and docker reads their values from there."""
        if self.manager != "docker":
            return ["bash", "-c", command]
        if not self.image:
            raise InvalidArgument("docker_env: the MLproject names no image")
        argv = ["docker", "run", "--rm"]
        options, variables = _docker_tracking(child_env)
        argv += options
        argv += ["-v", f"{os.path.abspath(project_dir)}:{DOCKER_WORKDIR}", "-w", DOCKER_WORKDIR]
        for volume in self.volumes:
            argv += ["-v", volume]
        for name, value in variables.items():
            argv += ["-e", name if value is None else f"{name}={value}"]
        for entry in self.environment:
            if isinstance(entry, str):
                if entry not in child_env:
                    raise InvalidArgument(_missing_variable(entry, self.environment))
                argv += ["-e", entry]
            else:
                name, value = entry
                argv += ["-e", f"{name}={value}"]
        return [*argv, self.image, "bash", "-c", command]


def prepare_project_env(
    project: Project,
    env_manager: str | None,
    *,
    progress: Callable[[str], None] | None = None,
) -> ProjectEnv:
    """The environment ``project`` runs in with ``env_manager`` (MLflow's choice when None),
    built now when it is not in the cache."""
    say: Callable[[str], None] = progress or (lambda _line: None)
    manager = _manager_for(project, env_manager)
    if manager == "local":
        return _local()
    if manager == "docker":
        return _docker(project, say)
    if manager == "conda":
        return _conda(project, say)
    return _uv_env(project, manager, say)


def _manager_for(project: Project, env_manager: str | None) -> str:
    if env_manager is not None and env_manager not in ENV_MANAGERS:
        raise InvalidArgument(
            f"env_manager: expected one of {', '.join(ENV_MANAGERS)}, got {env_manager!r}"
        )
    kind = project.env_type
    if kind == "docker_env":
        # As MLflow, the image is the environment; "local" still runs without it, on purpose.
        if env_manager in (None, "docker", "local"):
            return env_manager or "docker"
        raise InvalidArgument(
            f"env_manager {env_manager!r} cannot run project {project.directory!r}: its "
            "MLproject declares docker_env; use --env-manager docker (the default) or local"
        )
    if env_manager == "docker":
        raise InvalidArgument(
            f"env_manager 'docker' needs a docker_env (an image) in the MLproject of "
            f"{project.directory!r}, which declares {kind}"
        )
    if kind == "python_env" and env_manager == "conda":
        raise InvalidArgument(
            f"env_manager 'conda' cannot build {project.env_file}: a python_env project runs "
            "with --env-manager uv, virtualenv or local"
        )
    if env_manager is not None:
        return env_manager
    return {"conda_env": "conda", "python_env": "uv"}.get(kind, "local")


def _short(key: str) -> str:
    return f"{key[:8]}…"


def _path_with(bin_dir: str) -> str:
    current = os.environ.get("PATH", "")
    return bin_dir + (os.pathsep + current if current else "")


# local


def _local() -> ProjectEnv:
    """This interpreter. From an unactivated virtual environment (``.venv/bin/mltrail``) its
    ``bin`` goes first on PATH, so that ``python`` in the command is this one."""
    if sys.prefix != sys.base_prefix:
        bin_dir = os.path.dirname(sys.executable)
        return ProjectEnv("local", sys.executable, {"PATH": _path_with(bin_dir)})
    return ProjectEnv("local", sys.executable, {})


# uv / virtualenv


@dataclasses.dataclass(frozen=True)
class _PythonSpec:
    """What a virtual environment is made of, read from python_env.yaml or conda.yaml."""

    source: str  # the file, for messages
    python: str  # major.minor
    build: list[str]
    dependencies: list[str]
    material: list[str]  # what the key hashes: the lines and the referenced files' contents
    packages: int  # how many requirements, for the progress line


def _uv_env(project: Project, manager: str, say: Callable[[str], None]) -> ProjectEnv:
    spec = _python_spec(project)
    extras = _mltrail_extras(spec.dependencies, spec.material)
    mltrail = mltrail_requirement(extras)
    record = "\n".join(["python_env", spec.python, *spec.material, mltrail])
    key = hashlib.sha256(record.encode()).hexdigest()[:16]
    env_dir = os.path.join(env_root(), key)
    bin_dir = os.path.join(env_dir, "bin")
    env_vars = {"PATH": _path_with(bin_dir), "VIRTUAL_ENV": env_dir}
    prepared = ProjectEnv(manager, python_in(env_dir), env_vars, env_dir=env_dir)
    if is_ready(env_dir):
        say(f"Using environment {_short(key)} (cached)")
        return prepared

    how = "uv" if manager == "uv" else f"{manager}, built with uv"

    def build() -> None:
        started = time.monotonic()
        say(
            f"Creating environment {_short(key)} with Python {spec.python} and "
            f"{spec.packages} package{'s' if spec.packages != 1 else ''} ({how})"
        )
        overrides = os.path.join(env_dir, ".mltrail-overrides.txt")
        installs: list[tuple[list[str], str]] = []
        if spec.build:
            installs.append((spec.build, f"the build dependencies of {spec.source}"))
        installs.append((["--overrides", overrides, *_install_args(spec.dependencies), mltrail],
                         f"the dependencies of {spec.source}"))
        hint = f"; or run with --env-manager local to use this Python ({_this_python()})"
        # The venv comes first; the overrides file (mltrail from here, whatever version a
        # requirement names) is written into it before anything is installed.
        make_uv_env(env_dir, spec.python, [], missing_python_hint=hint, cwd=project.directory)
        with open(overrides, "w", encoding="utf-8") as f:
            f.write(mltrail + "\n")
        uv = find_uv()
        for arguments, what in installs:
            run_step([*uv, "pip", "install", "--quiet", "--python", python_in(env_dir),
                      *arguments], f"install {what}", cwd=project.directory)
        say(f"done in {time.monotonic() - started:.1f} s")

    built = build_once(
        env_dir, build, record,
        on_wait=lambda: say(f"Waiting for environment {_short(key)}: another process builds it"),
    )
    if not built:
        say(f"Using environment {_short(key)} (cached)")
    return prepared


def _this_python() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def _python_spec(project: Project) -> _PythonSpec:
    if project.env_type == "conda_env" and project.env_file:
        return _spec_of_conda(project.env_file, project.directory)
    if project.env_type == "python_env" and project.env_file:
        return _spec_of_python_env(project.env_file, project.directory)
    # Nothing declared: this Python's version, and only mltrail.
    return _PythonSpec("the project", _this_python(), [], [], [], 0)


def _load_yaml(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return yaml.safe_load(f)
    except FileNotFoundError:
        raise InvalidArgument(f"Environment file {path} does not exist") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise InvalidArgument(f"Invalid YAML in {path}{where}: {e}") from None


def _string_list(value: Any, field: str, path: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidArgument(f"{path}: {field} must be a list of strings, got {value!r}")
    return [v.strip() for v in value if v.strip()]


def _spec_of_python_env(path: str, project_dir: str) -> _PythonSpec:
    data = _load_yaml(path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InvalidArgument(f"{path}: expected a mapping with keys {', '.join(_PYTHON_ENV_KEYS)}")
    unknown = sorted(str(k) for k in data if k not in _PYTHON_ENV_KEYS)
    if unknown:
        raise InvalidArgument(
            f"{path}: unknown key {', '.join(repr(k) for k in unknown)}; "
            f"the keys are {', '.join(_PYTHON_ENV_KEYS)}"
        )
    python = data.get("python")
    if python is None:
        version = _this_python()
    elif isinstance(python, str):
        version = major_minor(python.strip(), path)
    else:
        raise InvalidArgument(
            f"{path}: python must be a string such as \"3.11\" (quoted: 3.10 unquoted reads as "
            f"the number 3.1), got {python!r}"
        )
    build = _string_list(data.get("build_dependencies"), "build_dependencies", path)
    dependencies = _string_list(data.get("dependencies"), "dependencies", path)
    return _spec(path, project_dir, version, build, dependencies)


_CONDA_PACKAGE = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9_.\-]*)\s*"
    r"(?P<op>==|>=|<=|=|>|<|!=)?\s*(?P<version>[^\s=<>!]*)$"
)


def _spec_of_conda(path: str, project_dir: str) -> _PythonSpec:
    """A conda.yaml read for a virtual environment: its pinned python, its conda packages
    installed through pip (a conda ``=1.2`` meaning pip's ``==1.2.*``), its pip section."""
    data = _load_yaml(path)
    if not isinstance(data, dict):
        raise InvalidArgument(f"{path}: expected a conda environment mapping")
    dependencies = data.get("dependencies") or []
    if not isinstance(dependencies, list):
        raise InvalidArgument(f"{path}: dependencies must be a list, got {dependencies!r}")
    version = _this_python()
    build: list[str] = []
    pip: list[str] = []
    for entry in dependencies:
        if isinstance(entry, dict) and set(entry) == {"pip"}:
            pip += _string_list(entry["pip"], "dependencies.pip", path)
            continue
        if not isinstance(entry, str):
            raise InvalidArgument(
                f"{path}: a dependency must be a package or {{pip: [...]}}, got {entry!r}"
            )
        match = _CONDA_PACKAGE.match(entry.strip().split("::")[-1])
        if match is None:
            raise InvalidArgument(f"{path}: cannot read the conda dependency {entry!r}")
        name, op, pinned = match.group("name"), match.group("op"), match.group("version")
        if name == "python":
            if not op or op not in ("=", "==", ">=", "<=") or not pinned:
                raise InvalidArgument(
                    f"{path}: python must be pinned (python=3.11), got {entry!r}"
                )
            version = major_minor(pinned, path)
        elif op == "=":
            build.append(f"{name}=={pinned}" if "*" in pinned else f"{name}=={pinned}.*")
        else:
            build.append(f"{name}{op or ''}{pinned}")
    return _spec(path, project_dir, version, build, pip)


_FILE_OPTION = re.compile(r"^(-r|--requirement|-c|--constraint)(?:\s*=\s*|\s+|(?=[^\s-]))(.+)$")


def _file_option(line: str) -> tuple[str, str] | None:
    """``("-r", path)`` / ``("-c", path)`` for a line naming a requirements or constraints file."""
    match = _FILE_OPTION.match(line.strip())
    if match is None:
        return None
    option = "-r" if match.group(1) in ("-r", "--requirement") else "-c"
    return option, match.group(2).strip()


def _spec(
    source: str, project_dir: str, python: str, build: list[str], dependencies: list[str]
) -> _PythonSpec:
    """Resolve ``-r``/``-c`` lines to absolute files whose contents join the key material."""
    resolved: list[str] = []
    material = [f"build: {b}" for b in build]
    count = len(build)
    for line in dependencies:
        option = _file_option(line)
        if option is None:
            resolved.append(line)
            material.append(f"dependency: {line}")
            count += 0 if line.startswith("-") else 1
            continue
        flag, name = option
        path = os.path.normpath(os.path.join(project_dir, name))
        if not os.path.isfile(path):
            raise InvalidArgument(
                f"{source}: dependencies name {line!r}, but {path} does not exist"
            )
        resolved.append(f"{flag} {path}")
        lines = _file_lines(path, source, depth=0)
        material.append(f"{flag} {name}")
        material += [f"  {entry}" for entry in lines]
        if flag == "-r":
            count += sum(1 for entry in lines if not entry.startswith(("-", "#")))
    return _PythonSpec(source, python, build, resolved, material, count)


def _file_lines(path: str, source: str, depth: int) -> list[str]:
    """The meaningful lines of a requirements file, nested ``-r``/``-c`` files inlined (pip
    reads those relative to the file naming them)."""
    if depth > 10:
        raise InvalidArgument(f"{source}: requirement files nest too deep at {path}")
    with open(path, encoding="utf-8") as f:
        text = f.read().replace("\\\n", "")
    found: list[str] = []
    for raw in text.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", raw).strip()
        if not line:
            continue
        option = _file_option(line)
        if option is None:
            found.append(line)
            continue
        nested = os.path.normpath(os.path.join(os.path.dirname(path), option[1]))
        found.append(f"{option[0]} {option[1]}")
        if os.path.isfile(nested):
            found += _file_lines(nested, source, depth + 1)
        else:
            found.append(f"# missing: {nested}")
    return found


def _install_args(dependencies: list[str]) -> list[str]:
    """``uv pip install`` arguments for dependency lines: options split as a shell would
    (``-r /abs/requirements.txt``, ``--index-url URL``), requirements whole."""
    arguments: list[str] = []
    for line in dependencies:
        arguments += shlex.split(line) if line.startswith("-") else [line]
    return arguments


_EXTRAS = re.compile(r"^\s*[A-Za-z0-9_.\-]+\s*\[([^\]]*)\]")


def _mltrail_extras(dependencies: list[str], material: list[str]) -> str:
    """The extras any requirement on mltrail asks for (``mltrail[sklearn]``): mltrail comes
    from where this process has it, with those extras."""
    wanted: set[str] = set()
    lines = dependencies + [m.strip() for m in material if m.startswith("  ")]
    for line in lines:
        if line.startswith("-") or requirement_name(line) != "mltrail":
            continue
        match = _EXTRAS.match(line)
        if match:
            wanted |= {e.strip() for e in match.group(1).split(",") if e.strip()}
    return ",".join(sorted(wanted))


# conda


def _conda(project: Project, say: Callable[[str], None]) -> ProjectEnv:
    env_file = project.env_file
    conda = shutil.which("conda")
    if conda is None:
        named = env_file or os.path.join(project.directory, "conda.yaml")
        raise MltrailError(
            f"The project's conda environment {named} needs conda, which is not on PATH: "
            "install conda, or run with --env-manager uv (a virtual environment built from "
            "the file's python and pip packages) or --env-manager local"
        )
    if not env_file:
        raise InvalidArgument(
            f"env_manager 'conda' needs a conda.yaml in project {project.directory!r}"
        )
    with open(env_file, "rb") as f:
        content = f.read()
    mltrail = mltrail_requirement("")
    record = "\n".join(["conda_env", hashlib.sha256(content).hexdigest(), mltrail])
    key = hashlib.sha256(record.encode()).hexdigest()[:16]
    env_dir = os.path.join(env_root(), key)
    bin_dir = os.path.join(env_dir, "bin")
    env_vars = {"PATH": _path_with(bin_dir), "CONDA_PREFIX": env_dir, "CONDA_DEFAULT_ENV": env_dir}
    prepared = ProjectEnv("conda", python_in(env_dir), env_vars, env_dir=env_dir)

    def build() -> None:
        started = time.monotonic()
        say(f"Creating environment {_short(key)} from {env_file} (conda)")
        run_step([conda, "env", "create", "--quiet", "--prefix", env_dir, "--file", env_file],
                 f"create the conda environment of {env_file}", cwd=project.directory)
        python = python_in(env_dir)
        if not os.path.isfile(python):
            raise MltrailError(f"The conda environment of {env_file} has no python: add python "
                               "to its dependencies")
        try:
            installer = [*find_uv(), "pip", "install", "--quiet", "--python", python]
        except MltrailError:
            installer = [python, "-m", "pip", "install", "--quiet"]
        run_step([*installer, mltrail], "install mltrail into the conda environment")
        say(f"done in {time.monotonic() - started:.1f} s")

    built = build_once(
        env_dir, build, record,
        on_wait=lambda: say(f"Waiting for environment {_short(key)}: another process builds it"),
    )
    if not built:
        say(f"Using environment {_short(key)} (cached)")
    return prepared


# docker


def _docker(project: Project, say: Callable[[str], None]) -> ProjectEnv:
    image = project.docker_image
    if not image:
        raise InvalidArgument(
            f"docker_env in the MLproject of {project.directory!r} names no image"
        )
    for entry in project.docker_environment:
        if isinstance(entry, str) and entry not in os.environ:
            raise InvalidArgument(_missing_variable(entry, project.docker_environment))
    docker = shutil.which("docker")
    if docker is None:
        raise MltrailError(
            f"The project's docker_env (image {image!r}) needs the docker CLI, which is not on "
            "PATH: install Docker, or run with --env-manager local"
        )
    try:
        engine = subprocess.run([docker, "info", "--format", "{{.ServerVersion}}"],
                                capture_output=True, text=True, timeout=60)
        failed, output = engine.returncode != 0, engine.stderr or engine.stdout
    except subprocess.TimeoutExpired:
        failed, output = True, "docker info did not answer within 60 s"
    if failed:
        detail = output.strip().splitlines()
        raise MltrailError(
            f"The project's docker_env (image {image!r}) needs a Docker engine, and none is "
            f"reachable ({detail[-1] if detail else 'docker info failed'}): start Docker, or "
            "run with --env-manager local"
        )
    present = subprocess.run([docker, "image", "inspect", image], capture_output=True, text=True)
    if present.returncode == 0:
        say(f"Using image {image} (present)")
    else:
        started = time.monotonic()
        say(f"Pulling image {image} (docker)")
        run_step([docker, "pull", "--quiet", image], f"pull the image {image!r}")
        say(f"done in {time.monotonic() - started:.1f} s")
    return ProjectEnv(
        "docker", None, {}, image=image, volumes=tuple(project.docker_volumes),
        environment=tuple(project.docker_environment),
    )


def _missing_variable(name: str, environment: tuple[Any, ...]) -> str:
    copied = ", ".join(e for e in environment if isinstance(e, str))
    return (
        f"docker_env.environment: the project copies {copied} from this machine's environment, "
        f"but {name} is not set"
    )


def _is_secret(name: str) -> bool:
    return any(word in name for word in _SECRET_WORDS)


def _docker_tracking(child_env: Mapping[str, str]) -> tuple[list[str], dict[str, str | None]]:
    """``docker run`` options and variables that let the command log where the run is.

    Tracking variables (``MLFLOW_*``, ``MLTRAIL_*``) and cloud credentials pass on; a local
    store (a folder or SQLite file) is mounted and its URI rewritten to the mount; a server on
    this machine's loopback is reached through the host's network; a local artifact root is
    mounted at the same path so the runs' artifact URIs stay valid. Secrets pass by name."""
    options: list[str] = []
    variables: dict[str, str | None] = {}
    for name in sorted(child_env):
        if name.startswith(("MLFLOW_", "MLTRAIL_", *_CLOUD_PREFIXES)):
            variables[name] = None if _is_secret(name) else child_env[name]
    mounted: set[str] = set()
    network_host = False
    for name in _TRACKING_URI_VARS:
        uri = child_env.get(name)
        if not uri:
            continue
        local = _local_store(uri)
        if local is not None:
            host_dir, container_uri = local
            if host_dir not in mounted:
                options += ["-v", f"{host_dir}:{_DOCKER_TRACKING_DIR}"]
                mounted.add(host_dir)
            variables[name] = container_uri
        elif (urllib.parse.urlsplit(uri).hostname or "") in _LOCAL_HOSTS:
            network_host = True
    for name in _ARTIFACT_ROOT_VARS:
        root = child_env.get(name, "")
        path = urllib.parse.urlsplit(root).path if root.startswith("file:") else root
        if path and os.path.isabs(path) and path not in mounted:
            options += ["-v", f"{path}:{path}"]
            mounted.add(path)
    credentials = child_env.get("GOOGLE_APPLICATION_CREDENTIALS")
    if credentials:
        options += ["-v", f"{credentials}:/.gcs"]
        variables["GOOGLE_APPLICATION_CREDENTIALS"] = "/.gcs"
    if network_host:
        options = ["--network", "host", *options]
    return options, variables


def _local_store(uri: str) -> tuple[str, str] | None:
    """(host folder to mount, the URI inside the container) for a local tracking store."""
    parts = urllib.parse.urlsplit(uri)
    if parts.scheme == "sqlite":
        path = uri[len("sqlite:///"):] if uri.startswith("sqlite:///") else ""
        if not path or path == ":memory:":
            return None
        path = os.path.abspath(path)
        return os.path.dirname(path), f"sqlite:///{_DOCKER_TRACKING_DIR}/{os.path.basename(path)}"
    if parts.scheme == "file" and not parts.netloc:
        return urllib.parse.unquote(parts.path), f"file://{_DOCKER_TRACKING_DIR}"
    if not parts.scheme and uri:
        return os.path.abspath(uri), f"file://{_DOCKER_TRACKING_DIR}"
    return None
