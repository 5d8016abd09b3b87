"""The models suite: a saved scikit-learn model served, scored from a file, and in Spark.

`bench/run.py --suite models` imports this module and drives the workloads from its own
process (it has httpx, numpy and pandas; neither library is imported there). Everything a
library does runs in that library's own interpreter: this file is also run as a script by
each interpreter, to save the model (``save``) and for the Spark child (``spark``):

    python bench/models.py save  --lib mltrail|mlflow --out DIR
    python bench/models.py spark --lib mltrail|mlflow --model DIR --rows N

Both libraries save the same model: a LogisticRegression fitted on the same seeded data
(TRAIN_ROWS rows of 20 double features f0..f19), saved with ``<lib>.sklearn.save_model(model,
path, input_example=...)`` (each library's default format, with a signature inferred from the
example). The workloads measure what
``../shared/reference-bench/serve_bench.py`` and ``batch_bench.py`` measured for MLflow's
figures in the issue. See bench/README.md for what each workload measures.

Workloads and what their scale means:

  models_serve    `<cli> models serve -m MODEL -p PORT -w 1 --env-manager local`: starts to
                  the first 200 on /ping, then N sequential 1-row requests, 16 connections
                  for 10 s, and 50 requests of 10,000 rows
  models_predict  `<cli> models predict ... -t csv --env-manager local` on an N-row CSV
  models_spark    `<lib>.pyfunc.spark_udf` over an N-row DataFrame in local[2]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import importlib
import json
import math
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.parse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

Figures = dict[str, Any]

HERE = Path(__file__).resolve()
NAMES: tuple[str, ...] = ("models_serve", "models_predict", "models_spark")

N_FEATURES = 20
COLS = [f"f{i}" for i in range(N_FEATURES)]
TRAIN_ROWS = 5_000
TRAIN_SEED = 0

# models_serve, as serve_bench.py runs it (its figures are one repeat of its defaults).
WORKERS = 1
START_TIMEOUT_S = 300.0
PING_POLL_S = 0.01
REQUEST_TIMEOUT_S = 120.0
HEADERS = {"Content-Type": "application/json"}
ONE_ROW_BODIES = 256  # distinct pre-encoded 1-row bodies, cycled (seed 1)
BATCH_BODIES = 3  # distinct pre-encoded 10,000-row bodies, cycled (seed 2)
BATCH_ROWS = 10_000
CONNECTIONS = 16
WARMUP_SEQ = 50
WARMUP_BATCH = 2


@dataclasses.dataclass(frozen=True)
class Sizes:
    """What a full run and a --quick run do besides the scale."""

    starts: int  # timed starts of the scoring server (the median is the figure)
    conc_s: float  # seconds of the 16-connection load
    batch_requests: int  # 10,000-row requests
    predict_repeats: int  # timed `models predict` runs (the median is the figure)


FULL_SIZES = Sizes(starts=3, conc_s=10.0, batch_requests=50, predict_repeats=3)
QUICK_SIZES = Sizes(starts=1, conc_s=3.0, batch_requests=10, predict_repeats=1)

CHILD_TIMEOUT_S = 900.0
RESULT_PREFIX = "MODELS_RESULT "


class BenchError(RuntimeError):
    """A wrong answer, or a command that fails: the workload fails."""


# ============================================================================ children
# These run in each library's own interpreter (numpy, pandas and scikit-learn are in both).


def training_data() -> tuple[Any, Any]:
    """The seeded training set both libraries fit on: a frame of f0..f19 and 0/1 labels."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(TRAIN_SEED)
    x = rng.standard_normal((TRAIN_ROWS, N_FEATURES))
    w = rng.standard_normal(N_FEATURES)
    y = (x @ w + 0.5 * rng.standard_normal(TRAIN_ROWS) > 0).astype("int64")
    return pd.DataFrame(x, columns=COLS), y


def child_save(lib: str, out: str) -> Figures:
    """Fit the model and save it with `<lib>.sklearn.save_model(model, out)`."""
    from sklearn.linear_model import LogisticRegression

    x, y = training_data()
    model = LogisticRegression(max_iter=1000).fit(x, y)
    flavor = importlib.import_module(f"{lib}.sklearn")
    t0 = time.perf_counter()
    # With an input example, as MLflow 3 asks for and a user's model has: the model then
    # carries a signature, which both libraries check on every request.
    flavor.save_model(model, out, input_example=x.head(5))
    return {"save_s": time.perf_counter() - t0,
            "version": importlib.import_module(lib).__version__,
            "train_accuracy": float(model.score(x, y)),
            "files": sorted(p.name for p in Path(out).iterdir())}


