"""A real MLflow tracking server, from its own virtualenv, for compatibility tests (a pytest
plugin).

``mlflow_server`` (session) runs ``mlflow server`` with the Python of ``<repo>/.venv-mlflow``
on a free 127.0.0.1 port: SQLite backend, proxied artifacts (``mlflow-artifacts:/`` roots)
in a temporary folder, one worker. It yields the base URL, e.g. ``http://127.0.0.1:41234``,
and stops the server's whole process group at the end of the session.

MLflow lives in its own virtualenv so that its dependencies never mix with ours. Create it
with::

    uv venv .venv-mlflow && uv pip install --python .venv-mlflow/bin/python 'mlflow==3.17.2'

Tests using the fixture skip, with that command as the reason, when it is missing. Starting
takes 20-60 s on a small machine (database migrations, then uvicorn); the fixture allows 180 s.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MLFLOW_PYTHON = REPO / ".venv-mlflow" / "bin" / "python"
MLFLOW_VERSION = "3.17.2"
START_TIMEOUT = 180.0
STOP_TIMEOUT = 30.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "<no log>"
    return "\n".join(text.splitlines()[-lines:])


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server's process group (mlflow runs uvicorn as a child), then SIGKILL."""
    group = process.pid  # start_new_session: the group id is the leader's pid
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)
        process.wait(timeout=STOP_TIMEOUT)
    # A child that outlived its parent still belongs to the group.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGKILL)


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of a running MLflow server (``mlflow==3.17.2``)."""
    if not MLFLOW_PYTHON.exists():
        pytest.skip(
            f"MLflow's virtualenv is missing ({MLFLOW_PYTHON}); create it with: uv venv "
            f".venv-mlflow && uv pip install --python .venv-mlflow/bin/python "
            f"'mlflow=={MLFLOW_VERSION}'"
        )
    work = tmp_path_factory.mktemp("mlflow-server")
    artifacts = work / "artifacts"
    artifacts.mkdir()
    log_path = work / "server.log"
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    # The server must not pick up the test process's tracking settings or import path.
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MLFLOW_", "MLTRAIL_")) and key != "PYTHONPATH"
    }
    # MLflow 3.x also starts a job runner and seven huey consumers for its GenAI jobs;
    # tracking does not need them, and they cost memory and CPU on a small machine.
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    command = [
        str(MLFLOW_PYTHON),
        *("-m", "mlflow", "server"),
        *("--backend-store-uri", f"sqlite:///{work / 'mlflow.db'}"),
        *("--default-artifact-root", "mlflow-artifacts:/"),
        *("--artifacts-destination", str(artifacts)),
        *("--host", "127.0.0.1", "--port", str(port), "--workers", "1"),
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=work,
            env=env,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _healthy(url):
            if process.poll() is not None:
                raise RuntimeError(
                    f"mlflow server exited with status {process.returncode} before answering "
                    f"/health; its log:\n{_tail(log_path)}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"mlflow server did not answer {url}/health within {START_TIMEOUT:.0f} s; "
                    f"its log:\n{_tail(log_path)}"
                )
            time.sleep(0.25)
        yield url
    finally:
        _stop(process)
