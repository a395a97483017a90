"""Where libjq runs: worker processes the executor can kill, so every jq program meets its deadline.

libjq cannot be interrupted from Python: ``last(range(1e12))`` or ``def f: f; f`` would hold the
executor's event loop (and its gRPC server, and every other execution) for good. So a program
outside the Python subset (jqsubset.py), or an input the subset hands back, is evaluated in a
worker process (jqprocess.py). The calling step awaits the answer; when the execution's deadline
fires, the await is cancelled, the worker is killed (SIGKILL) and a spare is started in the
background. A worker that dies on its own (its ``RLIMIT_AS`` reached) fails only the call it held.

The everyday subset never comes here. The price of the libjq path is one pipe round trip:
measured on ``[.items[] | .qty] | add`` over a 170-byte document on uvloop (as the executor
runs), 17 µs in-process vs 54 µs through a worker, +37 µs per evaluation (asyncio's own loop:
116 µs; scripts/jq_worker_bench.py, on a shared 2-core machine at load 3).

One pool per executor process (``WORKERS``), configured at start-up from ExecutorSettings. Calls
beyond ``size`` at once wait for a free worker (their deadline still holds while they wait).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson

from .errors import StepError

_CHILD = Path(__file__).with_name("jqprocess.py")
_HEADER = struct.Struct(">I")
#: Defaults of the executor settings ``jq_workers`` and ``jq_worker_memory_mb``.
DEFAULT_WORKERS = 4
DEFAULT_MEMORY_MB = 1024


class JqOutputLimit(Exception):
    """The program passed a bound: ``what`` is ``outputs``, ``output_bytes`` or ``total_bytes``."""

    def __init__(self, what: str):
        super().__init__(what)
        self.what = what


class JqRuntimeError(Exception):
    """jq's own runtime error message."""


class _Worker:
    """One worker process. Its pipes are plain file descriptors, read through the running loop's
    ``add_reader``, so a worker outlives any one event loop (tests run many)."""

    __slots__ = ("_stdin", "_stdout", "process")

    def __init__(self, memory_mb: int):
        self.process = subprocess.Popen(
            # -P: no script folder on sys.path (runtime/ must not shadow modules).
            [sys.executable, "-P", str(_CHILD), str(memory_mb * 1024 * 1024)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self._stdin = self.process.stdin.fileno()
        self._stdout = self.process.stdout.fileno()
        os.set_blocking(self._stdout, False)

    async def ask(self, frame: bytes) -> bytes:
        """Send one request, await its answer; EOFError when the process ended."""
        data = memoryview(_HEADER.pack(len(frame)) + frame)
        while data:  # an idle worker is reading: this is a copy into the pipe
            data = data[os.write(self._stdin, data) :]
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[bytes] = loop.create_future()
        received = bytearray()

        def readable() -> None:
            try:
                chunk = os.read(self._stdout, 1 << 20)
            except BlockingIOError:
                return
            if answer.done():
                return
            if not chunk:
                answer.set_exception(EOFError())
                return
            received.extend(chunk)
            if len(received) >= _HEADER.size:
                (length,) = _HEADER.unpack_from(received)
                if len(received) >= _HEADER.size + length:
                    answer.set_result(bytes(received[_HEADER.size : _HEADER.size + length]))

        loop.add_reader(self._stdout, readable)
        try:
            return await answer
        finally:
            loop.remove_reader(self._stdout)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()

    def close(self) -> None:
        """Kill and reap (blocks for the moment a killed process takes to end)."""
        self.kill()
        self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()


class JqWorkers:
    """A pool of jq worker processes; see the module docstring."""

    def __init__(self, size: int = DEFAULT_WORKERS, memory_mb: int = DEFAULT_MEMORY_MB):
        self.size = size
        self.memory_mb = memory_mb
        self._idle: list[_Worker] = []
        self._slots: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reaping: set[asyncio.Task[None]] = set()
        #: Workers killed for overrunning (a figure for logs and tests).
        self.killed = 0

    def configure(self, *, size: int, memory_mb: int) -> None:
        """Set the pool's size and each worker's memory cap (idle workers are replaced)."""
        self.size, self.memory_mb = size, memory_mb
        self._reset()

    async def start(self) -> None:
        """Start one worker ahead of need, so the first libjq program pays no start-up."""
        self._bind()
        if not self._idle:
            self._idle.append(await self._spawn())

    async def run(
        self, source: str, text: str, max_outputs: int, max_output_bytes: int, max_total_bytes: int
    ) -> list[Any]:
        """The outputs of jq ``source`` on the JSON ``text``: at most ``max_outputs`` of them,
        each at most ``max_output_bytes`` encoded, ``max_total_bytes`` together. Raises
        JqRuntimeError, JqOutputLimit or StepError (the worker died); cancelling the call kills
        the worker."""
        slots = self._bind()
        frame = orjson.dumps([source, text, max_outputs, max_output_bytes, max_total_bytes])
        async with slots:
            worker = self._idle.pop() if self._idle else await self._spawn()
            if worker.process.poll() is not None:  # ended while idle (killed from outside)
                await asyncio.to_thread(worker.close)
                worker = await self._spawn()
            try:
                answer = await worker.ask(frame)
            except EOFError:
                await asyncio.to_thread(worker.close)
                code = worker.process.returncode
                raise StepError(
                    f"the jq worker process ended (exit status {code}) running this program; "
                    f"each jq worker may use {self.memory_mb} MB "
                    "(setting FLOWHOST_EXECUTOR_JQ_WORKER_MEMORY_MB)",
                    code="limit_exceeded",
                ) from None
            except BaseException:  # the deadline (cancellation), a broken pipe
                self._retire(worker)
                raise
            self._idle.append(worker)
        tag, payload = answer[:1], answer[1:]
        if tag == b"o":
            try:
                values: list[Any] = orjson.loads(payload)
            except orjson.JSONDecodeError:  # integers beyond 64 bits
                import json

                values = json.loads(payload)
            return values
        if tag == b"n":
            raise JqOutputLimit(payload.decode())
        raise JqRuntimeError(payload.decode(errors="replace"))

    async def aclose(self) -> None:
        """Stop every idle worker and wait for the killed ones."""
        self._reset()
        if self._reaping:
            await asyncio.wait(set(self._reaping))

    # -- internals

    def _bind(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._slots is None:  # a semaphore belongs to one loop
            self._loop = loop
            self._slots = asyncio.Semaphore(self.size)
        return self._slots

    def close_idle(self) -> None:
        """Stop the idle workers (at exit; busy ones die with this process: PDEATHSIG)."""
        self._reset()

    def _reset(self) -> None:
        for worker in self._idle:
            worker.close()
        self._idle = []
        self._slots = None
        self._loop = None

    async def _spawn(self) -> _Worker:
        return _Worker(self.memory_mb)

    def _retire(self, worker: _Worker) -> None:
        """Kill a worker that is (or may be) still running a program; start a spare."""
        worker.kill()
        self.killed += 1
        task = asyncio.get_running_loop().create_task(self._reap_and_replace(worker))
        self._reaping.add(task)
        task.add_done_callback(self._reaping.discard)

    async def _reap_and_replace(self, worker: _Worker) -> None:
        with contextlib.suppress(Exception):
            await asyncio.to_thread(worker.close)
            if not self._idle and self._loop is asyncio.get_running_loop():
                self._idle.append(await self._spawn())


#: The executor's pool (ExecutorServer configures it from its settings).
WORKERS = JqWorkers()
atexit.register(WORKERS.close_idle)
