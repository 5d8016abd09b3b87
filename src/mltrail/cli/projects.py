"""``mltrail run``: run an MLproject's entry point as a tracked run, with MLflow's options.

The command is ``mltrail.projects.run`` (or, with ``--sweep``, ``mltrail.projects.sweep``)
on the command line. What the runner says (where the run went, environment builds, cache
hits) goes to stderr; the entry point's own output passes through untouched. With
``--output json`` a summary is printed on stdout at the end.

Exit status: 0 when the run FINISHED, 1 when it FAILED or an error stopped it before it
started (``Error: ...``), 2 for usage errors, 130 after Ctrl-C and 143 after SIGTERM (the
command's process group is stopped and the run marked KILLED first).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import click

from mltrail.cli.options import tracking_uri_option
from mltrail.cli.output import (
    Cell,
    Column,
    Table,
    format_number,
    note,
    output_option,
    show,
    status_cell,
)
from mltrail.errors import MltrailError

ENV_MANAGER_CHOICES = ["local", "uv", "virtualenv", "conda"]


def _key_values(option: str, items: Sequence[str]) -> list[tuple[str, str]]:
    pairs = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected NAME=VALUE, got {item!r}", param_hint=option)
        pairs.append((key, value))
    return pairs


def _parameters(items: Sequence[str], *, sweep: bool) -> dict[str, Any]:
    from mltrail.projects.sweep import split_values

    found: dict[str, Any] = {}
    for key, value in _key_values("'-P' / '--param-list'", items):
        if key in found:
            raise click.BadParameter(
                f"parameter {key!r} is given twice; with --sweep, list its values as "
                f"{key}=a,b,c",
                param_hint="'-P' / '--param-list'",
            )
        found[key] = split_values(value) if sweep else value
    return found


def _docker_args(items: Sequence[str]) -> dict[str, Any] | None:
    if not items:
        return None
    args: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not key:
            raise click.BadParameter(f"expected NAME=VALUE or NAME, got {item!r}", param_hint="-A")
        args[key] = value if sep else True
    return args


def _backend_config(text: str | None) -> Any:
    if text is None:
        return None
    source = "--backend-config"
    if os.path.isfile(text):
        source = text
        with open(text, encoding="utf-8") as handle:
            text = handle.read()
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(
            f"{source}: not JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})",
            param_hint="'-c' / '--backend-config'",
        ) from None


@contextmanager
def _progress() -> Iterator[Any]:
    """Environment-build lines: a spinner on a terminal, plain lines into a pipe."""
    if not sys.stderr.isatty():
        yield note
        return
    from rich.console import Console

    console = Console(stderr=True, highlight=False)
    status = console.status("Preparing the environment…")
    started = False

    def show_line(line: str) -> None:
        nonlocal started
        console.print(line, markup=False)
        if not started:
            status.start()
            started = True
        status.update(line)

    try:
        yield show_line
    finally:
        if started:
            status.stop()


@click.command("run")
@click.argument("uri")
@click.option("--entry-point", "-e", default="main", show_default=True, help="The entry point.")
@click.option("--version", "-v", default=None, help="A git branch, tag or commit to run.")
@click.option(
    "--param-list",
    "-P",
    "param_list",
    multiple=True,
    metavar="NAME=VALUE",
    help="A parameter (repeatable). With --sweep, NAME=a,b,c sweeps the values.",
)
@click.option(
    "--docker-args",
    "-A",
    multiple=True,
    metavar="NAME[=VALUE]",
    help="A `docker run` option for docker_env projects, e.g. -A gpus=all (repeatable).",
)
@click.option("--experiment-name", default=None, help="The experiment (created if missing).")
@click.option("--experiment-id", default=None, help="The experiment's id.")
@click.option(
    "--backend", "-b", default="local", show_default=True, help="Where to run: only local."
)
@click.option(
    "--backend-config", "-c", default=None, metavar="JSON|FILE", help="Backend options, JSON."
)
@click.option(
    "--env-manager",
    type=click.Choice(ENV_MANAGER_CHOICES, case_sensitive=False),
    default=None,
    help=(
        "How to build the environment [default: uv for python_env, conda for conda_env, "
        "docker for docker_env, else local]. virtualenv is built with uv."
    ),
)
@click.option(
    "--storage-dir",
    default=None,
    metavar="DIR",
    help="Where remote `path` parameters are downloaded [default: a temporary folder].",
)
@click.option("--run-id", default=None, help="Resume this run instead of creating one.")
@click.option("--run-name", default=None, help="The new run's name.")
@click.option(
    "--build-image",
    is_flag=True,
    default=False,
    help=(
        "Accepted for MLflow's scripts; mltrail runs docker_env projects in their named "
        "image with the project folder mounted, and builds no image."
    ),
)
@click.option(
    "--use-cache",
    is_flag=True,
    default=False,
    help=(
        "Reuse a FINISHED run of the same entry point, parameters, commit and environment "
        "in the experiment instead of running again."
    ),
)
@click.option(
    "--sweep",
    is_flag=True,
    default=False,
    help="Run every combination of the comma-separated -P values as child runs of one run.",
)
@click.option(
    "--max-parallel",
    type=click.IntRange(1, 64),
    default=None,
    help="With --sweep: how many runs at a time [default: 1].",
)
@tracking_uri_option
@output_option
def run(
    uri: str,
    entry_point: str,
    version: str | None,
    param_list: tuple[str, ...],
    docker_args: tuple[str, ...],
    experiment_name: str | None,
    experiment_id: str | None,
    backend: str,
    backend_config: str | None,
    env_manager: str | None,
    storage_dir: str | None,
    run_id: str | None,
    run_name: str | None,
    build_image: bool,
    use_cache: bool,
    sweep: bool,
    max_parallel: int | None,
    tracking_uri: str | None,
    output: str,
) -> None:
    """Run an MLproject's entry point as a tracked run.

    URI is a folder or a git URL (https://, ssh://, git@host:path, file://), with an
    optional #subdirectory. The run goes to the tracking store of --tracking-uri, else
    MLTRAIL_TRACKING_URI, else ./mltrail.db in the current folder — the same store a plain
    `python train.py` uses — and the command prints where.
    """
    if max_parallel is not None and not sweep:
        raise click.UsageError("--max-parallel is for sweeps: add --sweep")
    if sweep and run_id is not None:
        raise click.UsageError("--sweep starts new runs: it cannot resume --run-id")
    if experiment_id is not None and experiment_name is not None:
        raise click.UsageError("give --experiment-id or --experiment-name, not both")
    parameters = _parameters(param_list, sweep=sweep)
    config = _backend_config(backend_config)
    ctx = click.get_current_context()
    started = time.monotonic()
    try:
        with _progress() as progress:
            if sweep:
                _run_sweep(
                    uri, entry_point, version, parameters, experiment_name, experiment_id,
                    run_name, env_manager, max_parallel or 1, use_cache, storage_dir, backend,
                    tracking_uri, output, progress,
                )  # fmt: skip
                return
            from mltrail.projects.run import run as run_project

            submitted = run_project(
                uri,
                entry_point,
                version,
                parameters,
                experiment_name=experiment_name,
                experiment_id=experiment_id,
                run_name=run_name,
                env_manager=env_manager,
                run_id=run_id,
                use_cache=use_cache,
                storage_dir=storage_dir,
                backend=backend,
                backend_config=config,
                docker_args=_docker_args(docker_args),
                build_image=build_image,
                tracking_uri=tracking_uri,
                report=note,
                progress=progress,
            )
    except KeyboardInterrupt:
        note("Interrupted: the command was stopped and its run marked KILLED.")
        ctx.exit(130)
    status = submitted.get_status()
    code = submitted.returncode
    took = f"{time.monotonic() - started:.1f} s"
    store = submitted.tracking_uri
    if output == "json":
        click.echo(
            json.dumps(
                {
                    "run_id": submitted.run_id,
                    "experiment_id": submitted.experiment_id,
                    "status": status,
                    "exit_code": code,
                    "reused": submitted.reused,
                    "tracking_uri": store,
                },
                indent=2,
            )
        )
    if status == "FINISHED":
        verb = "reused" if submitted.reused else f"FINISHED in {took}"
        note(f"Run {submitted.run_id} {verb} (experiment {submitted.experiment_id}, store {store})")
        return
    raise MltrailError(
        f"Run {submitted.run_id} {status}: the entry point's command exited with status {code} "
        f"(store {store})"
    )


def _run_sweep(
    uri: str,
    entry_point: str,
    version: str | None,
    parameters: dict[str, Any],
    experiment_name: str | None,
    experiment_id: str | None,
    run_name: str | None,
    env_manager: str | None,
    max_parallel: int,
    use_cache: bool,
    storage_dir: str | None,
    backend: str,
    tracking_uri: str | None,
    output: str,
    progress: Any,
) -> None:
    from mltrail.projects.sweep import sweep

    result = sweep(
        uri,
        parameters,
        entry_point,
        version,
        experiment_name=experiment_name,
        experiment_id=experiment_id,
        run_name=run_name,
        env_manager=env_manager,
        max_parallel=max_parallel,
        use_cache=use_cache,
        storage_dir=storage_dir,
        backend=backend,
        tracking_uri=tracking_uri,
        report=note,
        progress=progress,
    )

    def build() -> list[Table]:
        metric_names = sorted({name for child in result.children for name in child.metrics})
        names = result.swept or sorted({k for c in result.children for k in c.parameters})
        columns = [
            Column("Run ID", no_wrap=True),
            *(Column(name, justify="right") for name in names),
            Column("Status"),
            *(Column(name, justify="right") for name in metric_names),
        ]
        table = Table(
            columns,
            title=f"Sweep {result.parent_run_id}: {result.status}",
            caption=[f"Experiment {result.experiment_id}; parent run {result.parent_run_id}"],
        )
        for child in result.children:
            row: list[Cell] = [child.run_id]
            row.extend(child.parameters.get(name, "") for name in names)
            status = "FINISHED (cached)" if child.reused else child.status
            row.append(status_cell(status) if not child.reused else (status, "green"))
            row.extend(
                format_number(child.metrics[m]) if m in child.metrics else "-"
                for m in metric_names
            )
            table.rows.append(row)
        return [table]

    show(output, result.to_dict(), build)
    if result.status != "FINISHED":
        failed = sum(child.status != "FINISHED" for child in result.children)
        raise MltrailError(
            f"Sweep {result.parent_run_id} FAILED: {failed} of {len(result.children)} runs "
            "did not finish"
        )
