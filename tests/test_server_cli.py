"""``mltrail server`` as a user starts it: a subprocess from the command line, with several
workers, stopped by SIGTERM; and a bad store refused before anything starts."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from mltrail import MltrailClient
from mltrail.server.workers import STEADY_AFTER_S
from fixtures_server import free_port, wait_until_up

START_TIMEOUT_S = 60


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("MLTRAIL_", "MLFLOW_"))}


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@dataclasses.dataclass
class Started:
    process: subprocess.Popen[bytes]
    url: str
    log: Path


@contextlib.contextmanager
def two_workers(tmp_path: Path, *store: str) -> Iterator[Started]:
    """``mltrail server --workers 2`` from the command line, up; SIGTERM at the end must stop
    it with status 0 and no traceback."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "mltrail.cli.main", "server", "--port", str(port),
             "--workers", "2", *store],
            cwd=tmp_path, env=_env(), stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until_up(f"{url}/health", server, START_TIMEOUT_S, "mltrail server", log.read_text)
        yield Started(server, url, log)
    finally:
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=30)
    assert code == 0, log.read_text()
    assert "Traceback" not in log.read_text()


def _workers(parent: int) -> set[int]:
    """The live children of ``parent``, from /proc."""
    found = set()
    for entry in os.listdir("/proc"):
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except (OSError, ValueError):
            continue
        fields = stat.rsplit(")", 1)[-1].split()
        if fields[0] != "Z" and int(fields[1]) == parent:
            found.add(int(entry))
    return found


def _wait_for_workers(parent: int, done: Callable[[set[int]], bool]) -> set[int]:
    """The children of ``parent`` once ``done(children)`` holds (within the start timeout)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    now = _workers(parent)
    while not done(now) and time.monotonic() < deadline:
        time.sleep(0.1)
        now = _workers(parent)
    assert done(now), now
    return now


def _serve_from_four_threads(tmp_path: Path, *store: str) -> None:
    """Four threads log runs through a two-worker server; SIGTERM then stops every process."""
    with two_workers(tmp_path, *store) as server:
        client = MltrailClient(server.url)
        experiment = client.create_experiment("two-workers")

        def log_run(i: int) -> str:
            run_id = client.create_run(experiment, run_name=f"r{i}").info.run_id
            client.log_param(run_id, "i", str(i), synchronous=True)
            client.log_metric(run_id, "m", float(i), synchronous=True)
            client.set_terminated(run_id)
            return run_id

        with ThreadPoolExecutor(4) as pool:
            run_ids = list(pool.map(log_run, range(40)))
        found = client.search_runs([experiment], max_results=100)
        assert sorted(r.info.run_id for r in found) == sorted(run_ids)
        assert {r.data.metrics["m"] for r in found} == {float(i) for i in range(40)}
        assert httpx.get(server.url + "/").status_code == 200  # the UI, from either worker
        client.close()
    deadline = time.monotonic() + 10
    while _group_alive(server.process.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _group_alive(server.process.pid), "a worker outlived the server"
    assert "2 workers" in server.log.read_text()


def test_two_workers_serve_then_stop_on_sigterm(tmp_path: Path) -> None:
    _serve_from_four_threads(tmp_path)
    assert (tmp_path / "mltrail.db").exists()  # ./mltrail.db by default, as the CLI says


def test_two_workers_on_postgresql(tmp_path: Path, postgres_db_url: str) -> None:
    # The server migrates on its own connection, then forks: no connection crosses the fork.
    _serve_from_four_threads(tmp_path, "--backend-store-uri", postgres_db_url)
    assert not (tmp_path / "mltrail.db").exists()


def test_a_worker_that_dies_is_replaced(tmp_path: Path) -> None:
    with two_workers(tmp_path) as server:
        first = _wait_for_workers(server.process.pid, lambda now: len(now) == 2)
        time.sleep(STEADY_AFTER_S)  # a worker dying sooner would stop the server instead
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        now = _wait_for_workers(server.process.pid,
                                lambda now: len(now) == 2 and victim not in now)
        assert now & first
        client = MltrailClient(server.url)
        experiment = client.create_experiment("after-a-crash")
        for i in range(10):  # spread over both workers by the kernel
            client.create_run(experiment, run_name=f"r{i}")
        assert len(client.search_runs([experiment])) == 10
        client.close()
    assert f"worker {victim} exited with status -9; starting another" in server.log.read_text()


def test_sighup_replaces_the_workers_one_at_a_time(tmp_path: Path) -> None:
    answers: list[int] = []
    done = threading.Event()
    with two_workers(tmp_path) as server:

        def keep_asking() -> None:  # a new connection each time, as a load balancer's checks
            while not done.is_set():
                try:
                    answers.append(httpx.get(f"{server.url}/api/2.0/mlflow/experiments/search",
                                             params={"max_results": 1}, timeout=10).status_code)
                except httpx.HTTPError:
                    answers.append(0)

        asker = threading.Thread(target=keep_asking)
        first = _wait_for_workers(server.process.pid, lambda now: len(now) == 2)
        asker.start()
        try:
            server.process.send_signal(signal.SIGHUP)
            _wait_for_workers(server.process.pid, lambda now: len(now) == 2 and not now & first)
            time.sleep(0.5)
        finally:
            done.set()
            asker.join()
    assert answers and set(answers) == {200}, sorted(set(answers))


def test_a_store_that_cannot_be_opened_is_refused_at_once(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mltrail.cli.main", "server", "--port", str(free_port()),
         "--workers", "2", "--backend-store-uri", f"sqlite:///{tmp_path}/missing/dir/x.db"],
        cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=60,
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert "missing" in done.stderr
