"""The server suite: each library's tracking server as a subprocess, driven over plain HTTP.

`bench/run.py --suite server` imports this module (it runs with the main interpreter, which
has httpx; neither library is imported here). Each workload gets a server started for it on
127.0.0.1 with a fresh SQLite store and artifacts folder in a fresh temporary directory (in a
--quick run the workloads share one), with the same number of workers for both libraries
(`WORKERS`), waits until it is quiet, and talks to it only through
MLflow's REST API (``/api/2.0/mlflow/...``) and its artifact proxy
(``/api/2.0/mlflow-artifacts/artifacts/...``), with one kept-alive httpx connection unless
the workload says otherwise. See bench/README.md for what each workload measures.

Workloads and what their scale means:

  server_log_batch           N metric points through runs/log-batch, 1,000 a request
  server_log_metric_latency  N single runs/log-metric calls on one connection
  server_search              N runs (20 params, 5 tags, 10 metrics each), then runs/search
                             filtered and ordered (first 100), and unfiltered
  server_history             N points of one metric (logged with log-batch), then
                             metrics/get-history
  server_concurrent          8 threads log single metrics for N seconds
  server_artifacts           an N MiB file PUT then GET through the artifact proxy, 3 times
  server_start_and_idle      N starts each on the defaults and with 2 workers: time to
                             /health, then resident memory once quiet and 3 s idle
  server_registry            N model versions of 100 registered models (2 tags each, an
                             alias per model), then model-versions/search (one model's
                             versions; a LIKE over a tenth of the models, newest first; a tag
                             filter; all versions in pages of 1,000) and alias resolution as
                             a client does it on load (registered-models/alias, then
                             model-versions/get-download-uri)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import random
import signal
import socket
import statistics
import subprocess
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

Figures = dict[str, Any]

API = "/api/2.0/mlflow"
ART = "/api/2.0/mlflow-artifacts/artifacts"

WORKERS = 2  # the same for both servers; see bench/README.md for why 2
START_TIMEOUT_S = 300.0
STOP_GRACE_S = 5.0
HEALTH_POLL_S = 0.01
# A server is quiet once its process tree uses under QUIET_CPU_S of CPU in each of
# QUIET_WINDOWS consecutive windows of QUIET_WINDOW_S (MLflow's job runner, on its defaults,
# keeps both cores busy for tens of seconds after /health answers).
QUIET_WINDOW_S = 0.5
QUIET_CPU_S = 0.05
QUIET_WINDOWS = 2
SETTLE_TIMEOUT_S = 180.0
HTTP_TIMEOUT_S = 600.0
# What MLflow's own Python client (requests) asks for; compression is the server's choice.
CLIENT_HEADERS = {"Accept-Encoding": "gzip, deflate"}

BATCH_SIZE = 1_000  # MLflow's cap on metrics in one log-batch request
BATCH_KEYS = 5  # the reference harness's: 200 steps of 5 keys a request
LATENCY_WARMUP_CALLS = 20
# runs/search as ../shared/reference-bench/tracking_bench.py measured MLflow for the issue's
# figures: runs with 20 params, 5 tags and 10 metrics; a filter on a metric and a param that
# keeps about 450 of 1,000 runs, the first 100 of them by another metric; then all runs in
# pages of 1,000.
SEARCH_PARAMS = 20
SEARCH_TAGS = 5
SEARCH_METRICS = 10
SEARCH_FILTER = "metrics.m0 > 0.5 and params.p0 = 'v1'"
SEARCH_ORDER_BY = ["metrics.m1 DESC"]
SEARCH_MAX_RESULTS = 100
SEARCH_PAGE = 1_000
SEARCH_POPULATE_THREADS = 4  # setup only: four connections create the runs
SEARCH_WARMUPS = 1
SEARCH_REPEATS = 20
HISTORY_WARMUPS = 1
HISTORY_REPEATS = 3
CONCURRENT_THREADS = 8
# The throughput workloads run three rounds and report the median: on a shared machine one
# round can land in a slow spell of a few seconds, for either library.
ROUNDS = 3
ARTIFACT_REPEATS = 3
IDLE_S = 3.0
RSS_POLL_S = 0.02


class BenchError(RuntimeError):
    """A wrong answer, or a server that does not start: the workload fails."""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise BenchError(message)


def now_ms() -> int:
    return int(time.time() * 1000)


def pct(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    s = sorted(values)
    return s[max(0, min(len(s), math.ceil(p / 100 * len(s))) - 1)]


# ---------------------------------------------------------------------------- processes


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (field 3, the state, is [0])."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def process_tree(root: int) -> list[int]:
    """`root` and all its live descendants, from the parent ids in /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def _status_kib(pid: int, field: str, file: str = "status") -> int:
    try:
        for line in Path(f"/proc/{pid}/{file}").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def rss_mib(pids: Sequence[int]) -> float:
    """Sum of VmRSS (shared pages counted once per process, as `ps` does)."""
    return sum(_status_kib(p, "VmRSS") for p in pids) / 1024


def pss_mib(pids: Sequence[int]) -> float:
    """Sum of the proportional set size: each shared page split among its sharers."""
    return sum(_status_kib(p, "Pss", "smaps_rollup") for p in pids) / 1024


