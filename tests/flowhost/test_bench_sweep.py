"""The `bench --sweep` ratios: what the issue 17 table is made of, from measured rows."""

from __future__ import annotations

import time

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


def test_rounds_give_the_median_of_the_per_round_ratios_too() -> None:
    """Each round runs both targets back to back, so a round's ratio cancels the machine's
    drift between rounds; the median of the medians does not."""
    ours = _row("flowhost", 1, 2000, 0.30, 1.0, gateway=90)
    theirs = _row("nodered", 1, 2000, 0.25, 2.0, node=250)
    ours.update(rps_runs=[1000, 2000, 3000], p50_runs=[0.40, 0.30, 0.20])
    theirs.update(rps_runs=[3000, 1000, 2000], p50_runs=[0.20, 0.25, 0.30])
    [ratio] = sweep_ratios([ours, theirs], "nodered")
    assert ratio["rps_ratio"] == pytest.approx(1.0)
    assert ratio["rps_ratio_per_round_median"] == pytest.approx(1.5)  # 1/3, 2, 3/2
    assert ratio["p50_ratio"] == pytest.approx(1.2)
    assert ratio["p50_ratio_per_round_median"] == pytest.approx(1.2)  # 2, 1.2, 2/3


def test_without_runs_there_is_no_per_round_ratio() -> None:
    rows = [_row("flowhost", 4, 3000, 1.0, 2.0, gateway=80), _row("nodered", 4, 1000, 2, 4)]
    [ratio] = sweep_ratios(rows, "nodered")
    assert "rps_ratio_per_round_median" not in ratio


def test_the_machine_ticks_count_up_and_steal_is_a_part_of_them() -> None:
    """What the sweep's steal share is made of (/proc/stat's cpu line)."""
    processes = pytest.importorskip("flowhost.bench.processes", reason="the bench extra")
    stolen, ticks = processes.machine_ticks()
    deadline = time.monotonic() + 0.3
    while time.monotonic() < deadline:  # spend some CPU: the machine's ticks move
        sum(range(10_000))
    stolen_after, ticks_after = processes.machine_ticks()
    assert 0 <= stolen <= stolen_after
    assert ticks_after > ticks
    assert stolen_after - stolen <= ticks_after - ticks
