"""Running a project: fetch it, check its parameters, build its environment, track the run.

``run()`` is ``mltrail.projects.run`` and the body of ``mltrail run``. The order matters:

1. fetch the project (a folder or a git URL) and read its MLproject;
2. resolve the entry point's parameters (types checked, every value shell-quoted);
3. prepare the environment (a cached uv venv, conda, docker, or this interpreter);
4. only then create the tracking run, so bad input and failed builds leave no run behind;
5. start the command in its own process group with ``MLTRAIL_RUN_ID``/``MLFLOW_RUN_ID``,
   the absolute tracking URI and the experiment id in its environment, so the script's own
   ``mltrail.start_run()`` (or ``mlflow.start_run()``) logs into the run created here;
6. end the run FINISHED or FAILED by the command's exit status; KILLED when cancelled or
   when Ctrl-C / SIGTERM reaches the runner (the child's whole process group is stopped:
   SIGTERM, then SIGKILL after a grace period).

Called from inside a project run (``MLTRAIL_RUN_ID`` or ``MLFLOW_RUN_ID`` set, or a fluent run
active in this process), the new run is a child run in the same experiment: that is how an
entry point runs other entry points (a multistep workflow). With ``use_cache=True`` a FINISHED
run of the same entry point, parameters, code and environment in the experiment is returned
instead of running again; every project run carries the key of those in the tag
``mltrail.project.cacheKey``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from types import FrameType
from typing import Any

from mltrail.entities import LifecycleStage, Run, RunStatus
from mltrail.errors import InvalidArgument, MltrailError, NotFound
from mltrail.projects.envs import ProjectEnv, prepare_project_env
from mltrail.projects.sources import FetchedProject, fetch_project
from mltrail.projects.spec import EntryPoint, Project, ResolvedCommand, load_project
from mltrail.settings import Settings
from mltrail.tracking.client import MltrailClient

SOURCE_TYPE_TAG = "mlflow.source.type"
SOURCE_NAME_TAG = "mlflow.source.name"
GIT_COMMIT_TAG = "mlflow.source.git.commit"
GIT_REPO_URL_TAG = "mlflow.source.git.repoURL"
GIT_BRANCH_TAG = "mlflow.source.git.branch"
ENTRY_POINT_TAG = "mlflow.project.entryPoint"
ENV_TAG = "mlflow.project.env"
BACKEND_TAG = "mlflow.project.backend"
RUN_NAME_TAG = "mlflow.runName"
PARENT_RUN_TAG = "mlflow.parentRunId"
USER_TAG = "mlflow.user"
CACHE_KEY_TAG = "mltrail.project.cacheKey"

BACKENDS = ("local",)
ENV_MANAGERS = ("local", "uv", "virtualenv", "conda", "docker")
KILL_GRACE_SECONDS = 5.0
"""How long a cancelled command has between SIGTERM and SIGKILL."""

_IGNORED_IN_FINGERPRINT = {".git", "__pycache__", "mlruns", "mlartifacts", ".venv", ".mypy_cache"}
_FINGERPRINT_FULL_HASH_LIMIT = 1 << 20
"""Files up to this size are hashed whole for the code fingerprint; larger ones by size+mtime."""

Reporter = Callable[[str], None]


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# The submitted run


class SubmittedRun:
    """A project run that was started (or reused from the cache).

    ``wait()`` blocks until the command ends and returns whether the run FINISHED;
    ``get_status()`` is the run's status name; ``cancel()`` stops the command's whole process
    group and marks the run KILLED.
    """

    def __init__(
        self,
        run_id: str,
        client: MltrailClient,
        process: subprocess.Popen[bytes] | None = None,
        *,
        status: str | None = None,
        reused: bool = False,
        experiment_id: str | None = None,
    ) -> None:
        self.run_id = run_id
        self.experiment_id = experiment_id
        self.reused = reused
        """True when ``use_cache`` found an earlier run and nothing ran."""
        self._client = client
        self._process = process
        self._status = status
        self._cancelled = False
        self._lock = threading.Lock()

    @property
    def tracking_uri(self) -> str:
        """The store the run is in."""
        return self._client.tracking_uri

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        return self._process

    @property
    def returncode(self) -> int | None:
        return None if self._process is None else self._process.poll()

    def wait(self) -> bool:
        """Block until the command ends; True when the run FINISHED."""
        if self._process is not None:
            self._process.wait()
            self._finish()
        return self.get_status() == "FINISHED"

    def get_status(self) -> str:
        if self._process is not None and self._process.poll() is not None:
            self._finish()
        if self._status is not None:
            return self._status
        return self._client.get_run(self.run_id).info.status

    def cancel(self) -> None:
        """Stop the command (SIGTERM to its process group, SIGKILL after a grace period)."""
        # Set first: a thread waiting on the command must not record it as FAILED.
        self._cancelled = True
        if self._process is not None:
            stop_process_group(self._process)
        self._finish(RunStatus.KILLED.name)

    def _finish(self, status: str | None = None) -> None:
        """Record the run's end once: KILLED when given, else by the exit status."""
        with self._lock:
            if self._status is not None:
                return
            if status is None and self._cancelled:
                status = RunStatus.KILLED.name
            if status is None:
                code = self._process.poll() if self._process is not None else 0
                if code is None:
                    return
                status = "FINISHED" if code == 0 else "FAILED"
            self._client.set_terminated(self.run_id, status)
            self._status = status

    def __repr__(self) -> str:
        return f"SubmittedRun(run_id={self.run_id!r})"


