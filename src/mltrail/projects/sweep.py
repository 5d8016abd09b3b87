"""Parameter sweeps: one entry point over a grid of parameter values, as child runs.

``mltrail run . -P alpha=0.1,0.5,1.0 -P l1=0.1,0.2 --sweep`` runs the six combinations (the
cartesian product, in the order the values were given) as child runs of one parent run,
``max_parallel`` at a time. MLflow has no such command; users write the loop by hand.

The project is fetched and its environment built once, and every combination is resolved
(types checked) before the parent run is created: a bad value in the grid runs nothing. The
parent run ends FINISHED only when every child FINISHED, FAILED otherwise, KILLED when the
sweep is interrupted (the running children are stopped and marked KILLED too).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import signal
import threading
import time
from collections.abc import Mapping, Sequence
from types import FrameType
from typing import Any

from mltrail.entities import RunStatus
from mltrail.errors import InvalidArgument
from mltrail.projects.run import (
    BACKEND_TAG,
    ENTRY_POINT_TAG,
    ENV_TAG,
    GIT_COMMIT_TAG,
    GIT_REPO_URL_TAG,
    PARENT_RUN_TAG,
    RUN_NAME_TAG,
    SOURCE_NAME_TAG,
    SOURCE_TYPE_TAG,
    Reporter,
    SubmittedRun,
    _experiment_id,
    _parent_run_id,
    _stderr,
    _string_parameters,
    _tracking_uri,
    prepare,
    run,
)
from mltrail.settings import Settings
from mltrail.tracking.client import MltrailClient

SWEEP_TAG = "mltrail.sweep"
"""On the parent run: the grid as JSON (``{"alpha": ["0.1", "0.5"], ...}``)."""
MAX_COMBINATIONS = 1000
POLL_SECONDS = 0.05


@dataclasses.dataclass(frozen=True)
class SweepChild:
    run_id: str
    parameters: dict[str, str]
    """The swept values and the fixed ones, as given."""
    status: str
    metrics: dict[str, float]
    reused: bool = False


@dataclasses.dataclass(frozen=True)
class SweepResult:
    parent_run_id: str
    experiment_id: str
    status: str
    children: list[SweepChild]
    swept: list[str]
    """The names of the parameters that took several values, in the order given."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "parent_run_id": self.parent_run_id,
            "experiment_id": self.experiment_id,
            "status": self.status,
            "swept": self.swept,
            "children": [dataclasses.asdict(child) for child in self.children],
        }


def split_values(text: str) -> list[str]:
    """``"0.1,0.5"`` -> ``["0.1", "0.5"]``; ``\\,`` is a comma inside a value."""
    values: list[str] = []
    current: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text) and text[index + 1] == ",":
            current.append(",")
            index += 2
            continue
        if char == ",":
            values.append("".join(current))
            current = []
        else:
            current.append(char)
        index += 1
    values.append("".join(current))
    return values


def grid(values: Mapping[str, Sequence[str]]) -> list[dict[str, str]]:
    """Every combination of ``values`` (the cartesian product), the first name slowest."""
    names = list(values)
    for name in names:
        if not values[name]:
            raise InvalidArgument(f"sweep: parameter {name!r} has no values")
    total = 1
    for name in names:
        total *= len(values[name])
    if total > MAX_COMBINATIONS:
        raise InvalidArgument(
            f"sweep: {total} combinations exceed the limit of {MAX_COMBINATIONS}; "
            "sweep fewer values"
        )
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*values.values())]


