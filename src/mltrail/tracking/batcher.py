"""The background batcher: ``log_metric`` in a training loop costs an append.

Calls queue ``(run_id, kind, item)`` tuples. A daemon thread sends them as ``log_batch``
calls within MLflow's limits when 1,000 items wait or a second has passed; ``flush`` sends
them at once in the caller's thread (``end_run``, reads, exit, SIGTERM). A failed batch is
re-sent item by item so one bad param cannot take the metrics beside it down with it; the
first error is kept and raised at the next call (whose item is still queued) or flush.
"""

from __future__ import annotations

import atexit
import collections
import logging
import os
import signal
import threading
import weakref
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any

from mltrail.entities import Metric, Param, RunTag
from mltrail.entities.validation import (
    MAX_ENTITIES_PER_BATCH,
    MAX_METRICS_PER_BATCH,
    MAX_PARAMS_PER_BATCH,
    MAX_TAGS_PER_BATCH,
)

log = logging.getLogger(__name__)

SendBatch = Callable[[str, Sequence[Metric], Sequence[Param], Sequence[RunTag]], None]

METRIC, PARAM, TAG = 0, 1, 2
FLUSH_ITEMS = 1000
FLUSH_SECONDS = 1.0

_live: weakref.WeakSet[Batcher] = weakref.WeakSet()
_sigterm_installed = False


class Batcher:
    def __init__(
        self,
        send: SendBatch,
        *,
        flush_items: int = FLUSH_ITEMS,
        flush_seconds: float = FLUSH_SECONDS,
    ) -> None:
        self._send = send
        self._flush_items = flush_items
        self._flush_seconds = flush_seconds
        self._queue: collections.deque[tuple[str, int, Any]] = collections.deque()
        self._wake = threading.Event()
        self._send_lock = threading.RLock()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._closed = False

    # The hot path

    def add(self, run_id: str, kind: int, item: Metric | Param | RunTag) -> None:
        self._queue.append((run_id, kind, item))
        if self._thread is None:
            self._start()
        elif len(self._queue) >= self._flush_items:
            self._wake.set()
        if self._error is not None:
            # An earlier item failed; this one is queued all the same.
            self._raise_pending()

    # Sending

    def flush(self) -> None:
        """Send everything queued now, in this thread; raise a pending background error."""
        self._drain()
        self._raise_pending()

    def pending(self) -> int:
        return len(self._queue)

    def close(self) -> None:
        self._closed = True
        self._wake.set()
        self.flush()

    def _raise_pending(self) -> None:
        error, self._error = self._error, None
        if error is not None:
            raise error

    def _start(self) -> None:
        with self._send_lock:
            if self._thread is not None:
                return
            _live.add(self)
            _install_exit_hooks()
            self._thread = threading.Thread(target=self._run, name="mltrail-batcher", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self._flush_seconds)
            self._wake.clear()
            try:
                self._drain()
            except BaseException as exc:  # noqa: BLE001 - kept for the caller's next call
                self._keep(exc)

    def _keep(self, exc: BaseException) -> None:
        if self._error is None:
            self._error = exc
        else:
            log.warning("mltrail: a further background logging error: %s", exc)

    def _drain(self) -> None:
        with self._send_lock:
            while self._queue:
                items = []
                for _ in range(min(len(self._queue), 10 * MAX_ENTITIES_PER_BATCH)):
                    items.append(self._queue.popleft())
                for run_id, batch in _group(items):
                    self._send_batch(run_id, *batch)

    def _send_batch(
        self, run_id: str, metrics: list[Metric], params: list[Param], tags: list[RunTag]
    ) -> None:
        # Any failure stays with this batch: the batches of other runs are still sent.
        try:
            self._send(run_id, metrics, params, tags)
            return
        except Exception as exc:  # noqa: BLE001 - kept, raised at the next call or flush
            if len(metrics) + len(params) + len(tags) == 1 or not (params or tags):
                self._keep(exc)
                return
        # Isolate the bad item: metrics and tags together, then each param on its own.
        for part in ((metrics, [], tags), *(([], [p], []) for p in params)):
            try:
                self._send(run_id, *part)
            except Exception as exc:  # noqa: BLE001 - as above
                self._keep(exc)


def _group(
    items: list[tuple[str, int, Any]],
) -> list[tuple[str, tuple[list[Metric], list[Param], list[RunTag]]]]:
    """Split queued items into per-run batches that respect MLflow's limits, in order."""
    out: list[tuple[str, tuple[list[Metric], list[Param], list[RunTag]]]] = []
    current: dict[str, tuple[list[Metric], list[Param], list[RunTag]]] = {}
    for run_id, kind, item in items:
        batch = current.get(run_id)
        if batch is not None:
            metrics, params, tags = batch
            full = (
                len(metrics) + len(params) + len(tags) >= MAX_ENTITIES_PER_BATCH
                or (kind == METRIC and len(metrics) >= MAX_METRICS_PER_BATCH)
                or (kind == PARAM and len(params) >= MAX_PARAMS_PER_BATCH)
                or (kind == TAG and len(tags) >= MAX_TAGS_PER_BATCH)
            )
            if full:
                batch = None
        if batch is None:
            batch = current[run_id] = ([], [], [])
            out.append((run_id, batch))
        batch[kind].append(item)
    return out


def flush_all() -> None:
    """Flush every live batcher, keeping going past errors (exit and SIGTERM)."""
    for batcher in list(_live):
        try:
            batcher.flush()
        except BaseException as exc:  # noqa: BLE001 - nothing is left to raise it to
            log.error("mltrail: logging at exit failed: %s", exc)


def _install_exit_hooks() -> None:
    global _sigterm_installed
    if _sigterm_installed:
        return
    _sigterm_installed = True
    atexit.register(flush_all)
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return  # the program handles SIGTERM itself; its exit still runs atexit

    def _on_sigterm(signum: int, frame: FrameType | None) -> None:
        flush_all()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)

    signal.signal(signal.SIGTERM, _on_sigterm)
