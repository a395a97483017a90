"""Commands containers, load tests and benchmarks use: the servers, health probes, load.

The benchmark modules are imported inside the commands that need them: `flowhost --help`
stays fast and the CLI needs nothing of `bench` (nor `bench` of it) to import."""

from __future__ import annotations

import base64
import json
import tempfile
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from flowhost.cli.shared import console, fail


def probe(
    target: Annotated[str, typer.Argument(help="gateway URL (http://…) or executor host:port")],
    timeout: Annotated[float, typer.Option(help="Seconds to wait for an answer.")] = 3.0,
    ca_file: Annotated[
        Path | None,
        typer.Option(
            envvar="FLOWHOST_TLS_CA_FILE",
            help="CA bundle an https gateway's certificate is checked against.",
        ),
    ] = None,
) -> None:
    """Exit 0 when the gateway or executor is serving (compose and Kubernetes healthchecks)."""
    from flowhost.probe import probe as run_probe

    code = run_probe(target, timeout, str(ca_file) if ca_file is not None else None)
    if code:
        raise typer.Exit(code)


def load(
    url: Annotated[str, typer.Argument(help="A message action URL, e.g. …/fs/bench/actions/quote")],
    credentials: Annotated[
        Path, typer.Option(help="JSON file with the runtime user's name and token.")
    ],
    connections: Annotated[int, typer.Option(help="Concurrent connections.")] = 64,
    seconds: Annotated[float, typer.Option(help="How long to drive it.")] = 30.0,
    callback_uri: Annotated[
        str, typer.Option(help="callbackUri the requests carry; empty: none.")
    ] = "",
) -> None:
    """Drive the quote action with wrk and print throughput and latency percentiles.

    The requests carry no callbackUri by default: the gateway checks one against the runtime's
    egress policy, and a cluster in containers refuses loopback there (the benchmark's requests
    name one, which `flowhost up` allows). The quote action answers at once either way."""
    from flowhost.bench.driver import drive
    from flowhost.bench.run import quote_request

    user = json.loads(credentials.read_text())
    auth = "Basic " + base64.b64encode(f"{user['name']}:{user['token']}".encode()).decode()
    with tempfile.TemporaryDirectory() as tmp:
        body = Path(tmp) / "quote.json"
        body.write_bytes(quote_request(callback_uri or None))
        try:
            result = drive(url, body, auth, connections, seconds)
        except RuntimeError as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(1) from None
    typer.echo(
        f"{result.rps:.0f} requests/s over {result.seconds:.1f}s at {connections} connections; "
        f"p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms, p99.9 {result.p999_ms:.2f} ms; "
        f"{result.requests} requests, {result.errors} errors"
    )
    if result.errors:
        raise typer.Exit(1)


def soak(
    seconds: Annotated[float, typer.Option(help="How long to hold the load.")] = 600.0,
    fraction: Annotated[float, typer.Option(help="Share of the measured peak to send.")] = 0.7,
    connections: Annotated[int, typer.Option(help="Concurrent connections.")] = 64,
    executors: Annotated[int, typer.Option(help="Executors in the cluster.")] = 1,
    slice_seconds: Annotated[float, typer.Option(help="Report every this many seconds.")] = 30.0,
) -> None:
    """Hold a steady load below peak and report every process's RSS, start to end."""
    from flowhost.bench.soak import soak as run_soak

    if run_soak(seconds, fraction, connections, executors, slice_seconds):
        raise typer.Exit(1)


def gateway() -> None:
    """Run one gateway (configured by FLOWHOST_* settings); what a gateway container runs."""
    from gateway.__main__ import main

    main()


def executor(
    runtime: Annotated[str, typer.Option(help="The runtime this executor joins.")] = "default",
    port: Annotated[int, typer.Option(help="gRPC port (0: a free one).")] = 50051,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    gateway: Annotated[
        list[str] | None,
        typer.Option(
            help="A gateway URL to register with (repeatable; FLOWHOST_EXECUTOR_GATEWAYS): it "
            "dials this executor, renews are automatic, SIGTERM leaves."
        ),
    ] = None,
    advertise: Annotated[
        str,
        typer.Option(help="host:port gateways should dial; default: the bound host:port."),
    ] = "",
) -> None:
    """Run one executor of a runtime; what an executor container runs."""
    from executors.__main__ import main
    from executors.settings import ExecutorSettings

    joins: dict[str, object] = {"gateways": gateway} if gateway else {}
    if advertise:
        joins["advertise"] = advertise
    main(ExecutorSettings(runtime=runtime, port=port, host=host, **joins))  # type: ignore[arg-type]


class Peer(StrEnum):
    nodered = "nodered"


class Scenario(StrEnum):
    peers = "peers"  # the quote action against the FastAPI floor (and a peer)
    noisy_neighbour = "noisy-neighbour"  # runtime B's latency while runtime A is flooded


def bench(
    seconds: Annotated[float, typer.Option(help="Length of each measured run.")] = 8.0,
    rounds: Annotated[int, typer.Option(help="Interleaved rounds over all targets.")] = 3,
    connections: Annotated[int, typer.Option(help="Concurrent connections.")] = 64,
    executors: Annotated[int, typer.Option(help="Executors in the measured cluster.")] = 1,
    peer: Annotated[Peer | None, typer.Option(help="Also measure a peer.")] = None,
    warmup: Annotated[float, typer.Option(help="Warm-up seconds per target.")] = 3.0,
    sweep: Annotated[
        bool, typer.Option(help="Also sweep connections (1…256) and executors (1…4); plot PNGs.")
    ] = False,
    report: Annotated[Path, typer.Option(help="Folder for bench.json and the plots.")] = Path(
        "reports/bench"
    ),
    scenario: Annotated[
        Scenario,
        typer.Option(
            help="peers: the quote action against the FastAPI floor (and Node-RED); "
            "noisy-neighbour: runtime B's quote latency at 8 connections alone and while "
            "runtime A is flooded at 256 (the issue's figures; --connections does not apply)."
        ),
    ] = Scenario.peers,
) -> None:
    """Measure the quote action against the FastAPI floor (and Node-RED), interleaved; or
    another scenario."""
    if scenario is Scenario.noisy_neighbour:
        from flowhost.bench import noisy

        try:
            outcome = noisy.run(
                seconds=seconds,
                rounds=rounds,
                warmup_s=warmup,
            )
        except RuntimeError as error:
            fail(str(error))
        noisy.print_report(outcome)
        report.mkdir(parents=True, exist_ok=True)
        (report / "noisy-neighbour.json").write_text(json.dumps(outcome, indent=2))
        console.print(f"report: {report}/noisy-neighbour.json")
        return
    from flowhost.bench.run import print_report, run

    try:
        result = run(
            seconds=seconds,
            rounds=rounds,
            connections=connections,
            executors=executors,
            peer=peer.value if peer else None,
            warmup_s=warmup,
            report_dir=report,
            sweep=sweep,
        )
    except RuntimeError as error:
        fail(str(error))
    print_report(result)
    console.print(f"report: {report}/bench.json")
