"""Registry webhooks: the SQL store (SQLite and PostgreSQL), the REST routes in MLflow's shapes
(also through the official MLflow client), URL refusals (SSRF), and signed deliveries to a
real HTTP receiver on 127.0.0.1 with retries, redirects refused and every attempt recorded.

The receiver listens on loopback, which webhooks may not call by default: the servers and
dispatchers that deliver to it allow private addresses; the refusal tests use the default.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from fixtures_server import RunningServer, start_server
from fixtures_tracking import ROOT

from mltrail.entities.webhook import (
    EVENTS,
    DeliveryStatus,
    Webhook,
    WebhookEvent,
    WebhookStatus,
    validate_webhook_events,
    validate_webhook_name,
    validate_webhook_url,
)
from mltrail.errors import InvalidArgument, NotFound
from mltrail.server.config import ServerConfig
from mltrail.server.webhooks import WebhookDispatcher, _pinned, address_problem
from mltrail.settings import Settings
from mltrail.storage.sql.engine import create_engine
from mltrail.storage.sql.migrate import ensure_schema
from mltrail.storage.sql.webhooks import SqlWebhookStore

API = "/api/2.0/mlflow"
SECRET = "s3cr3t-for-signing"


# --------------------------------------------------------------------------- the receiver


@dataclasses.dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """An HTTP server on 127.0.0.1 that records each POST and answers from a script per path
    (200 once the script runs out)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._received: dict[str, list[Received]] = {}
        self._scripts: dict[str, list[tuple[int, dict[str, str]]]] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._lock:
                    receiver._received.setdefault(self.path, []).append(
                        Received({k.lower(): v for k, v in self.headers.items()}, body)
                    )
                    script = receiver._scripts.get(self.path) or []
                    status, headers = script.pop(0) if script else (200, {})
                answer = f"answer {status}".encode()
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def path(self, *answers: int | tuple[int, dict[str, str]]) -> str:
        """A fresh path answering ``answers`` in turn (then 200)."""
        path = f"/hook-{uuid.uuid4().hex[:8]}"
        self._scripts[path] = [a if isinstance(a, tuple) else (a, {}) for a in answers]
        return path

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def got(self, path: str) -> list[Received]:
        with self._lock:
            return list(self._received.get(path, []))

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.close()


def _verify(received: Received, secret: str) -> bool:
    """A receiver's check, written from MLflow's documented scheme: base64 HMAC-SHA256 of
    ``<delivery id>.<timestamp>.<raw body>``, sent as ``v1,<signature>``."""
    delivery_id = received.headers["x-mlflow-delivery-id"]
    timestamp = received.headers["x-mlflow-timestamp"]
    signed = f"{delivery_id}.{timestamp}.".encode() + received.body
    expected = base64.b64encode(hmac.new(secret.encode(), signed, hashlib.sha256).digest())
    version, _, signature = received.headers["x-mlflow-signature"].partition(",")
    return version == "v1" and hmac.compare_digest(signature.encode(), expected)


# --------------------------------------------------------------------------- stores


@pytest.fixture
def hooks(database_url: str) -> Iterator[SqlWebhookStore]:
    """A webhook store on SQLite, then on PostgreSQL."""
    engine = create_engine(database_url)
    ensure_schema(engine, ROOT)
    yield SqlWebhookStore(engine)
    engine.dispose()


@pytest.fixture
def local_hooks(tmp_path: Path) -> Iterator[SqlWebhookStore]:
    """A webhook store on SQLite, for the delivery tests."""
    engine = create_engine(f"sqlite:///{tmp_path / 'hooks.db'}")
    ensure_schema(engine, ROOT)
    yield SqlWebhookStore(engine)
    engine.dispose()


@pytest.fixture
def dispatch(local_hooks: SqlWebhookStore) -> Iterator[Callable[..., WebhookDispatcher]]:
    """Dispatchers on ``local_hooks`` with quick retries, closed after the test."""
    made: list[WebhookDispatcher] = []

    def make(**options: Any) -> WebhookDispatcher:
        options = {"allow_private": True, "backoff_seconds": 0.01, "timeout": 5.0, **options}
        dispatcher = WebhookDispatcher(local_hooks, **options)
        made.append(dispatcher)
        return dispatcher

    yield make
    for dispatcher in made:
        dispatcher.close()
        assert dispatcher.worker_count == 0


