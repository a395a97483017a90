"""One gateway's execution stream, whatever carries it: requests in, results out.

The gRPC `Execute` RPC (executors/servicer.py) and the execution link (executors/
execution_link.py) both hand each `RequestBatch` they read to `ExecutionSession.receive` and
send what the session emits: a result the moment its execution ends, a progress message, a
rejection. How emitted messages are grouped into `ResultBatch` messages is the carrier's job.

Detachable executions (ones the gateway may answer Flow WAIT for) outlive the stream: when the
gateway detached one, or the stream is gone when it ends, its result is kept in the host's
`kept` map until the gateway acknowledges it (TakeResult / AckResult).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from executors import translate
from executors.host import Host, Rejected, failure_result
from executors.runtime.documents import Document
from executors.runtime.engine import ProcessResult
from executors.stats import StreamStats
from protos.flowhost.v1 import executor_pb2 as pb

log = logging.getLogger("flowhost.executor")

#: What a session emits: a result (or rejection) or a progress message.
Emitted = pb.ExecuteResult | pb.Progress


def start_execution(
    host: Host,
    request: pb.ExecuteRequest,
    documents: list[Document],
    progress: Callable[[str], None] | None = None,
    ended: Callable[[ProcessResult], None] | None = None,
) -> asyncio.Task[ProcessResult]:
    """Start what an ExecuteRequest asks for (raises Rejected); streams and uploads share it."""
    return host.start(
        request.deployment,
        request.process,
        documents,
        props=translate.string_map_from_proto(request.properties_json, "properties"),
        config=translate.string_map_from_proto(request.config_json, "config"),
        flow=translate.string_map_from_proto(request.flow_json, "flow"),
        timeout_s=request.timeout_ms / 1000 if request.timeout_ms else None,
        execution_id=request.execution_id,
        record=request.record,
        data_type=request.data.type,
        list_filter=translate.list_filter_from_proto(request.data),
        progress=progress,
        secret_config=tuple(request.secret_config),
        traceparent=request.traceparent,
        ended=ended,
    )


class ExecutionSession:
    def __init__(self, host: Host, stats: StreamStats, emit: Callable[[Emitted], None]) -> None:
        self._host = host
        self._stats = stats
        self._emit = emit
        self._tasks: dict[int, asyncio.Task[ProcessResult]] = {}
        self._detachable: dict[int, str] = {}  # request id -> execution id
        self._detached: set[int] = set()
        self._cancelled: set[int] = set()  # request ids the gateway cancelled
        self._closed = False
        self._receiving = False

    @property
    def running(self) -> int:
        """Executions under way (started, not yet ended)."""
        return len(self._tasks)

    @property
    def busy(self) -> bool:
        """Whether more may be emitted in this loop turn: an execution is still running, or a
        batch is being read. A carrier that batches per loop turn can send at once when not."""
        return self._receiving or bool(self._tasks)

    def receive(self, batch: pb.RequestBatch) -> None:
        """Act on one batch from the gateway: start, cancel or detach each request."""
        stats = self._stats
        stats.request_batches += 1
        stats.requests_received += len(batch.requests)
        self._receiving = True
        try:
            for request in batch.requests:
                if request.cancel:
                    self._cancel(request.id)
                elif request.detach:
                    self._detached.add(request.id)
                else:
                    self._start(request)
        finally:
            self._receiving = False

    async def settle(self) -> None:
        """Wait for what is still running (the gateway half-closed the stream)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks.values()))

    def abandon(self) -> None:
        """The stream is gone: stop the work nobody can take the result of. Detachable
        executions carry on; their results are kept for the gateway to take."""
        self._closed = True
        for request_id, task in list(self._tasks.items()):
            if request_id not in self._detachable:
                task.cancel()

    def _start(self, request: pb.ExecuteRequest) -> None:
        request_id = request.id
        try:
            task = start_execution(
                self._host,
                request,
                translate.documents_from_proto(list(request.documents)),
                progress=self._progress_sink(request_id) if request.detachable else None,
                ended=lambda result: self._ended(request_id, result),
            )
        except Rejected as rejected:
            self._stats.rejected += 1
            self._emit(
                translate.rejection(
                    request.id, rejected.code, rejected.message, retryable=rejected.retryable
                )
            )
            return
        started = time.perf_counter()
        self._tasks[request_id] = task
        if request.detachable:
            self._detachable[request_id] = request.execution_id
            self._host.kept.running(request.execution_id, task)
        task.add_done_callback(lambda t: self._finished(request_id, t, started))

    def _ended(self, request_id: int, result: ProcessResult) -> None:
        """An execution ended with a result (inside its task's last step): send it."""
        if self._tasks.pop(request_id, None) is None:
            return
        self._cancelled.discard(request_id)  # a cancel that came too late
        execution_id = self._detachable.pop(request_id, None)
        if execution_id is not None:
            if request_id in self._detached or self._closed:
                self._detached.discard(request_id)
                self._host.kept.keep(execution_id, result)
            else:
                self._host.kept.finished(execution_id)
        if not self._closed:
            self._emit(translate.result_to_proto(request_id, result))

    def _finished(self, request_id: int, task: asyncio.Task[ProcessResult], started: float) -> None:
        """An execution's task is done: what `_ended` did not see, a cancel or a crash."""
        if request_id not in self._tasks:
            return  # it ended with a result (`_ended`)
        if task.cancelled():
            self._tasks.pop(request_id)
            execution_id = self._detachable.pop(request_id, None)
            if execution_id is not None:
                self._host.kept.finished(execution_id)
            by_gateway = request_id in self._cancelled
            self._cancelled.discard(request_id)
            if not self._closed:
                self._emit(translate.cancelled(request_id, by_gateway=by_gateway))
            return
        error = task.exception()
        if error is None:
            self._ended(request_id, task.result())
            return
        log.error("execution %d crashed", request_id, exc_info=error)
        self._ended(
            request_id,
            failure_result("internal", f"executor error: {type(error).__name__}", started),
        )

    def _progress_sink(self, request_id: int) -> Callable[[str], None]:
        def progress(message: str) -> None:
            if not self._closed:
                self._emit(translate.progress_to_proto(request_id, message))

        return progress

    def _cancel(self, request_id: int) -> None:
        task = self._tasks.get(request_id)
        if task is not None:
            self._cancelled.add(request_id)
            task.cancel()


def add_to_batch(batch: pb.ResultBatch, item: Emitted | pb.ResultBatch) -> None:
    """Put what a session emitted into the batch that carries it (a beat adds nothing)."""
    kind = type(item)
    if kind is pb.Progress:
        batch.progress.append(item)
    elif kind is pb.ExecuteResult:
        batch.results.append(item)
    # a beat (pb.ResultBatch) that queued behind real messages adds nothing: they are the beat