def cpu_s(pids: Sequence[int]) -> float:
    """User + system CPU seconds of the given live processes."""
    ticks = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


class PeakRss:
    """Polls a process tree's summed VmRSS in a thread; `mark()` starts a new peak."""

    def __init__(self, root: int, interval_s: float = RSS_POLL_S) -> None:
        self.root, self.interval_s = root, interval_s
        self.peak = 0.0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._pids = process_tree(root)

    def _poll(self) -> None:
        n = 0
        while not self._stop.is_set():
            if n % 25 == 0:  # the tree rarely changes; rescan it every half second
                self._pids = process_tree(self.root)
            self.peak = max(self.peak, rss_mib(self._pids))
            self.samples += 1
            n += 1
            self._stop.wait(self.interval_s)

    def mark(self) -> float:
        """Reset the peak to the current value and return it."""
        self.peak = rss_mib(self._pids)
        return self.peak

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def stop_process_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group `proc` leads, SIGKILL it if anything is left after the
    grace time."""
    pgid = proc.pid

    def signal_group(sig: int) -> bool:
        try:
            os.killpg(pgid, sig)
            return True
        except ProcessLookupError:
            return False

    signal_group(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    while time.monotonic() < deadline:
        proc.poll()
        if not signal_group(0):
            break
        time.sleep(0.05)
    else:
        signal_group(signal.SIGKILL)
    try:
        proc.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        pass  # a zombie at worst; the group has been sent SIGKILL


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# ---------------------------------------------------------------------------- servers


@dataclasses.dataclass(frozen=True)
class ServerSpec:
    """How to start one library's server: the command before its flags, and its env.

    `bench_env` is added to `env` for every start but those on the defaults.
    """

    lib: str
    command: tuple[str, ...]
    env: dict[str, str]
    bench_env: dict[str, str] = dataclasses.field(default_factory=dict)


class Server:
    """One server process (a session leader, so its whole tree stops together).

    With `defaults`, only the flags that place the store and the socket are given;
    otherwise also `--default-artifact-root mlflow-artifacts:/`, and the spec's `bench_env`.
    """

    def __init__(self, spec: ServerSpec, workdir: Path, workers: int | None,
                 defaults: bool = False) -> None:
        self.spec, self.workdir = spec, workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "server.log"
        flags = [
            "--backend-store-uri", f"sqlite:///{workdir / 'store.db'}",
            "--artifacts-destination", str(workdir / "artifacts"),
            "--host", "127.0.0.1", "--port", str(self.port),
        ]
        if not defaults:
            flags += ["--default-artifact-root", "mlflow-artifacts:/"]
        if workers is not None:
            flags += ["--workers", str(workers)]
        self.argv = [*spec.command, *flags]
        self.env = spec.env if defaults else {**spec.env, **spec.bench_env}
        self.proc: subprocess.Popen[bytes] | None = None
        self.start_s: float | None = None
        self.settle_s: float | None = None

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise BenchError("server not started")
        return self.proc.pid

    def pids(self) -> list[int]:
        return process_tree(self.pid)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def start(self) -> float:
        """Spawn the server and wait for a 200 from /health; return the seconds it took."""
        (self.workdir / "artifacts").mkdir(exist_ok=True)
        with open(self.log_path, "wb") as log, httpx.Client(timeout=2.0) as health:
            t0 = time.perf_counter()
            self.proc = subprocess.Popen(
                self.argv, cwd=self.workdir, env=self.env, stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
            while True:
                try:
                    if health.get(f"{self.url}/health").status_code == 200:
                        self.start_s = time.perf_counter() - t0
                        return self.start_s
                except httpx.HTTPError:
                    pass
                if self.proc.poll() is not None:
                    raise BenchError(f"{self.spec.lib} server exited with status "
                                     f"{self.proc.returncode}:\n{self.log_tail()}")
                if time.perf_counter() - t0 > START_TIMEOUT_S:
                    self.stop()
                    raise BenchError(f"{self.spec.lib} server gave no /health in "
                                     f"{START_TIMEOUT_S:.0f} s:\n{self.log_tail()}")
                time.sleep(HEALTH_POLL_S)

    def settle(self) -> float:
        """Wait until the server's process tree is quiet; return the seconds waited."""
        t0 = time.perf_counter()
        quiet = 0
        while quiet < QUIET_WINDOWS and time.perf_counter() - t0 < SETTLE_TIMEOUT_S:
            pids = self.pids()
            c0 = cpu_s(pids)
            time.sleep(QUIET_WINDOW_S)
            quiet = quiet + 1 if cpu_s(pids) - c0 < QUIET_CPU_S else 0
        self.settle_s = time.perf_counter() - t0
        return self.settle_s

    def stop(self) -> None:
        if self.proc is not None:
            stop_process_group(self.proc)

    def log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def log_findings(self, since: int = 0) -> Figures:
        """The tracebacks in the server's log after byte `since` (their count and the
        first), for the report."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(since)
                text = f.read().decode(errors="replace")
        except OSError:
            return {}
        out: Figures = {}
        n = text.count("Traceback (most recent call last)")
        if n:
            first = text[text.index("Traceback (most recent call last)"):]
            out["server_tracebacks"] = n
            out["server_first_traceback"] = "\n".join(first.splitlines()[:60])
        return out


@contextmanager
def started(spec: ServerSpec, workers: int | None = WORKERS,
            defaults: bool = False) -> Iterator[Server]:
    """A server answering /health, on a fresh store in a fresh temporary directory; stopped
    after."""
    with tempfile.TemporaryDirectory(prefix=f"bench-server-{spec.lib}-") as tmp:
        server = Server(spec, Path(tmp), workers, defaults=defaults)
        try:
            server.start()
            yield server
        finally:
            server.stop()


@contextmanager
def running(spec: ServerSpec) -> Iterator[Server]:
    """A started server as the workloads use it (WORKERS workers), once it is quiet."""
    with started(spec) as server:
        server.settle()
        yield server


# ---------------------------------------------------------------------------- REST client


class ApiError(BenchError):
    def __init__(self, what: str, resp: httpx.Response) -> None:
        self.status = resp.status_code
        super().__init__(f"{what}: HTTP {resp.status_code} {resp.text[:300]}")


class Api:
    """A thin REST client on one kept-alive connection."""

    def __init__(self, url: str) -> None:
        self.client = httpx.Client(
            base_url=url, timeout=HTTP_TIMEOUT_S, headers=CLIENT_HEADERS,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        )
        self.last: httpx.Response | None = None

    def post(self, path: str, body: bytes | dict[str, Any]) -> dict[str, Any]:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        r = self.client.post(API + path, content=content,
                             headers={"Content-Type": "application/json"})
        self.last = r
        if r.status_code != 200:
            raise ApiError(path, r)
        out: dict[str, Any] = r.json()
        return out

    def get(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        r = self.client.get(API + path, params=params)
        self.last = r
        if r.status_code != 200:
            raise ApiError(path, r)
        out: dict[str, Any] = r.json()
        return out

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # MLflow's calls, as the workloads use them

    def new_run(self, what: str, name: str = "run") -> tuple[str, str, str]:
        """A new experiment and a run in it: (experiment id, run id, artifact URI)."""
        exp: str = self.post("/experiments/create",
                             {"name": f"bench-{what}-{now_ms()}"})["experiment_id"]
        info = self.post("/runs/create", {"experiment_id": exp, "run_name": name,
                                          "start_time": now_ms()})["run"]["info"]
        return exp, info["run_id"], info.get("artifact_uri", "")

    def history(self, run_id: str, key: str) -> tuple[list[dict[str, Any]], int]:
        """A metric's whole history, following page tokens if the server pages it."""
        points: list[dict[str, Any]] = []
        pages, token = 0, None
        while True:
            params: dict[str, Any] = {"run_id": run_id, "metric_key": key}
            if token:
                params["page_token"] = token
            r = self.get("/metrics/get-history", params)
            points += r.get("metrics", [])
            pages += 1
            token = r.get("next_page_token")
            if not token:
                return points, pages


