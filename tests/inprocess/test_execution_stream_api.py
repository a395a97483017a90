"""What `/api/executors` (and so `flowhost status` and the console) says carries each
executor's execution stream: the execution link by default."""

from __future__ import annotations

from pathlib import Path

from tests.inprocess.conftest import in_process_cluster


async def test_executors_report_the_link_as_their_stream(tmp_path: Path) -> None:
    async with in_process_cluster(tmp_path) as cluster:
        executors = (await cluster.api.get("/api/executors")).json()
        assert executors, "the in-process cluster has executors"
        assert {e["stream"] for e in executors} == {"link"}
        status = (await cluster.api.get("/api/status")).json()
        assert {e["stream"] for e in status["executors"]} == {"link"}
