"""Execution history rows written by a child process, off the gateway's event-loop process.

Measured (scripts/history_bench.py): inserting the rows in a thread of the gateway cost it
~16-19 µs of CPU per request end to end, though SQLite's own work was ~4 µs a row: the thread
competes with the event loop for the GIL and the cores. Handing each block to a child over a
pipe costs the gateway one write per block. The child runs `python -m gateway.history.writer
URL`, reads blocks from stdin (two lengths, then the block's other fields as JSON, then its
executions' JSON as the gateway made it) and inserts each; it exits when stdin closes, after
writing everything it was given.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import struct
import sys

import orjson

from gateway.history.store import Block, HistoryStore
from gateway.lifecycle import Lifecycle

log = logging.getLogger("flowhost.gateway")

_PIPE_BYTES = 1 << 20
_HEADER = struct.Struct(">II")  # lengths of the block's fields and of its executions


class HistoryWriterProcess(Lifecycle):
    """The gateway's side: start the child, hand it batches, restart it if it died."""

    def __init__(self, url: str, stop_timeout_s: float = 10.0) -> None:
        self._url = url
        self._stop_timeout_s = stop_timeout_s
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        command = (sys.executable, "-m", "gateway.history.writer", self._url)
        try:
            self._process = await asyncio.create_subprocess_exec(
                *command, stdin=asyncio.subprocess.PIPE
            )
        except OSError as error:  # e.g. ENOENT, which alone would not say what was missing
            raise OSError(
                f"cannot start the history writer process ({command[0]} -m "
                f"gateway.history.writer): {error.strerror or error}"
            ) from error
        _widen(self._process)

    async def write(self, block: Block) -> None:
        """Hand a block over; raises OSError when the child cannot take it (then restarts it)."""
        process = self._process
        if process is None or process.returncode is not None or process.stdin is None:
            if process is not None:
                log.warning("history writer process is gone; starting a new one")
            await self.start()
            process = self._process
            assert process is not None and process.stdin is not None
        fields = orjson.dumps([*block[:4], block.recordings])
        try:
            process.stdin.write(
                _HEADER.pack(len(fields), len(block.executions)) + fields + block.executions
            )
            await process.stdin.drain()
        except (BrokenPipeError, ConnectionResetError) as error:
            self._process = None
            raise OSError(f"history writer process failed: {error}") from None

    async def stop(self) -> None:
        """Close its input and wait (at most `stop_timeout_s`) for it to write what it has."""
        process, self._process = self._process, None
        if process is None or process.stdin is None:
            return
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            process.stdin.close()
            await process.stdin.wait_closed()
        try:
            await asyncio.wait_for(process.wait(), self._stop_timeout_s)
        except TimeoutError:
            # Said out loud: what the child had not written yet is lost with it.
            log.error(
                "the history writer did not finish writing within %.0f s of the gateway "
                "stopping (setting history_writer_stop_timeout_s); killed, the execution "
                "summaries it still held are lost",
                self._stop_timeout_s,
            )
            process.kill()
            await process.wait()


def _widen(process: asyncio.subprocess.Process) -> None:
    """Let a whole block fit in the pipe (64 KiB by default; Linux allows 1 MiB unprivileged),
    so handing one over is one write, not a write per 64 KiB and a wait for the child."""
    if process.stdin is None:
        return
    pipe = process.stdin.get_extra_info("pipe")
    with contextlib.suppress(AttributeError, OSError, ValueError):  # not Linux, or capped lower
        fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, _PIPE_BYTES)


def main(url: str) -> int:
    from gateway.store import Store

    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s %(message)s")
    run_at_idle_priority()
    store = Store(url)
    history = HistoryStore(store.engine)
    source = sys.stdin.buffer
    try:
        while header := source.read(_HEADER.size):
            if len(header) < _HEADER.size:
                break
            sizes = _HEADER.unpack(header)
            fields, executions = (source.read(size) for size in sizes)
            if (len(fields), len(executions)) != sizes:
                break
            started_min, started_max, size, problems, recorded = orjson.loads(fields)
            block = Block(
                started_min, started_max, size, problems, executions, [tuple(r) for r in recorded]
            )
            try:
                history.insert_block(block)
            except Exception:
                log.exception("history writer: a block of %d executions not written", size)
    finally:
        store.close()
    return 0


def run_at_idle_priority() -> None:
    """Only use a core nothing else wants: the inserts then never take a core from the gateway
    or the executor. When the machine stays saturated, the writer falls behind and the
    gateway's bounded queue drops (and logs) the oldest rows rather than slow requests down."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):  # not Linux
        with contextlib.suppress(OSError):
            os.nice(19)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
