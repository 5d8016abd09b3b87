"""Webhook delivery: which URLs the server may call, and calling them, signed, in the background.

**Where a webhook may point.** ``check_webhook_url`` allows http and https URLs whose host
resolves only to public addresses. A host with any loopback, private (RFC 1918, fc00::/7),
link-local (169.254/16 with the cloud metadata service, fe80::/10), unspecified, multicast,
reserved or otherwise non-global address is refused, also when written inside an IPv6 form
(IPv4-mapped, 6to4, NAT64). MLflow's webhooks were a server-side request forgery vector
(CVE-2026-2393). The check runs when a webhook is written and again before every attempt,
since DNS answers change; each request then goes to the address just checked (the URL's host
is kept in the Host header and as the TLS server name), so a second, different DNS answer
cannot slip in between. Redirects are never followed. A server started with
``--allow-private-webhook-urls`` skips the address check, for in-cluster receivers.

**What is sent.** MLflow's format, so receivers written for MLflow work unchanged: a JSON
body ``{"entity": "model_version", "action": "created", "timestamp": <ISO 8601>, "data":
{...}}`` and the headers ``X-MLflow-Delivery-Id``, ``X-MLflow-Timestamp`` (Unix seconds) and,
when the webhook has a secret, ``X-MLflow-Signature: v1,<base64 HMAC-SHA256>`` over
``"<delivery id>.<timestamp>.<body>"`` keyed by the secret (the Standard Webhooks scheme).

**When.** ``WebhookDispatcher`` is the app's ``EventSink``: ``emit`` only queues the event;
a few worker threads, started when needed and gone after a few idle seconds, find the
active webhooks subscribed to it and deliver to each. An attempt that fails on the network,
times out, or gets a 429 or 5xx answer is retried with exponential backoff (3 attempts in
all by default). Every delivery is recorded in ``webhook_deliveries``, updated after each
attempt. ``close`` (at the app's shutdown) lets queued work finish, cancels waiting retries
and stops the threads.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import hashlib
import hmac
import ipaddress
import json
import logging
import queue
import socket
import threading
import time
import urllib.parse
import uuid
from typing import TYPE_CHECKING, Any

from mltrail.entities.webhook import (
    DeliveryStatus,
    Webhook,
    WebhookEvent,
    WebhookTestResult,
    validate_webhook_url,
)
from mltrail.errors import InvalidArgument, MltrailError
from mltrail.storage.sql.webhooks import SqlWebhookStore

if TYPE_CHECKING:
    import httpx  # imported at the first delivery: see WebhookSender._http

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-MLflow-Signature"
TIMESTAMP_HEADER = "X-MLflow-Timestamp"
DELIVERY_ID_HEADER = "X-MLflow-Delivery-Id"
SIGNATURE_VERSION = "v1"

DEFAULT_TIMEOUT_SECONDS = 5.0
DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_BACKOFF_SECONDS = 1.0
ALLOW_PRIVATE_HINT = (
    "webhooks may only call public addresses unless the server runs with "
    "--allow-private-webhook-urls"
)

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_IP = ipaddress.IPv4Address | ipaddress.IPv6Address


# --------------------------------------------------------------------------- URL checks


def _embedded_ipv4(ip: _IP) -> _IP:
    """The IPv4 address inside an IPv6 transition form (mapped, 6to4, NAT64, compatible)."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = ip.ipv4_mapped or ip.sixtofour
        # IPv4-compatible (::a.b.c.d), but not :: and ::1, which are IPv6's own.
        compatible = int(ip) >> 32 == 0 and int(ip) > 1
        if inner is None and (ip in _NAT64 or compatible):
            inner = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if inner is not None:
            return inner
    return ip


def _problem(ip: _IP) -> str | None:
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address (such as the cloud metadata service)"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_reserved:
        return "a reserved address"
    if ip.is_private:
        return "a private-network address"
    if not ip.is_global:
        return "not a public address"
    return None


