"""``mltrail server`` as a user starts it: a subprocess from the command line, with several
workers, stopped by SIGTERM; and a bad store refused before anything starts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
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


def _two_workers_serve_then_stop_on_sigterm(tmp_path: Path, *store: str) -> None:
    """Four threads log runs through a two-worker server; SIGTERM then stops every process
    with status 0."""
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

        client = MltrailClient(url)
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
        assert httpx.get(url + "/").status_code == 200  # the UI, from either worker
        client.close()
    finally:
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=30)
    assert code == 0, log.read_text()
    deadline = time.monotonic() + 10
    while _group_alive(server.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _group_alive(server.pid), "a worker outlived the server"
    text = log.read_text()
    assert "2 workers" in text and "Traceback" not in text


def test_two_workers_serve_then_stop_on_sigterm(tmp_path: Path) -> None:
    _two_workers_serve_then_stop_on_sigterm(tmp_path)
    assert (tmp_path / "mltrail.db").exists()  # ./mltrail.db by default, as the CLI says


def test_two_workers_on_postgresql(tmp_path: Path, postgres_db_url: str) -> None:
    # The server migrates on its own connection, then forks: no connection crosses the fork.
    _two_workers_serve_then_stop_on_sigterm(tmp_path, "--backend-store-uri", postgres_db_url)
    assert not (tmp_path / "mltrail.db").exists()


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


def test_a_worker_that_dies_is_replaced(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "mltrail.cli.main", "server", "--port", str(port),
             "--workers", "2"],
            cwd=tmp_path, env=_env(), stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until_up(f"{url}/health", server, START_TIMEOUT_S, "mltrail server", log.read_text)
        first = _workers(server.pid)
        assert len(first) == 2
        time.sleep(STEADY_AFTER_S)  # a worker dying sooner would stop the server instead
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            now = _workers(server.pid)
            if len(now) == 2 and victim not in now:
                break
            time.sleep(0.1)
        assert len(now) == 2 and victim not in now and now & first, (first, now)
        client = MltrailClient(url)
        experiment = client.create_experiment("after-a-crash")
        for i in range(10):  # spread over both workers by the kernel
            client.create_run(experiment, run_name=f"r{i}")
        assert len(client.search_runs([experiment])) == 10
        client.close()
    finally:
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=30)
    assert code == 0, log.read_text()
    assert f"worker {victim} exited with status -9; starting another" in log.read_text()


def test_sighup_replaces_the_workers_one_at_a_time(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "mltrail.cli.main", "server", "--port", str(port),
             "--workers", "2"],
            cwd=tmp_path, env=_env(), stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    answers: list[int] = []
    done = threading.Event()

    def keep_asking() -> None:  # a new connection each time, as a load balancer's checks
        while not done.is_set():
            try:
                answers.append(httpx.get(f"{url}/api/2.0/mlflow/experiments/search",
                                         params={"max_results": 1}, timeout=10).status_code)
            except httpx.HTTPError:
                answers.append(0)

    asker = threading.Thread(target=keep_asking)
    try:
        wait_until_up(f"{url}/health", server, START_TIMEOUT_S, "mltrail server", log.read_text)
        first = _workers(server.pid)
        assert len(first) == 2
        asker.start()
        server.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            now = _workers(server.pid)
            if len(now) == 2 and not now & first:
                break
            time.sleep(0.1)
        assert len(now) == 2 and not now & first, (first, now)
        time.sleep(0.5)
    finally:
        done.set()
        if asker.is_alive():
            asker.join()
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=30)
    assert code == 0, log.read_text()
    assert answers and set(answers) == {200}, sorted(set(answers))
    assert "Traceback" not in log.read_text()


def test_a_store_that_cannot_be_opened_is_refused_at_once(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mltrail.cli.main", "server", "--port", str(free_port()),
         "--workers", "2", "--backend-store-uri", f"sqlite:///{tmp_path}/missing/dir/x.db"],
        cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=60,
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert "missing" in done.stderr