MV_CREATED = [{"entity": "MODEL_VERSION", "action": "CREATED"}]


def test_store_keeps_webhooks_and_deliveries(hooks: SqlWebhookStore) -> None:
    first = hooks.create_webhook(
        "first", "https://example.com/a", MV_CREATED, description="d", secret=SECRET
    )
    assert first.secret == SECRET and first.status is WebhookStatus.ACTIVE
    assert hooks.get_webhook(first.webhook_id) == first
    second = hooks.create_webhook(
        "second", "https://example.com/b",
        [{"entity": "model_version", "action": "created"},
         {"entity": "MODEL_VERSION_TAG", "action": "SET"}],
        status="DISABLED",
    )
    third = hooks.create_webhook("third", "https://example.com/c", [
        {"entity": "REGISTERED_MODEL", "action": "CREATED"}])

    page = hooks.list_webhooks(max_results=2)
    assert len(page) == 2 and page.token
    rest = hooks.list_webhooks(max_results=2, page_token=page.token)
    assert rest.token is None
    assert {w.webhook_id for w in [*page, *rest]} == {
        first.webhook_id, second.webhook_id, third.webhook_id}

    event = WebhookEvent("MODEL_VERSION", "CREATED")
    assert [w.webhook_id for w in hooks.webhooks_for_event(event)] == [first.webhook_id]

    updated = hooks.update_webhook(
        second.webhook_id, status="ACTIVE", events=[{"entity": "MODEL_VERSION",
                                                     "action": "CREATED"}],
        description="now active", secret="",
    )
    assert updated.events == (event,) and updated.description == "now active"
    assert updated.secret is None and updated.name == "second"
    assert updated.last_updated_timestamp >= second.last_updated_timestamp
    assert len(hooks.webhooks_for_event(event)) == 2

    delivery = hooks.create_delivery(first.webhook_id, event, '{"x": 1}')
    assert delivery is not None and delivery.status is DeliveryStatus.PENDING
    hooks.record_attempt(delivery.delivery_id, attempts=2, status=DeliveryStatus.FAILED,
                         response_status=503, response_body="x" * 5000, error_message="503")
    [stored] = hooks.list_deliveries(first.webhook_id)
    assert stored.attempts == 2 and stored.status is DeliveryStatus.FAILED
    assert stored.response_status == 503 and len(stored.response_body or "") == 1000

    hooks.delete_webhook(first.webhook_id)
    with pytest.raises(NotFound, match=first.webhook_id):
        hooks.get_webhook(first.webhook_id)
    with pytest.raises(NotFound, match="not found"):
        hooks.list_deliveries(first.webhook_id)
    with pytest.raises(NotFound, match="not found"):
        hooks.update_webhook(first.webhook_id, name="again")
    with pytest.raises(NotFound, match="not found"):
        hooks.delete_webhook(first.webhook_id)
    assert hooks.create_delivery(first.webhook_id, event, "{}") is None
    with hooks.engine.connect() as conn:
        for table in ("webhook_events", "webhook_deliveries"):
            count = conn.execute(
                sa.text(f"SELECT COUNT(*) FROM {table} WHERE webhook_id = :id"),
                {"id": first.webhook_id},
            ).scalar()
            assert count == 0, table


def test_store_refuses_bad_values_and_writes_nothing(hooks: SqlWebhookStore) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"name": "-bad"}, "Invalid webhook name"),
        ({"name": "x" * 64}, "Invalid webhook name"),
        ({"url": "ftp://example.com/x"}, "scheme must be http or https"),
        ({"events": []}, "non-empty list"),
        ({"events": [{"entity": "EXPERIMENT", "action": "CREATED"}]}, "entity 'EXPERIMENT'"),
        ({"events": [{"entity": "REGISTERED_MODEL", "action": "DELETED"}]}, "action 'DELETED'"),
        ({"description": "d" * 1001}, "limit is 1000"),
        ({"status": "PAUSED"}, "ACTIVE, DISABLED"),
    ]
    for change, message in cases:
        values: dict[str, Any] = {"name": "ok", "url": "https://example.com/",
                                  "events": MV_CREATED, **change}
        with pytest.raises(InvalidArgument, match=message):
            hooks.create_webhook(**values)
    assert list(hooks.list_webhooks()) == []


