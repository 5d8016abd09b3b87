"""The scoring server: one loaded model behind MLflow's ``mlflow models serve`` protocol.

    GET  /ping, /health     200 once the model is loaded (it is loaded before the app exists)
    GET  /version           the mltrail version
    GET  /                  what this server serves, and a curl example
    POST /invocations       a body (JSON, CSV or Parquet; see ``payload.py``) -> predictions

``create_scoring_app(model)`` builds the ASGI app around a loaded model; ``serve(...)`` runs it
with uvicorn on a listening socket with TCP_NODELAY set, which the accepted sockets inherit
(without it a kept-alive connection waits 40 ms on every request after the first when there
is more than one worker). Each serving process has glibc's malloc keep freed blocks for the
next request (``keep_freed_memory``), so that a big body's memory is not faulted in afresh
every time. With ``workers > 1`` every worker process builds its own app with
``app_from_env()``, which reads these variables (``serve`` sets them before the workers start):

    MLTRAIL_SCORING_MODEL_URI        the model to load (required)
    MLTRAIL_SCORING_LOADER           "module:function" that loads it [mltrail.pyfunc:load_model]
    MLTRAIL_SCORING_MAX_BODY_BYTES   the largest request body, in bytes [104857600, 100 MiB]
    MLTRAIL_SCORING_TIMEOUT_S        seconds a request may take [60]; when unset, MLflow's
                                     MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT is read instead

The app is plain ASGI: five routes matched by a dict lookup, the body read straight from
``receive`` so that its size is counted as it arrives. Measured in process on a 1-row request
(parsing, predicting and encoding included), it costs about what the same handler costs behind
Starlette's router (55 µs either way) and half of what it costs behind FastAPI (110 µs); so
no framework is imported at start.

Every failure is answered with MLflow's envelope ``{"error_code", "message"}``: a bad body
400 ``BAD_REQUEST`` (the model's ``InvalidArgument`` too, its message passed on), an
unsupported Content-Type 415, a body over the limit 413 (counted as it arrives, whatever the
Content-Length says), a request over the time limit 504. A model that fails otherwise is a
400 ``BAD_REQUEST`` too, as in MLflow (it is nearly always input the model cannot take),
naming the exception; the traceback goes to the server's log only. Predictions that have no
JSON form are the one 500 ``INTERNAL_ERROR``.

Small requests are scored right on the event loop, where a 1-row request costs least, as long
as the model proves quick (under ``INLINE_BUDGET_S`` a request); bodies over
``INLINE_MAX_BYTES``, and every request of a slow model, are scored in a worker thread, so
``/ping`` keeps answering and the time limit can be kept. A prediction past the time limit is
answered 504 but runs on in its thread: Python cannot stop it.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import logging
import os
import shlex
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Protocol

import orjson

from mltrail._version import __version__
from mltrail.errors import BadRequest, InvalidArgument, MltrailError
from mltrail.models.scoring.payload import (
    InputSchema,
    InputSignature,
    SUPPORTED_CONTENT_TYPES,
    parse_request,
)
from mltrail.models.scoring.predictions import encode_predictions

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_TIMEOUT_S",
    "ScoringApp",
    "ScoringModel",
    "app_from_env",
    "create_scoring_app",
    "keep_freed_memory",
    "serve",
]

DEFAULT_MAX_BODY_BYTES = 100 * 1024 * 1024
DEFAULT_TIMEOUT_S = 60.0
DEFAULT_LOADER = "mltrail.pyfunc:load_model"
INLINE_MAX_BYTES = 64 * 1024
INLINE_BUDGET_S = 0.005

MODEL_URI_ENV = "MLTRAIL_SCORING_MODEL_URI"
LOADER_ENV = "MLTRAIL_SCORING_LOADER"
MAX_BODY_ENV = "MLTRAIL_SCORING_MAX_BODY_BYTES"
TIMEOUT_ENV = "MLTRAIL_SCORING_TIMEOUT_S"
MLFLOW_TIMEOUT_ENV = "MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT"

log = logging.getLogger("mltrail.scoring")

Scope = Mapping[str, Any]
Message = Mapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Answer = tuple[int, bytes]

_JSON = b"application/json"
_TEXT = b"text/plain; charset=utf-8"
_HTML = b"text/html; charset=utf-8"
_MAX_MESSAGE_CHARS = 1000


class ScoringModel(Protocol):
    """A loaded model, as the scoring server uses it (``PyFuncModel`` is one)."""

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any: ...

    @property
    def input_schema(self) -> InputSchema | None: ...


class _BodyTooLarge(Exception):
    """The request body is over the size limit, by its Content-Length or as it arrives."""


class _ClientGone(Exception):
    """The client disconnected before its body was read."""


def _envelope(status: int, code: str, message: str) -> Answer:
    return status, orjson.dumps({"error_code": code, "message": message})


def _shorten(text: str) -> str:
    return text if len(text) <= _MAX_MESSAGE_CHARS else text[:_MAX_MESSAGE_CHARS] + "..."


def _check_limits(max_body_bytes: int, timeout_s: float) -> None:
    if type(max_body_bytes) is not int or max_body_bytes < 1:
        raise InvalidArgument(f"max_body_bytes must be a positive integer, not {max_body_bytes!r}")
    if not timeout_s > 0:
        raise InvalidArgument(f"timeout_s must be a positive number of seconds, not {timeout_s!r}")


def _takes_params(model: Any) -> bool:
    try:
        parameters = inspect.signature(model.predict).parameters
    except (TypeError, ValueError):
        return True  # cannot tell: let the call decide
    return "params" in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
    )


async def _send(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes = _JSON,
    extra: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    headers = [(b"content-type", content_type), (b"content-length", b"%d" % len(body)), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class ScoringApp:
    """The ASGI app serving one model; build it with ``create_scoring_app``."""

    def __init__(
        self,
        model: ScoringModel,
        *,
        model_uri: str | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        _check_limits(max_body_bytes, timeout_s)
        self.model = model
        self.model_uri = model_uri
        self.max_body_bytes = max_body_bytes
        self.timeout_s = float(timeout_s)
        self.signature = InputSignature.of(getattr(model, "input_schema", None))
        self._takes_params = _takes_params(model)
        # Small requests go on the event loop once one has shown the model to be quick.
        self._inline = False
        self._pages: dict[str, Callable[[Scope, Send], Awaitable[None]]] = {
            "/ping": self._ping,
            "/health": self._ping,
            "/version": self._version,
            "/": self._index,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            path = scope["path"]
            method = scope["method"]
            if path == "/invocations":
                if method == "POST":
                    await self._invocations(scope, receive, send)
                else:
                    await self._not_allowed(send, method, path, b"POST")
                return
            page = self._pages.get(path)
            if page is None:
                status, body = _envelope(
                    404, "ENDPOINT_NOT_FOUND",
                    f"No endpoint at {method} {path}: this scoring server answers "
                    "POST /invocations, GET /ping, /health, /version and /",
                )
                await _send(send, status, body)
            elif method in ("GET", "HEAD"):
                await page(scope, send)
            else:
                await self._not_allowed(send, method, path, b"GET, HEAD")
        elif kind == "lifespan":
            await _lifespan(receive, send)
        elif kind == "websocket":
            await receive()
            await send({"type": "websocket.close", "code": 1000})

    # --- /invocations -------------------------------------------------------------------

    async def _invocations(self, scope: Scope, receive: Receive, send: Send) -> None:
        content_type: str | None = None
        declared: int | None = None
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value.decode("latin-1")
            elif name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = None
        try:
            if sys.version_info >= (3, 11):
                async with asyncio.timeout(self.timeout_s):
                    status, body = await self._handle(content_type, declared, receive)
            else:
                status, body = await asyncio.wait_for(
                    self._handle(content_type, declared, receive), self.timeout_s
                )
        except asyncio.TimeoutError:
            log.warning("POST /invocations took longer than the %g s time limit", self.timeout_s)
            status, body = _envelope(
                504, "DEADLINE_EXCEEDED",
                f"The request took longer than the scoring server's time limit of "
                f"{self.timeout_s:g} s ({TIMEOUT_ENV})",
            )
        except _BodyTooLarge:
            status, body = _envelope(
                413, "RESOURCE_EXHAUSTED",
                f"The request body is larger than the scoring server's limit of "
                f"{self.max_body_bytes} bytes ({MAX_BODY_ENV}); send fewer rows per request",
            )
        except _ClientGone:
            return
        await _send(send, status, body)

    async def _handle(
        self, content_type: str | None, declared: int | None, receive: Receive
    ) -> Answer:
        body = await self._read_body(declared, receive)
        small = len(body) <= INLINE_MAX_BYTES
        if small and self._inline:
            return self._score(content_type, body, small)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self._score, content_type, body, small)

    async def _read_body(self, declared: int | None, receive: Receive) -> bytes:
        limit = self.max_body_bytes
        if declared is not None and declared > limit:
            raise _BodyTooLarge
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _ClientGone
            chunk = message.get("body", b"")
            if chunk:
                size += len(chunk)
                if size > limit:
                    raise _BodyTooLarge
                chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def _score(self, content_type: str | None, body: bytes, small: bool = False) -> Answer:
        """The answer to one request body: parse, predict, encode (run in any thread)."""
        started = time.perf_counter()
        answer = self._answer(content_type, body)
        if small:
            self._inline = time.perf_counter() - started < INLINE_BUDGET_S
        return answer

    def _answer(self, content_type: str | None, body: bytes) -> Answer:
        try:
            request = parse_request(content_type, body, self.signature)
        except MltrailError as exc:
            return _envelope(exc.http_status, exc.error_code, exc.message)
        except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
            log.info("POST /invocations: unreadable input", exc_info=exc)
            return _envelope(400, "BAD_REQUEST", _shorten(f"The input could not be read: {exc}"))
        try:
            if request.params is None:
                predictions = self.model.predict(request.data)
            elif self._takes_params:
                predictions = self.model.predict(request.data, params=request.params)
            else:
                raise BadRequest(
                    "This model's predict takes no 'params'; send the request without them"
                )
        except InvalidArgument as exc:
            return _envelope(400, "BAD_REQUEST", _shorten(exc.message))
        except (Exception, SystemExit) as exc:
            log.error("POST /invocations: the model failed", exc_info=exc)
            return _envelope(
                400, "BAD_REQUEST",
                _shorten(f"The model failed to predict: {type(exc).__name__}: {exc}"),
            )
        try:
            return 200, encode_predictions(predictions, bare=request.bare)
        except Exception as exc:
            log.error("POST /invocations: the predictions could not be encoded", exc_info=exc)
            return _envelope(500, "INTERNAL_ERROR", _shorten(str(exc)))

    # --- the other routes ---------------------------------------------------------------

    async def _not_allowed(self, send: Send, method: str, path: str, allow: bytes) -> None:
        status, body = _envelope(
            405, "BAD_REQUEST", f"{method} is not allowed on {path}; use {allow.decode()}"
        )
        await _send(send, status, body, extra=[(b"allow", allow)])

    async def _ping(self, scope: Scope, send: Send) -> None:
        await _send(send, 200, b"\n", _TEXT)

    async def _version(self, scope: Scope, send: Send) -> None:
        await _send(send, 200, __version__.encode(), _TEXT)

    async def _index(self, scope: Scope, send: Send) -> None:
        host = "localhost:5000"
        wants_html = False
        for name, value in scope["headers"]:
            if name == b"host":
                host = value.decode("latin-1")
            elif name == b"accept":
                wants_html = b"text/html" in value
        text = self.describe(host)
        if wants_html:
            from html import escape

            page = (
                '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
                "<title>mltrail scoring server</title></head>\n"
                '<body style="font-family: system-ui, sans-serif; max-width: 52rem; '
                'margin: 3rem auto">'
                f"<pre style=\"white-space: pre-wrap\">{escape(text)}</pre></body></html>\n"
            )
            await _send(send, 200, page.encode(), _HTML)
        else:
            await _send(send, 200, text.encode(), _TEXT)

    def describe(self, host: str = "localhost:5000") -> str:
        """The plain-text page at ``/``: the model served and how to score it."""
        model = self.model_uri or "a model given in-process (no URI)"
        names = list(self.signature.names)
        if names and not self.signature.tensor:
            shown = names[:30]
            frame = {"columns": shown, "data": [[0] * len(shown)]}
            example = orjson.dumps({"dataframe_split": frame}).decode()
            signature = f"Input columns ({len(names)}): {', '.join(names[:50])}" + (
                ", ..." if len(names) > 50 else ""
            )
            if len(names) > len(shown):
                signature += f"\n(the example shows {len(shown)} of the {len(names)} columns)"
        else:
            example = '{"inputs":[[1.0,2.0,3.0]]}'
            kind = "tensors" if self.signature.tensor else "no signature recorded"
            signature = f"Input: {kind}"
        return (
            f"mltrail {__version__} scoring server\n\n"
            f"Model: {model}\n{signature}\n\n"
            f"Score rows with POST /invocations, for example:\n\n"
            f"  curl -X POST http://{host}/invocations -H 'Content-Type: application/json' \\\n"
            f"       -d {shlex.quote(example)}\n\n"
            "The JSON body has one of dataframe_split, dataframe_records, instances or inputs "
            "(plus optional params);\nthe answer is {\"predictions\": [...]}. Also accepted: "
            f"{', '.join(SUPPORTED_CONTENT_TYPES[1:])}, and MLflow 1.x's\n"
            "'application/json; format=pandas-split' and 'format=pandas-records' "
            "(answered with the bare list).\n\n"
            "GET /ping or /health: 200 when ready; GET /version: the server's version.\n"
        )


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def create_scoring_app(
    model: ScoringModel,
    *,
    model_uri: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> ScoringApp:
    """The ASGI app scoring ``model``; ``model_uri`` is only shown on its ``/`` page."""
    return ScoringApp(
        model, model_uri=model_uri, max_body_bytes=max_body_bytes, timeout_s=timeout_s
    )


# --- running it -------------------------------------------------------------------------


def load_with(loader: str, model_uri: str) -> ScoringModel:
    """The model at ``model_uri``, loaded by the ``"module:function"`` named ``loader``."""
    module_name, _, function_name = loader.partition(":")
    if not module_name or not function_name:
        raise InvalidArgument(f"The loader must be written 'module:function', not {loader!r}")
    function = getattr(importlib.import_module(module_name), function_name)
    model: ScoringModel = function(model_uri)
    return model


def _number(environ: Mapping[str, str], name: str) -> float | None:
    raw = environ.get(name, "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise InvalidArgument(f"{name} must be a number, not {raw!r}") from None
    if not value > 0:
        raise InvalidArgument(f"{name} must be positive, not {raw!r}")
    return value


def app_from_env(environ: Mapping[str, str] | None = None) -> ScoringApp:
    """The factory each uvicorn worker calls: the model and limits come from the environment."""
    env = os.environ if environ is None else environ
    model_uri = env.get(MODEL_URI_ENV, "").strip()
    if not model_uri:
        raise InvalidArgument(f"{MODEL_URI_ENV} is not set: which model should be served?")
    max_body = _number(env, MAX_BODY_ENV)
    if max_body is not None and max_body != int(max_body):
        raise InvalidArgument(f"{MAX_BODY_ENV} must be a whole number of bytes")
    timeout = _number(env, TIMEOUT_ENV) or _number(env, MLFLOW_TIMEOUT_ENV) or DEFAULT_TIMEOUT_S
    keep_freed_memory()
    model = load_with(env.get(LOADER_ENV, "").strip() or DEFAULT_LOADER, model_uri)
    return create_scoring_app(
        model,
        model_uri=model_uri,
        max_body_bytes=int(max_body) if max_body is not None else DEFAULT_MAX_BODY_BYTES,
        timeout_s=timeout,
    )


# glibc's malloc gives a freed block of over 128 KiB back to the operating system (raising
# that bar to the largest block it has seen freed, and trimming the heap past twice it), and
# the next request faults its memory back in page by page. A 10,000-row JSON request (4 MB of
# body, read in chunks and joined, then its arrays) took 4,500 page faults; with blocks of up
# to 32 MiB (glibc's largest setting) kept in the heap, and up to 64 MiB of free heap kept,
# it takes 2,500 (the rest are Python's own object arenas) and 5 ms less server CPU, for
# 9 MiB more resident memory. Set together: either alone turns off glibc's own adjustment of
# the other, and was slower than neither.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MALLOC_SETTINGS = {
    _M_MMAP_THRESHOLD: ("MALLOC_MMAP_THRESHOLD_", 32 * 1024 * 1024),
    _M_TRIM_THRESHOLD: ("MALLOC_TRIM_THRESHOLD_", 64 * 1024 * 1024),
}


def keep_freed_memory() -> bool:
    """Have glibc's malloc keep freed blocks of up to 32 MiB for the next request, instead of
    giving them back to the operating system; whether it was done. Elsewhere than glibc on
    Linux, or when the process was started with either setting in its environment (which
    glibc has read), nothing is changed."""
    if not sys.platform.startswith("linux") or any(
        name in os.environ for name, _ in _MALLOC_SETTINGS.values()
    ):
        return False
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    done = [mallopt(param, value) for param, (_, value) in _MALLOC_SETTINGS.items()]
    return done == [1] * len(done)  # musl's mallopt, for one, does nothing and answers 0


def listening_socket(host: str, port: int) -> socket.socket:
    """A bound TCP socket with TCP_NODELAY, which every socket it accepts inherits."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"Cannot listen on {host}:{port}: {exc.strerror}") from exc
    sock.set_inheritable(True)
    return sock


