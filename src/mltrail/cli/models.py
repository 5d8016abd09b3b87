"""``mltrail models``: serve a model over REST, and score files with it.

The model URI is anything ``mltrail.pyfunc.load_model`` takes: a folder, ``runs:/<run>/<name>``,
``models:/<model id>``, an artifact URI. ``runs:/`` and ``models:/`` are looked up in the
tracking store of ``MLTRAIL_TRACKING_URI`` (or ``MLFLOW_TRACKING_URI``, else ./mltrail.db).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from mltrail.cli.main import LazyGroup

FC = TypeVar("FC", bound=Callable[..., Any])

ENV_MANAGERS = ["local", "uv", "virtualenv", "conda"]


def _env_manager_option(command: FC) -> FC:
    return click.option(
        "--env-manager",
        type=click.Choice(ENV_MANAGERS, case_sensitive=False),
        default="local",
        show_default=True,
        help="Where the model runs: local is this Python environment; uv (or virtualenv) an "
        "environment built once from the model's requirements and cached.",
    )(command)


def _env_python(env_manager: str, model_uri: str, no_conda: bool = False) -> tuple[str, str] | None:
    """For ``uv``: the prepared environment's interpreter and the model's local folder;
    None to run here."""
    manager = "local" if no_conda else env_manager.lower()
    if manager == "local":
        return None
    if manager == "conda":
        raise click.UsageError(
            "--env-manager conda is not supported: use --env-manager uv, which builds the "
            "environment from the model's python_env.yaml and requirements.txt"
        )
    from mltrail.models.envs import prepare_env
    from mltrail.models.pyfunc import local_model_path

    local = local_model_path(model_uri)
    click.echo("Preparing the model's environment (built once, then reused)...", err=True)
    return prepare_env(local), local


def _exec_in(python: str, args: list[str]) -> None:
    """Run ``mltrail models ...`` again in the model's environment, in this process's place."""
    import os

    os.execv(python, [python, "-m", "mltrail.cli.main", "models", *args, "--env-manager", "local"])


@click.group(
    cls=LazyGroup,
    lazy={
        "generate-dockerfile": "mltrail.cli.models_docker:generate_dockerfile",
        "build-docker": "mltrail.cli.models_docker:build_docker",
        "registry": "mltrail.cli.registry:registry",
    },
)
def models() -> None:
    """Serve models over REST, score files with them, and package them as images."""


@models.command()
@click.option("--model-uri", "-m", required=True, metavar="URI", help="The model to serve.")
@click.option("--host", "-h", default="127.0.0.1", show_default=True,
              help="The address to listen on (0.0.0.0 for every interface).")
@click.option("--port", "-p", default=5000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--workers", "-w", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Worker processes, each with its own copy of the model.")
@click.option("--timeout", "-t", "timeout_s", default=None, type=click.FloatRange(min=0.001),
              help="Seconds a request may take [default: MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT, "
              "else 60].")
@click.option("--max-request-bytes", default=None, type=click.IntRange(1024),
              help="The largest request body accepted [default: 100 MiB].")
@click.option("--no-conda", is_flag=True, hidden=True, help="MLflow 1.x's --env-manager local.")
@_env_manager_option
def serve(
    model_uri: str,
    host: str,
    port: int,
    workers: int,
    timeout_s: float | None,
    max_request_bytes: int | None,
    no_conda: bool,
    env_manager: str,
) -> None:
    """Serve a model: POST /invocations, GET /ping, /health and /version."""
    prepared = _env_python(env_manager, model_uri, no_conda)
    if prepared is not None:
        python, local = prepared
        args = ["serve", "-m", local, "-h", host, "-p", str(port), "-w", str(workers)]
        if timeout_s is not None:
            args += ["--timeout", str(timeout_s)]
        if max_request_bytes is not None:
            args += ["--max-request-bytes", str(max_request_bytes)]
        _exec_in(python, args)
    from mltrail.models.scoring.app import serve as run

    if workers > 1:
        # Fetched and checked once here, so that each worker loads a local folder, and a bad
        # URI fails now rather than in every worker, again and again.
        from mltrail.models.format import Model
        from mltrail.models.pyfunc import local_model_path

        model_uri = local_model_path(model_uri)
        Model.load(model_uri).pyfunc_conf

    limits: dict[str, Any] = {}
    if timeout_s is not None:
        limits["timeout_s"] = timeout_s
    if max_request_bytes is not None:
        limits["max_body_bytes"] = max_request_bytes
    run(model_uri, host=host, port=port, workers=workers, **limits)


@models.command()
@click.option("--model-uri", "-m", required=True, metavar="URI", help="The model to score with.")
@click.option("--input-path", "-i", default=None, metavar="PATH",
              help="A .csv, .json or .parquet file [default: JSON on standard input].")
@click.option("--output-path", "-o", default=None, metavar="PATH",
              help="Where predictions go; its extension picks the format [default: JSON on "
              "standard output].")
@click.option("--content-type", "-t", default=None,
              type=click.Choice(["json", "csv", "parquet"], case_sensitive=False),
              help="The input's format, when its extension does not say.")
@click.option("--output-format", default=None,
              type=click.Choice(["json", "csv", "parquet"], case_sensitive=False),
              help="The output's format, when its extension does not say.")
@click.option("--progress/--no-progress", default=None,
              help="A progress bar on standard error [default: when it is a terminal].")
@click.option("--no-conda", is_flag=True, hidden=True, help="MLflow 1.x's --env-manager local.")
@_env_manager_option
def predict(
    model_uri: str,
    input_path: str | None,
    output_path: str | None,
    content_type: str | None,
    output_format: str | None,
    progress: bool | None,
    no_conda: bool,
    env_manager: str,
) -> None:
    """Score a file (or standard input) with a model."""
    prepared = _env_python(env_manager, model_uri, no_conda)
    if prepared is not None:
        python, local = prepared
        args = ["predict", "-m", local]
        for flag, value in (("-i", input_path), ("-o", output_path), ("-t", content_type),
                            ("--output-format", output_format)):
            if value is not None:
                args += [flag, value]
        if progress is not None:
            args.append("--progress" if progress else "--no-progress")
        _exec_in(python, args)
    from mltrail.models.batch import predict_file

    show = sys.stderr.isatty() if progress is None else progress
    if not show:
        predict_file(model_uri, input_path, output_path,
                     content_type=content_type, output_format=output_format)
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task("Scoring", total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        count = predict_file(model_uri, input_path, output_path, content_type=content_type,
                             output_format=output_format, progress=advance)
    if output_path:
        click.echo(f"Wrote {count:,} predictions to {output_path}", err=True)


@models.command("prepare-env")
@click.option("--model-uri", "-m", required=True, metavar="URI", help="The model.")
@click.option("--env-manager", type=click.Choice(["uv", "virtualenv"], case_sensitive=False),
              default="uv", show_default=True, help="How to build the environment.")
def prepare_env_command(model_uri: str, env_manager: str) -> None:
    """Build the model's environment now (serve and predict reuse it); print its Python."""
    prepared = _env_python(env_manager, model_uri)
    assert prepared is not None
    click.echo(prepared[0])
