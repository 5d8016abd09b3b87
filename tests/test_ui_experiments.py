"""The experiments list and the runs table, clicked through in a real browser (and a few raw
HTTP checks): one server per module over a small seeded SQLite store."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from pathlib import Path
import httpx
import pytest
from playwright.sync_api import Dialog, Page, expect

from fixtures_server import RunningServer, start_server
from mltrail.entities import Metric, Param, RunTag
from mltrail.server.app import open_store
from mltrail.server.config import ServerConfig
from mltrail.storage.tracking import TrackingStore

XSS = "<img src=x onerror=alert(1)>"
T0 = 1_760_000_000_000


class Seeded:
    def __init__(self, server: RunningServer, ids: dict[str, str]) -> None:
        self.server = server
        self.ids = ids
        self.url = server.url

    def experiment(self, name: str) -> str:
        return f"{self.url}/experiments/{self.ids[name]}"


def _run(
    store: TrackingStore, experiment_id: str, name: str, start: int, *,
    params: dict[str, str] | None = None, metrics: dict[str, float] | None = None,
    tags: dict[str, str] | None = None, status: str = "FINISHED",
) -> str:
    run = store.create_run(experiment_id, "ada", start, [], name)
    run_id = run.info.run_id
    store.log_batch(
        run_id,
        metrics=[Metric(k, v, start, 0) for k, v in (metrics or {}).items()],
        params=[Param(k, v) for k, v in (params or {}).items()],
        tags=[RunTag(k, v) for k, v in (tags or {}).items()],
    )
    if status != "RUNNING":
        store.update_run_info(run_id, status=status, end_time=start + 83_000)
    return run_id


def _seed(store: TrackingStore) -> dict[str, str]:
    ids: dict[str, str] = {}
    wine = ids["wine"] = store.create_experiment("wine")
    source = {"mlflow.source.name": "/home/ada/proj/train.py",
              "mlflow.source.git.commit": "0123456789abcdef"}
    for i, (alpha, rmse) in enumerate([("0.1", 0.9), ("0.5", 0.25), ("0.9", 0.7)]):
        ids[f"r{i}"] = _run(store, wine, f"run-{alpha}", T0 + i * 1000,
                            params={"alpha": alpha}, metrics={"rmse": rmse}, tags=source)
    ids["xss"] = _run(store, wine, XSS, T0 + 5000, params={"alpha": XSS},
                      metrics={"rmse": 2.0}, tags={"team": XSS})
    nest = ids["nest"] = store.create_experiment("nested")
    parent = ids["parent"] = _run(store, nest, "sweep", T0)
    for i in range(2):
        ids[f"child{i}"] = _run(store, nest, f"trial-{i}", T0 + 100 + i,
                                tags={"mlflow.parentRunId": parent})
    big = ids["big"] = store.create_experiment("big")
    for i in range(130):
        _run(store, big, f"b{i:03d}", T0 + i, metrics={"m": float(i)})
    live = ids["live"] = store.create_experiment("live")
    ids["running"] = _run(store, live, "still-going", T0, status="RUNNING")
    ids["rename"] = store.create_experiment("to-rename")
    ids["delete"] = store.create_experiment("to-delete")
    ids["doomed"] = store.create_experiment("doomed-runs")
    for name in ("keep-me", "drop-me"):
        ids[name] = _run(store, ids["doomed"], name, T0)
    ids["xssexp"] = store.create_experiment(XSS)
    curves = ids["curves"] = store.create_experiment("curves")
    for name, history in (("dip", [3.0, 1.0, 2.0]), ("flat", [5.0, math.nan, 4.0])):
        ids[name] = _run(store, curves, name, T0)
        store.log_batch(ids[name], metrics=[
            Metric("rmse", value, T0 + step, step) for step, value in enumerate(history)
        ])
    wide = ids["wide"] = store.create_experiment("wide")
    _run(store, wide, "many-keys", T0, params={f"p{i:02d}": str(i) for i in range(10)},
         metrics={f"m{i:02d}": float(i) for i in range(10)})
    return ids


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    folder: Path = tmp_path_factory.mktemp("ui-experiments")
    config = ServerConfig(
        backend_store_uri=f"sqlite:///{folder / 'store.db'}",
        artifacts_destination=str(folder / "artifacts"),
    )
    store = open_store(config)
    try:
        ids = _seed(store)
    finally:
        store.close()
    server = start_server(config)
    try:
        yield Seeded(server, ids)
    finally:
        server.stop()


def _names(page: Page) -> list[str]:
    return page.locator("table[data-testid=runs] tbody tr td.run-name > a").all_inner_texts()


# --------------------------------------------------------------------------- the list


def test_list_shows_experiments_counts_and_the_store(site: Seeded, page: Page) -> None:
    page.goto(site.url + "/")
    expect(page.get_by_role("heading", name="Experiments")).to_be_visible()
    expect(page.get_by_test_id("store")).to_contain_text("store.db")
    row = page.locator(f"tr[data-experiment-id='{site.ids['wine']}']")
    expect(row.get_by_role("link", name="wine")).to_be_visible()
    expect(row.locator("td.num")).to_have_text("4")
    expect(page.locator(f"tr[data-experiment-id='{site.ids['big']}'] td.num")).to_have_text("130")
    expect(page.get_by_text("Log runs to this server")).to_be_visible()
    page.get_by_label("Search experiments by name").fill("nest")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("table[data-testid=experiments] tbody tr")).to_have_count(1)
    expect(page.get_by_role("link", name="nested")).to_be_visible()


def test_create_an_experiment_and_land_on_it(site: Seeded, page: Page) -> None:
    page.goto(site.url + "/")
    page.get_by_role("button", name="New experiment").click()
    page.get_by_label("Name", exact=True).fill("fresh-one")
    page.get_by_role("button", name="Create", exact=True).click()
    expect(page.get_by_role("heading", name="fresh-one")).to_be_visible()
    assert re.search(r"/experiments/\d+$", page.url)
    expect(page.get_by_text("No runs here yet.")).to_be_visible()


def test_rename_delete_and_restore(site: Seeded, page: Page) -> None:
    page.goto(site.url + "/")
    page.get_by_role("button", name="Rename to-rename").click()
    page.get_by_label("New name").fill("renamed-now")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("link", name="renamed-now")).to_be_visible()

    page.get_by_role("button", name="Delete to-delete").click()
    expect(page.get_by_role("link", name="to-delete")).to_have_count(0)
    page.get_by_role("link", name="Deleted", exact=True).click()
    page.get_by_role("button", name="Restore to-delete").click()
    expect(page.get_by_role("link", name="to-delete")).to_have_count(0)  # gone from Deleted
    page.get_by_role("link", name="Active", exact=True).click()
    expect(page.get_by_role("link", name="to-delete")).to_be_visible()


def test_empty_store_says_how_to_log_a_first_run(
    tracking_server: RunningServer, page: Page
) -> None:
    page.goto(tracking_server.url + "/")
    expect(page.get_by_role("heading", name="No runs in this store yet")).to_be_visible()
    expect(page.get_by_text(f"export MLTRAIL_TRACKING_URI={tracking_server.url}")).to_be_visible()


# ----------------------------------------------------------------------- the runs table


def test_runs_table_shows_the_seeded_runs(site: Seeded, page: Page) -> None:
    page.goto(site.url + "/")
    page.get_by_role("link", name="wine", exact=True).click()
    expect(page.get_by_role("heading", name="wine")).to_be_visible()
    expect(page.get_by_role("link", name="run-0.5")).to_be_visible()
    row = page.locator(f"tr[data-run-id='{site.ids['r1']}']")
    expect(row).to_contain_text("finished")
    expect(row).to_contain_text("train.py")
    expect(row).to_contain_text("0123456")
    expect(row).to_contain_text("1m 23s")
    expect(page.get_by_test_id("runs-count")).to_have_text("4 runs loaded")


def test_pick_a_metric_column_then_sort_by_it(site: Seeded, page: Page) -> None:
    page.goto(site.experiment("wine") + "?cols=")  # no columns, not the defaults
    expect(page.locator("thead th")).to_have_count(8)  # the selection box and the built-ins
    page.get_by_text("Columns", exact=True).click()
    page.get_by_label("rmse", exact=True).click()  # the page reloads with the column
    expect(page).to_have_url(re.compile(r"cols=metrics\.rmse"))
    row = page.locator(f"tr[data-run-id='{site.ids['r1']}']")
    expect(row.locator("td").last).to_have_text("0.25")
    header = page.get_by_role("link", name=re.compile("metrics.rmse"))
    header.click()
    expect(page).to_have_url(re.compile(r"order=metrics"))
    expect(page.locator("th[aria-sort=descending]")).to_contain_text("rmse")
    assert _names(page)[0] == XSS  # rmse 2.0
    page.get_by_role("link", name=re.compile("metrics.rmse")).click()
    expect(page.locator("th[aria-sort=ascending]")).to_contain_text("rmse")
    assert _names(page)[0] == "run-0.5"  # rmse 0.25


def test_filter_reduces_rows_and_a_bad_filter_shows_its_error(site: Seeded, page: Page) -> None:
    page.goto(site.experiment("wine"))
    box = page.get_by_label("Filter runs")
    box.fill("metrics.rmse < 0.8")
    box.press("Enter")
    expect(page.locator("tr.run")).to_have_count(2)
    expect(page).to_have_url(re.compile(r"filter=metrics.rmse"))
    box.fill("metrics.rmse <<< oops")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_test_id("runs-error")).to_contain_text("Invalid")
    expect(page.locator("tr.run")).to_have_count(2)  # the table stays as it was
    box.fill("params.alpha = '0.9'")
    box.press("Enter")
    expect(page.locator("tr.run")).to_have_count(1)
    expect(page.get_by_test_id("runs-error")).to_have_count(0)


def test_load_more_appends_the_next_page(site: Seeded, page: Page) -> None:
    page.goto(site.experiment("big"))
    expect(page.locator("tr.run")).to_have_count(100)
    expect(page.get_by_test_id("runs-count")).to_have_text("100 runs loaded, more to load")
    page.get_by_role("button", name="Load more").click()
    expect(page.locator("tr.run")).to_have_count(130)
    expect(page.get_by_test_id("runs-count")).to_have_text("130 runs loaded")
    expect(page.get_by_role("button", name="Load more")).to_have_count(0)
    expect(page.get_by_role("link", name="b000")).to_be_visible()
    # The default column (metrics.m) is on the appended rows too, lined up with the header.
    expect(page.locator("thead th").last).to_contain_text("m")
    expect(page.locator("tr.run", has_text="b000").locator("td").last).to_have_text("0")


def test_nested_runs_are_grouped_under_their_parent(site: Seeded, page: Page) -> None:
    page.goto(site.experiment("nest"))
    assert _names(page) == ["sweep", "trial-1", "trial-0"]
    children = page.locator(f"tr[data-parent='{site.ids['parent']}']")
    expect(children).to_have_count(2)
    page.get_by_role("button", name="Hide the child runs of sweep").click()
    expect(children.first).to_be_hidden()
    page.get_by_role("button", name="Show the child runs of sweep").click()
    expect(children.first).to_be_visible()
    # Filtered to a child alone, its parent is not on the page: a hint instead.
    page.goto(site.experiment("nest") + "?filter=attributes.run_name%20%3D%20%27trial-0%27")
    expect(page.get_by_text("child of")).to_be_visible()


def test_select_two_runs_and_compare(site: Seeded, page: Page) -> None:
    page.goto(site.experiment("wine"))
    page.get_by_label("Select run-0.1").check()
    expect(page.get_by_role("button", name="Compare")).to_be_disabled()
    page.get_by_label("Select run-0.9").check()
    page.get_by_role("button", name="Compare").click()
    page.wait_for_url(re.compile(r"/compare\?runs="))
    chosen = page.url.split("runs=", 1)[1].split(",")
    assert sorted(chosen) == sorted([site.ids["r0"], site.ids["r2"]])


def test_delete_and_tag_selected_runs(site: Seeded, page: Page) -> None:
    page.goto(site.experiment("doomed"))
    page.get_by_label("Select keep-me").check()
    page.once("dialog", lambda dialog: dialog.accept("reviewed=yes"))
    page.get_by_role("button", name="Tag…").click()
    expect(page.get_by_text("Tagged 1 run reviewed=yes")).to_be_visible()
    page.get_by_label("Select keep-me").uncheck()
    page.get_by_label("Select drop-me").check()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("link", name="drop-me")).to_have_count(0)
    expect(page.get_by_role("link", name="keep-me")).to_be_visible()
    page.get_by_role("link", name="Deleted", exact=True).click()
    expect(page.get_by_role("link", name="drop-me")).to_be_visible()
    run = httpx.get(f"{site.url}/api/2.0/mlflow/runs/get", params={"run_id": site.ids["keep-me"]})
    assert {"key": "reviewed", "value": "yes"} in run.json()["run"]["data"]["tags"]


def test_hostile_names_show_as_text(site: Seeded, page: Page) -> None:
    dialogs: list[str] = []

    def record(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", record)
    page.goto(site.url + "/")
    expect(page.get_by_role("link", name=XSS)).to_be_visible()
    page.goto(site.experiment("wine") + "?cols=params.alpha,tags.team")
    expect(page.get_by_role("link", name=XSS)).to_be_visible()
    expect(page.locator("tr.run td", has_text=XSS)).to_have_count(3)
    assert page.locator("img").count() == 0
    assert dialogs == []


def test_the_table_refreshes_itself_while_a_run_is_running(site: Seeded, page: Page) -> None:
    page.goto(site.experiment("live"))
    row = page.locator(f"tr[data-run-id='{site.ids['running']}']")
    expect(row.locator(".badge")).to_have_text("running")
    page.get_by_label("Select still-going").check()
    httpx.post(
        f"{site.url}/api/2.0/mlflow/runs/update",
        json={"run_id": site.ids["running"], "status": "FINISHED", "end_time": T0 + 1000},
    ).raise_for_status()
    expect(row.locator(".badge")).to_have_text("finished", timeout=8000)  # one poll, ~5 s
    expect(page.get_by_label("Select still-going")).to_be_checked()  # the selection survives
    expect(page.locator("#runs-region[data-live]")).to_have_count(0)  # and polling stopped


# ------------------------------------------------------------------------------ raw HTTP


def test_run_summaries_count_active_runs_in_one_query_or_by_paging(tmp_path: Path) -> None:
    config = ServerConfig(backend_store_uri=f"sqlite:///{tmp_path / 's.db'}",
                          artifacts_destination=str(tmp_path / "a"))
    store = open_store(config)
    try:
        first, second, empty = (store.create_experiment(n) for n in ("one", "two", "three"))
        for i in range(3):
            _run(store, first, f"a{i}", T0 + i)
        store.delete_run(_run(store, second, "gone", T0 + 9))
        _run(store, second, "kept", T0 + 5)
        expected = {first: (3, T0 + 2), second: (1, T0 + 5)}
        ids = [first, second, empty, "424242"]
        assert store.run_summaries(ids) == expected
        assert TrackingStore.run_summaries(store, ids[:3]) == expected  # the paging default
    finally:
        store.close()



def test_unknown_experiment_is_a_404_page(site: Seeded) -> None:
    for bad in ("999999", "not-a-number"):
        response = httpx.get(f"{site.url}/experiments/{bad}")
        assert response.status_code == 404
        assert "Experiment not found" in response.text
    assert httpx.get(f"{site.url}/experiments/999999/runs").status_code == 404


def test_a_bad_filter_is_a_400_fragment_and_page(site: Seeded) -> None:
    fragment = httpx.get(site.experiment("wine") + "/runs", params={"filter": "metrics.rmse <<< 1"})
    assert fragment.status_code == 400
    assert 'class="error-box"' in fragment.text and "<html" not in fragment.text
    page = httpx.get(site.experiment("wine"), params={"filter": "metrics.rmse <<< 1"})
    assert page.status_code == 400 and "Fix the filter" in page.text
    assert httpx.get(site.experiment("wine"), params={"order": "bogus order by"}).status_code == 400
    token = httpx.get(site.experiment("wine") + "/runs", params={"page_token": "%%%"})
    assert token.status_code == 400


def test_user_strings_are_escaped_in_raw_html(site: Seeded) -> None:
    escaped = "&lt;img src=x onerror=alert(1)&gt;"
    listing = httpx.get(site.url + "/").text
    table = httpx.get(site.experiment("wine"), params={"cols": "params.alpha,tags.team"}).text
    fragment = httpx.get(site.experiment("wine") + "/runs", params={"cols": "tags.team"}).text
    for html in (listing, table, fragment):
        assert XSS not in html
        assert escaped in html


def test_fragment_polls_only_while_a_run_is_running(site: Seeded) -> None:
    assert 'hx-trigger="every 5s"' not in httpx.get(site.experiment("wine") + "/runs").text
    fragment = httpx.get(site.experiment("wine") + "/runs", params={"filter": "metrics.rmse < 1"})
    assert fragment.headers["HX-Push-Url"].endswith(
        f"/experiments/{site.ids['wine']}?filter=metrics.rmse+%3C+1"
    )
    refreshed = httpx.get(site.experiment("wine") + "/runs", params={"refresh": "1", "n": "300"})
    assert "HX-Push-Url" not in refreshed.headers


def test_only_chosen_columns_are_rendered(site: Seeded) -> None:
    none = httpx.get(site.experiment("wine") + "?cols=").text
    assert "0.25" not in none  # an explicit empty choice: no columns
    chosen = httpx.get(site.experiment("wine"), params={"cols": "params.alpha"}).text
    assert "0.25" not in chosen and "0.9" in chosen
    chosen = httpx.get(site.experiment("wine"), params={"cols": "metrics.rmse"}).text
    assert "0.25" in chosen


# ------------------------------------------------------- default columns, min and max


def _headers(html: str) -> list[tuple[str, str]]:
    """The (kind, label) of each chosen column's header."""
    return re.findall(r'<span class="col-kind">(\w+)\.</span>([^<]+)', html)