def address_problem(address: str) -> str | None:
    """Why a webhook may not call ``address`` (an IP literal), or None for a public one.
    An IPv6 address carrying an IPv4 one must pass as both."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "not an IP address"
    return _problem(_embedded_ipv4(ip)) or _problem(ip)


def check_webhook_url(url: str, allow_private: bool) -> list[str]:
    """Check ``url`` as a webhook target; the addresses its host resolved to, all public,
    to connect to (``[]`` when ``allow_private``: no address check, the host is resolved
    when connecting). ``InvalidArgument`` names the rule a refused URL breaks."""
    validate_webhook_url(url)
    if allow_private:
        return []
    host = urllib.parse.urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError, ValueError) as exc:
        raise InvalidArgument(
            f"Invalid webhook url {url!r}: its host {host!r} does not resolve ({exc})"
        ) from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise InvalidArgument(f"Invalid webhook url {url!r}: its host {host!r} has no address")
    for address in addresses:
        problem = address_problem(address)
        if problem is not None:
            shown = "" if address == host.strip("[]") else f" resolves to {address}, which"
            raise InvalidArgument(
                f"Invalid webhook url {url!r}: host {host!r}{shown} is {problem}; "
                f"{ALLOW_PRIVATE_HINT}"
            )
    return addresses


# --------------------------------------------------------------------------- signing


def sign(secret: str, delivery_id: str, timestamp: str, body: str) -> str:
    """MLflow's ``X-MLflow-Signature`` value: ``v1,`` and the base64 HMAC-SHA256, keyed by
    the secret, of ``"<delivery id>.<timestamp>.<body>"``."""
    content = f"{delivery_id}.{timestamp}.{body}".encode()
    digest = hmac.new(secret.encode(), content, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


def event_body(event: WebhookEvent, data: dict[str, Any]) -> str:
    """The JSON body of a delivery, spaced as MLflow's ``json.dumps`` writes it."""
    return json.dumps(
        {
            "entity": event.entity.lower(),
            "action": event.action.lower(),
            "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            "data": data,
        }
    )


def example_data(event: WebhookEvent) -> dict[str, Any]:
    """A made-up ``data`` object for ``event``, sent by the test endpoint."""
    model: dict[str, Any] = {"name": "example_model"}
    if event.entity == "REGISTERED_MODEL":
        return {**model, "tags": {"example_key": "example_value"},
                "description": "An example registered model"}
    if event.entity == "MODEL_VERSION" and event.action == "CREATED":
        return {**model, "version": "1", "source": "models:/m-0123456789abcdef0123456789abcdef",
                "run_id": "0123456789abcdef0123456789abcdef",
                "tags": {"example_key": "example_value"},
                "description": "An example model version"}
    if event.entity == "MODEL_VERSION":
        return {**model, "version": "1", "from_stage": "Staging", "to_stage": "Production"}
    if event.entity == "MODEL_VERSION_TAG":
        tag = {**model, "version": "1", "key": "example_key"}
        return {**tag, "value": "example_value"} if event.action == "SET" else tag
    if event.action == "CREATED":  # MODEL_VERSION_ALIAS
        return {**model, "alias": "champion", "version": "1"}
    return {**model, "alias": "champion"}


# --------------------------------------------------------------------------- one attempt


@dataclasses.dataclass(frozen=True)
class Attempt:
    """What one POST came to: a response status and body, or an error; whether to retry."""

    response_status: int | None = None
    response_body: str | None = None
    error: str | None = None
    retryable: bool = False

    @property
    def success(self) -> bool:
        return self.response_status is not None and 200 <= self.response_status < 300


def _pinned(url: str, address: str) -> tuple[httpx.URL, dict[str, str], dict[str, Any]]:
    """The request URL with ``address`` for its host, and the Host header and TLS server
    name that keep the original host."""
    import httpx

    parts = urllib.parse.urlsplit(url)
    target = httpx.URL(url).copy_with(host=address)
    extensions: dict[str, Any] = {}
    if parts.scheme.lower() == "https":
        extensions["sni_hostname"] = parts.hostname or ""
    return target, {"Host": parts.netloc}, extensions


