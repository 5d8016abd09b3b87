"""``mltrail models generate-dockerfile`` and ``mltrail models build-docker``: an image that
serves a model on port 8080, as MLflow's images do (the model at /opt/ml/model).

The image is built by ``docker build``; without a Docker engine on this machine, write the
build context with ``generate-dockerfile`` and build it where Docker runs.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click

FC = TypeVar("FC", bound=Callable[..., Any])

ENV_MANAGERS = ["local", "uv", "virtualenv", "conda"]


def _image_options(command: FC) -> FC:
    """The flags both commands share, MLflow's spelling."""
    options = [
        click.option("--model-uri", "-m", required=True, metavar="URI",
                     help="The model to serve: a folder, runs:/<run>/<name>, models:/<id>, an "
                     "artifact URI."),
        click.option("--base-image", default=None, metavar="IMAGE",
                     help="The image to start from; it needs python with pip, and useradd "
                     "[default: python:<the model's Python major.minor>-slim]."),
        click.option("--install-java", is_flag=True, default=False,
                     help="Add a Java runtime (Debian's default-jre-headless)."),
        click.option("--mltrail-requirement", default=None, metavar="REQUIREMENT",
                     help="How the image installs mltrail: a pip requirement (with the "
                     "server,models extras) or a .whl file [default: a wheel built from this "
                     "mltrail's source tree when it is installed from one, else "
                     "mltrail[server,models]==<this version>]."),
        click.option("--enable-mlserver", is_flag=True, default=False,
                     help="Not supported: prints a warning and builds the plain mltrail "
                     "scoring image instead (POST /invocations and GET /ping on port 8080, "
                     "which an MLServer image of an MLflow model also answers, but not "
                     "MLServer's V2 inference protocol)."),
        click.option("--env-manager", type=click.Choice(ENV_MANAGERS, case_sensitive=False),
                     default=None,
                     help="Accepted for MLflow's scripts: whatever the value, the image "
                     "installs the model's requirements.txt with pip into its Python."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@contextmanager
def _warnings_on_stderr() -> Iterator[None]:
    """Show the library's warnings (``--enable-mlserver``) as ``Warning: ...`` lines."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        try:
            yield
        finally:
            for warning in caught:
                click.echo(f"Warning: {warning.message}", err=True)


@click.command("generate-dockerfile")
@_image_options
@click.option("--output-directory", "-d", default="mltrail-dockerfile", show_default=True,
              metavar="DIR", help="Where the build context goes; it must not exist, or be empty.")
def generate_dockerfile(
    model_uri: str,
    base_image: str | None,
    install_java: bool,
    mltrail_requirement: str | None,
    enable_mlserver: bool,
    env_manager: str | None,
    output_directory: str,
) -> None:
    """Write a Docker build context (Dockerfile, the model, its requirements) serving a model.

    Build it anywhere with `docker build -t NAME DIR`; the image never downloads the model.
    """
    from mltrail.models.docker import PORT, generate_dockerfile as generate

    with _warnings_on_stderr():
        path = generate(
            model_uri,
            output_directory,
            base_image=base_image,
            install_java=install_java,
            mltrail_requirement=mltrail_requirement,
            enable_mlserver=enable_mlserver,
        )
    click.echo(f"Wrote the build context to {path}")
    click.echo(f"Build it with: docker build -t NAME {path}")
    click.echo(f"Run it with:   docker run -p {PORT}:{PORT} NAME")


@click.command("build-docker")
@_image_options
@click.option("--name", "-n", default="mltrail-pyfunc-servable", show_default=True,
              help="The image's name (and tag).")
def build_docker(
    model_uri: str,
    base_image: str | None,
    install_java: bool,
    mltrail_requirement: str | None,
    enable_mlserver: bool,
    env_manager: str | None,
    name: str,
) -> None:
    """Build a Docker image serving a model on port 8080 (needs a Docker engine).

    Without one, `mltrail models generate-dockerfile` writes the build context to build
    elsewhere.
    """
    from mltrail.models.docker import PORT, build_docker as build

    with _warnings_on_stderr():
        build(
            model_uri,
            name,
            base_image=base_image,
            install_java=install_java,
            mltrail_requirement=mltrail_requirement,
            enable_mlserver=enable_mlserver,
        )
    click.echo(f"Built {name}: run it with docker run -p {PORT}:{PORT} {name}")