def test_entities_never_serialize_the_secret() -> None:
    webhook = Webhook("id1", "n", "https://example.com/", (WebhookEvent("MODEL_VERSION",
                                                                        "CREATED"),),
                      secret=SECRET, creation_timestamp=1, last_updated_timestamp=2)
    data = webhook.to_dict()
    assert SECRET not in json.dumps(data) and SECRET not in repr(webhook)
    assert data["events"] == MV_CREATED
    assert Webhook.from_dict(data) == dataclasses.replace(webhook, secret=None)
    assert str(WebhookEvent.of(2, 1)) == "model_version.created"
    assert validate_webhook_events(MV_CREATED * 2) == (WebhookEvent("MODEL_VERSION", "CREATED"),)
    assert set(EVENTS) == {"REGISTERED_MODEL", "MODEL_VERSION", "MODEL_VERSION_TAG",
                           "MODEL_VERSION_ALIAS"}
    assert validate_webhook_name("a.b-c_d9") == "a.b-c_d9"
    with pytest.raises(InvalidArgument, match="user name or password"):
        validate_webhook_url("https://user:pw@example.com/")


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("2002:7f00:1::", "loopback"),  # 6to4 around 127.0.0.1
        ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 around 169.254.169.254
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("192.168.1.1", "private"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("100.64.0.1", "not a public"),
        ("240.0.0.1", "reserved"),
    ],
)
def test_non_public_addresses_are_named(address: str, problem: str) -> None:
    assert problem in (address_problem(address) or "")


def test_public_addresses_pass_and_requests_are_pinned() -> None:
    assert address_problem("8.8.8.8") is None
    assert address_problem("2606:4700:4700::1111") is None
    url, headers, extensions = _pinned("https://hooks.example.com:8443/x?y=1", "93.184.216.34")
    assert str(url) == "https://93.184.216.34:8443/x?y=1"
    assert headers == {"Host": "hooks.example.com:8443"}
    assert extensions == {"sni_hostname": "hooks.example.com"}
    url6, _, plain = _pinned("http://hooks.example.com/x", "2606:4700::1111")
    assert url6.host == "2606:4700::1111" and str(url6).startswith("http://[2606:4700::1111]/")
    assert plain == {}