class WebhookSender:
    """POSTs one signed body to one webhook, once, after checking where it points."""

    def __init__(
        self,
        *,
        allow_private: bool = False,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.allow_private = allow_private
        self._timeout = timeout
        self._transport = transport
        self._client: httpx.Client | None = None  # made at the first delivery (see _http)
        self._client_lock = threading.Lock()

    def _http(self) -> httpx.Client:
        """The HTTP client, made when first needed: most servers never deliver a webhook, and
        importing httpx would add a tenth of a second to every server's start."""
        with self._client_lock:
            if self._client is None:
                import httpx

                # No environment proxies (the checked address must be the peer), no
                # redirects, and no kept-alive connections: a connection to an address is not
                # reused for another host name that resolves to it.
                self._client = httpx.Client(
                    timeout=self._timeout,
                    follow_redirects=False,
                    trust_env=False,
                    limits=httpx.Limits(max_keepalive_connections=0),
                    transport=self._transport,
                )
            return self._client

    def close(self) -> None:
        with self._client_lock:
            if self._client is not None:
                self._client.close()

    def send(self, webhook: Webhook, delivery_id: str, body: str) -> Attempt:
        import httpx

        try:
            addresses = check_webhook_url(webhook.url, self.allow_private)
        except InvalidArgument as exc:
            return Attempt(error=f"Refused: {exc.message}")
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            DELIVERY_ID_HEADER: delivery_id,
            TIMESTAMP_HEADER: timestamp,
        }
        if webhook.secret:
            headers[SIGNATURE_HEADER] = sign(webhook.secret, delivery_id, timestamp, body)
        content = body.encode()
        targets: list[tuple[httpx.URL | str, dict[str, str], dict[str, Any]]] = (
            [_pinned(webhook.url, a) for a in addresses] if addresses else [(webhook.url, {}, {})]
        )
        last = Attempt(error="no address to connect to", retryable=True)
        for url, host, extensions in targets:
            try:
                response = self._http().post(
                    url, content=content, headers={**headers, **host}, extensions=extensions
                )
            except httpx.ConnectError as exc:
                last = Attempt(error=f"Could not connect: {exc}", retryable=True)
                continue  # the host's next address, if it has one
            except httpx.TimeoutException as exc:
                return Attempt(error=f"Timed out: {exc or type(exc).__name__}", retryable=True)
            except httpx.TransportError as exc:
                return Attempt(error=f"Request failed: {exc or type(exc).__name__}",
                               retryable=True)
            return _answer(response)
        return last


def _answer(response: httpx.Response) -> Attempt:
    status = response.status_code
    text = response.text
    if 200 <= status < 300:
        return Attempt(response_status=status, response_body=text)
    if 300 <= status < 400:
        where = response.headers.get("location", "")
        return Attempt(response_status=status, response_body=text,
                       error=f"Redirect to {where!r} not followed")
    retry = status == 429 or status >= 500
    return Attempt(response_status=status, response_body=text,
                   error=f"The receiver answered HTTP {status}", retryable=retry)


# --------------------------------------------------------------------------- the dispatcher


@dataclasses.dataclass(frozen=True)
class _Fanout:
    event: WebhookEvent
    data: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class _Delivery:
    webhook: Webhook
    event: WebhookEvent
    data: dict[str, Any]


_Job = _Fanout | _Delivery | None  # None: a worker's signal to stop


