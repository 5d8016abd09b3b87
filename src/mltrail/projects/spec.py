"""The MLproject file: what a project declares, and how an entry point becomes a command line.

A project is a folder. Its ``MLproject`` file (the name matched without regard to case, as
MLflow does) is YAML with these keys, all optional:

| key          | value                                                                      |
|--------------|----------------------------------------------------------------------------|
| name         | the project's name                                                         |
| entry_points | ``{name: {command: str, parameters: {param: type or {type, default}}}}``   |
| python_env   | a ``python_env.yaml`` file, relative to the project                        |
| conda_env    | a ``conda.yaml`` file, relative to the project                             |
| docker_env   | ``{image: str, volumes: [str], environment: [NAME or [NAME, value]]}``     |

At most one of the three environment keys. Without any, the environment is the project's
``python_env.yaml`` if there is one, else its ``conda.yaml``, else none (``env_type`` "none":
the caller decides, MLflow's rule being the current interpreter's Python). Without an
MLproject file there are no declared entry points and the files of the project run as entry
points: ``train.py`` as ``python train.py``, ``run.sh`` as ``bash run.sh``.

Parameters have one of five types (MLflow's documented four and ``int``, which MLflow's own
examples use): ``string`` (as given), ``float`` and ``int`` (checked), ``path`` (a local file
or folder, made absolute against the caller's working directory and required to exist; a
remote URI is downloaded into the run's storage folder with mltrail's artifact repositories)
and ``uri`` (kept; a bare local path is made absolute). MLflow reads any other type name as a
string without a word; mltrail refuses it, naming the five, so that a typo is seen.

Commands are templates with ``{param}`` placeholders (``{{`` and ``}}`` for literal braces,
as MLflow's ``str.format``). Every value put into the command line, and every parameter that
the entry point does not declare (appended as ``--key value``, in the order given, as
MLflow), is shell-quoted: a value is one argument for the program and never shell syntax,
whatever quotes, ``;``, ``$(...)``, backticks or newlines it holds. A placeholder that names
no declared parameter is an error (MLflow fails with a bare ``KeyError``).

Everything wrong in the file is an ``InvalidArgument`` that names the file and the key: YAML
syntax errors with their line, unknown keys, wrong types, a missing command.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
import string
import tempfile
import urllib.parse
from collections.abc import Mapping
from typing import Any

import yaml

from mltrail.errors import InvalidArgument, MltrailError

__all__ = [
    "DEFAULT_CONDA_FILE",
    "DEFAULT_PYTHON_ENV_FILE",
    "ENV_TYPES",
    "MLPROJECT_FILE_NAME",
    "PARAMETER_TYPES",
    "EntryPoint",
    "Parameter",
    "Project",
    "ResolvedCommand",
    "find_mlproject",
    "load_project",
]

PARAMETER_TYPES = ("float", "int", "string", "path", "uri")
ENV_TYPES = ("python_env", "conda_env", "docker_env", "none")
MLPROJECT_FILE_NAME = "MLproject"
DEFAULT_PYTHON_ENV_FILE = "python_env.yaml"
DEFAULT_CONDA_FILE = "conda.yaml"

_TOP_KEYS = ("name", "entry_points", "python_env", "conda_env", "docker_env")
_ENTRY_POINT_KEYS = ("command", "parameters")
_PARAMETER_KEYS = ("type", "default")
_DOCKER_KEYS = ("image", "volumes", "environment")
# Files run as entry points when no declared one has the name.
_SCRIPT_RUNNERS = {".py": "python", ".sh": "bash"}

_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(
    r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity|nan)",
    re.IGNORECASE,
)
# A URI scheme of two letters or more (one letter would be a Windows drive).
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]+):")


def _scheme(value: str) -> str | None:
    match = _SCHEME.match(value)
    return match.group(1).lower() if match else None


def _local_path(value: str) -> str | None:
    """The local path ``value`` names (a path, or a ``file:`` URI on this host), else None."""
    scheme = _scheme(value)
    if scheme is None:
        return os.path.expanduser(value)
    if scheme == "file":
        parts = urllib.parse.urlsplit(value)
        if parts.netloc in ("", "localhost"):
            return urllib.parse.unquote(parts.path)
    return None


def _text(value: object) -> str:
    """A parameter value as the command line sees it: ``str`` of YAML and Python values, as
    MLflow (so a YAML ``true`` is ``True``)."""
    return value if isinstance(value, str) else str(value)


@dataclasses.dataclass(frozen=True)
class Parameter:
    """A declared parameter of an entry point; ``default`` None means it must be given."""

    name: str
    type: str = "string"
    default: str | None = None

    def convert(self, value: str, storage_dir: str | None) -> str:
        """``value`` checked and converted for the command line, by type.

        A remote ``path`` is downloaded into a new folder under ``storage_dir``; with no
        ``storage_dir`` it is returned unchanged (what is logged as the run's parameter).
        """
        if self.type == "string":
            return value
        if self.type in ("float", "int"):
            stripped = value.strip()
            pattern = _FLOAT if self.type == "float" else _INT
            if not pattern.fullmatch(stripped):
                article = "an" if self.type == "int" else "a"
                raise InvalidArgument(
                    f"Parameter {self.name!r}: expected {article} {self.type}, got {value!r}"
                )
            return stripped
        if self.type == "uri":
            if value == "":
                raise InvalidArgument(f"Parameter {self.name!r}: expected a URI, got ''")
            if _scheme(value) is None:
                return os.path.abspath(os.path.expanduser(value))
            return value
        if self.type == "path":
            return self._path(value, storage_dir)
        raise InvalidArgument(  # unreachable through load_project, which checks types
            f"Parameter {self.name!r}: unknown type {self.type!r}; "
            f"expected one of {', '.join(PARAMETER_TYPES)}"
        )

    def _path(self, value: str, storage_dir: str | None) -> str:
        if value == "":
            raise InvalidArgument(f"Parameter {self.name!r}: expected a path, got ''")
        local = _local_path(value)
        if local is not None:
            absolute = os.path.abspath(local)
            if not os.path.exists(absolute):
                raise InvalidArgument(
                    f"Parameter {self.name!r}: no such file or folder {value!r} "
                    f"(looked for {absolute!r})"
                )
            return absolute
        if storage_dir is None:
            return value
        return self._download(value, storage_dir)

    def _download(self, uri: str, storage_dir: str) -> str:
        # Imported here: the artifact repositories (and fsspec, httpx) only when a remote
        # path is actually given.
        from mltrail.settings import Settings
        from mltrail.storage.artifacts import get_artifact_repository

        trimmed = uri.rstrip("/")
        parent, _, name = trimmed.rpartition("/")
        if not name or not parent or parent.endswith(":") or parent.endswith(":/"):
            raise InvalidArgument(
                f"Parameter {self.name!r}: the URI {uri!r} names no file or folder"
            )
        os.makedirs(storage_dir, exist_ok=True)
        target = tempfile.mkdtemp(prefix="param-", dir=storage_dir)
        settings = Settings.from_env()
        try:
            repository = get_artifact_repository(
                parent,
                s3_endpoint_url=settings.s3_endpoint_url,
                tracking_uri=settings.effective_tracking_uri,
                settings=settings,
            )
            return repository.download_artifacts(name, target)
        except MltrailError as exc:
            raise InvalidArgument(
                f"Parameter {self.name!r}: could not download {uri!r}: {exc.message}"
            ) from exc
        except Exception as exc:  # a driver's own error (network, permissions, ...)
            raise InvalidArgument(
                f"Parameter {self.name!r}: could not download {uri!r}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc


@dataclasses.dataclass(frozen=True)
class ResolvedCommand:
    """The shell command line to run (with ``bash -c``) and the parameters it was made with,
    declared and extra, as they are logged on the run."""

    command: str
    parameters: dict[str, str]


@dataclasses.dataclass(frozen=True)
class EntryPoint:
    """A command template and the parameters it declares."""

    name: str
    command: str
    parameters: dict[str, Parameter]

    def resolve(
        self, given: Mapping[str, object], storage_dir: str | None = None
    ) -> ResolvedCommand:
        """The command line for ``given`` parameters: checked, converted, quoted.

        Declared parameters take the given value or their default (a missing required one
        is an error naming them all); the rest are appended as ``--key value``.
        """
        for key in given:
            if not isinstance(key, str) or not key:
                raise InvalidArgument(
                    f"Entry point {self.name!r}: parameter names must be non-empty strings, "
                    f"got {key!r}"
                )
        missing = [
            name
            for name, param in self.parameters.items()
            if name not in given and param.default is None
        ]
        if missing:
            raise InvalidArgument(
                f"Entry point {self.name!r}: no value given for required parameter(s) "
                + ", ".join(repr(name) for name in missing)
            )
        for_command: dict[str, str] = {}
        for_log: dict[str, str] = {}
        for name, param in self.parameters.items():
            raw = _text(given[name]) if name in given else param.default
            assert raw is not None  # checked above
            for_command[name] = param.convert(raw, storage_dir)
            # A downloaded path is logged as the URI it came from, not a temporary folder.
            remote = param.type == "path" and _local_path(raw) is None
            for_log[name] = raw if remote else for_command[name]
        extras = {key: _text(value) for key, value in given.items() if key not in self.parameters}
        line = self._substitute({k: shlex.quote(v) for k, v in for_command.items()})
        pieces = [line]
        for key, value in extras.items():
            pieces.append(f"{shlex.quote('--' + key)} {shlex.quote(value)}")
        return ResolvedCommand(command=" ".join(pieces), parameters={**for_log, **extras})

    def _substitute(self, quoted: Mapping[str, str]) -> str:
        out: list[str] = []
        try:
            parsed = list(string.Formatter().parse(self.command))
        except ValueError as exc:
            raise InvalidArgument(
                f"Entry point {self.name!r}: the command template is malformed ({exc}); "
                "write literal braces as '{{' and '}}'"
            ) from exc
        for literal, field, spec, conversion in parsed:
            out.append(literal)
            if field is None:
                continue
            if field not in self.parameters:
                declared = ", ".join(repr(name) for name in self.parameters) or "none"
                raise InvalidArgument(
                    f"Entry point {self.name!r}: the command uses {{{field}}}, which is not a "
                    f"declared parameter (declared: {declared})"
                )
            if spec or conversion:
                raise InvalidArgument(
                    f"Entry point {self.name!r}: the placeholder for {field!r} has a format "
                    "spec or conversion; write it as {" + field + "}"
                )
            out.append(quoted[field])
        return "".join(out)


@dataclasses.dataclass(frozen=True)
class Project:
    """A loaded project: its folder, entry points and environment."""

    name: str | None
    directory: str
    entry_points: dict[str, EntryPoint]
    env_type: str
    env_file: str | None
    docker_image: str | None = None
    docker_volumes: tuple[str, ...] = ()
    docker_environment: tuple[Any, ...] = ()

    def entry_point(self, name: str) -> EntryPoint:
        """The declared entry point ``name``; else the project's ``.py`` / ``.sh`` file of that
        name, run with ``python`` / ``bash`` (all its parameters then pass as ``--key value``)."""
        declared = self.entry_points.get(name)
        if declared is not None:
            return declared
        runner = _SCRIPT_RUNNERS.get(os.path.splitext(name)[1])
        if runner is not None:
            path = os.path.realpath(os.path.join(self.directory, name))
            root = os.path.realpath(self.directory)
            if path.startswith(root + os.sep) and os.path.isfile(path):
                return EntryPoint(name=name, command=f"{runner} {shlex.quote(name)}", parameters={})
        names = ", ".join(repr(n) for n in self.entry_points) or "none declared"
        raise InvalidArgument(
            f"Entry point {name!r} not found in project {self.directory!r}: it is not among the "
            f"entry points ({names}) nor a .py or .sh file of the project"
        )


def find_mlproject(directory: str) -> str | None:
    """The path of the MLproject file in ``directory`` (any case), or None."""
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        raise InvalidArgument(f"Project folder {directory!r} does not exist") from None
    except NotADirectoryError:
        raise InvalidArgument(f"Project folder {directory!r} is not a folder") from None
    for name in names:
        path = os.path.join(directory, name)
        if name.lower() == MLPROJECT_FILE_NAME.lower() and os.path.isfile(path):
            return path
    return None


def load_project(directory: str) -> Project:
    """The project in ``directory``, from its MLproject file when it has one."""
    root = os.path.abspath(directory)
    path = find_mlproject(root)
    document: dict[str, Any] = {}
    if path is not None:
        document = _read_yaml(path)
    where = path or root
    unknown = [key for key in document if key not in _TOP_KEYS]
    if unknown:
        extra = ""
        if "databricks_spark_job" in unknown:
            extra = " (databricks_spark_job is for Databricks and is not supported by mltrail)"
        raise InvalidArgument(
            f"{where}: unknown key(s) {', '.join(repr(str(k)) for k in unknown)}; expected "
            f"{', '.join(_TOP_KEYS)}{extra}"
        )
    name = document.get("name")
    if name is not None and not isinstance(name, str):
        raise InvalidArgument(f"{where}: 'name' must be a string, got {name!r}")
    entry_points = _entry_points(where, document.get("entry_points"))
    env_keys = [key for key in ("python_env", "conda_env", "docker_env") if key in document]
    if len(env_keys) > 1:
        raise InvalidArgument(
            f"{where}: give at most one environment, got {' and '.join(env_keys)}"
        )
    project = Project(name, root, entry_points, env_type="none", env_file=None)
    if env_keys == ["docker_env"]:
        image, volumes, environment = _docker(where, document["docker_env"])
        return dataclasses.replace(
            project,
            env_type="docker_env",
            docker_image=image,
            docker_volumes=volumes,
            docker_environment=environment,
        )
    if env_keys:
        key = env_keys[0]
        env_file = _env_file(where, root, key, document[key])
        return dataclasses.replace(project, env_type=key, env_file=env_file)
    # No environment key: MLflow's defaults, python_env.yaml first, then conda.yaml.
    defaults = (("python_env", DEFAULT_PYTHON_ENV_FILE), ("conda_env", DEFAULT_CONDA_FILE))
    for env_type, default in defaults:
        candidate = os.path.join(root, default)
        if os.path.isfile(candidate):
            return dataclasses.replace(project, env_type=env_type, env_file=candidate)
    return project


def _read_yaml(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            loaded = yaml.safe_load(f)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise InvalidArgument(f"{path}: invalid YAML{at}: {problem}") from None
    except UnicodeDecodeError as exc:
        raise InvalidArgument(f"{path}: not UTF-8 text ({exc.reason})") from None
    if loaded is None:
        return {}  # an empty file declares nothing
    if not isinstance(loaded, dict):
        raise InvalidArgument(
            f"{path}: expected a mapping of keys ({', '.join(_TOP_KEYS)}), "
            f"got {type(loaded).__name__}"
        )
    return loaded


def _entry_points(where: str, raw: object) -> dict[str, EntryPoint]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InvalidArgument(
            f"{where}: 'entry_points' must be a mapping of names to entry points, "
            f"got {type(raw).__name__}"
        )
    found: dict[str, EntryPoint] = {}
    for name, body in raw.items():
        if not isinstance(name, str) or not name:
            raise InvalidArgument(f"{where}: entry point names must be strings, got {name!r}")
        at = f"{where}: entry point {name!r}"
        if not isinstance(body, dict):
            raise InvalidArgument(
                f"{at} must be a mapping with 'command' (and 'parameters'), "
                f"got {type(body).__name__}"
            )
        unknown = [key for key in body if key not in _ENTRY_POINT_KEYS]
        if unknown:
            raise InvalidArgument(
                f"{at}: unknown key(s) {', '.join(repr(str(k)) for k in unknown)}; expected "
                "command, parameters"
            )
        command = body.get("command")
        if command is None:
            raise InvalidArgument(f"{at} has no 'command'")
        if not isinstance(command, str) or not command.strip():
            raise InvalidArgument(f"{at}: 'command' must be a non-empty string, got {command!r}")
        found[name] = EntryPoint(
            name=name, command=command, parameters=_parameters(at, body.get("parameters"))
        )
    return found


def _parameters(at: str, raw: object) -> dict[str, Parameter]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InvalidArgument(
            f"{at}: 'parameters' must be a mapping of names to types, got {type(raw).__name__}"
        )
    found: dict[str, Parameter] = {}
    for name, spec in raw.items():
        if not isinstance(name, str) or not name:
            raise InvalidArgument(f"{at}: parameter names must be strings, got {name!r}")
        where = f"{at}, parameter {name!r}"
        default: object = None
        if isinstance(spec, str):
            kind = spec  # the shorthand `alpha: float`
        elif isinstance(spec, dict):
            unknown = [key for key in spec if key not in _PARAMETER_KEYS]
            if unknown:
                raise InvalidArgument(
                    f"{where}: unknown key(s) {', '.join(repr(str(k)) for k in unknown)}; "
                    "expected type, default"
                )
            kind = spec.get("type", "string")
            default = spec.get("default")
        elif spec is None:
            kind = "string"
        else:
            raise InvalidArgument(
                f"{where}: expected a type name or {{type, default}}, got {spec!r}"
            )
        if kind not in PARAMETER_TYPES:
            raise InvalidArgument(
                f"{where}: unknown type {kind!r}; expected one of {', '.join(PARAMETER_TYPES)}"
            )
        if isinstance(default, (dict, list)):
            raise InvalidArgument(
                f"{where}: the default must be a single value, got {default!r}"
            )
        text = None if default is None else _text(default)
        if text is not None and kind in ("float", "int"):
            Parameter(name, kind).convert(text, None)  # a default of the wrong type: say so now
        found[name] = Parameter(name=name, type=kind, default=text)
    return found


def _env_file(where: str, root: str, key: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidArgument(f"{where}: {key!r} must be a file name, got {value!r}")
    path = os.path.abspath(os.path.join(root, value))
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    if real != real_root and not real.startswith(real_root + os.sep):
        raise InvalidArgument(f"{where}: {key!r} file {value!r} is outside the project folder")
    if not os.path.isfile(path):
        raise InvalidArgument(f"{where}: {key!r} file {value!r} not found (looked for {path!r})")
    return path


def _docker(where: str, raw: object) -> tuple[str, tuple[str, ...], tuple[Any, ...]]:
    if not isinstance(raw, dict):
        raise InvalidArgument(
            f"{where}: 'docker_env' must be a mapping with 'image', got {type(raw).__name__}"
        )
    unknown = [key for key in raw if key not in _DOCKER_KEYS]
    if unknown:
        raise InvalidArgument(
            f"{where}: docker_env: unknown key(s) {', '.join(repr(str(k)) for k in unknown)}; "
            "expected image, volumes, environment"
        )
    image = raw.get("image")
    if not isinstance(image, str) or not image:
        raise InvalidArgument(f"{where}: docker_env needs an 'image' (a string), got {image!r}")
    volumes = raw.get("volumes") or []
    if not isinstance(volumes, list) or not all(isinstance(v, str) for v in volumes):
        raise InvalidArgument(
            f"{where}: docker_env 'volumes' must be a list of strings such as "
            f"'/host/path:/container/path', got {volumes!r}"
        )
    environment = raw.get("environment") or []
    items: list[Any] = []
    for item in environment if isinstance(environment, list) else [environment]:
        if isinstance(item, str) and isinstance(environment, list):
            items.append(item)
        elif (
            isinstance(item, list)
            and len(item) == 2
            and isinstance(item[0], str)
            and isinstance(item[1], (str, int, float))
        ):
            items.append((item[0], _text(item[1])))
        else:
            raise InvalidArgument(
                f"{where}: docker_env 'environment' must be a list of variable names to copy "
                f"from this host and [NAME, value] pairs, got {environment!r}"
            )
    return image, tuple(volumes), tuple(items)