def test_settings_read_the_private_webhooks_switch() -> None:
    assert Settings.from_env({}).webhooks_allow_private is False
    assert Settings.from_env({"MLTRAIL_WEBHOOKS_ALLOW_PRIVATE": "true"}).webhooks_allow_private
    assert Settings.from_env({"MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "1"}).webhooks_allow_private
    with pytest.raises(InvalidArgument, match="WEBHOOKS_ALLOW_PRIVATE"):
        Settings.from_env({"MLTRAIL_WEBHOOKS_ALLOW_PRIVATE": "perhaps"})


# --------------------------------------------------------------------------- delivery


def _subscribe(hooks: SqlWebhookStore, url: str, secret: str | None = SECRET,
               events: list[dict[str, str]] = MV_CREATED, **options: Any) -> Webhook:
    return hooks.create_webhook(f"hook-{uuid.uuid4().hex[:6]}", url, events, secret=secret,
                                **options)


DATA = {"name": "model", "version": "1", "source": "models:/m-1", "run_id": None,
        "tags": {}, "description": None}


def test_an_event_is_delivered_signed_in_mlflows_format(
    local_hooks: SqlWebhookStore, dispatch: Callable[..., WebhookDispatcher],
    receiver: Receiver,
) -> None:
    signed, plain, other = receiver.path(), receiver.path(), receiver.path()
    hook = _subscribe(local_hooks, receiver.url(signed))
    unsigned = _subscribe(local_hooks, receiver.url(plain), secret=None)
    _subscribe(local_hooks, receiver.url(other), events=[{"entity": "MODEL_VERSION_TAG",
                                                           "action": "SET"}])
    dispatcher = dispatch()
    dispatcher.emit("MODEL_VERSION", "CREATED", DATA)
    assert dispatcher.wait_idle()

    [got] = receiver.got(signed)
    assert got.headers["content-type"] == "application/json"
    assert _verify(got, SECRET)
    assert not _verify(got, "another secret")
    assert got.headers["x-mlflow-timestamp"].isdigit()
    body = got.json()
    assert (body["entity"], body["action"], body["data"]) == ("model_version", "created", DATA)
    assert body["timestamp"].endswith("+00:00")
    assert got.body == json.dumps(body).encode()  # MLflow's spacing, for receivers that re-dump

    [delivery] = local_hooks.list_deliveries(hook.webhook_id)
    assert delivery.delivery_id == got.headers["x-mlflow-delivery-id"]
    assert (delivery.status, delivery.attempts, delivery.response_status) == (
        DeliveryStatus.DELIVERED, 1, 200)
    assert delivery.payload.encode() == got.body

    [bare] = receiver.got(plain)
    assert "x-mlflow-signature" not in bare.headers
    assert local_hooks.list_deliveries(unsigned.webhook_id)[0].status is DeliveryStatus.DELIVERED
    assert receiver.got(other) == []


def test_failures_are_retried_with_backoff_and_recorded(
    local_hooks: SqlWebhookStore, dispatch: Callable[..., WebhookDispatcher],
    receiver: Receiver,
) -> None:
    flaky, down, gone, teapot = (receiver.path(500, 500), receiver.path(*[503] * 5),
                                 receiver.path(429, 404), receiver.path(418))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    hooks = {
        name: _subscribe(local_hooks, url)
        for name, url in [
            ("flaky", receiver.url(flaky)), ("down", receiver.url(down)),
            ("gone", receiver.url(gone)), ("teapot", receiver.url(teapot)),
            ("refused", f"http://127.0.0.1:{closed_port}/hook"),
        ]
    }
    dispatcher = dispatch()
    dispatcher.emit("MODEL_VERSION", "CREATED", DATA)
    assert dispatcher.wait_idle()

    def outcome(name: str) -> tuple[DeliveryStatus, int, int | None]:
        [d] = local_hooks.list_deliveries(hooks[name].webhook_id)
        return d.status, d.attempts, d.response_status

    assert outcome("flaky") == (DeliveryStatus.DELIVERED, 3, 200)
    attempts = receiver.got(flaky)
    assert len(attempts) == 3
    assert len({a.headers["x-mlflow-delivery-id"] for a in attempts}) == 1
    assert all(_verify(a, SECRET) for a in attempts)
    assert outcome("down") == (DeliveryStatus.FAILED, 3, 503)
    assert len(receiver.got(down)) == 3
    assert outcome("gone") == (DeliveryStatus.FAILED, 2, 404)  # 429 retried, 404 not
    assert outcome("teapot") == (DeliveryStatus.FAILED, 1, 418)
    [refused] = local_hooks.list_deliveries(hooks["refused"].webhook_id)
    assert (refused.status, refused.attempts) == (DeliveryStatus.FAILED, 3)
    assert "Could not connect" in (refused.error_message or "")


def test_redirects_are_not_followed(
    local_hooks: SqlWebhookStore, dispatch: Callable[..., WebhookDispatcher],
    receiver: Receiver,
) -> None:
    target = receiver.path()
    moved = receiver.path((302, {"Location": receiver.url(target)}))
    hook = _subscribe(local_hooks, receiver.url(moved))
    dispatcher = dispatch()
    dispatcher.emit("MODEL_VERSION", "CREATED", DATA)
    assert dispatcher.wait_idle()
    assert len(receiver.got(moved)) == 1 and receiver.got(target) == []
    [delivery] = local_hooks.list_deliveries(hook.webhook_id)
    assert (delivery.status, delivery.attempts, delivery.response_status) == (
        DeliveryStatus.FAILED, 1, 302)
    assert "not followed" in (delivery.error_message or "")


def test_disabled_webhooks_and_unknown_events_send_nothing(
    local_hooks: SqlWebhookStore, dispatch: Callable[..., WebhookDispatcher],
    receiver: Receiver,
) -> None:
    path = receiver.path()
    hook = _subscribe(local_hooks, receiver.url(path), status="DISABLED")
    dispatcher = dispatch()
    dispatcher.emit("MODEL_VERSION", "CREATED", DATA)
    dispatcher.emit("EXPERIMENT", "DELETED", {})  # not an event: dropped, no error
    assert dispatcher.wait_idle()
    assert receiver.got(path) == []
    assert list(local_hooks.list_deliveries(hook.webhook_id)) == []


def test_the_address_is_checked_again_at_delivery(
    local_hooks: SqlWebhookStore, dispatch: Callable[..., WebhookDispatcher],
    receiver: Receiver,
) -> None:
    """A webhook stored while private addresses were allowed (or whose host now resolves
    elsewhere) is refused when delivering, never called."""
    path = receiver.path()
    hook = _subscribe(local_hooks, receiver.url(path))
    dispatcher = dispatch(allow_private=False)
    dispatcher.emit("MODEL_VERSION", "CREATED", DATA)
    assert dispatcher.wait_idle()
    assert receiver.got(path) == []
    [delivery] = local_hooks.list_deliveries(hook.webhook_id)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.FAILED, 1)
    assert "loopback" in (delivery.error_message or "")


def test_the_dispatcher_stops_its_workers(
    local_hooks: SqlWebhookStore, dispatch: Callable[..., WebhookDispatcher],
    receiver: Receiver,
) -> None:
    path = receiver.path()
    _subscribe(local_hooks, receiver.url(path))
    idle = dispatch(idle_seconds=0.05)
    idle.emit("MODEL_VERSION", "CREATED", DATA)
    assert idle.wait_idle()
    deadline = threading.Event()
    for _ in range(500):  # idle workers leave by themselves
        if idle.worker_count == 0:
            break
        deadline.wait(0.01)
    assert idle.worker_count == 0
    closing = dispatch(idle_seconds=60)
    closing.emit("MODEL_VERSION", "CREATED", DATA)
    assert closing.worker_count >= 1
    closing.close()
    assert closing.worker_count == 0
    closing.emit("MODEL_VERSION", "CREATED", DATA)  # after close: dropped, no error
    assert closing.worker_count == 0
    assert len(receiver.got(path)) == 2


# --------------------------------------------------------------------------- the server


def _server(tmp: Path, allow_private: bool) -> Iterator[RunningServer]:
    running = start_server(ServerConfig(
        backend_store_uri=f"sqlite:///{tmp / 'server.db'}",
        artifacts_destination=str(tmp / "artifacts"),
        webhooks_allow_private=allow_private,
    ))
    yield running
    _dispatcher(running).close()
    running.stop()


def _dispatcher(running: RunningServer) -> WebhookDispatcher:
    dispatcher = running.server.config.app.state.events  # type: ignore[attr-defined]
    assert isinstance(dispatcher, WebhookDispatcher)
    return dispatcher


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server whose webhooks may call private addresses (the receiver is on loopback)."""
    yield from _server(tmp_path_factory.mktemp("open"), allow_private=True)


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server with the default: public addresses only."""
    yield from _server(tmp_path_factory.mktemp("strict"), allow_private=False)


@pytest.fixture(scope="module")
def http(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url + API, timeout=30) as client:
        yield client


def _create(client: httpx.Client, **body: Any) -> httpx.Response:
    payload = {"name": f"hook-{uuid.uuid4().hex[:6]}", "url": "https://8.8.8.8/hook",
               "events": MV_CREATED, **body}
    return client.post("/webhooks", json=payload)


def test_rest_crud_in_mlflows_shapes(http: httpx.Client, receiver: Receiver) -> None:
    url = receiver.url(receiver.path())
    created = _create(http, url=url, secret=SECRET, description="first",
                      events=[{"entity": "MODEL_VERSION", "action": "CREATED"},
                              {"entity": "MODEL_VERSION_ALIAS", "action": "DELETED"}])
    assert created.status_code == 200, created.text
    assert SECRET not in created.text
    webhook = created.json()["webhook"]
    assert set(webhook) == {"webhook_id", "name", "description", "url", "events", "status",
                            "creation_timestamp", "last_updated_timestamp"}
    assert webhook["url"] == url and webhook["status"] == "ACTIVE"
    assert webhook["events"][1] == {"entity": "MODEL_VERSION_ALIAS", "action": "DELETED"}
    assert isinstance(webhook["creation_timestamp"], int)
    hook_id = webhook["webhook_id"]

    got = http.get(f"/webhooks/{hook_id}")
    assert got.json() == {"webhook": webhook} and SECRET not in got.text

    for _ in range(2):
        assert _create(http).status_code == 200
    first = http.get("/webhooks", params={"max_results": 2})
    assert len(first.json()["webhooks"]) == 2 and SECRET not in first.text
    token = first.json()["next_page_token"]
    listed = [w["webhook_id"] for w in first.json()["webhooks"]]
    while token:
        page = http.get("/webhooks", params={"max_results": 2, "page_token": token}).json()
        listed += [w["webhook_id"] for w in page.get("webhooks", [])]
        token = page.get("next_page_token")
    assert hook_id in listed and len(listed) == len(set(listed))

    patched = http.patch(f"/webhooks/{hook_id}", json={
        "status": "DISABLED", "description": "second", "secret": "rotated",
        "events": [{"entity": "REGISTERED_MODEL", "action": "CREATED"}]})
    assert patched.status_code == 200, patched.text
    changed = patched.json()["webhook"]
    assert (changed["status"], changed["description"], changed["name"]) == (
        "DISABLED", "second", webhook["name"])
    assert changed["events"] == [{"entity": "REGISTERED_MODEL", "action": "CREATED"}]
    assert "rotated" not in patched.text

    assert http.delete(f"/webhooks/{hook_id}").json() == {}
    for method, path in [("GET", ""), ("PATCH", ""), ("DELETE", ""), ("POST", "/test"),
                         ("GET", "/deliveries")]:
        kwargs: dict[str, Any] = {} if method in ("GET", "DELETE") else {"json": {}}
        missing = http.request(method, f"/webhooks/{hook_id}{path}", **kwargs)
        assert missing.status_code == 404, (method, path)
        assert missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
        assert hook_id in missing.json()["message"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"events": []}, "'events'"),
        ({"events": "MODEL_VERSION.CREATED"}, "events"),
        ({"events": [{"entity": "EXPERIMENT", "action": "CREATED"}]}, "entity 'EXPERIMENT'"),
        ({"events": [{"entity": "REGISTERED_MODEL", "action": "SET"}]}, "action 'SET'"),
        ({"events": [{"entity": "REGISTERED_MODEL"}]}, "has no action"),
        ({"name": "has space"}, "Invalid webhook name"),
        ({"name": ""}, "'name'"),
        ({"url": ""}, "'url'"),
        ({"status": "PAUSED"}, "ACTIVE, DISABLED"),
    ],
)
def test_bad_webhooks_are_refused(http: httpx.Client, body: dict[str, Any], message: str) -> None:
    response = _create(http, **body)
    assert response.status_code == 400, response.text
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert message in response.json()["message"]