def test_default_columns_are_the_first_pages_metrics_and_params(site: Seeded) -> None:
    default = httpx.get(site.experiment("wide")).text
    assert _headers(default) == (
        [("metrics", f"m{i:02d}") for i in range(8)] + [("params", f"p{i:02d}") for i in range(8)]
    )
    assert _headers(httpx.get(site.experiment("wide") + "?cols=").text) == []
    # The filter form sends no cols (the next first page picks its own defaults) ...
    assert 'name="cols"' not in default
    assert 'name="cols" value=""' in httpx.get(site.experiment("wide") + "?cols=").text
    # ... and an htmx filter change without cols answers with defaults, pushing no cols.
    fragment = httpx.get(site.experiment("wide") + "/runs", params={"filter": "params.p01 = '1'"})
    assert len(_headers(fragment.text)) == 16
    assert "cols" not in fragment.headers["HX-Push-Url"]


def test_the_table_reads_only_its_columns_and_the_picker_the_rest(site: Seeded,
                                                                    page: Page) -> None:
    """The wide run has 10 params: the table shows (and reads) the first 8; the values of
    p08 and p09 ("8" and "9" in a cell of their own) reach the page only if asked for."""
    html = httpx.get(site.experiment("wide")).text
    assert "<td>7</td>" in html and "<td>8</td>" not in html and "<td>9</td>" not in html
    assert "p09" not in html  # the picker's keys are not in the page: it fetches them
    picker = httpx.get(site.experiment("wide") + "/columns")
    assert picker.status_code == 200
    assert 'value="params.p09"' in picker.text and 'value="metrics.m09@max"' in picker.text
    assert httpx.get(site.url + "/experiments/999999/columns").status_code == 404
    bad = httpx.get(site.experiment("wide") + "/columns", params={"filter": "params.p01 ="})
    assert bad.status_code == 400
    page.goto(site.experiment("wide"))
    page.locator("summary", has_text="Columns").click()
    expect(page.get_by_label("p09", exact=True)).not_to_be_checked()
    expect(page.get_by_label("p07", exact=True)).to_be_checked()  # a default column
    page.get_by_label("p09", exact=True).click()
    expect(page).to_have_url(re.compile(r"cols=.*params\.p09"))
    expect(page.get_by_role("columnheader", name="params.p09")).to_be_visible()