def child_spark(lib: str, model: str, rows: int) -> Figures:
    """One cold Spark run, as batch_bench.py's spark_child: a fresh local[2] session, a
    DataFrame of 20 randn columns generated in Spark, Spark's own pass without a UDF, then
    the UDF's first and second pass."""
    pyfunc = importlib.import_module(f"{lib}.pyfunc")
    make_udf = getattr(pyfunc, "spark_udf", None)
    if make_udf is None:
        return {"error": f"not available: {lib}.pyfunc.spark_udf does not exist in "
                         f"{lib} {importlib.import_module(lib).__version__}"}
    # Spark's Python workers run this interpreter; the driver binds to loopback.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    import pyspark
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    out: Figures = {"rows": rows, "master": "local[2]", "pyspark": pyspark.__version__}
    t0 = time.perf_counter()
    spark = (SparkSession.builder.master("local[2]").appName(f"bench-models-{lib}")
             .config("spark.driver.memory", "4g")
             .config("spark.ui.enabled", "false")
             .config("spark.ui.showConsoleProgress", "false")
             .config("spark.driver.host", "127.0.0.1")
             .config("spark.driver.bindAddress", "127.0.0.1")
             .getOrCreate())
    out["session_start_s"] = time.perf_counter() - t0
    try:
        spark.sparkContext.setLogLevel("ERROR")
        df = spark.range(0, rows, 1, 2).select(
            *[F.randn(seed=i).alias(c) for i, c in enumerate(COLS)])
        t0 = time.perf_counter()
        df.agg(*[F.sum(c) for c in COLS]).collect()
        out["plain_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        udf = make_udf(spark, model, env_manager="local")
        out["udf_create_s"] = time.perf_counter() - t0
        # The columns go in as one struct, as batch_bench.py passes them: with the columns
        # as separate arguments, MLflow (given no signature) names them 0..19, and
        # scikit-learn refuses a frame whose names differ from those it was fitted with.
        scored = df.select(udf(F.struct(*COLS)).alias("p"))
        # The result type differs between libraries and versions: force every prediction
        # with a type-agnostic sum(hash(p)) and count(p).
        out["result_type"] = scored.schema["p"].dataType.simpleString()
        total: Any = None
        for name in ("pass1", "pass2"):
            t0 = time.perf_counter()
            total = scored.agg(F.sum(F.hash("p")), F.count("p")).collect()[0]
            out[f"{name}_s"] = time.perf_counter() - t0
        if total[1] != rows:
            return {**out, "error": f"counted {total[1]} predictions of {rows} rows"}
        out["hash_sum"] = int(total[0])
        out["sample"] = [str(r.p) for r in scored.limit(3).collect()]
    finally:
        spark.stop()
    for name in ("plain", "pass1", "pass2"):
        out[f"{name}_rows_per_s"] = rows / out[f"{name}_s"]
    out["warm_over_plain"] = out["pass2_s"] / out["plain_s"]
    return out


def child_main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=("save", "spark"))
    ap.add_argument("--lib", required=True)
    ap.add_argument("--out")
    ap.add_argument("--model")
    ap.add_argument("--rows", type=int, default=1_000_000)
    args = ap.parse_args(argv)
    try:
        if args.what == "save":
            fig = child_save(args.lib, args.out)
        else:
            fig = child_spark(args.lib, args.model, args.rows)
    except Exception:
        fig = {"error": traceback.format_exc().strip()}
    print(RESULT_PREFIX + json.dumps(fig), flush=True)
    return 1 if "error" in fig else 0


# ============================================================================ the driver
# The rest runs in run.py's process.


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """One library: its interpreter, its CLI (the words before `models`), its environment."""

    lib: str
    python: Path
    cli: tuple[str, ...]
    env: dict[str, str]