def _loopback_hostname() -> str:
    """A host name (not an IP literal) that resolves to this machine."""
    name = socket.gethostname()
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(name, None)}
    except OSError:
        return "LocalHost"
    return name if all(address_problem(str(a)) for a in addresses) else "LocalHost"


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("ftp://example.com/hook", "scheme must be http or https"),
        ("file:///etc/passwd", "scheme must be http or https"),
        ("http://127.0.0.1:5000/hook", "loopback"),
        ("http://localhost/hook", "loopback"),
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("http://10.0.0.1/hook", "private-network"),
        ("http://[::1]/hook", "loopback"),
        ("http://[::ffff:127.0.0.1]/hook", "loopback"),
        ("https://user:password@example.com/hook", "user name or password"),
        ("http:///hook", "no host"),
        (None, "resolves to"),  # a host name resolving to this machine
    ],
)
def test_urls_to_private_hosts_are_refused(
    strict_server: RunningServer, url: str | None, rule: str
) -> None:
    url = url or f"http://{_loopback_hostname()}:8080/hook"
    with httpx.Client(base_url=strict_server.url + API, timeout=30) as client:
        created = _create(client, url=url)
        assert created.status_code == 400, created.text
        assert created.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        assert rule in created.json()["message"]
        # An update is checked the same way.
        hook = _create(client, url="https://8.8.8.8/hook").json()["webhook"]
        patched = client.patch(f"/webhooks/{hook['webhook_id']}", json={"url": url})
        assert patched.status_code == 400 and rule in patched.json()["message"]
        assert client.get(f"/webhooks/{hook['webhook_id']}").json()["webhook"]["url"] == (
            "https://8.8.8.8/hook")


