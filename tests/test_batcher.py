"""The background batcher: the real ``Batcher`` with a recording sink, then through the
fluent API on SQLite, then in real processes that exit or are sent SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from fixtures_tracking import count_points, count_rows

import mltrail as mlflow
from mltrail.entities import Metric, Param, RunTag
from mltrail.entities.validation import (
    MAX_ENTITIES_PER_BATCH,
    MAX_METRICS_PER_BATCH,
    MAX_PARAMS_PER_BATCH,
    MAX_TAGS_PER_BATCH,
)
from mltrail.errors import InvalidArgument, NotFound
from mltrail.settings import Settings
from mltrail.tracking.batcher import FLUSH_ITEMS, FLUSH_SECONDS, METRIC, PARAM, TAG, Batcher
from mltrail.tracking.fluent import Session, use_session

Batch = tuple[str, list[Metric], list[Param], list[RunTag]]
WAIT = 20.0  # generous: how long to wait for something that must happen


class Recorder:
    """A ``send`` that keeps every batch; ``refuse`` may raise to fail one."""

    def __init__(self, refuse: Callable[[Batch], None] | None = None) -> None:
        self.batches: list[Batch] = []
        self.threads: list[str] = []
        self.refuse = refuse
        self.sent = threading.Event()
        self._lock = threading.Lock()

    def __call__(
        self,
        run_id: str,
        metrics: Sequence[Metric],
        params: Sequence[Param],
        tags: Sequence[RunTag],
    ) -> None:
        batch = (run_id, list(metrics), list(params), list(tags))
        if self.refuse is not None:
            self.refuse(batch)
        with self._lock:
            self.batches.append(batch)
            self.threads.append(threading.current_thread().name)
        self.sent.set()

    def items(self, run_id: str) -> list[Metric | Param | RunTag]:
        out: list[Metric | Param | RunTag] = []
        for rid, metrics, params, tags in self.batches:
            if rid == run_id:
                out.extend([*metrics, *params, *tags])
        return out


@pytest.fixture
def batchers() -> Iterator[list[Batcher]]:
    """Batchers a test makes; closed (their threads stopped) afterwards."""
    made: list[Batcher] = []
    yield made
    for batcher in made:
        batcher._closed = True
        batcher._wake.set()


def metric(step: int, key: str = "m") -> Metric:
    return Metric(key, float(step), 1000 + step, step)


# The real Batcher with a recording sink


def test_the_defaults_are_1000_items_and_one_second() -> None:
    assert (FLUSH_ITEMS, FLUSH_SECONDS) == (1000, 1.0)


def test_nothing_is_sent_before_a_trigger(batchers: list[Batcher]) -> None:
    sink = Recorder()
    batcher = Batcher(sink, flush_seconds=3600)
    batchers.append(batcher)
    for step in range(FLUSH_ITEMS - 1):
        batcher.add("run", METRIC, metric(step))
    assert not sink.sent.wait(0.3)
    assert batcher.pending() == FLUSH_ITEMS - 1
    batcher.flush()
    assert batcher.pending() == 0
    assert [m.step for m in sink.items("run")] == list(range(FLUSH_ITEMS - 1))  # type: ignore[union-attr]


def test_the_1000th_item_wakes_the_sender(batchers: list[Batcher]) -> None:
    sink = Recorder()
    batcher = Batcher(sink, flush_seconds=3600)  # the default item trigger, no timer
    batchers.append(batcher)
    for step in range(FLUSH_ITEMS):
        batcher.add("run", METRIC, metric(step))
    assert sink.sent.wait(WAIT)
    (batch,) = sink.batches
    assert len(batch[1]) == FLUSH_ITEMS
    assert sink.threads == ["mltrail-batcher"]
    assert batcher.pending() == 0


def test_a_small_item_trigger(batchers: list[Batcher]) -> None:
    sink = Recorder()
    batcher = Batcher(sink, flush_items=3, flush_seconds=3600)
    batchers.append(batcher)
    batcher.add("run", METRIC, metric(0))
    batcher.add("run", METRIC, metric(1))
    assert not sink.sent.wait(0.3)
    batcher.add("run", METRIC, metric(2))
    assert sink.sent.wait(WAIT)
    assert [m.step for m in sink.items("run")] == [0, 1, 2]  # type: ignore[union-attr]


def test_after_a_second_the_queue_is_sent(batchers: list[Batcher]) -> None:
    sink = Recorder()
    batcher = Batcher(sink)  # the default timer: one second
    batchers.append(batcher)
    batcher.add("run", PARAM, Param("p", "1"))
    assert sink.batches == []  # queued, not sent
    assert sink.sent.wait(WAIT)  # nobody flushed: the timer did
    assert sink.batches == [("run", [], [Param("p", "1")], [])]
    assert sink.threads == ["mltrail-batcher"]


def test_flush_sends_in_the_callers_thread(batchers: list[Batcher]) -> None:
    sink = Recorder()
    batcher = Batcher(sink, flush_seconds=3600)
    batchers.append(batcher)
    batcher.add("run", TAG, RunTag("t", "v"))
    batcher.flush()
    assert sink.batches == [("run", [], [], [RunTag("t", "v")])]
    assert sink.threads == [threading.current_thread().name]


def test_close_sends_what_is_left_and_stops_the_thread() -> None:
    sink = Recorder()
    batcher = Batcher(sink, flush_seconds=3600)
    batcher.add("run", METRIC, metric(0))
    thread = batcher._thread
    batcher.close()
    assert [m.step for m in sink.items("run")] == [0]  # type: ignore[union-attr]
    assert thread is not None
    thread.join(WAIT)
    assert not thread.is_alive()


def test_batches_respect_mlflows_limits_and_each_runs_order(batchers: list[Batcher]) -> None:
    sink = Recorder()
    batcher = Batcher(sink, flush_items=10**9, flush_seconds=3600)
    batchers.append(batcher)
    queued: dict[str, list[Metric | Param | RunTag]] = {"a": [], "b": []}
    for index in range(2600):
        run_id = "a" if index % 3 else "b"
        item: Metric | Param | RunTag
        if index % 7 == 0:
            item, kind = Param(f"p{index}", "v"), PARAM
        elif index % 11 == 0:
            item, kind = RunTag(f"t{index}", "v"), TAG
        else:
            item, kind = metric(index), METRIC
        batcher.add(run_id, kind, item)
        queued[run_id].append(item)
    batcher.flush()
    for _, metrics, params, tags in sink.batches:
        assert len(metrics) <= MAX_METRICS_PER_BATCH
        assert len(params) <= MAX_PARAMS_PER_BATCH
        assert len(tags) <= MAX_TAGS_PER_BATCH
        assert 0 < len(metrics) + len(params) + len(tags) <= MAX_ENTITIES_PER_BATCH
    assert max(len(b[2]) for b in sink.batches) == MAX_PARAMS_PER_BATCH  # the limit was met
    for run_id, items in queued.items():
        # Every item sent once; within a run, an item never goes in an earlier batch
        # than one queued before it, and each kind keeps its order.
        batch_of = {}
        for number, (rid, metrics, params, tags) in enumerate(sink.batches):
            if rid == run_id:
                for sent in [*metrics, *params, *tags]:
                    assert sent not in batch_of
                    batch_of[sent] = number
        assert set(batch_of) == set(items)
        numbers = [batch_of[item] for item in items]
        assert numbers == sorted(numbers)
        for entity in (Metric, Param, RunTag):
            assert [i for i in sink.items(run_id) if isinstance(i, entity)] == [
                i for i in items if isinstance(i, entity)
            ]


def test_a_full_batch_of_one_kind_starts_a_new_batch(batchers: list[Batcher]) -> None:
    sink = Recorder()
    batcher = Batcher(sink, flush_items=10**9, flush_seconds=3600)
    batchers.append(batcher)
    for index in range(950):
        batcher.add("r", METRIC, metric(index))
    for index in range(120):
        batcher.add("r", TAG, RunTag(f"t{index}", "v"))
    batcher.flush()
    sizes = [(len(m), len(p), len(t)) for _, m, p, t in sink.batches]
    assert sizes == [(950, 0, 50), (0, 0, 70)]


def refuse_param(value: str) -> Callable[[Batch], None]:
    def refuse(batch: Batch) -> None:
        if any(p.value == value for p in batch[2]):
            raise InvalidArgument(f"param refused: {value}")

    return refuse


def test_a_bad_param_does_not_take_the_items_beside_it_down(batchers: list[Batcher]) -> None:
    sink = Recorder(refuse_param("bad"))
    batcher = Batcher(sink, flush_seconds=3600)
    batchers.append(batcher)
    batcher.add("r", METRIC, metric(0))
    batcher.add("r", PARAM, Param("good", "ok"))
    batcher.add("r", PARAM, Param("worse", "bad"))
    batcher.add("r", TAG, RunTag("t", "v"))
    batcher.add("r", METRIC, metric(1))
    with pytest.raises(InvalidArgument, match="param refused: bad"):
        batcher.flush()
    sent = sink.items("r")
    assert metric(0) in sent and metric(1) in sent
    assert RunTag("t", "v") in sent
    assert Param("good", "ok") in sent
    assert Param("worse", "bad") not in sent
    batcher.flush()  # the error was raised once


def test_a_background_error_is_raised_at_the_next_add_and_that_item_is_kept(
    batchers: list[Batcher],
) -> None:
    sink = Recorder(refuse_param("bad"))
    batcher = Batcher(sink, flush_items=2, flush_seconds=3600)
    batchers.append(batcher)
    batcher.add("r", PARAM, Param("p", "bad"))
    batcher.add("r", METRIC, metric(0))  # the second item wakes the sender
    assert sink.sent.wait(WAIT)
    deadline = time.monotonic() + WAIT
    raised = False
    step = 1
    while not raised and time.monotonic() < deadline:
        try:
            batcher.add("r", METRIC, metric(step))
        except InvalidArgument as error:
            assert "param refused: bad" in str(error)
            raised = True
        step += 1
        time.sleep(0.01)
    assert raised
    batcher.flush()
    assert sorted(m.step for m in sink.items("r") if isinstance(m, Metric)) == list(range(step))


def test_an_unexpected_error_for_one_run_does_not_lose_another_runs_items(
    batchers: list[Batcher],
) -> None:
    def refuse(batch: Batch) -> None:
        if batch[0] == "broken":
            raise RuntimeError("connection reset")

    sink = Recorder(refuse)
    batcher = Batcher(sink, flush_seconds=3600)
    batchers.append(batcher)
    batcher.add("broken", METRIC, metric(0))
    batcher.add("fine", METRIC, metric(1))
    batcher.add("fine", PARAM, Param("p", "1"))
    with pytest.raises(RuntimeError, match="connection reset"):
        batcher.flush()
    assert sink.items("fine") == [metric(1), Param("p", "1")]
    assert batcher.pending() == 0


# Through the fluent API, on SQLite


def metric_rows(uri: str, run_id: str) -> int:
    return count_points(uri, run_id)


def test_log_metric_returns_before_the_point_is_stored(session: Session, tracking_uri: str) -> None:
    run = mlflow.start_run()
    for step in range(5):
        mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
    assert metric_rows(tracking_uri, run.info.run_id) == 0  # still queued
    mlflow.end_run()
    assert metric_rows(tracking_uri, run.info.run_id) == 5


def test_reads_see_what_was_logged(session: Session) -> None:
    with mlflow.start_run() as run:
        mlflow.log_metric("loss", 0.5)
        mlflow.log_param("lr", "0.1")
        mlflow.set_tag("stage", "dev")
        data = mlflow.get_run(run.info.run_id).data
        assert data.metrics == {"loss": 0.5}
        assert data.params == {"lr": "0.1"}
        assert data.tags["stage"] == "dev"


def test_synchronous_logging_is_stored_at_the_call(session: Session, tracking_uri: str) -> None:
    with mlflow.start_run() as run:
        mlflow.log_metric("loss", 0.5, synchronous=True)
        assert metric_rows(tracking_uri, run.info.run_id) == 1
        mlflow.log_param("lr", "0.1", synchronous=True)
        with pytest.raises(InvalidArgument, match="Changing param values is not allowed"):
            mlflow.log_param("lr", "0.2", synchronous=True)


def test_async_logging_can_be_switched_off(tracking_uri: str) -> None:
    with use_session(Session(Settings(tracking_uri=tracking_uri, async_logging=False))) as bound:
        with mlflow.start_run() as run:
            mlflow.log_metric("loss", 0.5)
            assert metric_rows(tracking_uri, run.info.run_id) == 1
            with pytest.raises(NotFound, match="Run with id=ffffffffff not found"):
                bound.client().log_metric("ffffffffff", "m", 1.0)


def test_a_bad_param_logged_async_surfaces_at_end_run(session: Session, tracking_uri: str) -> None:
    run = mlflow.start_run()
    mlflow.log_param("lr", "0.1", synchronous=True)
    mlflow.log_param("lr", "0.2")  # queued: the store refuses it later
    for step in range(3):
        mlflow.log_metric("loss", float(step), step=step)
    with pytest.raises(InvalidArgument, match="Changing param values is not allowed.*key='lr'"):
        mlflow.end_run()
    assert mlflow.active_run() is None
    ended = mlflow.get_run(run.info.run_id)
    assert ended.info.status == "FINISHED"
    assert ended.info.end_time is not None
    assert ended.data.params == {"lr": "0.1"}
    assert metric_rows(tracking_uri, run.info.run_id) == 3


def test_a_bad_param_logged_async_surfaces_at_the_next_log_call(
    session: Session, tracking_uri: str
) -> None:
    run = mlflow.start_run()
    mlflow.log_param("lr", "0.1", synchronous=True)
    mlflow.log_param("lr", "0.2")
    mlflow.log_metric("loss", 1.0)
    calls = 0
    raised = False
    deadline = time.monotonic() + WAIT
    while not raised and time.monotonic() < deadline:
        calls += 1
        try:
            mlflow.log_metric("probe", float(calls), step=calls)
        except InvalidArgument as error:
            assert "key='lr'" in str(error)
            raised = True
        else:
            time.sleep(0.02)
    assert raised
    mlflow.end_run()  # the error was raised once
    assert mlflow.get_run(run.info.run_id).info.status == "FINISHED"
    client = session.client()
    assert len(client.get_metric_history(run.info.run_id, "loss")) == 1
    # Every probe is stored, the one whose call raised the earlier error too.
    assert [m.step for m in client.get_metric_history(run.info.run_id, "probe")] == list(
        range(1, calls + 1)
    )


# In real processes

CHILD = textwrap.dedent(
    """
    import sys
    import mltrail as mlflow
    from mltrail.tracking.batcher import Batcher
    from mltrail.tracking.fluent import get_session

    uri, count, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    mlflow.set_tracking_uri(uri)
    client = get_session().client()
    # A batcher with no timer: only the exit path or SIGTERM can store the points.
    client._batcher = Batcher(client._send_batch, flush_seconds=3600)
    run = mlflow.start_run()
    for step in range(count):
        mlflow.log_metric("loss", step * 0.5, step=step)
    print("ready", run.info.run_id, client._batcher.pending(), flush=True)
    if mode == "wait":
        sys.stdin.read()  # until the parent's SIGTERM
    """
)


def child_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLTRAIL_"))}


def start_child(tmp_path: Path, uri: str, count: int, mode: str) -> subprocess.Popen[str]:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    return subprocess.Popen(
        [sys.executable, str(script), uri, str(count), mode],
        cwd=tmp_path,
        env=child_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_process_that_exits_without_end_run_stores_every_point(
    tmp_path: Path, tracking_uri: str
) -> None:
    child = start_child(tmp_path, tracking_uri, 700, "exit")
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    _, run_id, pending = out.split()
    assert pending == "700"
    assert metric_rows(tracking_uri, run_id) == 700
    status = count_rows(
        tracking_uri, "SELECT count(*) FROM runs WHERE run_uuid = ? AND status = 'FINISHED'", run_id
    )
    assert status == 1  # the run is ended at exit, as in MLflow
    assert err == ""


def test_sigterm_stores_the_queued_points(tmp_path: Path, tracking_uri: str) -> None:
    child = start_child(tmp_path, tracking_uri, 900, "wait")
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        _, run_id, pending = line.split()
        assert pending == "900"
        assert metric_rows(tracking_uri, run_id) == 0
        child.send_signal(signal.SIGTERM)
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        for stream in (child.stdin, child.stdout, child.stderr):
            if stream is not None:
                stream.close()
    assert child.returncode == -signal.SIGTERM  # it still dies of the signal
    assert metric_rows(tracking_uri, run_id) == 900
