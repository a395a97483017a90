"""Both servers load grpc without its EventEngine client and listener (the completion-queue
poller does the socket I/O itself: half the context switches per request, docs/benchmark.md),
unless the operator chose otherwise."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

QUIET = "-event_engine_client,-event_engine_listener"


def _experiments_seen(module: str, env: dict[str, str]) -> str:
    """GRPC_EXPERIMENTS as grpc found it when `module` (one that imports grpc) loaded it, in a
    fresh interpreter: grpc reads the variable once."""
    code = f"import {module}, os; print(os.environ.get('GRPC_EXPERIMENTS', '<unset>'))"
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


@pytest.mark.parametrize("module", ["gateway.executor_client", "executors.server"])
def test_the_servers_turn_the_event_engine_off_before_grpc_loads(module: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "GRPC_EXPERIMENTS"}
    assert _experiments_seen(module, env) == QUIET


@pytest.mark.parametrize("module", ["gateway.executor_client", "executors.server"])
def test_an_operators_grpc_experiments_win(module: str) -> None:
    env = {**os.environ, "GRPC_EXPERIMENTS": "event_engine_client"}
    assert _experiments_seen(module, env) == "event_engine_client"
