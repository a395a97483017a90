"""The gRPC face of the executor: control calls and the batched execution stream."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import grpc

from executors import downloads, translate
from executors.execution_session import ExecutionSession, add_to_batch, start_execution
from executors.host import Host, Rejected
from executors.link import LinkCredentials
from executors.runtime.deploy_warnings import package_warnings
from executors.runtime.package import PackageInvalid
from executors.stats import StreamStats
from executors.uploads import SpooledUpload, UploadTooLarge
from protos.flowhost.v1 import executor_pb2 as pb
from protos.flowhost.v1 import executor_pb2_grpc as pb_grpc

log = logging.getLogger("flowhost.executor")

# Used when a gateway sends no limit (an older one); the gateway's own setting decides.
DEFAULT_UPLOAD_MAX_BYTES = 1024 * 1024 * 1024
#: An open execution stream carries at least one message this often: an empty ResultBatch when
#: nothing else went out. gRPC keepalive pings are answered by the C core even while Python is
#: stuck, so this is how the gateway hears that the executor's event loop is alive.
HEARTBEAT_S = 0.25


class ExecutorServicer(pb_grpc.ExecutorServicer):  # type: ignore[misc]  # generated, untyped
    def __init__(
        self,
        host: Host,
        runtime: str,
        executor_id: str,
        batch_max: int,
        link: LinkCredentials,
        stats: StreamStats,
    ) -> None:
        self._host = host
        self._link = link
        self._runtime = runtime
        self._executor_id = executor_id
        self._batch_max = batch_max
        self._stats = stats
        #: The execution link's port, told to gateways in Describe (0: none).
        self.stream_port = 0

    async def Describe(
        self, request: pb.DescribeRequest, context: grpc.aio.ServicerContext
    ) -> pb.DescribeReply:
        return pb.DescribeReply(
            runtime=self._runtime,
            executor_id=self._executor_id,
            deployments=self._host.deployments,
            draining=self._host.draining,
            policy_digest=self._host.policy_digest,
            proof=self._link.prove(request.nonce, context.invocation_metadata()),
            stats=translate.stats_to_proto(self._stats, self._host),
            stream_port=self.stream_port,
        )

    async def Configure(
        self, request: pb.ConfigureRequest, context: grpc.aio.ServicerContext
    ) -> pb.ConfigureReply:
        policy, digest = translate.policy_from_proto(request.policy)
        self._host.configure(policy, digest)
        return pb.ConfigureReply(policy_digest=self._host.policy_digest)

    async def Validate(
        self, request: pb.ValidateRequest, context: grpc.aio.ServicerContext
    ) -> pb.ValidateReply:
        try:
            package = await asyncio.to_thread(self._host.validate, request.source)
        except PackageInvalid as invalid:
            return pb.ValidateReply(issues=translate.issues_to_proto(list(invalid.issues)))
        spec = translate.spec_to_proto(package)
        spec.warnings.extend(translate.issues_to_proto(package_warnings(package)))
        return pb.ValidateReply(spec=spec)

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

    async def TakeResult(
        self, request: pb.TakeResultRequest, context: grpc.aio.ServicerContext
    ) -> pb.TakeResultReply:
        state, result = self._host.kept.state(request.execution_id)
        return translate.kept_to_proto(state, result, self._executor_id)

    async def AckResult(
        self, request: pb.AckResultRequest, context: grpc.aio.ServicerContext
    ) -> pb.AckResultReply:
        self._host.kept.ack(request.execution_id)
        return pb.AckResultReply()

    async def Upload(
        self, request_iterator: AsyncIterator[pb.UploadChunk], context: grpc.aio.ServicerContext
    ) -> pb.ExecuteResult:
        """Spool the file's chunks to a temporary file, then run the execution on it."""
        upload: SpooledUpload | None = None
        try:
            request: pb.ExecuteRequest | None = None
            async for chunk in request_iterator:
                if upload is None:
                    upload = SpooledUpload(chunk.max_bytes or DEFAULT_UPLOAD_MAX_BYTES)
                if chunk.data:
                    await upload.write(chunk.data)
                if chunk.HasField("execute"):
                    request = chunk.execute
                    break
            if upload is None or request is None:
                return translate.rejection(
                    0, "upload_incomplete", "the upload ended before its execution", retryable=False
                )
            await upload.complete()
            task = start_execution(
                self._host,
                request,
                upload.document(translate.documents_from_proto(list(request.documents))),
            )
            return translate.result_to_proto(0, await task)
        except UploadTooLarge as too_large:
            return translate.rejection(0, "file_too_large", str(too_large), retryable=False)
        except Rejected as rejected:
            return translate.rejection(
                0, rejected.code, rejected.message, retryable=rejected.retryable
            )
        finally:
            if upload is not None:
                upload.discard()

    async def Download(
        self, request: pb.DownloadRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.DownloadChunk]:
        """Run the download process, then stream the file it names (executors/downloads.py)."""
        execute = request.execute
        try:
            task = start_execution(
                self._host, execute, translate.documents_from_proto(list(execute.documents))
            )
        except Rejected as rejected:
            refused = translate.rejection(
                0, rejected.code, rejected.message, retryable=rejected.retryable
            )
            yield pb.DownloadChunk(result=refused)
            return
        result = await task
        if result.status != "ok":
            yield pb.DownloadChunk(result=translate.result_to_proto(0, result))
            return
        limit = request.max_bytes or DEFAULT_UPLOAD_MAX_BYTES
        try:
            file = downloads.locate(result, self._host.policy.files_root, limit)
        except downloads.DownloadRefused as refused:
            yield pb.DownloadChunk(result=translate.result_to_proto(0, refused.result(result)))
            return
        yield pb.DownloadChunk(
            result=translate.result_to_proto(0, result),
            file_name=file.name,
            content_type=file.content_type,
            size=file.size,
        )
        async for data in downloads.chunks(file):
            yield pb.DownloadChunk(data=data)

    async def Execute(
        self, request_iterator: AsyncIterator[pb.RequestBatch], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.ResultBatch]:
        stream = _GrpcStream(self._host, self._stats)
        reader = asyncio.create_task(stream.read(request_iterator), name="execute stream reader")
        beat = asyncio.create_task(stream.heartbeat(HEARTBEAT_S), name="execute stream heartbeat")
        try:
            async for batch in stream.batches(self._batch_max):
                yield batch
        finally:
            reader.cancel()
            beat.cancel()
            stream.session.abandon()


