"""The model registry endpoints on a real mltrail server, spoken to with raw HTTP.

One server for the module (uvicorn on 127.0.0.1), over SQLite and then over PostgreSQL; each
test uses its own model names. Raw httpx, not a client library, so that the wire itself is under test: MLflow's
methods (GET with a query string and repeated keys, PATCH, DELETE with a JSON body), the
response shapes, and the answers to bad input, which are always 4xx JSON with an
``error_code``, never a 500, and leave nothing written.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from fixtures_postgres import _admin
from fixtures_server import RunningServer, start_server
from mltrail.server.config import ServerConfig

API = "/api/2.0/mlflow"


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """The module's server: over SQLite, then over a database of its own on PostgreSQL."""
    root = tmp_path_factory.mktemp("registry-server")
    backend = f"sqlite:///{root / 'server.db'}"
    database = None
    if request.param == "postgres":
        cluster = request.getfixturevalue("postgres_url").rpartition("/")[0]
        database = f"t_{uuid.uuid4().hex}"
        _admin(cluster, "CREATE DATABASE {}", database)
        backend = f"{cluster}/{database}"
    running = start_server(
        ServerConfig(backend_store_uri=backend, artifacts_destination=str(root / "artifacts"))
    )
    yield running
    running.stop()
    if database is not None:
        _admin(cluster, "DROP DATABASE IF EXISTS {} WITH (FORCE)", database)


@pytest.fixture(scope="module")
def http(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url + API, timeout=30) as client:
        yield client


def unique(prefix: str = "model") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert isinstance(body, dict)
    return body


