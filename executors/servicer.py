"""The gRPC face of the executor: control calls and the batched execution stream."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import grpc

from executors import translate
from executors.host import Host, Rejected, failure_result
from executors.runtime.engine import ProcessResult
from executors.runtime.package import PackageInvalid
from protos.flowhost.v1 import executor_pb2 as pb
from protos.flowhost.v1 import executor_pb2_grpc as pb_grpc

log = logging.getLogger("flowhost.executor")


class ExecutorServicer(pb_grpc.ExecutorServicer):  # type: ignore[misc]  # generated, untyped
    def __init__(self, host: Host, runtime: str, executor_id: str, batch_max: int) -> None:
        self._host = host
        self._runtime = runtime
        self._executor_id = executor_id
        self._batch_max = batch_max

    async def Describe(
        self, request: pb.DescribeRequest, context: grpc.aio.ServicerContext
    ) -> pb.DescribeReply:
        return pb.DescribeReply(
            runtime=self._runtime,
            executor_id=self._executor_id,
            deployments=self._host.deployments,
            draining=self._host.draining,
        )

    async def Validate(
        self, request: pb.ValidateRequest, context: grpc.aio.ServicerContext
    ) -> pb.ValidateReply:
        try:
            package = await asyncio.to_thread(self._host.validate, request.source)
        except PackageInvalid as invalid:
            return pb.ValidateReply(issues=translate.issues_to_proto(list(invalid.issues)))
        return pb.ValidateReply(spec=translate.spec_to_proto(package))

    async def Deploy(
        self, request: pb.DeployRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeployReply:
        issues = await self._host.deploy(request.key, request.source)
        return pb.DeployReply(issues=translate.issues_to_proto(issues))

    async def Undeploy(
        self, request: pb.UndeployRequest, context: grpc.aio.ServicerContext
    ) -> pb.UndeployReply:
        self._host.undeploy(request.key)
        return pb.UndeployReply()

    async def Execute(
        self, request_iterator: AsyncIterator[pb.RequestBatch], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.ResultBatch]:
        stream = _ExecutionStream(self._host)
        reader = asyncio.create_task(stream.read(request_iterator), name="execute stream reader")
        try:
            async for batch in stream.batches(self._batch_max):
                yield batch
        finally:
            reader.cancel()
            stream.abandon()


class _ExecutionStream:
    """One gateway connection: requests in, results out, in micro-batches.

    A result is queued the moment its execution ends; the writer sends whatever has queued up
    since its last write as one message, so batches grow with load and add no delay when idle.
    """

    _END = None

    def __init__(self, host: Host) -> None:
        self._host = host
        self._out: asyncio.Queue[pb.ExecuteResult | None] = asyncio.Queue()
        self._tasks: dict[int, asyncio.Task[ProcessResult]] = {}

    async def read(self, request_iterator: AsyncIterator[pb.RequestBatch]) -> None:
        try:
            async for batch in request_iterator:
                for request in batch.requests:
                    if request.cancel:
                        self._cancel(request.id)
                    else:
                        self._start(request)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # the gateway went away mid-read
            log.info("execution stream closed: %s", error)
        else:
            # The gateway half-closed: answer what is still running, then end the stream.
            if self._tasks:
                await asyncio.wait(set(self._tasks.values()))
        self._out.put_nowait(self._END)

    def _start(self, request: pb.ExecuteRequest) -> None:
        try:
            task = self._host.start(
                request.deployment,
                request.process,
                translate.documents_from_proto(list(request.documents)),
                props=dict(request.properties),
                config=dict(request.config),
                flow=dict(request.flow),
                timeout_s=request.timeout_ms / 1000 if request.timeout_ms else None,
                execution_id=request.execution_id,
                record=request.record,
            )
        except Rejected as rejected:
            self._out.put_nowait(
                translate.rejection(
                    request.id, rejected.code, rejected.message, retryable=rejected.retryable
                )
            )
            return
        request_id = request.id
        started = time.perf_counter()
        self._tasks[request_id] = task
        task.add_done_callback(lambda t: self._finished(request_id, t, started))

    def _finished(self, request_id: int, task: asyncio.Task[ProcessResult], started: float) -> None:
        self._tasks.pop(request_id, None)
        if task.cancelled():
            self._out.put_nowait(translate.cancelled(request_id))
            return
        error = task.exception()
        if error is not None:
            log.error("execution %d crashed", request_id, exc_info=error)
            result = failure_result("internal", f"executor error: {type(error).__name__}", started)
        else:
            result = task.result()
        self._out.put_nowait(translate.result_to_proto(request_id, result))

    def _cancel(self, request_id: int) -> None:
        task = self._tasks.get(request_id)
        if task is not None:
            task.cancel()

    def abandon(self) -> None:
        """The stream is gone: nobody can take these results, so stop the work."""
        for task in list(self._tasks.values()):
            task.cancel()

    async def batches(self, batch_max: int) -> AsyncIterator[pb.ResultBatch]:
        out = self._out
        while True:
            first = await out.get()
            if first is self._END:
                return
            batch = pb.ResultBatch(results=[first])
            while not out.empty() and len(batch.results) < batch_max:
                item = out.get_nowait()
                if item is self._END:
                    yield batch
                    return
                batch.results.append(item)
            yield batch
