"""Many writers on one SQLite file: 8 processes through the fluent API, and 8 threads
sharing one client. Every point must be stored and no "database is locked" may reach the user.
"""

from __future__ import annotations

import contextlib
import contextvars
import faulthandler
import io
import multiprocessing
import queue
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fixtures_tracking import count_points, count_rows

import mltrail as mlflow
from mltrail import MltrailClient
from mltrail.settings import Settings
from mltrail.storage.uri import close_all
from mltrail.tracking.fluent import Session

WORKERS = 8
POINTS = 1000
SYNC_EVERY = 10  # every 10th point is written at the call: 100 competing transactions each
TIMEOUT = 120.0
# A worker still running after this long writes every thread's stack to its dump file, which
# the test shows if it fails: a hang then says where it is.
DUMP_AFTER = 90.0

# Imported once in the fork server, so each worker starts warm (SQLAlchemy is slow to import).
PRELOAD = [
    "mltrail",
    "mltrail.storage.sql.store",
    "mltrail.storage.sql.migrate",
    "mltrail.tracking.context",
    "alembic.command",
    "alembic.config",
]


def log_in_a_process(uri: str, index: int, barrier: Any, results: Any, dump: str) -> None:
    """A worker process: its own run on the shared file, 1,000 points through the fluent API."""
    captured = io.StringIO()
    outcome: dict[str, Any] = {"index": index, "run_id": None, "error": None}
    dump_file = open(dump, "w")  # noqa: SIM115 - open until the process exits
    faulthandler.dump_traceback_later(DUMP_AFTER, file=dump_file)
    with contextlib.redirect_stderr(captured):
        try:
            import mltrail as tracking

            tracking.set_tracking_uri(uri)
            barrier.wait(TIMEOUT)  # all open the store and start their runs at once
            with tracking.start_run(run_name=f"process-{index}") as run:
                barrier.wait(TIMEOUT)  # and log at once
                for step in range(POINTS):
                    tracking.log_metric(
                        "loss", index + step / POINTS, step=step, synchronous=step % SYNC_EVERY == 0
                    )
            outcome["run_id"] = run.info.run_id
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            outcome["error"] = f"{type(exc).__name__}: {exc}"
    faulthandler.cancel_dump_traceback_later()
    outcome["stderr"] = captured.getvalue()
    results.put(outcome)


def collect(results: Any, workers: list[Any], dumps: list[Path]) -> list[dict[str, Any]]:
    """Every worker's outcome; fails, with the stacks of stuck workers, if one never reports."""
    outcomes: list[dict[str, Any]] = []
    deadline = time.monotonic() + 2 * TIMEOUT  # past the workers' own barrier timeouts
    while len(outcomes) < len(workers) and time.monotonic() < deadline:
        try:
            outcomes.append(results.get(timeout=1.0))
        except queue.Empty:
            reported = {o["index"] for o in outcomes}
            if all(w.exitcode is not None for i, w in enumerate(workers) if i not in reported):
                break  # the rest died without reporting
    if len(outcomes) < len(workers):
        reported = {o["index"] for o in outcomes}
        silent = [i for i in range(len(workers)) if i not in reported]
        report = [f"worker {i}: exit code {workers[i].exitcode}" for i in silent]
        report += [f"--- worker {i} stacks:\n{dumps[i].read_text()}" for i in silent]
        report += [f"--- reported: {o}" for o in outcomes]
        pytest.fail("workers never reported:\n" + "\n".join(report))
    return outcomes


def test_eight_processes_log_to_one_sqlite_file(tracking_uri: str, tmp_path: Path) -> None:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    barrier = context.Barrier(WORKERS)
    results = context.Queue()
    dumps = [tmp_path / f"worker-{index}.stacks" for index in range(WORKERS)]
    workers = [
        context.Process(
            target=log_in_a_process, args=(tracking_uri, index, barrier, results, str(dumps[index]))
        )
        for index in range(WORKERS)
    ]
    for worker in workers:
        worker.start()
    try:
        outcomes = collect(results, workers, dumps)
    finally:
        for worker in workers:
            worker.join(TIMEOUT)
            if worker.is_alive():
                worker.kill()
                worker.join()
        results.close()
        results.join_thread()
    assert [w.exitcode for w in workers] == [0] * WORKERS
    assert [o["error"] for o in outcomes] == [None] * WORKERS
    for outcome in outcomes:
        assert "locked" not in outcome["stderr"].lower()
        assert "busy" not in outcome["stderr"].lower()
    run_ids = {o["run_id"] for o in outcomes}
    assert len(run_ids) == WORKERS
    assert count_points(tracking_uri) == WORKERS * POINTS
    reader = MltrailClient(tracking_uri, settings=Settings(tracking_uri=tracking_uri))
    try:
        for run_id in run_ids:
            steps = [m.step for m in reader.get_metric_history(run_id, "loss")]
            assert steps == list(range(POINTS))
    finally:
        reader.close()
        close_all()
    finished = count_rows(tracking_uri, "SELECT count(*) FROM runs WHERE status = 'FINISHED'")
    assert finished == WORKERS