def refused(response: httpx.Response, status: int, code: str, *needles: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["error_code"] == code, body
    for needle in needles:
        assert needle in body["message"], body
    return str(body["message"])


def delete(http: httpx.Client, path: str, body: dict[str, Any]) -> httpx.Response:
    """MLflow's DELETE: the arguments in a JSON body."""
    return http.request("DELETE", path, json=body)


def set_alias(http: httpx.Client, name: str, alias: str, version: Any) -> httpx.Response:
    return http.post(
        "/registered-models/alias", json={"name": name, "alias": alias, "version": version}
    )


def transition(
    http: httpx.Client, name: str, version: Any, stage: str, archive: bool
) -> httpx.Response:
    body = {"name": name, "version": version, "stage": stage, "archive_existing_versions": archive}
    return http.post("/model-versions/transition-stage", json=body)


def get_model(http: httpx.Client, name: str) -> httpx.Response:
    return http.get("/registered-models/get", params={"name": name})


def create_model(http: httpx.Client, name: str, **extra: Any) -> dict[str, Any]:
    return ok(http.post("/registered-models/create", json={"name": name, **extra}))[
        "registered_model"
    ]


@pytest.fixture(scope="module")
def run(http: httpx.Client) -> dict[str, str]:
    """A run to register versions from: its id and artifact URI."""
    experiment_id = ok(http.post("/experiments/create", json={"name": unique("exp")}))[
        "experiment_id"
    ]
    info = ok(http.post("/runs/create", json={"experiment_id": experiment_id}))["run"]["info"]
    return {"run_id": info["run_id"], "artifact_uri": info["artifact_uri"]}


@pytest.fixture(scope="module")
def other_run(http: httpx.Client) -> dict[str, str]:
    experiment_id = ok(http.post("/experiments/create", json={"name": unique("exp")}))[
        "experiment_id"
    ]
    info = ok(http.post("/runs/create", json={"experiment_id": experiment_id}))["run"]["info"]
    return {"run_id": info["run_id"], "artifact_uri": info["artifact_uri"]}


def create_version(
    http: httpx.Client, name: str, run: dict[str, str], **extra: Any
) -> dict[str, Any]:
    body = {"name": name, "source": f"{run['artifact_uri']}/model", "run_id": run["run_id"]}
    return ok(http.post("/model-versions/create", json={**body, **extra}))["model_version"]


def versions_of(http: httpx.Client, name: str) -> list[dict[str, Any]]:
    found = ok(http.get("/model-versions/search", params={"filter": f"name = '{name}'"}))
    return list(found.get("model_versions", []))


# ---------------------------------------------------------------------------------------------
# Happy paths and shapes


def test_registered_model_round_trip(http: httpx.Client) -> None:
    name = unique()
    created = create_model(
        http, name, tags=[{"key": "team", "value": "vision"}], description="first"
    )
    assert created["name"] == name
    assert created["description"] == "first"
    assert created["tags"] == [{"key": "team", "value": "vision"}]
    assert isinstance(created["creation_timestamp"], int) and created["creation_timestamp"] > 0
    assert isinstance(created["last_updated_timestamp"], int)

    got = ok(get_model(http, name))["registered_model"]
    assert (got["name"], got["description"]) == (name, "first")

    updated = ok(http.patch("/registered-models/update", json={"name": name, "description": "2nd"}))
    assert updated["registered_model"]["description"] == "2nd"

    tag = {"name": name, "key": "o", "value": "a"}
    assert ok(http.post("/registered-models/set-tag", json=tag)) == {}
    assert ok(delete(http, "/registered-models/delete-tag", {"name": name, "key": "team"})) == {}
    got = ok(get_model(http, name))["registered_model"]
    assert got["tags"] == [{"key": "o", "value": "a"}]

    new_name = unique("renamed")
    renamed = ok(http.post("/registered-models/rename", json={"name": name, "new_name": new_name}))
    assert renamed["registered_model"]["name"] == new_name
    refused(get_model(http, name), 404, "RESOURCE_DOES_NOT_EXIST", name)

    # The browser mount answers the same.
    ajax = httpx.get(
        str(http.base_url).rstrip("/").replace("/api/", "/ajax-api/") + "/registered-models/get",
        params={"name": new_name},
    )
    assert ok(ajax)["registered_model"]["name"] == new_name

    assert ok(delete(http, "/registered-models/delete", {"name": new_name})) == {}
    refused(
        get_model(http, new_name),
        404,
        "RESOURCE_DOES_NOT_EXIST",
        new_name,
    )


def test_search_registered_models_filters_orders_and_pages(http: httpx.Client) -> None:
    prefix = unique("search")
    names = [f"{prefix}-{i}" for i in range(5)]
    for i, name in enumerate(names):
        create_model(http, name, tags=[{"key": "parity", "value": "even" if i % 2 == 0 else "odd"}])

    seen: list[str] = []
    params: dict[str, Any] = {
        "filter": f"name LIKE '{prefix}-%'",
        "max_results": 2,
        "order_by": ["name DESC"],
    }
    while True:
        page = ok(http.get("/registered-models/search", params=params))
        seen.extend(m["name"] for m in page.get("registered_models", []))
        if "next_page_token" not in page:
            break
        params["page_token"] = page["next_page_token"]
    assert seen == sorted(names, reverse=True)

    tagged = ok(
        http.get(
            "/registered-models/search",
            params={"filter": f"name LIKE '{prefix}-%' AND tags.parity = 'odd'"},
        )
    )
    assert sorted(m["name"] for m in tagged["registered_models"]) == [names[1], names[3]]

    # POST with a JSON body is taken too; repeated order_by keys in a GET are several clauses.
    posted = ok(
        http.post(
            "/registered-models/search",
            json={"filter": f"name LIKE '{prefix}-%'", "order_by": ["name ASC"], "max_results": 3},
        )
    )
    assert [m["name"] for m in posted["registered_models"]] == names[:3]
    two_keys = ok(
        http.get(
            "/registered-models/search",
            params=[
                ("filter", f"name LIKE '{prefix}-%'"),
                ("order_by", "creation_timestamp DESC"),
                ("order_by", "name ASC"),
            ],
        )
    )
    assert [m["name"] for m in two_keys["registered_models"]] == names[::-1]

    empty = ok(http.get("/registered-models/search", params={"filter": "name = 'no-such-model'"}))
    assert empty.get("registered_models", []) == [] and "next_page_token" not in empty


def test_model_versions_round_trip(http: httpx.Client, run: dict[str, str]) -> None:
    name = unique()
    create_model(http, name)
    source = f"{run['artifact_uri']}/model"
    v1 = create_version(
        http, name, run, tags=[{"key": "k", "value": "v"}], description="one", run_link="http://x/r"
    )
    assert v1["version"] == "1"
    assert (v1["name"], v1["source"], v1["run_id"]) == (name, source, run["run_id"])
    assert v1["current_stage"] == "None" and v1["status"] == "READY"
    assert v1["tags"] == [{"key": "k", "value": "v"}] and v1["description"] == "one"
    assert create_version(http, name, run)["version"] == "2"

    got = ok(http.get("/model-versions/get", params={"name": name, "version": "2"}))
    assert got["model_version"]["version"] == "2"
    updated = ok(
        http.patch(
            "/model-versions/update", json={"name": name, "version": "2", "description": "two"}
        )
    )
    assert updated["model_version"]["description"] == "two"

    staged = ok(
        transition(http, name, "1", "production", False)
    )
    assert staged["model_version"]["current_stage"] == "Production"
    moved = ok(
        transition(http, name, 2, "Production", True)
    )
    assert moved["model_version"]["current_stage"] == "Production"
    one = ok(http.get("/model-versions/get", params={"name": name, "version": "1"}))
    assert one["model_version"]["current_stage"] == "Archived"

    posted = ok(
        http.post(
            "/registered-models/get-latest-versions",
            json={"name": name, "stages": ["Production"]},
        )
    )
    assert [v["version"] for v in posted["model_versions"]] == ["2"]
    got_latest = ok(
        http.get(
            "/registered-models/get-latest-versions",
            params=[("name", name), ("stages", "Production"), ("stages", "Archived")],
        )
    )
    assert sorted(v["version"] for v in got_latest["model_versions"]) == ["1", "2"]
    model = ok(get_model(http, name))["registered_model"]
    assert sorted(v["version"] for v in model["latest_versions"]) == ["1", "2"]

    assert ok(set_alias(http, name, "champion", "1")) == {}
    assert ok(set_alias(http, name, "champion", "2")) == {}
    by_alias = ok(http.get("/registered-models/alias", params={"name": name, "alias": "champion"}))
    assert by_alias["model_version"]["version"] == "2"
    assert by_alias["model_version"]["aliases"] == ["champion"]
    model = ok(get_model(http, name))["registered_model"]
    assert model["aliases"] == [{"alias": "champion", "version": "2"}]
    assert ok(delete(http, "/registered-models/alias", {"name": name, "alias": "champion"})) == {}
    refused(
        http.get("/registered-models/alias", params={"name": name, "alias": "champion"}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
        "champion",
    )

    assert ok(
        http.post(
            "/model-versions/set-tag",
            json={"name": name, "version": "1", "key": "q", "value": "good"},
        )
    ) == {}
    assert ok(
        delete(http, "/model-versions/delete-tag", {"name": name, "version": "1", "key": "k"})
    ) == {}
    one = ok(http.get("/model-versions/get", params={"name": name, "version": "1"}))
    one = one["model_version"]
    assert one["tags"] == [{"key": "q", "value": "good"}]

    uri = ok(http.get("/model-versions/get-download-uri", params={"name": name, "version": "1"}))
    assert uri == {"artifact_uri": source}

    ordered = ok(
        http.get(
            "/model-versions/search",
            params=[("filter", f"name = '{name}'"), ("order_by", "version_number ASC")],
        )
    )
    assert [v["version"] for v in ordered["model_versions"]] == ["1", "2"]
    paged = ok(
        http.get("/model-versions/search", params={"filter": f"name = '{name}'", "max_results": 1})
    )
    assert len(paged["model_versions"]) == 1 and paged["next_page_token"]
    posted_search = ok(http.post("/model-versions/search", json={"filter": f"name = '{name}'"}))
    assert len(posted_search["model_versions"]) == 2

    assert ok(delete(http, "/model-versions/delete", {"name": name, "version": "1"})) == {}
    refused(
        http.get("/model-versions/get", params={"name": name, "version": "1"}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
        name,
    )
    assert [v["version"] for v in versions_of(http, name)] == ["2"]
    ok(delete(http, "/registered-models/delete", {"name": name}))
    assert versions_of(http, name) == []


# ---------------------------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize(
    ("method", "path", "payload", "field"),
    [
        ("POST", "/registered-models/create", {}, "name"),
        ("POST", "/registered-models/rename", {"new_name": "x"}, "name"),
        ("POST", "/registered-models/rename", {"name": "x"}, "new_name"),
        ("PATCH", "/registered-models/update", {"description": "x"}, "name"),
        ("DELETE", "/registered-models/delete", {}, "name"),
        ("GET", "/registered-models/get", {}, "name"),
        ("POST", "/registered-models/get-latest-versions", {}, "name"),
        ("GET", "/registered-models/get-latest-versions", {}, "name"),
        ("POST", "/registered-models/set-tag", {"name": "x", "value": "v"}, "key"),
        ("DELETE", "/registered-models/delete-tag", {"name": "x"}, "key"),
        ("POST", "/registered-models/alias", {"name": "x", "version": "1"}, "alias"),
        ("POST", "/registered-models/alias", {"name": "x", "alias": "a"}, "version"),
        ("DELETE", "/registered-models/alias", {"name": "x"}, "alias"),
        ("GET", "/registered-models/alias", {"name": "x"}, "alias"),
        ("POST", "/model-versions/create", {"name": "x"}, "source"),
        ("PATCH", "/model-versions/update", {"name": "x"}, "version"),
        ("POST", "/model-versions/transition-stage", {"name": "x", "version": "1"}, "stage"),
        ("DELETE", "/model-versions/delete", {"version": "1"}, "name"),
        ("GET", "/model-versions/get", {"name": "x"}, "version"),
        ("GET", "/model-versions/get-download-uri", {"version": "1"}, "name"),
        ("POST", "/model-versions/set-tag", {"name": "x", "version": "1", "value": "v"}, "key"),
        ("DELETE", "/model-versions/delete-tag", {"name": "x", "version": "1"}, "key"),
    ],
)
def test_missing_required_fields(
    http: httpx.Client, method: str, path: str, payload: dict[str, Any], field: str
) -> None:
    if method == "GET":
        response = http.get(path, params=payload)
    else:
        response = http.request(method, path, json=payload)
    refused(
        response,
        400,
        "INVALID_PARAMETER_VALUE",
        f"Missing value for required parameter '{field}'",
    )


def test_unknown_model_version_and_alias_are_404_naming_them(http: httpx.Client) -> None:
    missing = unique("missing")
    for response in (
        get_model(http, missing),
        http.patch("/registered-models/update", json={"name": missing, "description": "x"}),
        http.post("/registered-models/rename", json={"name": missing, "new_name": unique()}),
        delete(http, "/registered-models/delete", {"name": missing}),
        http.post("/registered-models/set-tag", json={"name": missing, "key": "k", "value": "v"}),
        http.get("/model-versions/get", params={"name": missing, "version": "1"}),
    ):
        refused(response, 404, "RESOURCE_DOES_NOT_EXIST", missing)

    name = unique()
    create_model(http, name)
    refused(
        http.get("/model-versions/get", params={"name": name, "version": "7"}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
        name,
        "7",
    )
    refused(
        set_alias(http, name, "best", "7"),
        404,
        "RESOURCE_DOES_NOT_EXIST",
        "7",
    )
    refused(
        http.get("/registered-models/alias", params={"name": name, "alias": "best"}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
        "best",
    )


def test_duplicate_names_are_refused(http: httpx.Client) -> None:
    name, other = unique(), unique()
    create_model(http, name, description="kept")
    create_model(http, other)
    refused(
        http.post("/registered-models/create", json={"name": name, "description": "lost"}),
        400,
        "RESOURCE_ALREADY_EXISTS",
        name,
    )
    refused(
        http.post("/registered-models/rename", json={"name": other, "new_name": name}),
        400,
        "RESOURCE_ALREADY_EXISTS",
        name,
    )
    got = ok(get_model(http, name))["registered_model"]
    assert got["description"] == "kept"
    ok(get_model(http, other))


@pytest.mark.parametrize("bad", ["a/b", "a:b", "", "   "])
def test_bad_model_names_are_refused(http: httpx.Client, bad: str) -> None:
    message = refused(
        http.post("/registered-models/create", json={"name": bad}), 400, "INVALID_PARAMETER_VALUE"
    )
    assert "name" in message
    everything = ok(http.get("/registered-models/search", params={"max_results": 1000}))
    assert bad not in [m["name"] for m in everything.get("registered_models", [])]
    name = unique()
    create_model(http, name)
    refused(
        http.post("/registered-models/rename", json={"name": name, "new_name": bad}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    ok(get_model(http, name))


def test_bad_aliases_versions_and_stages(http: httpx.Client, run: dict[str, str]) -> None:
    name = unique()
    create_model(http, name)
    create_version(http, name, run)
    for alias in ("latest", "LATEST", "v3", "V12", "a b", "a/b"):
        refused(
            set_alias(http, name, alias, "1"),
            400,
            "INVALID_PARAMETER_VALUE",
            alias,
        )
    model = ok(get_model(http, name))["registered_model"]
    assert "aliases" not in model

    for version in ("abc", "0", "-1", "1.5"):
        refused(
            http.get("/model-versions/get", params={"name": name, "version": version}),
            400,
            "INVALID_PARAMETER_VALUE",
            version,
        )
        refused(
            set_alias(http, name, "ok", version),
            400,
            "INVALID_PARAMETER_VALUE",
        )
    refused(
        set_alias(http, name, "ok", True),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    refused(
        transition(http, name, "1", "Shipping", False),
        400,
        "INVALID_PARAMETER_VALUE",
        "Shipping",
    )
    refused(
        transition(http, name, "1", "Archived", True),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    refused(
        http.post(
            "/registered-models/get-latest-versions",
            json={"name": name, "stages": ["Shipping"]},
        ),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    version = ok(http.get("/model-versions/get", params={"name": name, "version": "1"}))
    assert version["model_version"]["current_stage"] == "None"
    assert "aliases" not in version["model_version"]


@pytest.mark.parametrize("endpoint", ["/registered-models/search", "/model-versions/search"])
@pytest.mark.parametrize("max_results", ["0", "-1", str(10**9), "abc"])
def test_bad_max_results(http: httpx.Client, endpoint: str, max_results: str) -> None:
    refused(
        http.get(endpoint, params={"max_results": max_results}),
        400,
        "INVALID_PARAMETER_VALUE",
        "max_results",
    )


@pytest.mark.parametrize("endpoint", ["/registered-models/search", "/model-versions/search"])
@pytest.mark.parametrize(
    "params",
    [
        {"page_token": "not-a-token"},
        {"page_token": "eyJvZmZzZXQiOiAtNX0="},  # {"offset": -5}
        {"filter": "name = 'a' OR name = 'b'"},
        {"filter": "no_such_key = 'x'"},
        {"order_by": "no_such_key DESC"},
    ],
)
def test_bad_search_input(http: httpx.Client, endpoint: str, params: dict[str, str]) -> None:
    refused(http.get(endpoint, params=params), 400, "INVALID_PARAMETER_VALUE")


def test_bad_bodies(http: httpx.Client) -> None:
    name = unique()
    refused(
        http.post("/registered-models/create", content=f'{{"name": "{name}"}}',
                  headers={"Content-Type": "text/plain"}),
        400,
        "INVALID_PARAMETER_VALUE",
        "Content-Type",
    )
    refused(
        http.post(
            "/registered-models/create",
            content=b"{nope",
            headers={"Content-Type": "application/json"},
        ),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    refused(
        http.post("/registered-models/create", json={"name": name, "tags": "nope"}),
        400,
        "INVALID_PARAMETER_VALUE",
        "tags",
    )
    refused(
        http.post(
            "/registered-models/create",
            json={"name": name, "tags": [{"key": "k" * 251, "value": "v"}]},
        ),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    refused(get_model(http, name), 404, "RESOURCE_DOES_NOT_EXIST")


def _source_attacks(run: dict[str, str], other_run: dict[str, str]) -> list[str]:
    experiment = run["artifact_uri"].removeprefix("mlflow-artifacts:/").split("/", 1)[0]
    return [
        "../x",
        "../../etc/passwd",
        "%2e%2e/%2e%2e/etc/passwd",
        f"{run['artifact_uri']}/%2e%2e/%2e%2e/%2e%2e/x",
        f"{run['artifact_uri']}/../../../x",
        "file:///etc/passwd",
        "/etc/passwd",
        f"runs:/{other_run['run_id']}/m",
        f"mlflow-artifacts:/{experiment}/%2e%2e/%2e%2e",
        f"mlflow-artifacts:/{experiment}/{other_run['run_id']}/artifacts/m",
        "http://169.254.169.254/latest",
        "http://127.0.0.1:5000/x",
        "model\x00x",
        "",
    ]


def test_model_version_source_attacks_are_refused(
    http: httpx.Client, run: dict[str, str], other_run: dict[str, str]
) -> None:
    name = unique()
    create_model(http, name)
    for source in _source_attacks(run, other_run):
        response = http.post(
            "/model-versions/create",
            json={"name": name, "source": source, "run_id": run["run_id"]},
        )
        assert 400 <= response.status_code < 500, (source, response.status_code, response.text)
        body = response.json()
        assert body["error_code"] == "INVALID_PARAMETER_VALUE", (source, body)
    assert versions_of(http, name) == []
    model = ok(get_model(http, name))["registered_model"]
    assert "latest_versions" not in model
    # The legitimate source still registers, as version 1: the refusals used no number.
    assert create_version(http, name, run)["version"] == "1"


def test_wrong_methods_are_not_routed(http: httpx.Client) -> None:
    name = unique()
    response = http.put("/registered-models/create", json={"name": name})
    assert response.status_code in (404, 405)
    assert response.json()["error_code"] != "NOT_IMPLEMENTED"
    refused(get_model(http, name), 404, "RESOURCE_DOES_NOT_EXIST")


# ---------------------------------------------------------------------------------------------
# Events


class RecordingSink:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, dict[str, Any]]] = []
        self._lock = threading.Lock()

    def emit(self, entity: str, action: str, payload: dict[str, Any]) -> None:
        with self._lock:
            self.events.append((entity, action, payload))


@pytest.fixture
def sink(server: RunningServer) -> Iterator[RecordingSink]:
    app = server.server.config.app  # type: ignore[attr-defined]
    recording = RecordingSink()
    saved = getattr(app.state, "events", None)
    app.state.events = recording
    yield recording
    app.state.events = saved


def test_writes_publish_their_events(
    http: httpx.Client, run: dict[str, str], sink: RecordingSink
) -> None:
    name = unique()
    create_model(http, name, tags=[{"key": "team", "value": "v"}], description="d")
    version = create_version(http, name, run, tags=[{"key": "k", "value": "1"}], description="vd")
    ok(
        transition(http, name, "1", "staging", True)
    )
    tag = {"name": name, "version": 1, "key": "q", "value": "ok"}
    ok(http.post("/model-versions/set-tag", json=tag))
    ok(delete(http, "/model-versions/delete-tag", {"name": name, "version": "1", "key": "q"}))
    ok(set_alias(http, name, "champion", "1"))
    ok(delete(http, "/registered-models/alias", {"name": name, "alias": "champion"}))
    # Reads, other writes and refused writes publish nothing.
    ok(get_model(http, name))
    ok(http.post("/registered-models/set-tag", json={"name": name, "key": "x", "value": "y"}))
    http.post("/registered-models/create", json={"name": name})
    set_alias(http, name, "latest", "1")

    assert sink.events == [
        ("REGISTERED_MODEL", "CREATED", {"name": name, "tags": {"team": "v"}, "description": "d"}),
        (
            "MODEL_VERSION",
            "CREATED",
            {
                "name": name,
                "version": "1",
                "source": version["source"],
                "run_id": run["run_id"],
                "tags": {"k": "1"},
                "description": "vd",
            },
        ),
        (
            "MODEL_VERSION",
            "STAGE_TRANSITIONED",
            {"name": name, "version": "1", "stage": "Staging", "archive_existing_versions": True},
        ),
        ("MODEL_VERSION_TAG", "SET", {"name": name, "version": "1", "key": "q", "value": "ok"}),
        ("MODEL_VERSION_TAG", "DELETED", {"name": name, "version": "1", "key": "q"}),
        ("MODEL_VERSION_ALIAS", "CREATED", {"name": name, "alias": "champion", "version": "1"}),
        ("MODEL_VERSION_ALIAS", "DELETED", {"name": name, "alias": "champion"}),
    ]


def test_a_failing_sink_does_not_fail_the_write(http: httpx.Client, server: RunningServer) -> None:
    class Broken:
        def emit(self, entity: str, action: str, payload: dict[str, Any]) -> None:
            raise RuntimeError("sink down")

    app = server.server.config.app  # type: ignore[attr-defined]
    saved = getattr(app.state, "events", None)
    app.state.events = Broken()
    try:
        name = unique()
        create_model(http, name)
    finally:
        app.state.events = saved
    ok(get_model(http, name))


def test_without_a_registry_the_endpoints_answer_501(
    http: httpx.Client, server: RunningServer
) -> None:
    app = server.server.config.app  # type: ignore[attr-defined]
    saved = app.state.registry
    app.state.registry = None
    try:
        response = http.get("/registered-models/get", params={"name": "m"})
    finally:
        app.state.registry = saved
    refused(response, 501, "NOT_IMPLEMENTED", "registry")