def serve(
    model: str | Callable[[], ScoringModel],
    *,
    host: str = "127.0.0.1",
    port: int = 5000,
    workers: int = 1,
    loader: str = DEFAULT_LOADER,
    model_uri: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    log_level: str = "warning",
    timeout_keep_alive: int = 30,
    sock: socket.socket | None = None,
) -> None:
    """Serve a model until interrupted.

    ``model`` is a model URI, loaded with ``loader`` (``"module:function"``) in each worker,
    or, with one worker only, a function returning the loaded model (``model_uri`` is then
    only shown on the ``/`` page). ``sock`` is a listening socket to use instead of binding
    ``host:port``.
    """
    import uvicorn  # the server loads only when a server starts

    if workers < 1:
        raise InvalidArgument(f"workers must be at least 1, not {workers}")
    if workers > 1 and not isinstance(model, str):
        raise InvalidArgument(
            "Serving with several workers needs a model URI: each worker process loads the "
            "model itself"
        )
    _check_limits(max_body_bytes, timeout_s)
    listener = sock if sock is not None else listening_socket(host, port)
    if sock is not None:
        listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    options: dict[str, Any] = {
        "log_level": log_level,
        "access_log": log_level in ("info", "debug", "trace"),
        "lifespan": "off",
        "ws": "none",  # no WebSocket routes: skip importing a WebSocket protocol at start
        "timeout_keep_alive": timeout_keep_alive,
    }
    try:
        if workers == 1:
            keep_freed_memory()
            if isinstance(model, str):
                loaded, model_uri = load_with(loader, model), model
            else:
                loaded = model()
            app = create_scoring_app(
                loaded, model_uri=model_uri, max_body_bytes=max_body_bytes, timeout_s=timeout_s
            )
            uvicorn.Server(uvicorn.Config(app, **options)).run(sockets=[listener])
            return
        assert isinstance(model, str)
        _run_workers(model, loader, workers, max_body_bytes, timeout_s, options, listener)
    finally:
        if sock is None:
            listener.close()


def _run_workers(
    model_uri: str,
    loader: str,
    workers: int,
    max_body_bytes: int,
    timeout_s: float,
    options: dict[str, Any],
    listener: socket.socket,
) -> None:
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    # Workers are fresh processes: they read what to serve from these variables, set for
    # the time the server runs and put back afterwards.
    handover = {
        MODEL_URI_ENV: model_uri,
        LOADER_ENV: loader,
        MAX_BODY_ENV: str(max_body_bytes),
        TIMEOUT_ENV: repr(float(timeout_s)),
    }
    saved = {name: os.environ.get(name) for name in handover}
    os.environ.update(handover)
    try:
        config = uvicorn.Config(
            "mltrail.models.scoring.app:app_from_env", factory=True, workers=workers, **options
        )
        Multiprocess(config, sockets=[listener]).run()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