def batch_bodies(run_id: str, keys: Sequence[str], steps: int) -> list[bytes]:
    """log-batch request bodies, BATCH_SIZE points each, encoded before any timing."""
    ts = now_ms()
    per = BATCH_SIZE // len(keys)
    return [
        json.dumps({"run_id": run_id, "metrics": [
            {"key": key, "value": (step * 0.001 + k) % 1.0, "timestamp": ts + step, "step": step}
            for step in range(s0, min(steps, s0 + per)) for k, key in enumerate(keys)
        ]}).encode()
        for s0 in range(0, steps, per)
    ]


def timed_batches(api: Api, server: Server,
                  bodies: Sequence[bytes]) -> tuple[float, float, float]:
    """POST every body to runs/log-batch: wall, server CPU and client CPU seconds."""
    pids = server.pids()
    c0, cc0 = cpu_s(pids), time.process_time()
    t0 = time.perf_counter()
    for body in bodies:
        api.post("/runs/log-batch", body)
    return time.perf_counter() - t0, cpu_s(pids) - c0, time.process_time() - cc0


# ---------------------------------------------------------------------------- workloads


def server_log_batch(server: Server, points: int) -> Figures:
    """ROUNDS rounds of `points` points, each into a new run; the figures of the median
    round (by throughput), and every round's throughput."""
    check(points % BATCH_SIZE == 0, f"scale must be a multiple of {BATCH_SIZE}")
    keys = [f"k{k}" for k in range(BATCH_KEYS)]
    steps = points // BATCH_KEYS
    rounds: list[Figures] = []
    with Api(server.url) as api:
        _, warm_id, _ = api.new_run("log-batch-warm-up")
        for body in batch_bodies(warm_id, keys, 2 * BATCH_SIZE // BATCH_KEYS):
            api.post("/runs/log-batch", body)
        for _ in range(ROUNDS):
            _, run_id, _ = api.new_run("log-batch")
            bodies = batch_bodies(run_id, keys, steps)
            seconds, server_cpu, client_cpu = timed_batches(api, server, bodies)
            for key in keys:
                n = len(api.history(run_id, key)[0])
                check(n == steps, f"metric {key}: {n} points stored, expected {steps}")
            rounds.append({"points": points, "requests": len(bodies), "seconds": seconds,
                           "points_per_s": points / seconds, "server_cpu_s": server_cpu,
                           "client_cpu_s": client_cpu})
    return median_round(rounds, "points_per_s")


def median_round(rounds: list[Figures], figure: str) -> Figures:
    """The round whose `figure` is the median (of an odd number), with every round's."""
    ranked = sorted(rounds, key=lambda r: r[figure])
    return {**ranked[len(ranked) // 2], f"{figure}_all": [r[figure] for r in rounds]}


def server_log_metric_latency(server: Server, calls: int) -> Figures:
    with Api(server.url) as api:
        _, run_id, _ = api.new_run("log-metric")
        bodies = [json.dumps({"run_id": run_id, "key": "loss", "value": 1.0 / (i + 1),
                              "timestamp": now_ms(), "step": i}).encode()
                  for i in range(LATENCY_WARMUP_CALLS + calls)]
        for body in bodies[:LATENCY_WARMUP_CALLS]:
            api.post("/runs/log-metric", body)
        lat = []
        pids = server.pids()
        c0, cc0 = cpu_s(pids), time.process_time()
        for body in bodies[LATENCY_WARMUP_CALLS:]:
            t = time.perf_counter()
            api.post("/runs/log-metric", body)
            lat.append(time.perf_counter() - t)
        server_cpu, client_cpu = cpu_s(pids) - c0, time.process_time() - cc0
        n = len(api.history(run_id, "loss")[0])
        check(n == len(bodies), f"{n} points stored, expected {len(bodies)}")
    return {"calls": calls, "p50_ms": pct(lat, 50) * 1e3, "p99_ms": pct(lat, 99) * 1e3,
            "mean_ms": statistics.fmean(lat) * 1e3, "max_ms": max(lat) * 1e3,
            "server_cpu_ms_per_call": server_cpu / calls * 1e3,
            "client_cpu_ms_per_call": client_cpu / calls * 1e3}


def search_run_values(
    i: int,
) -> tuple[list[dict[str, str]], list[dict[str, str]], list[dict[str, Any]]]:
    """Run i's params, tags and metrics, the reference harness's: m0 spreads over [0, 1),
    p0 is "v1" for nine runs in ten."""
    params = [{"key": f"p{j}", "value": ("v1" if i % 10 else "v0") if j == 0 else f"val{j}_{i % 7}"}
              for j in range(SEARCH_PARAMS)]
    tags = [{"key": f"t{j}", "value": f"tag{j}_{i % 3}"} for j in range(SEARCH_TAGS)]
    metrics = [{"key": f"m{j}",
                "value": ((i * 7919) % 1000) / 1000 if j == 0 else ((i * 31 + j * 17) % 997) / 997,
                "timestamp": now_ms(), "step": 0} for j in range(SEARCH_METRICS)]
    return params, tags, metrics


def search_matches(n_runs: int) -> dict[str, float]:
    """The runs the filtered search matches, by name, with the m1 it orders by."""
    out = {}
    for i in range(n_runs):
        params, _, metrics = search_run_values(i)
        m = {d["key"]: d["value"] for d in metrics}
        if m["m0"] > 0.5 and params[0]["value"] == "v1":
            out[f"r{i}"] = m["m1"]
    return out


def spread(url: str, indices: Sequence[int], threads: int,
           one: Callable[[Api, int], None]) -> None:
    """``one(api, i)`` for every index, shared out among ``threads`` threads, each on its own
    connection; the first error is raised here, in the caller's thread (setup, untimed)."""
    errors: list[BaseException] = []

    def work(share: Sequence[int]) -> None:
        try:
            with Api(url) as api:
                for i in share:
                    one(api, i)
        except BaseException as exc:  # re-raised below
            errors.append(exc)

    pool = [threading.Thread(target=work, args=(indices[t::threads],)) for t in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    if errors:
        raise errors[0]


def populate_search(url: str, experiment_id: str, n_runs: int) -> None:
    """runs/create + runs/log-batch per run, on a few connections (untimed)."""

    def log_run(api: Api, i: int) -> None:
        params, tags, metrics = search_run_values(i)
        run_id = api.post("/runs/create", {
            "experiment_id": experiment_id, "run_name": f"r{i}",
            "start_time": now_ms()})["run"]["info"]["run_id"]
        api.post("/runs/log-batch", {"run_id": run_id, "params": params,
                                     "tags": tags, "metrics": metrics})

    spread(url, range(n_runs), SEARCH_POPULATE_THREADS, log_run)


def run_name(run: dict[str, Any]) -> str:
    name: str = run["info"].get("run_name", "")
    return name


def server_search(server: Server, n_runs: int) -> Figures:
    matches = search_matches(n_runs)
    # m1 has ties, which the servers may break differently: the check is on the values.
    want_m1 = sorted(matches.values(), reverse=True)[:SEARCH_MAX_RESULTS]
    with Api(server.url) as api:
        exp: str = api.post("/experiments/create",
                            {"name": f"bench-search-{now_ms()}"})["experiment_id"]
        t0 = time.perf_counter()
        populate_search(server.url, exp, n_runs)
        populate_s = time.perf_counter() - t0

        filtered = {"experiment_ids": [exp], "filter": SEARCH_FILTER,
                    "order_by": SEARCH_ORDER_BY, "max_results": SEARCH_MAX_RESULTS}
        filtered_times = []
        for rep in range(SEARCH_WARMUPS + SEARCH_REPEATS):
            t = time.perf_counter()
            runs = api.post("/runs/search", filtered).get("runs", [])
            dt = time.perf_counter() - t
            if rep >= SEARCH_WARMUPS:
                filtered_times.append(dt)
            got = [run_name(r) for r in runs]
            check(all(name in matches for name in got),
                  f"filtered search returned runs that do not match: {got[:5]}...")
            check([matches[name] for name in got] == want_m1,
                  f"filtered search returned {len(got)} runs, expected {len(want_m1)} "
                  "in descending m1")
            data = runs[0]["data"]
            check(len(data.get("params", [])) == SEARCH_PARAMS
                  and len(data.get("tags", [])) >= SEARCH_TAGS
                  and len(data.get("metrics", [])) == SEARCH_METRICS,
                  f"run {got[0]} came back with {data}")

        all_times, pages, json_bytes, wire_bytes = [], 0, 0, 0
        for rep in range(SEARCH_WARMUPS + SEARCH_REPEATS):
            t = time.perf_counter()
            names: list[str] = []
            pages, json_bytes, wire_bytes, token = 0, 0, 0, None
            while True:
                body: dict[str, Any] = {"experiment_ids": [exp], "max_results": SEARCH_PAGE}
                if token:
                    body["page_token"] = token
                r = api.post("/runs/search", body)
                assert api.last is not None
                names += [run_name(run) for run in r.get("runs", [])]
                pages += 1
                json_bytes += len(api.last.content)
                wire_bytes += api.last.num_bytes_downloaded
                token = r.get("next_page_token")
                if not token:
                    break
            dt = time.perf_counter() - t
            if rep >= SEARCH_WARMUPS:
                all_times.append(dt)
            check(sorted(names) == sorted(f"r{i}" for i in range(n_runs)),
                  f"unfiltered search returned {len(names)} runs, expected {n_runs}")
    return {
        "runs": n_runs, "matches": len(matches), "populate_s": populate_s,
        "filtered_ms": statistics.median(filtered_times) * 1e3,
        "filtered_min_ms": min(filtered_times) * 1e3,
        "all_ms": statistics.median(all_times) * 1e3, "all_min_ms": min(all_times) * 1e3,
        "all_pages": pages, "all_json_bytes": json_bytes, "all_wire_bytes": wire_bytes,
    }


def server_history(server: Server, points: int) -> Figures:
    with Api(server.url) as api:
        _, run_id, _ = api.new_run("history")
        bodies = batch_bodies(run_id, ["loss"], points)
        log_s = timed_batches(api, server, bodies)[0]
        times, pages = [], 0
        pids = server.pids()
        c0 = cpu_s(pids)
        for rep in range(HISTORY_WARMUPS + HISTORY_REPEATS):
            if rep == HISTORY_WARMUPS:
                c0 = cpu_s(pids)
            t = time.perf_counter()
            got, pages = api.history(run_id, "loss")
            dt = time.perf_counter() - t
            check(len(got) == points, f"get-history returned {len(got)} points, "
                                      f"expected {points}")
            if rep >= HISTORY_WARMUPS:
                times.append(dt)
        server_cpu = (cpu_s(pids) - c0) / HISTORY_REPEATS
        assert api.last is not None
        last_bytes = len(api.last.content)
    return {"points": points, "seconds": statistics.median(times), "min_s": min(times),
            "pages": pages, "log_points_per_s": points / log_s,
            "server_cpu_s": server_cpu, "last_page_json_bytes": last_bytes}


def server_concurrent(server: Server, seconds: int) -> Figures:
    """ROUNDS rounds of `seconds` each, on new runs; the figures of the median round (by
    throughput), and every round's throughput."""
    rounds = [concurrent_round(server, seconds) for _ in range(ROUNDS)]
    out = median_round(rounds, "calls_per_s")
    # A failed call or a lost point in any round counts, not only in the median one.
    out["errors"] = sum(r["errors"] for r in rounds)
    out["lost_points"] = sum(r["lost_points"] for r in rounds)
    kinds: dict[str, int] = {}
    for r in rounds:
        for kind, count in r.get("error_kinds", {}).items():
            kinds[kind] = kinds.get(kind, 0) + count
    if kinds:
        out["error_kinds"] = kinds
    return out


def concurrent_round(server: Server, seconds: int) -> Figures:
    n = CONCURRENT_THREADS
    with Api(server.url) as api:
        exp: str = api.post("/experiments/create",
                            {"name": f"bench-concurrent-{now_ms()}"})["experiment_id"]
        runs = [api.post("/runs/create", {"experiment_id": exp, "run_name": f"t{i}",
                                          "start_time": now_ms()})["run"]["info"]["run_id"]
                for i in range(n)]
    ok = [0] * n
    lat: list[list[float]] = [[] for _ in range(n)]
    errors: dict[str, int] = {}
    lock = threading.Lock()
    barrier = threading.Barrier(n + 1)
    deadline = [0.0]

    def count(exc: Exception) -> None:
        kind = f"{type(exc).__name__}: {str(exc)[:160]}"
        with lock:
            errors[kind] = errors.get(kind, 0) + 1

    def worker(i: int) -> None:
        with Api(server.url) as mine:
            try:  # opens the connection before the clock starts
                mine.post("/runs/log-metric", {"run_id": runs[i], "key": "warm", "value": 0.0,
                                               "timestamp": now_ms(), "step": 0})
            except Exception as exc:  # counted: errors are a result here
                count(exc)
            barrier.wait()
            step = 0
            while time.perf_counter() < deadline[0]:
                body = json.dumps({"run_id": runs[i], "key": "loss", "value": step * 0.5,
                                   "timestamp": now_ms(), "step": step}).encode()
                t = time.perf_counter()
                try:
                    mine.post("/runs/log-metric", body)
                    ok[i] += 1
                except Exception as exc:
                    count(exc)
                lat[i].append(time.perf_counter() - t)
                step += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    pids = server.pids()
    c0, cc0 = cpu_s(pids), time.process_time()
    t0 = time.perf_counter()
    deadline[0] = t0 + seconds  # read by the workers only after the barrier
    barrier.wait()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    server_cpu, client_cpu = cpu_s(pids) - c0, time.process_time() - cc0
    with Api(server.url) as api:
        stored = sum(len(api.history(r, "loss")[0]) for r in runs)
    all_lat = [x for per in lat for x in per]
    calls = sum(ok)
    return {
        "threads": n, "seconds": wall, "calls": calls, "calls_per_s": calls / wall,
        "errors": sum(errors.values()), **({"error_kinds": errors} if errors else {}),
        "p50_ms": pct(all_lat, 50) * 1e3 if all_lat else None,
        "p99_ms": pct(all_lat, 99) * 1e3 if all_lat else None,
        "lost_points": calls - stored, "server_cpu_s": server_cpu, "client_cpu_s": client_cpu,
    }


def artifact_root(uri: str, experiment_id: str, run_id: str) -> str:
    """The run's artifact folder as a path under the proxy."""
    for prefix in ("mlflow-artifacts:", ART):
        if prefix in uri:
            return uri.split(prefix, 1)[1].lstrip("/")
    return f"{experiment_id}/{run_id}/artifacts"


def server_artifacts(server: Server, mib: int) -> Figures:
    """ARTIFACT_REPEATS uploads of an `mib` MiB random file, each downloaded back and
    checked; medians, and the server's peak resident memory over all of them."""
    size = mib << 20
    blob = os.urandom(size)
    digest = hashlib.sha256(blob).hexdigest()
    ups, downs = [], []
    with Api(server.url) as api, PeakRss(server.pid) as rss:
        exp, run_id, uri = api.new_run("artifacts")
        base = f"{ART}/{artifact_root(uri, exp, run_id)}"
        for r in (api.client.put(f"{base}/warm-up.bin", content=b"x" * 1024),
                  api.client.get(f"{base}/warm-up.bin")):
            if r.status_code != 200:
                raise ApiError(f"artifact {r.request.method} {r.request.url}", r)
        time.sleep(0.2)
        before = rss.mark()
        for rep in range(ARTIFACT_REPEATS):
            url = f"{base}/blob{rep}.bin"
            t0 = time.perf_counter()
            r = api.client.put(url, content=blob,
                               headers={"Content-Type": "application/octet-stream"})
            ups.append(time.perf_counter() - t0)
            if r.status_code != 200:
                raise ApiError(f"artifact PUT {url}", r)
            h, got = hashlib.sha256(), 0
            t0 = time.perf_counter()
            with api.client.stream("GET", url) as r:
                if r.status_code != 200:
                    r.read()
                    raise ApiError(f"artifact GET {url}", r)
                for chunk in r.iter_bytes(1 << 20):
                    h.update(chunk)
                    got += len(chunk)
            downs.append(time.perf_counter() - t0)
            check(got == size and h.hexdigest() == digest,
                  f"downloaded artifact differs ({got} bytes of {size})")
        peak, samples = rss.peak, rss.samples
        time.sleep(0.2)
        after = rss_mib(server.pids())
    growth = peak - before
    return {
        "mib": mib, "transfers": ARTIFACT_REPEATS,
        "upload_mib_s": mib / statistics.median(ups),
        "upload_mib_s_all": [mib / t for t in ups],
        "download_mib_s": mib / statistics.median(downs),
        "download_mib_s_all": [mib / t for t in downs],
        "rss_before_mib": before, "rss_peak_mib": peak, "rss_after_mib": after,
        "rss_growth_mib": growth, "rss_growth_pct": growth / mib * 100,
        "rss_samples": samples,
    }


def server_start_and_idle(spec: ServerSpec, repeats: int) -> Figures:
    """Seconds from spawn to /health, then resident memory once idle; `repeats` fresh starts
    (medians) of each of two configurations: the defaults (no --workers, nothing in the
    spec's `bench_env`), and the configuration the other workloads run (WORKERS workers).

    Idle means quiet (see `Server.settle`) and then IDLE_S more seconds without a request.
    The memory IDLE_S after /health, before the server is quiet, is kept too.
    """
    out: Figures = {"repeats": repeats, "idle_s": IDLE_S}
    for variant, workers, defaults in (("default", None, True), (f"w{WORKERS}", WORKERS, False)):
        starts, settles, early, rss, pss, procs = [], [], [], [], [], []
        for _ in range(repeats):
            with started(spec, workers=workers, defaults=defaults) as server:
                assert server.start_s is not None
                starts.append(server.start_s)
                time.sleep(IDLE_S)
                early.append(rss_mib(server.pids()))
                settles.append(IDLE_S + server.settle())
                time.sleep(IDLE_S)
                pids = server.pids()
                rss.append(rss_mib(pids))
                pss.append(pss_mib(pids))
                procs.append(len(pids))
                out.update(server.log_findings())
        out[f"start_{variant}_s"] = statistics.median(starts)
        out[f"start_{variant}_all_s"] = starts
        out[f"quiet_after_health_{variant}_s"] = statistics.median(settles)
        out[f"rss_{IDLE_S:g}s_after_health_{variant}_mib"] = statistics.median(early)
        out[f"idle_rss_{variant}_mib"] = statistics.median(rss)
        out[f"idle_pss_{variant}_mib"] = statistics.median(pss)
        out[f"processes_{variant}"] = max(procs)
    return out


REGISTRY_MODELS = 100
REGISTRY_POPULATE_THREADS = 4
REGISTRY_REPEATS = 20
REGISTRY_ALIAS_CALLS = 300
REGISTRY_PAGE = 1_000


def registry_model(i: int) -> str:
    return f"model-{i:03d}"


def populate_registry(url: str, n_versions: int) -> None:
    """registered-models/create, then model-versions/create with 2 tags each, and an alias
    per model on its middle version (untimed)."""
    per_model = n_versions // REGISTRY_MODELS
    errors: list[BaseException] = []

    def work(first: int) -> None:
        try:
            with Api(url) as api:
                for i in range(first, REGISTRY_MODELS, REGISTRY_POPULATE_THREADS):
                    name = registry_model(i)
                    api.post("/registered-models/create", {"name": name})
                    for v in range(1, per_model + 1):
                        api.post("/model-versions/create", {
                            "name": name, "source": f"s3://bench-models/{name}/{v}",
                            "tags": [{"key": "parity", "value": "odd" if v % 2 else "even"},
                                     {"key": "batch", "value": str(v // 10)}]})
                    api.post("/registered-models/alias",
                             {"name": name, "alias": "champion", "version": str(per_model // 2)})
        except BaseException as exc:  # re-raised below, in the caller's thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,))
               for t in range(REGISTRY_POPULATE_THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def _timed_median(repeats: int, call: Callable[[], None]) -> tuple[float, float]:
    """(median, min) in ms of ``repeats`` calls after one warm-up."""
    call()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        call()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3, min(times) * 1e3


def server_registry(server: Server, n_versions: int) -> Figures:
    per_model = n_versions // REGISTRY_MODELS
    total = per_model * REGISTRY_MODELS
    t0 = time.perf_counter()
    populate_registry(server.url, n_versions)
    populate_s = time.perf_counter() - t0
    out: Figures = {"versions": total, "models": REGISTRY_MODELS, "populate_s": populate_s}
    with Api(server.url) as api:
        def search(filter_string: str, expect: int, order_by: list[str] | None = None,
                   max_results: int = REGISTRY_PAGE) -> Callable[[], None]:
            def call() -> None:
                params: dict[str, Any] = {"filter": filter_string, "max_results": max_results}
                if order_by:
                    params["order_by"] = order_by
                got = api.get("/model-versions/search", params).get("model_versions", [])
                check(len(got) == expect,
                      f"model-versions/search {filter_string!r} gave {len(got)}, expected {expect}")
                if order_by:
                    numbers = [int(v["version"]) for v in got]
                    check(numbers == sorted(numbers, reverse=True),
                          f"{filter_string!r} is not newest first: {numbers[:10]}")
            return call

        one = registry_model(42)
        out["one_model_ms"], out["one_model_min_ms"] = _timed_median(
            REGISTRY_REPEATS, search(f"name = '{one}'", per_model))
        tenth = REGISTRY_MODELS // 10 * per_model
        out["like_ms"], out["like_min_ms"] = _timed_median(
            REGISTRY_REPEATS, search("name LIKE 'model-04%'", min(tenth, REGISTRY_PAGE),
                                     ["version_number DESC"]))
        out["tag_ms"], out["tag_min_ms"] = _timed_median(
            REGISTRY_REPEATS, search(f"name = '{one}' and tags.parity = 'odd'",
                                     (per_model + 1) // 2))

        def every_version() -> None:
            seen, token = 0, None
            while True:
                params: dict[str, Any] = {"max_results": REGISTRY_PAGE}
                if token:
                    params["page_token"] = token
                r = api.get("/model-versions/search", params)
                seen += len(r.get("model_versions", []))
                token = r.get("next_page_token")
                if not token:
                    break
            check(seen == total, f"paging model-versions/search gave {seen}, expected {total}")

        out["all_ms"], out["all_min_ms"] = _timed_median(max(REGISTRY_REPEATS // 4, 3),
                                                         every_version)

        def resolve_alias() -> None:
            name = registry_model(random.randrange(REGISTRY_MODELS))
            version = api.get("/registered-models/alias",
                              {"name": name, "alias": "champion"})["model_version"]["version"]
            uri = api.get("/model-versions/get-download-uri",
                          {"name": name, "version": version})["artifact_uri"]
            check(uri == f"s3://bench-models/{name}/{per_model // 2}",
                  f"{name}@champion resolved to {uri}")

        for _ in range(LATENCY_WARMUP_CALLS):
            resolve_alias()
        times = []
        for _ in range(REGISTRY_ALIAS_CALLS):
            t = time.perf_counter()
            resolve_alias()
            times.append(time.perf_counter() - t)
        out["alias_p50_ms"] = pct(times, 50) * 1e3
        out["alias_p99_ms"] = pct(times, 99) * 1e3
    return out


OnServer = Callable[[Server, int], Figures]

ON_SERVER: dict[str, OnServer] = {
    "server_log_batch": server_log_batch,
    "server_log_metric_latency": server_log_metric_latency,
    "server_search": server_search,
    "server_history": server_history,
    "server_concurrent": server_concurrent,
    "server_artifacts": server_artifacts,
    "server_registry": server_registry,
}
START_AND_IDLE = "server_start_and_idle"
NAMES: tuple[str, ...] = (*ON_SERVER, START_AND_IDLE)


# ---------------------------------------------------------------------------- driver


def _failure(exc: BaseException) -> Figures:
    return {"error": "".join(traceback.format_exception(exc)).strip()}


def cpu_probe_ms() -> float:
    """How long this machine takes, now, for a fixed piece of pure-Python work (ms; the
    median of three). A shared machine's speed drifts by tens of percent over minutes:
    this figure, taken as each workload starts, shows it alongside the load average."""
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        sorted(str(i * 7919 % 100_003) for i in range(100_000))
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def steal_s() -> float:
    """CPU time the hypervisor gave to other guests, all cores, since boot (s; 0 where
    /proc/stat does not say). A workload that ran while much was stolen ran slower."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
        return int(fields[8]) / os.sysconf("SC_CLK_TCK") if fields[0] == "cpu" else 0.0
    except (OSError, IndexError, ValueError):
        return 0.0


def run_suite(spec: ServerSpec, scales: dict[str, int], shared: bool,
              log: Callable[[str], None], warm_up: bool = True) -> dict[str, Figures]:
    """Run the named workloads (the keys of `scales`) against one library's server.

    With `warm_up`, one untimed start comes first, so that bytecode is cached before
    anything is timed. With `shared` (the --quick run), the workloads that need a running
    server share that first server, each in its own experiment; otherwise each gets a fresh
    server of its own.
    """
    results: dict[str, Figures] = {}
    names = [n for n in NAMES if n in scales]
    on_server = [n for n in names if n in ON_SERVER]

    def report(name: str, fig: Figures) -> None:
        results[name] = fig
        if "error" in fig:
            log(f"{name} / {spec.lib} FAILED:\n{fig['error']}")
        else:
            log(f"{name} / {spec.lib} done in {fig['process_wall_s']:.1f} s")

    def run_one(name: str, server: Server) -> None:
        log(f"{name} / {spec.lib} (scale {scales[name]:,}) ...")
        server.settle()
        load, log_start, probe = os.getloadavg()[0], server.log_size(), cpu_probe_ms()
        stolen = steal_s()
        t0 = time.perf_counter()
        try:
            fig = ON_SERVER[name](server, scales[name])
        except Exception as exc:
            fig = _failure(exc)
            fig["error"] += f"\n--- server log tail ---\n{server.log_tail()}"
        fig.update(scale=scales[name], loadavg_1m=load, cpu_probe_ms=probe,
                   steal_s=steal_s() - stolen, server_start_s=server.start_s,
                   server_quiet_after_s=server.settle_s,
                   process_wall_s=time.perf_counter() - t0, **server.log_findings(log_start))
        report(name, fig)

    if warm_up or shared:
        log(f"{spec.lib}: a first, untimed server start (caches bytecode)")
        try:
            with running(spec) as first:
                log(f"{spec.lib}: first start took {first.start_s:.1f} s")
                for name in on_server if shared else ():
                    run_one(name, first)
        except Exception as exc:  # the server did not start (run_one catches its own)
            for name in names:
                results.setdefault(name, _failure(exc))
            return results
    for name in on_server if not shared else ():
        try:
            with running(spec) as server:
                run_one(name, server)
        except Exception as exc:  # the server did not start
            report(name, _failure(exc))
    if START_AND_IDLE in scales:
        log(f"{START_AND_IDLE} / {spec.lib} (scale {scales[START_AND_IDLE]}) ...")
        load, probe = os.getloadavg()[0], cpu_probe_ms()
        t0 = time.perf_counter()
        try:
            fig = server_start_and_idle(spec, scales[START_AND_IDLE])
        except Exception as exc:
            fig = _failure(exc)
        fig.update(scale=scales[START_AND_IDLE], loadavg_1m=load, cpu_probe_ms=probe,
                   process_wall_s=time.perf_counter() - t0)
        report(START_AND_IDLE, fig)
    return results