def stop_process_group(process: subprocess.Popen[bytes], grace: float = KILL_GRACE_SECONDS) -> None:
    """SIGTERM to the process's group, SIGKILL to it if still alive after ``grace`` seconds."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    try:
        # The leader may be gone while others in its group still run: kill the group anyway.
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()


# Preparing a project (shared with sweeps)


@dataclasses.dataclass(frozen=True)
class PreparedProject:
    """A fetched project, its entry point and its environment: what runs need, built once."""

    fetched: FetchedProject
    project: Project
    entry_point: EntryPoint
    env: ProjectEnv
    version: str | None


def prepare(
    uri: str,
    entry_point: str = "main",
    version: str | None = None,
    env_manager: str | None = None,
    *,
    backend: str = "local",
    progress: Reporter | None = None,
) -> PreparedProject:
    """Fetch ``uri``, read its MLproject, find ``entry_point`` and build its environment."""
    if backend not in BACKENDS:
        raise InvalidArgument(
            f"backend: only 'local' is supported, got {backend!r} "
            "(MLflow's databricks and kubernetes backends are not part of mltrail)"
        )
    if env_manager is not None and env_manager not in ENV_MANAGERS:
        raise InvalidArgument(
            f"env_manager: expected one of {', '.join(ENV_MANAGERS)}, got {env_manager!r}"
        )
    fetched = fetch_project(uri, version)
    project = load_project(fetched.directory)
    point = project.entry_point(entry_point)
    env = prepare_project_env(project, env_manager, progress=progress)
    return PreparedProject(fetched, project, point, env, version)


def _string_parameters(parameters: Mapping[str, Any] | None) -> dict[str, str]:
    given: dict[str, str] = {}
    for key, value in (parameters or {}).items():
        if not isinstance(key, str) or not key:
            raise InvalidArgument(f"parameters: a name must be a non-empty string, got {key!r}")
        given[key] = value if isinstance(value, str) else str(value)
    return given


# The run


def run(
    uri: str,
    entry_point: str = "main",
    version: str | None = None,
    parameters: Mapping[str, Any] | None = None,
    experiment_name: str | None = None,
    experiment_id: str | None = None,
    run_name: str | None = None,
    env_manager: str | None = None,
    synchronous: bool = True,
    run_id: str | None = None,
    use_cache: bool = False,
    storage_dir: str | None = None,
    backend: str = "local",
    backend_config: Any = None,
    docker_args: Any = None,
    build_image: bool = False,
    *,
    tracking_uri: str | None = None,
    parent_run_id: str | None = None,
    report: Reporter | None = None,
    progress: Reporter | None = None,
    prepared: PreparedProject | None = None,
) -> SubmittedRun:
    """Run an entry point of the project at ``uri`` as a tracked run; see the module docstring.

    ``synchronous=False`` returns once the command started; ``wait()`` on the result. A
    failed command raises nothing here: ``wait()`` returns False and the run is FAILED.
    ``report`` receives the runner's own lines (where the run went, cache hits; default:
    stderr), ``progress`` the environment builder's.
    """
    say = report or _stderr
    if prepared is None:
        prepared = prepare(
            uri, entry_point, version, env_manager, backend=backend, progress=progress or say
        )
    resolved = prepared.entry_point.resolve(_string_parameters(parameters), storage_dir)
    if docker_args and prepared.env.manager != "docker":
        raise InvalidArgument(
            f"docker_args: only for projects run in Docker; this one runs with "
            f"env manager {prepared.env.manager!r}"
        )

    settings = Settings.from_env()
    client = MltrailClient(_tracking_uri(tracking_uri), settings=settings)
    parent = _parent_run_id(parent_run_id, run_id, settings)
    experiment = _experiment_id(client, experiment_id, experiment_name, parent, run_id, settings)
    cache_key = _cache_key(prepared, resolved)

    if use_cache and run_id is None:
        hit = _cached_run(client, experiment, cache_key)
        if hit is not None:
            say(
                f"Reusing run {hit.info.run_id} (same entry point, parameters, commit and "
                "environment)"
            )
            return SubmittedRun(
                hit.info.run_id,
                client,
                status="FINISHED",
                reused=True,
                experiment_id=hit.info.experiment_id,
            )

    tags = _run_tags(prepared, uri, settings, parent, run_name, cache_key)
    if run_id is not None:
        tracked = _resume(client, run_id, tags)
    else:
        tracked = client.create_run(experiment, tags=tags, run_name=run_name)
        if resolved.parameters:
            client.log_batch(tracked.info.run_id, params=_params(resolved.parameters))
    started_id = tracked.info.run_id
    experiment = tracked.info.experiment_id
    name = client.get_experiment(experiment).name
    say(
        f"Run {started_id} in experiment {name!r} (id {experiment}), "
        f"store {client.tracking_uri}"
    )

    child_env = _child_env(client.tracking_uri, started_id, experiment, prepared.env)
    argv = prepared.env.wrap(
        resolved.command, project_dir=prepared.project.directory, child_env=child_env
    )
    if docker_args and argv and argv[0] == "docker":
        argv = _with_docker_args(argv, docker_args)
    say(f"Running {prepared.entry_point.name!r}: {resolved.command}")
    try:
        process = subprocess.Popen(
            argv, cwd=prepared.project.directory, env=child_env, start_new_session=True
        )
    except OSError as exc:
        client.set_terminated(started_id, "FAILED")
        raise MltrailError(f"Could not start the entry point's command {argv[0]!r}: {exc}") from exc
    submitted = SubmittedRun(started_id, client, process, experiment_id=experiment)
    if not synchronous:
        watcher = threading.Thread(
            target=submitted.wait, name=f"mltrail-project-{started_id}", daemon=True
        )
        watcher.start()
        return submitted
    wait_interruptibly(submitted)
    return submitted


def wait_interruptibly(submitted: SubmittedRun) -> bool:
    """``wait()``, turning Ctrl-C into KILLED (then KeyboardInterrupt) and SIGTERM into KILLED
    (then ``SystemExit(143)``); either way the command's process group is stopped first."""
    previous: Any = None
    in_main = threading.current_thread() is threading.main_thread()
    if in_main:

        def terminated(_signum: int, _frame: FrameType | None) -> None:
            raise _Terminated()

        previous = signal.signal(signal.SIGTERM, terminated)
    try:
        return submitted.wait()
    except KeyboardInterrupt:
        submitted.cancel()
        raise
    except _Terminated:
        submitted.cancel()
        raise SystemExit(128 + signal.SIGTERM) from None
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)


