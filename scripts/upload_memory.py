"""Measure the memory an upload costs: stream a large file through a real cluster.

    .venv/bin/python -m scripts.upload_memory --size-mb 1024

Starts a gateway and one executor (as `flowhost up` does, in a temporary folder), deploys the
countries example, uploads a generated file of the given size as a multipart body streamed from
a generator (the client never holds it either), and reports the peak resident memory (VmHWM) of
the gateway and of the executor, before and after. Linux only (reads /proc).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from flowhost.devcluster import running_cluster

BOUNDARY = "flowhostmeasure"
EXAMPLE = Path(__file__).resolve().parents[1] / "flowhost" / "examples" / "countries.yaml"


def peak_rss_mb(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) of a process in MiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        fields[name] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def body(size: int) -> Iterator[bytes]:
    request = {"resourcePath": "/invoices"}
    yield (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="FileDataRequest"\r\n'
        f"Content-Type: application/json\r\n\r\n{json.dumps(request)}\r\n"
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    chunk = bytes(range(256)) * 4096  # 1 MiB
    sent = 0
    while sent < size:
        piece = chunk[: min(len(chunk), size - sent)]
        sent += len(piece)
        yield piece
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    args = parser.parse_args()
    size = args.size_mb * 1024 * 1024
    with tempfile.TemporaryDirectory() as tmp:
        import os

        os.environ["FLOWHOST_UPLOAD_MAX_BYTES"] = str(size + 1)
        with running_cluster(Path(tmp) / "cluster", executors=1) as cluster:
            with cluster.client() as client:
                client.deploy(cluster.runtime, EXAMPLE.read_text(), dry_run=False)
                token = client.add_user(cluster.runtime, "measure")["token"]
            executor, gateway = (c.process.pid for c in cluster.children)
            before = {"gateway": peak_rss_mb(gateway), "executor": peak_rss_mb(executor)}
            folder = "invoices"  # the example's invoiceFolder (the operator's, not Flow's)
            started = time.perf_counter()
            response = httpx.post(
                f"{cluster.url}/fs/countries/file/content",
                content=body(size),
                headers={"content-type": f"multipart/form-data; boundary={BOUNDARY}"},
                auth=("measure", token),
                timeout=600,
            )
            seconds = time.perf_counter() - started
            after = {"gateway": peak_rss_mb(gateway), "executor": peak_rss_mb(executor)}
            if response.status_code != 200:
                raise SystemExit(f"upload: HTTP {response.status_code} {response.text[:500]}")
            stored = sum(p.stat().st_size for p in Path(tmp).rglob(f"{folder}/big.bin"))
    print(
        f"upload of {args.size_mb} MiB: HTTP {response.status_code} in {seconds:.1f}s "
        f"({args.size_mb / seconds:.0f} MiB/s); stored {stored} bytes"
    )
    for name in ("gateway", "executor"):
        (rss0, peak0), (rss1, peak1) = before[name], after[name]
        print(
            f"{name:9s} RSS before {rss0:6.1f} MiB, peak before {peak0:6.1f} MiB, "
            f"peak after {peak1:6.1f} MiB, RSS after {rss1:6.1f} MiB"
        )


if __name__ == "__main__":
    main()