def sweep(
    uri: str,
    values: Mapping[str, Sequence[str]],
    entry_point: str = "main",
    version: str | None = None,
    experiment_name: str | None = None,
    experiment_id: str | None = None,
    run_name: str | None = None,
    env_manager: str | None = None,
    max_parallel: int = 1,
    use_cache: bool = False,
    storage_dir: str | None = None,
    backend: str = "local",
    *,
    tracking_uri: str | None = None,
    report: Reporter | None = None,
    progress: Reporter | None = None,
) -> SweepResult:
    """Run ``entry_point`` once per combination of ``values``, as children of a parent run."""
    say = report or _stderr
    if max_parallel < 1:
        raise InvalidArgument(f"max_parallel: must be at least 1, got {max_parallel}")
    combos = grid({k: [str(v) for v in vs] for k, vs in values.items()})
    swept = [name for name, given in values.items() if len(given) > 1]
    prepared = prepare(
        uri, entry_point, version, env_manager, backend=backend, progress=progress or say
    )
    for combo in combos:
        # Every combination is checked before anything runs.
        prepared.entry_point.resolve(_string_parameters(combo), storage_dir)

    settings = Settings.from_env()
    client = MltrailClient(_tracking_uri(tracking_uri), settings=settings)
    outer = _parent_run_id(None, None, settings)
    experiment = _experiment_id(client, experiment_id, experiment_name, outer, None, settings)
    tags = {
        SOURCE_TYPE_TAG: "PROJECT",
        SOURCE_NAME_TAG: prepared.fetched.source_name,
        ENTRY_POINT_TAG: prepared.entry_point.name,
        ENV_TAG: prepared.env.manager,
        BACKEND_TAG: "local",
        SWEEP_TAG: json.dumps({k: [str(v) for v in vs] for k, vs in values.items()}),
    }
    if prepared.fetched.git_commit:
        tags[GIT_COMMIT_TAG] = prepared.fetched.git_commit
    if prepared.fetched.repo_url:
        tags[GIT_REPO_URL_TAG] = prepared.fetched.repo_url
    if outer:
        tags[PARENT_RUN_TAG] = outer
    if run_name:
        tags[RUN_NAME_TAG] = run_name
    parent = client.create_run(experiment, tags=tags, run_name=run_name)
    parent_id = parent.info.run_id
    say(
        f"Sweep of {len(combos)} runs ({max_parallel} at a time) under parent run {parent_id}, "
        f"store {client.tracking_uri}"
    )

    submitted: list[tuple[dict[str, str], SubmittedRun]] = []
    running: list[SubmittedRun] = []
    previous: Any = None
    in_main = threading.current_thread() is threading.main_thread()
    if in_main:

        def terminated(_signum: int, _frame: FrameType | None) -> None:
            raise _SweepTerminated()

        previous = signal.signal(signal.SIGTERM, terminated)
    try:
        for combo in combos:
            while len(running) >= max_parallel:
                running = [r for r in running if r.get_status() == "RUNNING"]
                if len(running) >= max_parallel:
                    time.sleep(POLL_SECONDS)
            child = run(
                uri,
                entry_point,
                version,
                combo,
                experiment_id=experiment,
                env_manager=env_manager,
                synchronous=False,
                use_cache=use_cache,
                storage_dir=storage_dir,
                backend=backend,
                tracking_uri=client.tracking_uri,
                parent_run_id=parent_id,
                report=say,
                prepared=prepared,
            )
            submitted.append((combo, child))
            if not child.reused:
                running.append(child)
        for child in running:
            child.wait()
    except KeyboardInterrupt:
        _kill(client, parent_id, running)
        raise
    except _SweepTerminated:
        _kill(client, parent_id, running)
        raise SystemExit(128 + signal.SIGTERM) from None
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)

    children = []
    for combo, child in submitted:
        data = client.get_run(child.run_id).data
        children.append(
            SweepChild(child.run_id, combo, child.get_status(), dict(data.metrics), child.reused)
        )
    status = "FINISHED" if all(c.status == "FINISHED" for c in children) else "FAILED"
    client.set_terminated(parent_id, status)
    return SweepResult(parent_id, experiment, status, children, swept)


class _SweepTerminated(BaseException):
    """SIGTERM reached the sweep while it ran."""


def _kill(client: MltrailClient, parent_id: str, running: Sequence[SubmittedRun]) -> None:
    for child in running:
        child.cancel()
    client.set_terminated(parent_id, RunStatus.KILLED.name)