class _Terminated(BaseException):
    """SIGTERM reached the runner while it waited."""


def _tracking_uri(given: str | None) -> str:
    if given:
        return given
    # The fluent session's URI (set_tracking_uri, else the settings), made absolute: the
    # command runs in the project folder, where a relative ./mltrail.db would be another store.
    from mltrail.tracking.fluent import get_tracking_uri

    return get_tracking_uri()


def _parent_run_id(given: str | None, run_id: str | None, settings: Settings) -> str | None:
    if given:
        return given
    if run_id is not None:
        return None
    from mltrail.tracking.fluent import active_run

    current = active_run()
    if current is not None:
        return current.info.run_id
    return settings.run_id


def _experiment_id(
    client: MltrailClient,
    experiment_id: str | None,
    experiment_name: str | None,
    parent: str | None,
    run_id: str | None,
    settings: Settings,
) -> str:
    if experiment_id is not None and experiment_name is not None:
        raise InvalidArgument("Give experiment_id or experiment_name, not both")
    if experiment_id is not None:
        experiment = client.get_experiment(str(experiment_id))
    elif experiment_name is not None:
        found = client.get_experiment_by_name(experiment_name)
        if found is None:
            return client.create_experiment(experiment_name)
        experiment = found
    elif run_id is not None:
        return client.get_run(run_id).info.experiment_id
    elif parent is not None:
        try:
            return client.get_run(parent).info.experiment_id
        except NotFound as exc:
            raise InvalidArgument(
                f"The parent run {parent} (from MLTRAIL_RUN_ID / MLFLOW_RUN_ID) is not in "
                f"the store {client.tracking_uri}"
            ) from exc
    else:
        # As a script's runs: the experiment set in this process, else MLTRAIL_EXPERIMENT_NAME
        # or _ID, else the default experiment.
        from mltrail.tracking.fluent import DEFAULT_EXPERIMENT_ID, get_session

        if get_session().experiment_id is not None:
            return str(get_session().experiment_id)
        if settings.experiment_name:
            return _by_name(client, settings.experiment_name)
        return str(settings.experiment_id or DEFAULT_EXPERIMENT_ID)
    if experiment.lifecycle_stage != LifecycleStage.ACTIVE:
        raise InvalidArgument(
            f"Experiment {experiment.name!r} (id {experiment.experiment_id}) is deleted: "
            "restore it (`mltrail experiments restore`) or choose another"
        )
    return experiment.experiment_id


