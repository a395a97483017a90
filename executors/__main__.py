"""`python -m executors`: settings -> server -> serve until SIGTERM/SIGINT (a second one forces)."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import sys
from collections.abc import Callable

from executors import logs, redaction, tracing
from executors.link import LinkCredentials, LinkMisconfigured
from executors.registration import RegistrationMisconfigured
from executors.runtime.redaction import install_log_filter
from executors.server import ExecutorServer
from executors.settings import ExecutorSettings


async def run(settings: ExecutorSettings) -> None:
    loop = asyncio.get_running_loop()
    async with ExecutorServer(settings) as server:
        signals = 0
        shutdowns: list[asyncio.Task[None]] = []

        def on_signal() -> None:
            nonlocal signals
            signals += 1
            if signals > 1:
                os._exit(1)
            shutdowns.append(loop.create_task(server.shutdown()))

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal)
        await server.serve()


def main(settings: ExecutorSettings | None = None) -> None:
    settings = settings or ExecutorSettings()
    redaction.install()  # before anything logs: no secret in any line (redaction.py)
    # Files this process writes (a package's SQLite files, uploads, logs under `flowhost up`'s
    # data folder) are the operator's alone: 0600, folders 0700.
    os.umask(0o077)
    logs.configure(settings.log_level, settings.log_format, settings.runtime)
    if settings.otel_enabled:
        tracing.configure_export("flowhost-executor")
    # Secret configuration values are masked in every line written while an execution runs.
    install_log_filter()
    # As in the gateway: freeze start-up objects, collect the young generation less often; an
    # execution allocates many short-lived objects and early collections only add tail latency.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    try:
        LinkCredentials.from_settings(settings)
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            runner.run(run(settings))
    except (LinkMisconfigured, RegistrationMisconfigured, OSError) as error:
        # Supervisors (flowhost up, compose) show this line; a traceback would bury it.
        print(f"flowhost executor cannot start: {error}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when installed (uvicorn[standard] brings it): its loop costs less per callback,
    and the execution stream runs several callbacks per request."""
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


if __name__ == "__main__":
    main()
