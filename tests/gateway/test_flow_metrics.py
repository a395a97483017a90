"""The hot path's counters: which labels a request gets, and which bucket its latency lands in."""

from __future__ import annotations

import pytest

from gateway.metrics.flow import BUCKETS, FlowMetrics, labels


@pytest.mark.parametrize(
    ("endpoint", "method", "action", "expected"),
    [
        ("/actions/quote", "POST", "quote", ("action", "quote")),
        ("/actions/invented", "POST", None, ("action", "")),
        ("/data", "POST", None, ("data", "load")),
        ("/data", "PUT", None, ("data", "save")),
        ("/data/delete", "POST", None, ("data", "delete")),
        ("/file", "POST", None, ("file", "list")),
        ("/file/content", "POST", None, ("file", "upload")),
        ("/metadata", "GET", None, ("metadata", "describe")),
        ("/metadata/install", "POST", None, ("metadata", "install")),
        ("/health", "GET", None, ("health", "health")),
    ],
)
def test_labels_name_the_operation(
    endpoint: str, method: str, action: str | None, expected: tuple[str, str]
) -> None:
    assert labels("dev", "shop", "1.0.0", endpoint, method, action) == (
        "dev",
        "shop",
        "1.0.0",
        *expected,
    )


def test_a_latency_counts_in_the_first_bucket_it_fits_and_in_the_sum() -> None:
    metrics = FlowMetrics()
    key = ("dev", "shop", "1.0.0", "action", "quote")
    metrics.observe(key, 200, 0.001)  # on a bound: `le` includes it
    metrics.observe(key, 200, 0.003)
    metrics.observe(key, 200, 99.0)  # beyond every bound: +Inf
    series = metrics.series[(*key, 200)]
    assert series[BUCKETS.index(0.001)] == 1
    assert series[BUCKETS.index(0.005)] == 1
    assert series[len(BUCKETS)] == 1
    assert sum(series[:-1]) == 3
    assert series[-1] == pytest.approx(99.004)


def test_counts_by_version_sum_every_status_and_count_errors_from_500() -> None:
    metrics = FlowMetrics()
    for version, status, times in [("1", 200, 3), ("1", 404, 1), ("2", 200, 1), ("2", 500, 2)]:
        for _ in range(times):
            metrics.observe(("dev", "shop", version, "action", "quote"), status, 0.01)
    metrics.observe(("", "", "", "", ""), 401, 0.01)  # resolved no service: not a version's
    assert metrics.by_version() == {("dev", "shop", "1"): (4, 0), ("dev", "shop", "2"): (3, 2)}
