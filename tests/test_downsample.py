"""Downsampled histories for charts: the bucketing against a plain reference, and
``metrics/get-history-bulk-interval`` on a real server (spikes kept, step ranges, limits)."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mltrail import MltrailClient
from mltrail.entities import Metric
from mltrail.entities.downsample import downsample_indices
from fixtures_server import RunningServer, start_server_in

API = "/api/2.0/mlflow/metrics/get-history-bulk-interval"


def reference(steps: Sequence[int], values: Sequence[float], max_points: int) -> list[int]:
    """The rule spelled out point by point: the first and last points, and in each of
    (max_points - 2) // 2 equal step buckets its first lowest and first highest number (NaN
    only where the bucket has nothing else)."""
    n = len(steps)
    if n <= max_points:
        return list(range(n))
    if max_points < 4:
        return [0, n - 1][:max_points]
    buckets = (max_points - 2) // 2
    span = (steps[-1] - steps[0]) or 1
    low: dict[int, int] = {}
    high: dict[int, int] = {}
    for i in range(1, n - 1):
        b = min(buckets - 1, int((steps[i] - steps[0]) * buckets / span))
        v = values[i]
        for best, better in ((low, v < values[low.get(b, i)]), (high, v > values[high.get(b, i)])):
            if b not in best or (math.isnan(values[best[b]]) and not math.isnan(v)) or better:
                best[b] = i
    return sorted({0, n - 1, *low.values(), *high.values()})


values_strategy = st.one_of(
    st.floats(allow_nan=False, allow_infinity=True, width=32),
    st.just(math.nan),
    st.integers(-3, 3).map(float),  # ties
)


@settings(max_examples=300, deadline=None)
@given(
    gaps=st.lists(st.integers(0, 5), min_size=0, max_size=300),
    values=st.data(),
    max_points=st.integers(1, 40),
)
def test_matches_the_point_by_point_rule(gaps: list[int], values: st.DataObject,
                                         max_points: int) -> None:
    steps = []
    step = -7
    for gap in gaps:  # ascending steps, repeats allowed
        step += gap
        steps.append(step)
    vals = values.draw(st.lists(values_strategy, min_size=len(steps), max_size=len(steps)))
    kept = downsample_indices(steps, vals, max_points)
    assert kept == reference(steps, vals, max_points)
    assert len(kept) <= max(max_points, 0) or len(steps) <= max_points


def test_a_spike_between_samples_is_kept() -> None:
    steps = list(range(1_000_000))
    values = [1.0] * len(steps)
    values[543_211] = 50.0
    values[765_432] = -50.0
    kept = downsample_indices(steps, values, 1000)
    assert len(kept) <= 1000
    assert 543_211 in kept and 765_432 in kept
    assert kept[0] == 0 and kept[-1] == len(steps) - 1


@pytest.fixture(scope="module")
def long_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, str, str]]:
    server = start_server_in(tmp_path_factory.mktemp("downsample"))
    client = MltrailClient(server.url)
    experiment = client.create_experiment("downsample")
    run_id = client.create_run(experiment).info.run_id
    other = client.create_run(experiment).info.run_id
    points = [Metric("loss", 1.0 / (1 + s), 1_700_000_000_000 + s, s) for s in range(20_000)]
    points[12_345] = Metric("loss", 99.0, points[12_345].timestamp, 12_345)
    points[15_000] = Metric("loss", math.nan, points[15_000].timestamp, 15_000)
    client.log_batch(run_id, metrics=points, synchronous=True)
    client.log_batch(other, metrics=[Metric("loss", 2.0, 1_700_000_000_000, 0)],
                     synchronous=True)
    client.close()
    yield server, run_id, other
    server.stop()


def _get(url: str, **params: object) -> httpx.Response:
    return httpx.get(url + API, params=params, timeout=30)


def test_bulk_interval_keeps_the_spike_and_both_ends(long_run: tuple[RunningServer, str, str]
                                                     ) -> None:
    server, run_id, other = long_run
    r = _get(server.url, metric_key="loss", run_ids=[run_id, other], max_results=500)
    assert r.status_code == 200
    metrics = r.json()["metrics"]
    mine = [m for m in metrics if m["run_id"] == run_id]
    assert 0 < len(mine) <= 500
    steps = [m["step"] for m in mine]
    assert steps == sorted(steps) and steps[0] == 0 and steps[-1] == 19_999
    assert any(m["step"] == 12_345 and m["value"] == 99.0 for m in mine)
    assert all(m["value"] != "NaN" for m in mine)  # the bucket has numbers besides the NaN
    assert [m for m in metrics if m["run_id"] == other] == [
        {"key": "loss", "value": 2.0, "timestamp": 1_700_000_000_000, "step": 0,
         "run_id": other}]


def test_bulk_interval_step_range_is_in_full_detail(long_run: tuple[RunningServer, str, str]
                                                    ) -> None:
    server, run_id, _ = long_run
    r = _get(server.url, metric_key="loss", run_ids=[run_id], start_step=12_300,
             end_step=12_400, max_results=500)
    assert r.status_code == 200
    steps = [m["step"] for m in r.json()["metrics"]]
    assert steps == list(range(12_300, 12_401))
    r = _get(server.url, metric_key="loss", run_ids=[run_id], start_step=15_000,
             end_step=15_000)
    assert [m["value"] for m in r.json()["metrics"]] == ["NaN"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"max_results": 0}, "max_results"),
        ({"max_results": 2501}, "max_results"),
        ({"start_step": 5}, "start_step and end_step"),
        ({"start_step": 9, "end_step": 3}, "must not be greater"),
        ({"run_ids": ["x"] * 101}, "at most 100"),
    ],
)
def test_bulk_interval_bad_input_names_the_field(
    long_run: tuple[RunningServer, str, str], params: dict[str, object], message: str
) -> None:
    server, run_id, _ = long_run
    r = _get(server.url, **{"metric_key": "loss", "run_ids": [run_id], **params})
    assert r.status_code == 400
    assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert message in r.json()["message"]