def test_the_test_endpoint_delivers_an_example_now(
    http: httpx.Client, receiver: Receiver
) -> None:
    path, failing = receiver.path(), receiver.path(500)
    hook = _create(http, url=receiver.url(path), secret=SECRET).json()["webhook"]
    result = http.post(f"/webhooks/{hook['webhook_id']}/test", json={})
    assert result.status_code == 200, result.text
    assert result.json() == {"result": {"success": True, "response_status": 200,
                                        "response_body": "answer 200"}}
    [sent] = receiver.got(path)
    assert _verify(sent, SECRET)
    assert (sent.json()["entity"], sent.json()["action"]) == ("model_version", "created")
    assert sent.json()["data"]["name"] == "example_model"

    chosen = http.post(f"/webhooks/{hook['webhook_id']}/test",
                       json={"event": {"entity": "MODEL_VERSION_TAG", "action": "SET"}})
    assert chosen.json()["result"]["success"] is True
    assert receiver.got(path)[1].json()["entity"] == "model_version_tag"

    deliveries = http.get(f"/webhooks/{hook['webhook_id']}/deliveries").json()["deliveries"]
    assert [d["event"] for d in deliveries] == [
        {"entity": "MODEL_VERSION_TAG", "action": "SET"},
        {"entity": "MODEL_VERSION", "action": "CREATED"},
    ]
    assert all(d["status"] == "DELIVERED" and d["attempts"] == 1 for d in deliveries)

    bad = _create(http, url=receiver.url(failing)).json()["webhook"]
    failed = http.post(f"/webhooks/{bad['webhook_id']}/test", json={}).json()["result"]
    assert (failed["success"], failed["response_status"]) == (False, 500)
    assert "500" in failed["error_message"]