class _GrpcStream:
    """An execution session carried by the `Execute` RPC, in micro-batches.

    A message is queued the moment the session emits it; the writer sends whatever has queued up
    since its last write as one message, so batches grow with load and add no delay when idle.
    """

    _END = None
    _BEAT = pb.ResultBatch()  # a marker in the queue: send an empty batch if nothing else goes

    def __init__(self, host: Host, stats: StreamStats) -> None:
        self._stats = stats
        self._out: asyncio.Queue[pb.ExecuteResult | pb.Progress | pb.ResultBatch | None] = (
            asyncio.Queue()
        )
        self._sent_at = time.monotonic()
        self.session = ExecutionSession(host, stats, self._out.put_nowait)

    async def read(self, request_iterator: AsyncIterator[pb.RequestBatch]) -> None:
        try:
            async for batch in request_iterator:
                self.session.receive(batch)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # the gateway went away mid-read
            log.info("execution stream closed: %s", error)
        else:
            # The gateway half-closed: answer what is still running, then end the stream.
            await self.session.settle()
        self._out.put_nowait(self._END)

    async def heartbeat(self, every_s: float) -> None:
        """Queue a beat whenever nothing went out for ``every_s`` (see HEARTBEAT_S)."""
        while True:
            await asyncio.sleep(every_s - (time.monotonic() - self._sent_at))
            if time.monotonic() - self._sent_at >= every_s * 0.9:
                self._sent_at = time.monotonic()
                self._out.put_nowait(self._BEAT)

    async def batches(self, batch_max: int) -> AsyncIterator[pb.ResultBatch]:
        out = self._out
        while True:
            first = await out.get()
            if first is self._END:
                return
            if first is self._BEAT:
                yield pb.ResultBatch()
                continue
            # One loop turn: executions finishing in this same turn join the batch.
            await asyncio.sleep(0)
            batch = pb.ResultBatch()
            add_to_batch(batch, first)
            while not out.empty() and len(batch.results) < batch_max:
                item = out.get_nowait()
                if item is self._END:
                    yield batch
                    return
                add_to_batch(batch, item)
            self._sent_at = time.monotonic()
            if batch.results:
                stats = self._stats
                stats.result_batches += 1
                stats.results_sent += len(batch.results)
            yield batch