def run_child(spec: ModelSpec, args: Sequence[str], cwd: Path) -> Figures:
    """Run this file as a child in the library's interpreter; its figures or an error."""
    argv = [str(spec.python), str(HERE), *args, "--lib", spec.lib]
    try:
        p = subprocess.run(argv, cwd=cwd, env=spec.env, capture_output=True, text=True,
                           timeout=CHILD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return {"error": f"{' '.join(args[:1])} child timed out after {CHILD_TIMEOUT_S:.0f} s"}
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith(RESULT_PREFIX)]
    if not lines:
        tail = "\n".join(p.stderr.strip().splitlines()[-30:])
        return {"error": f"exit status {p.returncode}, no result\n{tail}"}
    fig: Figures = json.loads(lines[-1][len(RESULT_PREFIX):])
    if "error" in fig and p.stderr.strip() and "Traceback" not in fig["error"]:
        fig["stderr_tail"] = p.stderr.strip().splitlines()[-20:]
    return fig


def save_model(spec: ModelSpec, workdir: Path) -> tuple[Path, Figures]:
    """Fit and save the model in the library's interpreter; (model folder, figures)."""
    out = workdir / f"model-{spec.lib}"
    fig = run_child(spec, ["save", "--out", str(out)], workdir)
    if "error" in fig:
        raise BenchError(f"saving the {spec.lib} model failed:\n{fig['error']}")
    return out, fig


# ---------------------------------------------------------------------------- models_serve


def pct_ms(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0..100) of latencies in seconds, in milliseconds."""
    if not values:
        return None
    s = sorted(values)
    return s[max(0, min(len(s), math.ceil(p / 100 * len(s))) - 1)] * 1e3


def frame(rows: int, seed: int) -> Any:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.standard_normal((rows, N_FEATURES)), columns=COLS)


def make_bodies(rows: int, n: int, seed: int) -> list[bytes]:
    """Pre-encoded `dataframe_split` bodies of standard-normal floats (serve_bench.py's)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    return [json.dumps({"dataframe_split": {
        "columns": COLS, "data": rng.standard_normal((rows, N_FEATURES)).tolist()}}).encode()
        for _ in range(n)]


def predictions_of(content: bytes) -> list[Any]:
    """The predictions of an answer: `{"predictions": [...]}` or a bare list."""
    got = json.loads(content)
    if isinstance(got, dict):
        got = got.get("predictions", got)
    if not isinstance(got, list):
        raise BenchError(f"no list of predictions in {content[:200]!r}")
    return got


def positives(preds: Sequence[Any]) -> int:
    """How many predictions are 1 (a 1-D answer, or one column per row)."""
    n = 0
    for p in preds:
        if isinstance(p, dict):
            p = next(iter(p.values()))
        elif isinstance(p, list):
            p = p[0]
        n += float(p) == 1.0
    return n


class Tally:
    """Failed requests (non-200, exceptions, answers of the wrong length) and the first."""

    def __init__(self) -> None:
        self.count = 0
        self.first: str | None = None

    def add(self, text: str) -> None:
        self.count += 1
        if self.first is None:
            self.first = text[:1000]

    def check_answers(self, answers: Sequence[bytes], rows: int) -> int:
        """Check every kept 200 answer holds `rows` predictions; the positives counted."""
        pos = 0
        for content in answers:
            try:
                preds = predictions_of(content)
                if len(preds) != rows:
                    self.add(f"expected {rows} predictions, got {len(preds)}")
                pos += positives(preds)
            except Exception as exc:
                self.add(f"unreadable answer {content[:200]!r}: {exc!r}")
        return pos


