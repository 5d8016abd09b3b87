"""One kept-alive HTTP connection pool to a tracking server, with MLflow's client rules.

Shared by the REST tracking store and the ``mlflow-artifacts:`` repository, so both speak
with the same credentials, TLS settings, retries and error translation.

Authentication (from ``Settings``): a username or password gives HTTP Basic, else a token
gives ``Authorization: Bearer``; ``user:password@`` in the URL also gives Basic. TLS:
``insecure_tls`` turns verification off, ``server_cert_path`` is the CA bundle to trust,
``client_cert_path`` a PEM file holding the client certificate and its key.

Retries (at most ``http_max_retries``, waiting ``http_backoff_factor * 2**attempt`` seconds,
jittered by +-50%, each wait capped at 60 s):

* the connection was never made (connect error or timeout, no free pooled connection):
  every method, the server never saw the request;
* HTTP 429 and 503, every method: the server did not process it. ``Retry-After`` (seconds or
  an HTTP date) replaces the computed wait;
* a read timeout or a dropped connection: only for GET, which is safe to repeat. A POST may
  have been applied, so it is not sent twice.

Nothing else is retried: not a 500, not a 4xx other than 429. Errors become ``MltrailError``
subclasses: the MLflow envelope ``{"error_code", "message"}`` by its code, any other body by
the HTTP status. Messages name the server without its credentials.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import random
import re
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import IO, Any, TypeVar, Union

import httpx

from mltrail._version import __version__
from mltrail.errors import (
    BadRequest,
    Conflict,
    InvalidArgument,
    MltrailError,
    NotFound,
    NotImplementedByServer,
    PermissionDenied,
    RequestLimitExceeded,
    TemporarilyUnavailable,
    Unauthenticated,
)
from mltrail.settings import Settings

__all__ = ["HttpSession", "display_url", "shared_session", "split_base_url"]

T = TypeVar("T")
ParamValue = Union[str, int, float, bool, Sequence[str], None]
Content = Union[bytes, Callable[[], IO[bytes]], None]

MAX_WAIT_SECONDS = 60.0
# Below the keep-alive timeouts of uvicorn (5 s) and gunicorn (2 s): a pooled connection is
# dropped by the client before the server can close it under a request being sent.
KEEPALIVE_EXPIRY_SECONDS = 1.5

# The request never reached the server: safe to send again whatever the method.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# The request may have been processed: only a GET is sent again.
_MAYBE_PROCESSED = (
    httpx.ReadTimeout,
    httpx.ReadError,
    httpx.RemoteProtocolError,
    httpx.WriteError,
    httpx.WriteTimeout,
)
_RETRY_STATUSES = (429, 503)
_SAFE_METHODS = ("GET",)

_STATUS_ERRORS: dict[int, type[MltrailError]] = {
    400: BadRequest,
    401: Unauthenticated,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    429: RequestLimitExceeded,
    501: NotImplementedByServer,
    503: TemporarilyUnavailable,
}
_EXCERPT_CHARS = 200
_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


def split_base_url(uri: str) -> str:
    """``uri`` checked as an ``http(s)://host[:port][/prefix]`` base URL, no trailing slash."""
    parts = urllib.parse.urlsplit(uri)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise InvalidArgument(
            f"Invalid server URL {display_url(uri)!r}: expected http(s)://host[:port][/prefix]"
        )
    if parts.query or parts.fragment:
        raise InvalidArgument(
            f"Invalid server URL {display_url(uri)!r}: it must not have a query or a fragment"
        )
    return urllib.parse.urlunsplit(
        (parts.scheme.lower(), parts.netloc, parts.path.rstrip("/"), "", "")
    )


def display_url(url: str) -> str:
    """``url`` without credentials, query or fragment: safe for messages and logs."""
    parts = urllib.parse.urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


def _tls(settings: Settings) -> ssl.SSLContext | bool:
    if not (settings.server_cert_path or settings.client_cert_path):
        return not settings.insecure_tls
    # certifi comes with httpx; it is the bundle httpx trusts by default.
    import certifi

    try:
        context = ssl.create_default_context(cafile=settings.server_cert_path or certifi.where())
    except (OSError, ssl.SSLError) as exc:
        raise InvalidArgument(
            f"Invalid MLTRAIL_TRACKING_SERVER_CERT_PATH {settings.server_cert_path!r}: {exc}"
        ) from exc
    if settings.insecure_tls:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if settings.client_cert_path:
        try:
            context.load_cert_chain(settings.client_cert_path)
        except (OSError, ssl.SSLError) as exc:
            raise InvalidArgument(
                f"Invalid MLTRAIL_TRACKING_CLIENT_CERT_PATH {settings.client_cert_path!r}: "
                f"{exc} (expected a PEM file with the certificate and its key)"
            ) from exc
    return context