def test_links_keep_the_column_choice(site: Seeded) -> None:
    big = site.experiment("big")
    default = httpx.get(big).text
    sort_links = re.findall(r'<a href="[^"]*(\?order=[^"]*)"', default)
    assert sort_links and not any("cols" in link for link in sort_links)
    load_more = re.search(r'hx-get="([^"]*page_token[^"]*)"', default)
    assert load_more and "dcols=metrics.m" in load_more.group(1)
    assert "cols=" not in load_more.group(1).replace("dcols=", "")
    empty = httpx.get(big + "?cols=").text
    assert all("cols=&amp;" in link or link.endswith("cols=")
               for link in re.findall(r'<a href="[^"]*(\?order=[^"]*)"', empty))
    assert 'view=deleted' in empty and "cols=&amp;view=deleted" in empty
    more_empty = re.search(r'hx-get="([^"]*page_token[^"]*)"', empty)
    assert more_empty and "dcols" not in more_empty.group(1)
    assert "cols=&amp;" in more_empty.group(1)
    # The next page with the page's default columns renders them; with cols= it renders none.
    token = re.search(r"page_token=([^&\"]+)", default)
    assert token
    next_token = httpx.URL("?t=" + token.group(1)).params["t"]
    rows = httpx.get(big + "/runs", params={"page_token": next_token, "dcols": "metrics.m"}).text
    assert re.search(r'<td class="num"[^>]*>0</td>\s*</tr>', rows)  # b000's m


