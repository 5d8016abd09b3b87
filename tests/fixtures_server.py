"""A real mltrail tracking server on 127.0.0.1, for tests (a pytest plugin).

``start_server(config)`` runs uvicorn in a daemon thread on a free port and returns a handle
with its base URL; ``tracking_server`` gives each test a server over a fresh SQLite store
with proxied artifacts in its own folder. ``serving_model`` runs a scoring server as a user
starts one, with ``mltrail models serve``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mltrail.server.config import ServerConfig


@dataclasses.dataclass
class RunningServer:
    url: str
    config: ServerConfig
    server: object
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True  # type: ignore[attr-defined]
        self.thread.join(timeout=10)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(config: ServerConfig) -> RunningServer:
    import uvicorn

    from mltrail.server.app import create_app

    app = create_app(config)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, name=f"mltrail-server-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    return RunningServer(f"http://127.0.0.1:{port}", config, server, thread)


@dataclasses.dataclass
class SeededServer:
    """A running server and a client of it, for tests that fill a store before looking."""

    server: RunningServer
    client: Any

    @property
    def url(self) -> str:
        return self.server.url


def wait_until_up(
    url: str, process: subprocess.Popen[Any], timeout: float, what: str,
    output: Callable[[], str],
) -> None:
    """Poll ``url`` until it answers 200; fail the test, with ``output()`` (what the process
    printed), if ``process`` exits first or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass  # not listening yet
        assert process.poll() is None, f"{what} exited:\n{output()}"
        assert time.monotonic() < deadline, f"{what} did not start in {timeout:g} s:\n{output()}"
        time.sleep(0.1)


@contextlib.contextmanager
def serving_model(
    model_uri: str, cwd: Path, env: dict[str, str], timeout: float = 90
) -> Iterator[str]:
    """``mltrail models serve -m model_uri`` as a user runs it, in its own session: its URL
    once ``/ping`` answers 200; the whole process group is stopped afterwards."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "mltrail.cli.main", "models", "serve", "-m", model_uri,
         "--port", str(port)],
        cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{url}/ping", process, timeout, "the scoring server",
                      lambda: process.communicate()[0].decode(errors="replace")
                      if process.poll() is not None else "")
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.communicate(timeout=30)


def start_server_in(root: Path) -> RunningServer:
    """A server on a new SQLite store and artifacts folder inside ``root``."""
    return start_server(ServerConfig(
        backend_store_uri=f"sqlite:///{root / 'server.db'}",
        artifacts_destination=str(root / "artifacts"),
    ))


@pytest.fixture
def server_factory() -> Iterator[Callable[[ServerConfig], RunningServer]]:
    started: list[RunningServer] = []

    def factory(config: ServerConfig) -> RunningServer:
        running = start_server(config)
        started.append(running)
        return running

    yield factory
    for running in started:
        running.stop()


@pytest.fixture
def tracking_server(
    tmp_path: Path, server_factory: Callable[[ServerConfig], RunningServer]
) -> RunningServer:
    config = ServerConfig(
        backend_store_uri=f"sqlite:///{tmp_path / 'server.db'}",
        artifacts_destination=str(tmp_path / "artifacts"),
    )
    return server_factory(config)
