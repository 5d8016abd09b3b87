"""Several worker processes on one listening socket, forked from the server's process.

uvicorn's own supervisor starts each worker as a fresh interpreter, which imports FastAPI,
SQLAlchemy and the app all over again: half a second of CPU per worker, all at once. Forked
from the server's process, which has imported them already, a worker only builds its app and
opens its store. Nothing that must not cross a fork is held when it happens: no thread, no
event loop, and no database connection (the stores opened to migrate are closed first). The
imported objects are frozen out of the garbage collector's reach first (``gc.freeze``), so
the workers keep sharing their pages instead of each copying them: with 2 workers, 163 to
138 MiB of proportional set size in all.

The parent only supervises. A worker that dies is replaced, unless it died soon after it
started, which would only repeat: then the server stops, with the worker's status. SIGINT or
SIGTERM is passed on to every worker, each finishes its requests (uvicorn's graceful
shutdown), and the parent returns once all are gone. SIGHUP replaces the workers one at a
time, as uvicorn's supervisor does, so the others keep serving meanwhile.
"""

from __future__ import annotations

import gc
import os
import signal
import socket
import sys
import time
import traceback
from types import FrameType
from typing import NoReturn

import click
import uvicorn

from mltrail.storage.uri import close_all

# A worker that dies sooner than this after its start is failing, not unlucky.
STEADY_AFTER_S = 5.0
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_SIGNALS = (*_STOP_SIGNALS, signal.SIGHUP)


class Supervisor:
    """The parent of ``count`` workers, each serving ``config``'s app on ``sock``."""

    def __init__(self, config: uvicorn.Config, sock: socket.socket, count: int) -> None:
        self.config, self.sock, self.count = config, sock, count
        self.started: dict[int, float] = {}  # worker pid -> when it was forked
        self.stopping = False
        self.retiring: int | None = None  # the worker SIGHUP's replacement is waiting on
        self.to_retire: list[int] = []  # the workers it replaces after that one

    def run(self) -> None:
        """Fork the workers and keep them running until a stop signal; then wait for them."""
        close_all()
        # The objects imported so far move to a generation the collector never walks, so
        # the workers' collections do not write to (and so copy) the pages they share.
        gc.collect()
        gc.freeze()
        previous = {s: signal.signal(s, self._stop) for s in _STOP_SIGNALS}
        previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, self._replace_all)
        try:
            for _ in range(self.count):
                self._fork()
            self._supervise()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _fork(self) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        # A signal waits until the new worker has its own handlers and the parent knows the
        # worker's pid.
        signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
        try:
            pid = os.fork()
            if pid == 0:
                self._work()
            self.started[pid] = time.monotonic()
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)

    def _work(self) -> NoReturn:
        """A worker's whole life: serve until uvicorn stops, then leave without returning
        into the parent's code (its click command, its ``finally`` blocks)."""
        for signum in _SIGNALS:
            signal.signal(signum, signal.SIG_DFL)  # uvicorn installs its own while it serves
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)
        code = 0
        try:
            uvicorn.Server(self.config).run(sockets=[self.sock])
        except BaseException:
            traceback.print_exc()
            code = 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)

    def _supervise(self) -> None:
        while self.started:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                return
            began = self.started.pop(pid, None)
            if began is None or self.stopping:
                continue
            if pid == self.retiring:
                self._fork()
                self._retire_next()
                continue
            code = os.waitstatus_to_exitcode(status)
            if time.monotonic() - began < STEADY_AFTER_S:
                self._stop(signal.SIGTERM, None)
                self._supervise()  # now stopping: it only collects the others
                raise click.ClickException(
                    f"A worker exited with status {code} right after it started; "
                    "the server stops (see the messages above)"
                )
            click.echo(f"mltrail server: worker {pid} exited with status {code}; "
                       "starting another", err=True)
            self._fork()

    def _replace_all(self, signum: int, frame: FrameType | None) -> None:
        if self.stopping or self.retiring is not None:
            return  # already under way
        self.to_retire = list(self.started)
        self._retire_next()

    def _retire_next(self) -> None:
        """Ask the next worker to finish; its exit forks its replacement."""
        self.retiring = None
        while self.to_retire and self.retiring is None:
            pid = self.to_retire.pop(0)
            try:
                os.kill(pid, signal.SIGTERM)
                self.retiring = pid
            except ProcessLookupError:
                pass  # gone already: replaced as a worker that died

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True
        for pid in self.started:
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass  # it has exited; os.wait() collects it