def test_min_and_max_columns_render_the_history_extremes(site: Seeded) -> None:
    html = httpx.get(site.experiment("curves"),
                     params={"cols": "metrics.rmse,metrics.rmse@min,metrics.rmse@max"}).text
    assert _headers(html) == [("metrics", "rmse"), ("metrics", "rmse (min)"),
                              ("metrics", "rmse (max)")]
    assert html.count('class="num col-extreme-head"') == 2  # plain headers: not sortable
    dip = re.search(rf'data-run-id="{site.ids["dip"]}".*?</tr>', html, re.S)
    cells = r'<td class="num"[^>]*>([^<]*)</td>'
    assert dip and re.findall(cells, dip.group(0))[-3:] == ["2", "1", "3"]
    flat = re.search(rf'data-run-id="{site.ids["flat"]}".*?</tr>', html, re.S)
    assert flat and re.findall(cells, flat.group(0))[-3:] == ["4", "4", "5"]
    fragment = httpx.get(site.experiment("curves") + "/runs", params={"cols": "metrics.rmse@max"})
    assert fragment.status_code == 200 and "rmse (max)" in fragment.text


def test_pick_rmse_min_in_the_picker_then_sort_keeps_it(site: Seeded, page: Page) -> None:
    page.goto(site.experiment("curves"))
    dip = page.locator(f"tr[data-run-id='{site.ids['dip']}']")
    expect(dip.locator("td").last).to_have_text("2")  # rmse (latest) is a default column
    page.locator("summary", has_text="Columns").click()
    expect(page.get_by_label("rmse", exact=True)).to_be_checked()
    page.get_by_label("rmse (min)").click()  # the page reloads with the column
    expect(page).to_have_url(re.compile(r"cols=metrics\.rmse%2Cmetrics\.rmse%40min"))
    expect(page.get_by_role("columnheader", name="metrics.rmse (min)")).to_be_visible()
    expect(dip.locator("td").last).to_have_text("1")
    page.locator("summary", has_text="Columns").click()
    page.get_by_label("rmse (max)").click()
    expect(page.get_by_role("columnheader", name="metrics.rmse (max)")).to_be_visible()
    expect(dip.locator("td").nth(-3)).to_have_text("2")
    expect(dip.locator("td").nth(-2)).to_have_text("1")
    expect(dip.locator("td").last).to_have_text("3")
    expect(page.get_by_role("link", name=re.compile(r"rmse \((min|max)\)"))).to_have_count(0)
    page.get_by_role("link", name=re.compile(r"^metrics\.rmse$")).click()  # sort by latest
    expect(page).to_have_url(re.compile(r"order=metrics"))
    expect(page).to_have_url(re.compile(r"rmse%40min%2Cmetrics\.rmse%40max"))
    expect(page.locator("th[aria-sort=descending]")).to_contain_text("rmse")
    assert _names(page) == ["flat", "dip"]  # latest 4, then 2
    expect(page.get_by_role("columnheader", name="metrics.rmse (min)")).to_be_visible()
    flat = page.locator(f"tr[data-run-id='{site.ids['flat']}']")
    expect(flat.locator("td").last).to_have_text("5")