@pytest.fixture
def shared_client(tracking_uri: str) -> Iterator[MltrailClient]:
    client = MltrailClient(tracking_uri, settings=Settings(tracking_uri=tracking_uri))
    yield client
    client.close()
    close_all()


def run_threads(count: int, target: Any) -> list[BaseException]:
    errors: list[BaseException] = []

    def guarded(index: int) -> None:
        try:
            target(index)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert not any(t.is_alive() for t in threads)
    return errors


def test_eight_threads_share_one_client(shared_client: MltrailClient, tracking_uri: str) -> None:
    barrier = threading.Barrier(WORKERS)
    run_ids: dict[int, str] = {}

    def work(index: int) -> None:
        barrier.wait(TIMEOUT)
        run_id = shared_client.create_run("0", run_name=f"thread-{index}").info.run_id
        run_ids[index] = run_id
        for step in range(POINTS):
            shared_client.log_metric(
                run_id, "loss", float(step), step=step, synchronous=step % SYNC_EVERY == 0
            )
        shared_client.set_terminated(run_id)

    assert run_threads(WORKERS, work) == []
    assert count_points(tracking_uri) == WORKERS * POINTS
    for run_id in run_ids.values():
        history = shared_client.get_metric_history(run_id, "loss")
        assert [m.step for m in history] == list(range(POINTS))
        assert shared_client.get_run(run_id).info.status == "FINISHED"


def test_threads_first_logging_at_once_share_one_queue(tracking_uri: str) -> None:
    """Reads flush the client's queue: threads racing to log first must not make two."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible, to hit the race
    try:
        for _ in range(15):
            client = MltrailClient(tracking_uri, settings=Settings(tracking_uri=tracking_uri))
            run_ids = [client.create_run("0").info.run_id for _ in range(WORKERS)]
            barrier = threading.Barrier(WORKERS)

            def work(index: int) -> None:
                barrier.wait(TIMEOUT)
                for step in range(20):
                    client.log_metric(run_ids[index], "m", float(step), step=step)

            assert run_threads(WORKERS, work) == []
            stored = [len(client.get_metric_history(r, "m")) for r in run_ids]
            assert stored == [20] * WORKERS
            client.close()
    finally:
        sys.setswitchinterval(interval)
        close_all()


def test_each_thread_has_its_own_active_run(session: Session) -> None:
    """As in MLflow, the fluent API's active-run stack is per thread."""
    barrier = threading.Barrier(4)
    seen: queue.Queue[str] = queue.Queue()

    def work(index: int) -> None:
        with mlflow.start_run(run_name=f"t{index}") as run:
            barrier.wait(TIMEOUT)  # all four runs are active at once
            active = mlflow.active_run()
            assert active is not None and active.info.run_id == run.info.run_id
            mlflow.log_metric("index", index)
            seen.put(run.info.run_id)

    # A new thread starts with an empty context: hand each one a copy of this one (which
    # holds the test's session), as a program using use_session in threads must.
    contexts = [contextvars.copy_context() for _ in range(4)]

    def in_this_session(index: int) -> None:
        contexts[index].run(work, index)

    assert run_threads(4, in_this_session) == []
    assert mlflow.active_run() is None
    ids = {seen.get_nowait() for _ in range(4)}
    runs = mlflow.search_runs(output_format="list")
    assert {r.info.run_id for r in runs} == ids
    assert sorted(r.data.metrics["index"] for r in runs) == [0.0, 1.0, 2.0, 3.0]
    assert {r.info.status for r in runs} == {"FINISHED"}