def _by_name(client: MltrailClient, name: str) -> str:
    found = client.get_experiment_by_name(name)
    return found.experiment_id if found is not None else client.create_experiment(name)


def _params(parameters: Mapping[str, str]) -> list[Any]:
    from mltrail.entities import Param

    return [Param(key, value) for key, value in parameters.items()]


def _resume(client: MltrailClient, run_id: str, tags: Mapping[str, str]) -> Run:
    existing = client.get_run(run_id)
    if existing.info.lifecycle_stage != LifecycleStage.ACTIVE:
        raise InvalidArgument(f"run_id: run {run_id} is deleted; restore it first")
    client.update_run(run_id, status="RUNNING")
    from mltrail.entities import RunTag

    # The run's own name and parent stay; the project tags say what runs in it now.
    kept = {k: v for k, v in tags.items() if k not in (RUN_NAME_TAG, PARENT_RUN_TAG)}
    client.log_batch(run_id, tags=[RunTag(k, v) for k, v in kept.items()])
    return client.get_run(run_id)


def _run_tags(
    prepared: PreparedProject,
    uri: str,
    settings: Settings,
    parent: str | None,
    run_name: str | None,
    cache_key: str,
) -> dict[str, str]:
    fetched = prepared.fetched
    tags = {
        SOURCE_TYPE_TAG: "PROJECT",
        SOURCE_NAME_TAG: fetched.source_name,
        ENTRY_POINT_TAG: prepared.entry_point.name,
        ENV_TAG: prepared.env.manager,
        BACKEND_TAG: "local",
        CACHE_KEY_TAG: cache_key,
    }
    if settings.user:
        tags[USER_TAG] = settings.user
    if fetched.git_commit:
        tags[GIT_COMMIT_TAG] = fetched.git_commit
    if fetched.repo_url:
        tags[GIT_REPO_URL_TAG] = fetched.repo_url
    if prepared.version and fetched.git_commit and not fetched.git_commit.startswith(
        prepared.version
    ):
        # A branch or tag name, as MLflow records a branch given with --version.
        tags[GIT_BRANCH_TAG] = prepared.version
    if parent:
        tags[PARENT_RUN_TAG] = parent
    if run_name:
        tags[RUN_NAME_TAG] = run_name
    return tags