class WebhookDispatcher:
    """The server's ``EventSink``: delivers events to subscribed webhooks in the background."""

    def __init__(
        self,
        store: SqlWebhookStore,
        *,
        allow_private: bool = False,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        backoff_seconds: float = DEFAULT_BACKOFF_SECONDS,
        max_workers: int = 4,
        idle_seconds: float = 5.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if max_attempts < 1 or max_workers < 1:
            raise ValueError("max_attempts and max_workers must be at least 1")
        self.store = store
        self.sender = WebhookSender(allow_private=allow_private, timeout=timeout,
                                    transport=transport)
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.max_workers = max_workers
        self.idle_seconds = idle_seconds
        self._queue: queue.Queue[_Job] = queue.Queue()
        self._lock = threading.Lock()
        self._workers: set[threading.Thread] = set()
        self._idle = 0  # workers waiting for a job
        self._stopping = threading.Event()
        self._closed = False

    # EventSink

    def emit(self, entity: str, action: str, payload: dict[str, Any]) -> None:
        try:
            event = WebhookEvent(entity, action)
        except InvalidArgument:
            log.warning("Dropping the unknown event %s %s", entity, action)
            return
        self._submit(_Fanout(event, payload), from_outside=True)

    # Synchronous delivery, for the test endpoint

    def test(self, webhook: Webhook, event: WebhookEvent | None = None) -> WebhookTestResult:
        """Send an example of ``event`` (the webhook's first by default) once, now, and
        record it as a delivery."""
        event = event or (webhook.events[0] if webhook.events
                          else WebhookEvent("REGISTERED_MODEL", "CREATED"))
        body = event_body(event, example_data(event))
        delivery = self.store.create_delivery(webhook.webhook_id, event, body)
        delivery_id = delivery.delivery_id if delivery else str(uuid.uuid4())
        attempt = self.sender.send(webhook, delivery_id, body)
        if delivery is not None:
            self._record(delivery_id, 1, attempt, final=True)
        return WebhookTestResult(
            success=attempt.success,
            response_status=attempt.response_status,
            response_body=attempt.response_body,
            error_message=None if attempt.success else attempt.error,
        )

    # Lifecycle

    def close(self, timeout: float = 10.0) -> None:
        """Stop taking events, let queued ones go out (without waiting to retry), stop the
        workers."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._stopping.set()
        deadline = time.monotonic() + timeout
        self.wait_idle(timeout)
        with self._lock:
            workers = list(self._workers)
        for _ in workers:
            self._queue.put(None)
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        self.sender.close()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Whether every queued event was handled, retries included, within ``timeout``
        seconds (for tests and orderly shutdowns)."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    @property
    def worker_count(self) -> int:
        with self._lock:
            return len(self._workers)

    # Workers: started when a job finds none waiting, gone after ``idle_seconds`` without one.

    def _submit(self, job: _Fanout | _Delivery, from_outside: bool = False) -> None:
        with self._lock:
            if self._closed and from_outside:
                log.warning("The webhook dispatcher is closed; dropping an event")
                return
            self._queue.put(job)
            if self._idle == 0 and len(self._workers) < self.max_workers:
                worker = threading.Thread(target=self._work, name="mltrail-webhooks", daemon=True)
                self._workers.add(worker)
                worker.start()

    def _work(self) -> None:
        me = threading.current_thread()
        while True:
            with self._lock:
                self._idle += 1
            try:
                job = self._queue.get(timeout=self.idle_seconds)
            except queue.Empty:
                with self._lock:
                    self._idle -= 1
                    if self._queue.empty():
                        self._workers.discard(me)
                        return
                continue
            with self._lock:
                self._idle -= 1
            try:
                if job is None:
                    with self._lock:
                        self._workers.discard(me)
                    return
                self._handle(job)
            except Exception:  # noqa: BLE001 - a worker must survive any one event
                log.exception("Webhook delivery failed")
            finally:
                self._queue.task_done()

    def _handle(self, job: _Fanout | _Delivery) -> None:
        if isinstance(job, _Fanout):
            for webhook in self.store.webhooks_for_event(job.event):
                self._submit(_Delivery(webhook, job.event, job.data))
        else:
            self._deliver(job.webhook, job.event, job.data)

    def _deliver(self, webhook: Webhook, event: WebhookEvent, data: dict[str, Any]) -> None:
        body = event_body(event, data)
        delivery = self.store.create_delivery(webhook.webhook_id, event, body)
        if delivery is None:
            return  # the webhook was deleted meanwhile
        for number in range(1, self.max_attempts + 1):
            attempt = self.sender.send(webhook, delivery.delivery_id, body)
            final = attempt.success or not attempt.retryable or number == self.max_attempts
            if not final and self._stopping.wait(self.backoff_seconds * 2 ** (number - 1)):
                attempt = dataclasses.replace(
                    attempt, error=f"{attempt.error}; not retried: the server is stopping"
                )
                final = True
            self._record(delivery.delivery_id, number, attempt, final)
            if final:
                return

    def _record(self, delivery_id: str, number: int, attempt: Attempt, final: bool) -> None:
        if attempt.success:
            status = DeliveryStatus.DELIVERED
        else:
            status = DeliveryStatus.FAILED if final else DeliveryStatus.PENDING
        try:
            self.store.record_attempt(
                delivery_id,
                attempts=number,
                status=status,
                response_status=attempt.response_status,
                response_body=attempt.response_body,
                error_message=attempt.error,
            )
        except MltrailError:
            log.exception("Could not record webhook delivery %s", delivery_id)
