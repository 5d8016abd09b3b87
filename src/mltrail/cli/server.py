"""``mltrail server`` and ``mltrail ui``: the tracking server, with MLflow's flags.

The schema is migrated once, here, before any worker starts; workers (forked from this
process by ``server/workers.py``) then only open the store. The listening socket has TCP_NODELAY set, which the sockets it accepts inherit, so a
kept-alive connection never waits on Nagle's algorithm whatever the number of workers.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from collections.abc import Callable
from typing import Any, TypeVar

import click

from mltrail.settings import DEFAULT_TRACKING_URI, Settings


def _absolute_store_uri(uri: str) -> str:
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        relative = uri[len("sqlite:///") :]
        if relative and relative != ":memory:":
            return "sqlite:///" + os.path.abspath(relative)
    return uri


def _absolute_destination(destination: str) -> str:
    if "://" in destination:
        return destination
    return str(Path(destination).absolute())


def _listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise click.ClickException(f"Cannot listen on {host}:{port}: {exc.strerror}") from exc
    sock.set_inheritable(True)
    return sock


F = TypeVar("F", bound=Callable[..., Any])


def _server_options(default_host: str) -> Callable[[F], F]:
    def decorate(command: F) -> F:
        options = [
            click.option("--host", "-h", default=default_host, show_default=True,
                         help="The address to listen on (0.0.0.0 for every interface)."),
            click.option("--port", "-p", default=5000, show_default=True, type=int),
            click.option("--workers", "-w", default=1, show_default=True, type=click.IntRange(1, 64),
                         help="Worker processes."),
            click.option("--backend-store-uri", default=None, metavar="URI",
                         help="Where runs are stored: sqlite:///path.db or postgresql://... "
                         "[default: the tracking URI from the environment, else ./mltrail.db]"),
            click.option("--default-artifact-root", default=None, metavar="URI",
                         help="Where new experiments keep files [default: mlflow-artifacts:/ "
                         "when serving artifacts, else the artifacts destination]."),
            click.option("--artifacts-destination", default="./mlartifacts", show_default=True,
                         metavar="URI", help="Where proxied artifacts are stored: a folder or "
                         "an object store such as s3://bucket/prefix."),
            click.option("--serve-artifacts/--no-serve-artifacts", default=True, show_default=True,
                         help="Proxy artifact uploads and downloads through this server."),
            click.option("--artifacts-only", is_flag=True,
                         help="Serve only the artifact proxy, not the tracking API."),
            click.option("--static-prefix", default="", metavar="PREFIX",
                         help="A path prefix for every route, e.g. /mltrail."),
            click.option("--max-request-bytes", default=32 * 1024 * 1024, show_default=True,
                         type=click.IntRange(1024), help="The largest JSON request body accepted."),
            click.option("--allow-private-webhook-urls", is_flag=True,
                         help="Let webhooks call hosts on private networks, e.g. an in-cluster "
                         "service; off by default, see CVE-2026-2393. Also "
                         "MLTRAIL_WEBHOOKS_ALLOW_PRIVATE=true."),
            click.option("--log-level", default="warning", show_default=True,
                         type=click.Choice(["critical", "error", "warning", "info", "debug"])),
        ]
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def _run(
    host: str,
    port: int,
    workers: int,
    backend_store_uri: str | None,
    default_artifact_root: str | None,
    artifacts_destination: str,
    serve_artifacts: bool,
    artifacts_only: bool,
    static_prefix: str,
    max_request_bytes: int,
    allow_private_webhook_urls: bool,
    log_level: str,
) -> None:
    # The server's frameworks load only when a server starts.
    import uvicorn

    from mltrail.server.app import CONFIG_ENV, open_store
    from mltrail.server.config import ServerConfig

    settings = Settings.from_env()
    prefix = static_prefix.rstrip("/")
    if prefix and not prefix.startswith("/"):
        prefix = "/" + prefix
    config = ServerConfig(
        backend_store_uri=_absolute_store_uri(
            backend_store_uri or settings.tracking_uri or DEFAULT_TRACKING_URI
        ),
        default_artifact_root=default_artifact_root,
        artifacts_destination=_absolute_destination(artifacts_destination),
        serve_artifacts=serve_artifacts,
        artifacts_only=artifacts_only,
        static_prefix=prefix,
        max_request_bytes=max_request_bytes,
        s3_endpoint_url=settings.s3_endpoint_url,
        webhooks_allow_private=allow_private_webhook_urls or settings.webhooks_allow_private,
    )
    if config.backend_store_uri.startswith(("http:", "https:")):
        raise click.ClickException("--backend-store-uri must be a database, not a server URL")
    if not artifacts_only:
        open_store(config).close()  # migrates once, before any worker starts
    sock = _listening_socket(host, port)
    # Each worker builds its app from this variable (see app_from_env).
    os.environ[CONFIG_ENV] = config.to_json()
    shown_host = f"[{host}]" if ":" in host else host
    click.echo(
        f"mltrail server on http://{shown_host}:{port}{prefix}/ ({workers} worker"
        f"{'s' if workers > 1 else ''})\n"
        f"  runs:      {config.backend_store_uri}\n"
        f"  artifacts: {config.artifacts_destination}"
        f"{'' if serve_artifacts else ' (not served)'}",
        err=True,
    )
    uv_config = uvicorn.Config(
        "mltrail.server.app:app_from_env",
        factory=True,
        workers=workers,
        log_level=log_level,
        lifespan="on",  # at shutdown, queued webhook deliveries go out (app._lifespan)
        ws="none",  # no WebSocket endpoints: skip importing a WebSocket protocol at start
        timeout_keep_alive=30,
    )
    if workers == 1:
        uvicorn.Server(uv_config).run(sockets=[sock])
    else:
        from mltrail.server.workers import Supervisor

        Supervisor(uv_config, sock, workers).run()


@click.command("server")
@_server_options(default_host="127.0.0.1")
def server(**options: Any) -> None:
    """Run the tracking server: MLflow's REST API and artifact proxy.

    Scripts log to it with MLTRAIL_TRACKING_URI (or MLFLOW_TRACKING_URI) set to its URL.
    """
    _run(**options)


@click.command("ui")
@_server_options(default_host="127.0.0.1")
def ui(**options: Any) -> None:
    """Run a local tracking server on this folder's store (./mltrail.db by default)."""
    _run(**options)


__all__ = ["server", "ui"]