class ModelServer:
    """`<cli> models serve` as a subprocess, in its own session (so its whole process tree
    stops together)."""

    def __init__(self, spec: ModelSpec, model: Path, workdir: Path) -> None:
        import servers

        self.spec, self.workdir = spec, workdir
        self.port = servers.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.argv = [*spec.cli, "models", "serve", "-m", str(model), "-p", str(self.port),
                     "-w", str(WORKERS), "--env-manager", "local"]
        self.log_path = workdir / f"serve-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def tracebacks(self) -> Figures:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return {}
        n = text.count("Traceback (most recent call last)")
        if not n:
            return {}
        first = text[text.index("Traceback (most recent call last)"):]
        return {"server_tracebacks": n,
                "server_first_traceback": "\n".join(first.splitlines()[:60])}

    def start(self) -> float:
        """Spawn the server; the seconds until GET /ping first answers 200."""
        import httpx

        with open(self.log_path, "wb") as log, httpx.Client(timeout=2.0) as client:
            t0 = time.perf_counter()
            self.proc = subprocess.Popen(
                self.argv, cwd=self.workdir, env=self.spec.env, stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            while True:
                try:
                    if client.get(f"{self.url}/ping").status_code == 200:
                        return time.perf_counter() - t0
                except httpx.HTTPError:
                    pass
                if self.proc.poll() is not None:
                    raise BenchError(f"`{self.spec.lib} models serve` exited with status "
                                     f"{self.proc.returncode}:\n{self.log_tail()}")
                if time.perf_counter() - t0 > START_TIMEOUT_S:
                    self.stop()
                    raise BenchError(f"`{self.spec.lib} models serve` gave no 200 on /ping "
                                     f"in {START_TIMEOUT_S:.0f} s:\n{self.log_tail()}")
                time.sleep(PING_POLL_S)

    def stop(self) -> None:
        import servers

        if self.proc is not None:
            servers.stop_process_group(self.proc)


def bench_seq(url: str, bodies: Sequence[bytes], n: int, tally: Tally,
              keep: list[bytes] | None) -> Figures:
    """n sequential requests on one kept-alive connection."""
    import httpx

    lat = []
    with httpx.Client(timeout=REQUEST_TIMEOUT_S) as client:
        t_start = time.perf_counter()
        for i in range(n):
            t0 = time.perf_counter()
            try:
                r = client.post(url, content=bodies[i % len(bodies)], headers=HEADERS)
                if r.status_code != 200:
                    tally.add(f"HTTP {r.status_code}: {r.text}")
                elif keep is not None:
                    keep.append(r.content)
            except Exception as exc:  # counted, and the run goes on
                tally.add(repr(exc))
            lat.append(time.perf_counter() - t0)
        total = time.perf_counter() - t_start
    return {"requests": n, "seconds": total, "req_per_s": n / total,
            "p50_ms": pct_ms(lat, 50), "p99_ms": pct_ms(lat, 99)}


class _Connection:
    """One kept-alive HTTP/1.1 connection on asyncio streams, with requests built up front.

    httpx's AsyncClient spends about 2 ms of CPU a request at 16 connections, more than
    either scoring server does: on 2 cores the client, not the server, would set the figure.
    This client reads a response's status line, headers and body (by Content-Length, or
    chunked) and nothing more, for a few tens of microseconds.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> _Connection:
        reader, writer = await asyncio.open_connection(host, port)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer)

    async def send(self, request: bytes) -> tuple[int, bytes]:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {k.strip().lower(): v.strip()
                   for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        if headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                chunk = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                parts.append(chunk[:-2])
            return status, b"".join(parts)
        return status, await self.reader.readexactly(int(headers.get("content-length", "0")))

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


def raw_requests(url: str, bodies: Sequence[bytes]) -> tuple[str, int, list[bytes]]:
    """Host, port and the bytes of a POST of each body to `url`."""
    parts = urllib.parse.urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    head = (f"POST {parts.path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Content-Type: {HEADERS['Content-Type']}\r\n")
    return host, port, [f"{head}Content-Length: {len(b)}\r\n\r\n".encode() + b for b in bodies]


async def _conc(url: str, bodies: Sequence[bytes], conns: int, seconds: float, tally: Tally,
                keep: list[bytes]) -> Figures:
    host, port, requests = raw_requests(url, bodies)
    lat: list[float] = []
    connections = [await _Connection.open(host, port) for _ in range(conns)]
    deadline = time.perf_counter() + seconds

    async def worker(k: int) -> None:
        i = k
        connection = connections[k]
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            try:
                status, content = await asyncio.wait_for(
                    connection.send(requests[i % len(requests)]), REQUEST_TIMEOUT_S)
                if status != 200:
                    tally.add(f"HTTP {status}: {content[:300]!r}")
                else:
                    keep.append(content)
            except Exception as exc:  # counted; the connection is opened again
                tally.add(repr(exc))
                await connection.close()
                connection = connections[k] = await _Connection.open(host, port)
            lat.append(time.perf_counter() - t0)
            i += conns

    t_start = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(conns)))
    total = time.perf_counter() - t_start  # includes the requests in flight at the end
    for connection in connections:
        await connection.close()
    return {"connections": conns, "requests": len(lat), "seconds": total,
            "req_per_s": len(lat) / total, "p50_ms": pct_ms(lat, 50),
            "p99_ms": pct_ms(lat, 99), "client": "asyncio streams, pre-built requests"}


def bench_conc(url: str, bodies: Sequence[bytes], conns: int, seconds: float, tally: Tally,
               keep: list[bytes]) -> Figures:
    """`conns` kept-alive connections on one event loop, each sending back to back for
    `seconds`."""
    return asyncio.run(_conc(url, bodies, conns, seconds, tally, keep))


def models_serve(spec: ModelSpec, model: Path, workdir: Path, n_seq: int,
                 sizes: Sizes) -> Figures:
    """One untimed start (caches bytecode), `sizes.starts` timed starts to /ping, then the
    load against the last start, as serve_bench.py measures it."""
    import httpx
    import servers

    one_row = make_bodies(1, ONE_ROW_BODIES, seed=1)
    batch = make_bodies(BATCH_ROWS, BATCH_BODIES, seed=2)
    out: Figures = {"one_row_body_bytes": len(one_row[0]), "batch_body_bytes": len(batch[0])}
    warm = ModelServer(spec, model, workdir)
    try:
        out["untimed_start_s"] = warm.start()
    finally:
        warm.stop()
    starts: list[float] = []
    server: ModelServer | None = None
    try:
        for i in range(sizes.starts):
            server = ModelServer(spec, model, workdir)
            starts.append(server.start())
            if i < sizes.starts - 1:
                server.stop()
        assert server is not None and server.proc is not None
        out["start_s"] = statistics.median(starts)
        out["start_all_s"] = starts
        out["command"] = " ".join(Path(a).name if a.startswith("/") else a
                                  for a in server.argv)
        pids = servers.process_tree(server.proc.pid)
        out["server_processes"] = len(pids)
        out["rss_at_start_mib"] = servers.rss_mib(pids)
        inv = f"{server.url}/invocations"
        # The first request after /ping (a server may load the model lazily), then warm-ups.
        t0 = time.perf_counter()
        r = httpx.post(inv, content=one_row[0], headers=HEADERS, timeout=REQUEST_TIMEOUT_S)
        out["first_request_ms"] = (time.perf_counter() - t0) * 1e3
        if r.status_code != 200:
            raise BenchError(f"the first request got HTTP {r.status_code}: {r.text[:500]}")
        out["first_answer"] = r.text[:100]
        try:
            out["server_version"] = httpx.get(f"{server.url}/version", timeout=5).text[:100]
        except httpx.HTTPError as exc:
            out["server_version"] = repr(exc)
        bench_seq(inv, one_row, WARMUP_SEQ, Tally(), None)
        bench_seq(inv, batch, WARMUP_BATCH, Tally(), None)

        pids = servers.process_tree(server.proc.pid)

        def cpu_of(part: str, run: Callable[[], Figures]) -> Figures:
            """Run one part; record the server's and this client's CPU seconds during it
            (on 2 cores, the client's share bounds what the server can be sent)."""
            c0, cc0 = servers.cpu_s(pids), time.process_time()
            fig = run()
            out[f"{part}_server_cpu_s"] = servers.cpu_s(pids) - c0
            out[f"{part}_client_cpu_s"] = time.process_time() - cc0
            return fig

        seq_tally, seq_answers = Tally(), list[bytes]()
        seq = cpu_of("seq", lambda: bench_seq(inv, one_row, n_seq, seq_tally, seq_answers))
        conc_tally, conc_answers = Tally(), list[bytes]()
        conc = cpu_of("conc", lambda: bench_conc(inv, one_row, CONNECTIONS, sizes.conc_s,
                                                 conc_tally, conc_answers))
        batch_tally, batch_answers = Tally(), list[bytes]()
        bat = cpu_of("batch", lambda: bench_seq(inv, batch, sizes.batch_requests,
                                                batch_tally, batch_answers))
        pids = servers.process_tree(server.proc.pid)
        out["rss_after_mib"] = servers.rss_mib(pids)
        out["pss_after_mib"] = servers.pss_mib(pids)

        # Every kept answer is checked after the clock (the client's parsing is not timed).
        seq_tally.check_answers(seq_answers, 1)
        conc_tally.check_answers(conc_answers, 1)
        out["batch_positives"] = batch_tally.check_answers(batch_answers, BATCH_ROWS)
        out["batch_rows_checked"] = len(batch_answers) * BATCH_ROWS
        out.update({
            "seq_requests": seq["requests"], "seq_req_per_s": seq["req_per_s"],
            "seq_p50_ms": seq["p50_ms"], "seq_p99_ms": seq["p99_ms"],
            "conc_connections": CONNECTIONS, "conc_seconds": conc["seconds"],
            "conc_requests": conc["requests"], "conc_req_per_s": conc["req_per_s"],
            "conc_p50_ms": conc["p50_ms"], "conc_p99_ms": conc["p99_ms"],
            "batch_requests": bat["requests"], "batch_rows": BATCH_ROWS,
            "batch_rows_per_s": bat["requests"] * BATCH_ROWS / bat["seconds"],
            "batch_p50_ms": bat["p50_ms"],
        })
        for part, fig in (("seq", seq), ("conc", conc)):
            n = max(1, fig["requests"])
            out[f"{part}_server_cpu_ms_per_request"] = out[f"{part}_server_cpu_s"] / n * 1e3
            out[f"{part}_client_cpu_ms_per_request"] = out[f"{part}_client_cpu_s"] / n * 1e3
        errors = {"seq": seq_tally, "conc": conc_tally, "batch": batch_tally}
        out["errors"] = sum(t.count for t in errors.values())
        for part, t in errors.items():
            if t.count:
                out[f"{part}_errors"] = t.count
                out[f"{part}_first_error"] = t.first
        out.update(server.tracebacks())
    except Exception as exc:
        tail = server.log_tail() if server is not None else ""
        raise BenchError(f"{exc}\n--- server log tail ---\n{tail}") from exc
    finally:
        if server is not None:
            server.stop()
    return out


# ---------------------------------------------------------------------------- models_predict


def count_predictions(path: Path) -> tuple[int, int, str]:
    """(predictions, positives, the file's head) of `models predict`'s output: a CSV table,
    or JSON (MLflow writes `{"predictions": [...]}` whatever the output's extension)."""
    import pandas as pd

    text = path.read_text()
    head = text[:80]
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        preds = predictions_of(stripped.encode())
        return len(preds), positives(preds), head
    table = pd.read_csv(path)
    return len(table), int((table.iloc[:, 0].astype(float) == 1.0).sum()), head


def models_predict(spec: ModelSpec, model: Path, workdir: Path, rows: int,
                   sizes: Sizes) -> Figures:
    """One untimed run (caches bytecode), then `sizes.predict_repeats` timed runs of the
    whole command; each output is checked."""
    inp, outp = workdir / f"in_{rows}.csv", workdir / "out.csv"
    if not inp.exists():
        frame(rows, seed=3).to_csv(inp, index=False)
    argv = [*spec.cli, "models", "predict", "-m", str(model), "-i", str(inp), "-o", str(outp),
            "-t", "csv", "--env-manager", "local"]
    times: list[float] = []
    out: Figures = {"rows": rows, "input_bytes": inp.stat().st_size,
                    "command": " ".join(Path(a).name if a.startswith("/") else a for a in argv)}
    for rep in range(1 + sizes.predict_repeats):
        outp.unlink(missing_ok=True)
        t0 = time.perf_counter()
        p = subprocess.run(argv, cwd=workdir, env=spec.env, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
        seconds = time.perf_counter() - t0
        if p.returncode != 0 or not outp.exists():
            tail = "\n".join(p.stderr.strip().splitlines()[-30:])
            raise BenchError(f"exit status {p.returncode}"
                             f"{'' if outp.exists() else ', no output file'}:\n{tail}")
        n, pos, head = count_predictions(outp)
        if n != rows:
            raise BenchError(f"{n} predictions in {outp.name} for {rows} rows; it begins "
                             f"{head!r}")
        if rep == 0:
            out["untimed_s"] = seconds
        else:
            times.append(seconds)
        out.update(positives=pos, output_bytes=outp.stat().st_size, output_head=head)
    out["seconds"] = statistics.median(times)
    out["seconds_all"] = times
    out["rows_per_s"] = rows / out["seconds"]
    return out


# ---------------------------------------------------------------------------- models_spark


def pyspark_version(spec: ModelSpec) -> str | None:
    p = subprocess.run([str(spec.python), "-c", "import pyspark; print(pyspark.__version__)"],
                       env=spec.env, capture_output=True, text=True)
    return p.stdout.strip() if p.returncode == 0 else None


def models_spark(spec: ModelSpec, model: Path, workdir: Path, rows: int,
                 missing: Sequence[str]) -> Figures:
    """A child process in the library's interpreter with a fresh local[2] session."""
    if missing:
        raise BenchError(f"not available: pyspark does not import in {', '.join(missing)}'s "
                         f"interpreter (the workload runs only if it imports in both)")
    fig = run_child(spec, ["spark", "--model", str(model), "--rows", str(rows)], workdir)
    if "error" in fig:
        raise BenchError(fig["error"] + (("\n" + "\n".join(fig["stderr_tail"]))
                                         if fig.get("stderr_tail") else ""))
    return fig


# ---------------------------------------------------------------------------- the suite


def _failure(exc: BaseException) -> Figures:
    if isinstance(exc, BenchError):
        return {"error": str(exc)}
    return {"error": "".join(traceback.format_exception(exc)).strip()}


def run_suite(specs: Sequence[ModelSpec], scales: dict[str, dict[str, int]], quick: bool,
              log: Callable[[str], None]) -> dict[str, dict[str, Figures]]:
    """Run the named workloads (the keys of `scales`, each `{lib: scale}`) for every
    library: each library saves its model first (untimed), then workload by workload, each
    library in turn, so that the two figures of a ratio are taken close together."""
    import servers

    sizes = QUICK_SIZES if quick else FULL_SIZES
    names = [n for n in NAMES if n in scales]
    results: dict[str, dict[str, Figures]] = {n: {} for n in names}
    with tempfile.TemporaryDirectory(prefix="bench-models-") as tmp:
        root = Path(tmp)
        models: dict[str, Path] = {}
        saved: dict[str, Figures] = {}
        failed: dict[str, Figures] = {}
        for spec in specs:
            log(f"models / {spec.lib}: fitting and saving the model ...")
            (root / spec.lib).mkdir()
            try:
                models[spec.lib], saved[spec.lib] = save_model(spec, root / spec.lib)
                log(f"models / {spec.lib}: saved in {saved[spec.lib]['save_s']:.1f} s")
            except Exception as exc:
                failed[spec.lib] = _failure(exc)
                log(f"models / {spec.lib}: FAILED to save the model:\n{failed[spec.lib]['error']}")
        missing_spark: list[str] = []
        if "models_spark" in names:
            for spec in specs:
                version = pyspark_version(spec)
                if version is None:
                    missing_spark.append(spec.lib)
        for name in names:
            for spec in specs:
                if spec.lib in failed:
                    results[name][spec.lib] = dict(failed[spec.lib])
                    continue
                scale = scales[name][spec.lib]
                log(f"{name} / {spec.lib} (scale {scale:,}) ...")
                workdir = root / spec.lib / name
                workdir.mkdir(exist_ok=True)
                load, probe, stolen = os.getloadavg()[0], servers.cpu_probe_ms(), servers.steal_s()
                t0 = time.perf_counter()
                try:
                    if name == "models_serve":
                        fig = models_serve(spec, models[spec.lib], workdir, scale, sizes)
                    elif name == "models_predict":
                        fig = models_predict(spec, models[spec.lib], workdir, scale, sizes)
                    else:
                        fig = models_spark(spec, models[spec.lib], workdir, scale, missing_spark)
                except Exception as exc:
                    fig = _failure(exc)
                fig.update(scale=scale, loadavg_1m=load, cpu_probe_ms=probe,
                           steal_s=servers.steal_s() - stolen,
                           process_wall_s=time.perf_counter() - t0,
                           version=saved[spec.lib].get("version"),
                           train_accuracy=saved[spec.lib].get("train_accuracy"))
                results[name][spec.lib] = fig
                if "error" in fig:
                    log(f"{name} / {spec.lib} FAILED:\n{fig['error']}")
                else:
                    log(f"{name} / {spec.lib} done in {fig['process_wall_s']:.1f} s")
    return results


if __name__ == "__main__":
    sys.exit(child_main())