def _child_env(
    tracking_uri: str, run_id: str, experiment_id: str, env: ProjectEnv
) -> dict[str, str]:
    child = dict(os.environ)
    # The run and experiment are given by id; a name inherited from here would contradict it.
    for stale in ("MLTRAIL_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_NAME"):
        child.pop(stale, None)
    child.update(env.env_vars)
    child.update(
        {
            "MLFLOW_RUN_ID": run_id,
            "MLTRAIL_RUN_ID": run_id,
            "MLFLOW_TRACKING_URI": tracking_uri,
            "MLTRAIL_TRACKING_URI": tracking_uri,
            "MLFLOW_EXPERIMENT_ID": experiment_id,
            "MLTRAIL_EXPERIMENT_ID": experiment_id,
        }
    )
    return child


def _with_docker_args(argv: list[str], docker_args: Any) -> list[str]:
    """Insert ``docker run`` options (``{"gpus": "all", "rm": True}`` or ``["--gpus", "all"]``)."""
    extra: list[str] = []
    if isinstance(docker_args, Mapping):
        for key, value in docker_args.items():
            flag = f"-{key}" if len(key) == 1 else f"--{key}"
            if value is True or value is None or value == "":
                extra.append(flag)
            else:
                extra.extend([flag, str(value)])
    else:
        extra = [str(item) for item in docker_args]
    index = argv.index("run") + 1 if "run" in argv else 1
    return [*argv[:index], *extra, *argv[index:]]


# The cache


def _cache_key(prepared: PreparedProject, resolved: ResolvedCommand) -> str:
    """A hash of the entry point, its resolved parameters, the code and the environment."""
    fetched = prepared.fetched
    env = prepared.env
    env_file_hash = None
    if prepared.project.env_file and os.path.isfile(prepared.project.env_file):
        with open(prepared.project.env_file, "rb") as handle:
            env_file_hash = hashlib.sha256(handle.read()).hexdigest()
    material = {
        "source": fetched.repo_url or fetched.source_name,
        "code": fetched.git_commit or _directory_fingerprint(prepared.project.directory),
        "entry_point": prepared.entry_point.name,
        "parameters": dict(sorted(resolved.parameters.items())),
        "env": {
            "manager": env.manager,
            "python": env.python,
            "env_dir": env.env_dir,
            "env_file": env_file_hash,
            "image": env.image,
        },
    }
    text = json.dumps(material, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _directory_fingerprint(directory: str) -> str:
    """The code of a project that is not in git: its files' paths and contents.

    Stores and caches a run leaves in the folder (``mltrail.db``, ``mlruns``, ...) are left
    out, or running a project from its own folder would never hit the cache.
    """
    digest = hashlib.sha256()
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if d not in _IGNORED_IN_FINGERPRINT)
        for name in sorted(files):
            if name.startswith("mltrail.db") or name.endswith((".pyc", ".db-journal")):
                continue
            path = os.path.join(root, name)
            relative = os.path.relpath(path, directory)
            try:
                stat = os.stat(path)
            except OSError:
                continue
            digest.update(relative.encode("utf-8", "surrogateescape") + b"\0")
            if stat.st_size <= _FINGERPRINT_FULL_HASH_LIMIT:
                with open(path, "rb") as handle:
                    digest.update(hashlib.sha256(handle.read()).digest())
            else:
                digest.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def _cached_run(client: MltrailClient, experiment_id: str, cache_key: str) -> Run | None:
    found = client.search_runs(
        experiment_id,
        f"tags.`{CACHE_KEY_TAG}` = '{cache_key}' and attributes.status = 'FINISHED'",
        max_results=1,
        order_by=["attributes.start_time DESC"],
    )
    return found[0] if found else None