def _query(params: Mapping[str, ParamValue] | None) -> tuple[tuple[str, str], ...]:
    """Query pairs as MLflow reads them: lists as repeated keys, bools as true/false."""
    pairs: list[tuple[str, str]] = []
    for key, value in (params or {}).items():
        values: Iterable[Any] = (
            value if isinstance(value, (list, tuple)) else () if value is None else (value,)
        )
        for item in values:
            text = ("true" if item else "false") if isinstance(item, bool) else str(item)
            pairs.append((key, text))
    return tuple(pairs)


def _is_tls_failure(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLError) or "CERTIFICATE_VERIFY_FAILED" in str(current):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def _retry_after(response: httpx.Response) -> float | None:
    raw = response.headers.get("Retry-After")
    if not raw:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_WAIT_SECONDS)


class HttpSession:
    """Requests to one server base URL through one lazily created ``httpx.Client``.

    ``client`` injects the transport (the session then does not close it); ``sleep`` is
    what waits between retries (tests pass a recorder).
    """

    def __init__(
        self,
        base_url: str,
        settings: Settings,
        *,
        client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = split_base_url(base_url)
        self.display_base = display_url(self.base_url)
        self._settings = settings
        self._client = client
        self._owns_client = client is None
        self._sleep = sleep
        self._lock = threading.Lock()
        parts = urllib.parse.urlsplit(self.base_url)
        self._secrets = [
            s
            for s in (parts.password, settings.tracking_password, settings.tracking_token)
            if s
        ]

    def __repr__(self) -> str:
        return f"HttpSession({self.display_base!r})"

    @property
    def client(self) -> httpx.Client:
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._new_client()
                client = self._client
        return client

    def _new_client(self) -> httpx.Client:
        settings = self._settings
        headers = {"User-Agent": f"mltrail/{__version__}"}
        auth: httpx.BasicAuth | None = None
        if settings.tracking_username or settings.tracking_password:
            auth = httpx.BasicAuth(
                settings.tracking_username or "", settings.tracking_password or ""
            )
        elif settings.tracking_token:
            headers["Authorization"] = f"Bearer {settings.tracking_token}"
        return httpx.Client(
            auth=auth,
            headers=headers,
            verify=_tls(settings),
            timeout=httpx.Timeout(settings.http_timeout),
            limits=httpx.Limits(
                max_connections=64,
                max_keepalive_connections=16,
                keepalive_expiry=KEEPALIVE_EXPIRY_SECONDS,
            ),
            follow_redirects=False,
        )

    def close(self) -> None:
        """Close the connection pool (a later request opens a new one)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None and self._owns_client:
            client.close()

    # -- requests ---------------------------------------------------------------------------

    def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, ParamValue] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A JSON API call: GET with a query string, others with a JSON body; the JSON reply."""
        return self.request(method, path, params=params, body=body, read=self._json)

    def request(
        self,
        method: str,
        path: str,
        *,
        read: Callable[[httpx.Response], T],
        params: Mapping[str, ParamValue] | None = None,
        body: Mapping[str, Any] | None = None,
        content: Content = None,
        headers: Mapping[str, str] | None = None,
    ) -> T:
        """Send ``method path`` with retries and return ``read(response)`` for a 2xx answer.

        ``read`` runs on the streamed response inside the retry loop: for a GET, a connection
        dropped while it reads sends the request again. ``content`` is bytes, or a callable
        opening a fresh binary stream for each attempt (it is closed afterwards).
        """
        url = self.base_url + path
        query = _query(params)
        send_headers = dict(headers or {})
        data: bytes | None = None
        if body is not None:
            # allow_nan=False: a bare NaN token is not JSON; entities spell it "NaN".
            data = json.dumps(body, allow_nan=False).encode()
            send_headers["Content-Type"] = "application/json"
        retries = self._settings.http_max_retries
        attempt = 0
        while True:
            wait = 0.0
            try:
                with contextlib.ExitStack() as stack:
                    payload: Any = data
                    if isinstance(content, bytes):
                        payload = content
                    elif content is not None:
                        payload = stack.enter_context(content())
                    response = stack.enter_context(
                        self.client.stream(
                            method, url, params=query, content=payload, headers=send_headers
                        )
                    )
                    status = response.status_code
                    if status in _RETRY_STATUSES and attempt < retries:
                        asked = _retry_after(response)
                        wait = self._backoff(attempt) if asked is None else asked
                    elif 200 <= status < 300:
                        return read(response)
                    else:
                        response.read()
                        raise self._error(method, path, response)
            except _NOT_SENT as exc:
                if _is_tls_failure(exc):
                    raise self._tls_error(exc) from exc
                if attempt >= retries:
                    raise self._unreachable(exc, attempt) from exc
                wait = self._backoff(attempt)
            except _MAYBE_PROCESSED as exc:
                unsafe = method not in _SAFE_METHODS
                if unsafe or attempt >= retries:
                    raise self._unreachable(exc, attempt, maybe_applied=unsafe) from exc
                wait = self._backoff(attempt)
            except httpx.HTTPError as exc:
                raise MltrailError(
                    f"{method} {self.display_base}{path} failed: {self._scrub(str(exc))}"
                ) from exc
            self._sleep(wait)
            attempt += 1

    def _backoff(self, attempt: int) -> float:
        wait = self._settings.http_backoff_factor * 2.0**attempt
        return min(wait * random.uniform(0.5, 1.5), MAX_WAIT_SECONDS)

    def _json(self, response: httpx.Response) -> dict[str, Any]:
        raw = response.read()
        if not raw.strip():
            return {}
        try:
            payload = json.loads(raw)
        except ValueError as exc:
            raise MltrailError(
                f"{self.display_base} answered {response.request.method} "
                f"{response.request.url.path} with a body that is not JSON: "
                f"{self._excerpt(response)}"
            ) from exc
        if not isinstance(payload, dict):
            raise MltrailError(
                f"{self.display_base} answered {response.request.method} "
                f"{response.request.url.path} with JSON that is not an object"
            )
        return payload

    # -- errors -----------------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def _excerpt(self, response: httpx.Response) -> str:
        try:
            text = response.text
        except (UnicodeDecodeError, LookupError):
            return f"<{len(response.content)} bytes>"
        text = _SPACE.sub(" ", _TAG.sub(" ", text)).strip()
        if len(text) > _EXCERPT_CHARS:
            text = text[:_EXCERPT_CHARS] + "..."
        return self._scrub(text) or "<empty body>"

    def _error(self, method: str, path: str, response: httpx.Response) -> MltrailError:
        status = response.status_code
        where = f"{method} {self.display_base}{path}"
        payload: Any = None
        with contextlib.suppress(ValueError):
            payload = json.loads(response.content)
        if isinstance(payload, dict) and isinstance(payload.get("error_code"), str):
            message = payload.get("message")
            return MltrailError.from_code(
                payload["error_code"],
                self._scrub(str(message)) if message else f"{where} failed with HTTP {status}",
            )
        if 300 <= status < 400:
            location = display_url(response.headers.get("Location", ""))
            return MltrailError(
                f"{where} was redirected (HTTP {status}) to {location!r}: set the tracking URI "
                "to the address the server redirects to"
            )
        if isinstance(payload, dict) and isinstance(payload.get("detail"), str):
            detail = self._scrub(payload["detail"])  # FastAPI's error shape
        else:
            detail = self._excerpt(response)
        cls = _STATUS_ERRORS.get(status, MltrailError)
        message = f"{where} failed with HTTP {status}: {detail}"
        if status == 401:
            message += (
                " (set MLTRAIL_TRACKING_USERNAME and MLTRAIL_TRACKING_PASSWORD, or "
                "MLTRAIL_TRACKING_TOKEN)"
            )
        error = cls(message, error_code="ENDPOINT_NOT_FOUND" if status == 404 else None)
        if cls is MltrailError:
            error.http_status = status
        return error

    def _unreachable(
        self, exc: httpx.HTTPError, attempt: int, *, maybe_applied: bool = False
    ) -> TemporarilyUnavailable:
        tries = f"{attempt + 1} attempt" + ("s" if attempt else "")
        reason = self._scrub(str(exc)) or type(exc).__name__
        message = (
            f"Could not reach the tracking server at {self.display_base} ({tries}): "
            f"{type(exc).__name__}: {reason}"
        )
        if maybe_applied:
            message += "; the request may or may not have been applied"
        return TemporarilyUnavailable(message)

    def _tls_error(self, exc: httpx.HTTPError) -> MltrailError:
        return MltrailError(
            f"TLS verification of {self.display_base} failed: {self._scrub(str(exc))}. "
            "Set MLTRAIL_TRACKING_SERVER_CERT_PATH to the CA bundle that signed its "
            "certificate (or MLTRAIL_TRACKING_INSECURE_TLS=true to skip verification)"
        )


_shared: dict[tuple[Any, ...], HttpSession] = {}
_shared_lock = threading.Lock()


def connection_key(settings: Settings) -> tuple[Any, ...]:
    """The settings that make one connection pool differ from another."""
    return (
        settings.tracking_username,
        settings.tracking_password,
        settings.tracking_token,
        settings.insecure_tls,
        settings.server_cert_path,
        settings.client_cert_path,
        settings.http_max_retries,
        settings.http_backoff_factor,
        settings.http_timeout,
    )


def shared_session(base_url: str, settings: Settings) -> HttpSession:
    """One session per base URL and connection settings, shared across the process (artifact
    repositories are made per call; their connections should not be)."""
    key = (split_base_url(base_url), connection_key(settings))
    with _shared_lock:
        session = _shared.get(key)
        if session is None:
            session = _shared[key] = HttpSession(key[0], settings)
        return session