def test_the_official_mlflow_client_manages_webhooks(
    server: RunningServer, receiver: Receiver
) -> None:
    from mlflow import MlflowClient
    from mlflow.entities.webhook import WebhookStatus as MlflowStatus

    client = MlflowClient(tracking_uri=server.url, registry_uri=server.url)
    path = receiver.path()
    created = client.create_webhook(
        name="mlflow-client", url=receiver.url(path),
        events=["model_version.created", "model_version_alias.created"],
        description="from MLflow", secret=SECRET,
    )
    assert [str(e) for e in created.events] == ["model_version.created",
                                               "model_version_alias.created"]
    assert created.secret is None and created.status == MlflowStatus.ACTIVE
    fetched = client.get_webhook(created.webhook_id)
    assert (fetched.name, fetched.url, fetched.description) == (
        "mlflow-client", receiver.url(path), "from MLflow")
    assert created.webhook_id in {w.webhook_id for w in client.list_webhooks(max_results=1000)}
    result = client.test_webhook(created.webhook_id)
    assert result.success and result.response_status == 200
    assert _verify(receiver.got(path)[0], SECRET)
    updated = client.update_webhook(created.webhook_id, status="DISABLED")
    assert updated.status == MlflowStatus.DISABLED
    client.delete_webhook(created.webhook_id)
    assert http_status(server, f"/webhooks/{created.webhook_id}") == 404


def http_status(server: RunningServer, path: str) -> int:
    return httpx.get(server.url + API + path, timeout=30).status_code


def test_registry_writes_reach_subscribed_webhooks(
    server: RunningServer, http: httpx.Client, receiver: Receiver
) -> None:
    """End to end: the registry REST endpoints publish, the server's dispatcher delivers."""
    models, versions = receiver.path(), receiver.path()
    _create(http, url=receiver.url(models), secret=SECRET,
            events=[{"entity": "REGISTERED_MODEL", "action": "CREATED"}])
    _create(http, url=receiver.url(versions), secret=SECRET, events=MV_CREATED)
    name = f"model-{uuid.uuid4().hex[:6]}"
    made = http.post("/registered-models/create", json={"name": name})
    assert made.status_code == 200, made.text
    logged = http.post("/logged-models", json={"experiment_id": "0"}).json()["model"]
    source = f"models:/{logged['info']['model_id']}"
    version = http.post("/model-versions/create", json={"name": name, "source": source})
    assert version.status_code == 200, version.text
    assert _dispatcher(server).wait_idle()

    [model_event] = receiver.got(models)
    assert _verify(model_event, SECRET)
    assert model_event.json()["entity"] == "registered_model"
    assert model_event.json()["data"]["name"] == name
    [version_event] = receiver.got(versions)
    assert _verify(version_event, SECRET)
    assert (version_event.json()["action"], version_event.json()["data"]["version"]) == (
        "created", "1")
    assert version_event.json()["data"]["source"] == source
