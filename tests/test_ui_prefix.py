"""The UI behind ``--static-prefix`` (a server published at ``https://host/mltrail/``): every
link, asset, fragment and JSON call carries the prefix, in a real browser."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from mltrail import MltrailClient
from mltrail.entities import Metric
from mltrail.server.config import ServerConfig
from fixtures_server import RunningServer, start_server

PREFIX = "/mltrail"


@pytest.fixture(scope="module")
def prefixed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    root: Path = tmp_path_factory.mktemp("ui_prefix")
    server: RunningServer = start_server(ServerConfig(
        backend_store_uri=f"sqlite:///{root / 'server.db'}",
        artifacts_destination=str(root / "artifacts"),
        static_prefix=PREFIX,
    ))
    base = server.url + PREFIX
    client = MltrailClient(base)
    experiment = client.create_experiment("behind-a-proxy")
    run_id = client.create_run(experiment, run_name="prefixed-run").info.run_id
    client.log_batch(run_id, metrics=[Metric("loss", 1 / (s + 1), 1_700_000_000_000 + s, s)
                                      for s in range(20)], synchronous=True)
    client.log_text(run_id, "behind the proxy\n", "notes.txt")
    client.set_terminated(run_id)
    client.create_registered_model("prefixed-model")
    yield base, run_id
    client.close()
    server.stop()


def test_pages_assets_and_api_calls_carry_the_prefix(prefixed: tuple[str, str], page: Any
                                                     ) -> None:
    base, run_id = prefixed
    assert httpx.get(base.removesuffix(PREFIX) + "/").status_code == 404  # nothing outside it
    outside: list[str] = []
    page.on("request", lambda request: outside.append(request.url)
            if not request.url.startswith(base) else None)
    page.goto(base + "/")
    page.get_by_role("link", name="behind-a-proxy").click()
    expect(page).to_have_url(re.compile(re.escape(base) + r"/experiments/\d+"))
    page.get_by_role("link", name="prefixed-run").click()
    expect(page.locator('#run-charts figure[data-metric="loss"] .chart-plot')).to_have_attribute(
        "data-drawn", "20")
    page.get_by_test_id("artifact-list").get_by_role("button", name="notes.txt").click()
    expect(page.get_by_test_id("text-preview")).to_contain_text("behind the proxy")
    page.locator("#tag-key").fill("checked")
    page.locator("#tag-value").fill("yes")
    page.get_by_role("button", name="Add tag").click()
    expect(page.get_by_test_id("tags-table")).to_contain_text("checked")
    page.get_by_role("link", name="Models").click()
    page.get_by_role("link", name="prefixed-model").click()
    expect(page.get_by_test_id("model-name")).to_have_text("prefixed-model")
    assert outside == []
