"""The `bench --sweep` ratios: what the issue 17 table is made of, from measured rows."""

from __future__ import annotations

import pytest

from flowhost.bench.run import SWEEP_CONNECTIONS, sweep_ratios


def _row(target: str, connections: int, rps: float, p50: float, p99: float, **cpu: float) -> dict:
    return {
        "target": target,
        "connections": connections,
        "rps": rps,
        "p50_ms": p50,
        "p99_ms": p99,
        "errors": 0,
        "cpu_us_per_request": cpu,
    }


def test_the_sweep_covers_one_click_to_a_crowd() -> None:
    assert SWEEP_CONNECTIONS == (1, 4, 16, 64, 256)


def test_ratios_are_flowhost_over_the_peer_per_connection_count() -> None:
    rows = [
        _row("flowhost", 1, 2000, 0.5, 1.0, gateway=90, executor=40),
        _row("fastapi-floor", 1, 5000, 0.2, 0.4, uvicorn=150),
        _row("nodered", 1, 4000, 0.25, 0.5, node=250),
        _row("flowhost", 64, 9000, 7.0, 10.0, gateway=60, executor=30, history=2),
        _row("nodered", 64, 4500, 14.0, 40.0, node=220),
    ]
    ratios = sweep_ratios(rows, "nodered")
    assert [r["connections"] for r in ratios] == [1, 64]
    one, many = ratios
    assert one["rps_ratio"] == pytest.approx(0.5)
    assert one["p50_ratio"] == pytest.approx(2.0)
    assert one["p99_ratio"] == pytest.approx(2.0)
    assert one["cpu_us_per_request"] == pytest.approx(130)
    assert many["rps_ratio"] == pytest.approx(2.0)
    assert many["p99_ratio"] == pytest.approx(0.25)
    assert many["cpu_us_per_request"] == pytest.approx(92)


def test_a_count_the_peer_was_not_measured_at_has_no_ratio() -> None:
    rows = [_row("flowhost", 4, 3000, 1.0, 2.0, gateway=80), _row("nodered", 16, 10, 1, 1)]
    assert sweep_ratios(rows, "nodered") == []
