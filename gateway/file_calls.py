"""File transfers with an executor, each its own RPC beside the execution stream: an upload
(`Upload`, the file's bytes streamed in) and a download (`Download`, streamed out)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc

from gateway import translate
from gateway.errors import DeadlineExceeded
from gateway.executor_client import ExecutorConnection, StreamBroken, backstop_s, overrun
from gateway.translate import DownloadStart, Execution, ExecutionResult
from protos.flowhost.v1 import executor_pb2 as pb


class UploadCall:
    """One file upload in flight to an executor (the `Upload` RPC).

    File bytes go out as chunks, as they arrive, through a small bounded queue: a slow executor
    slows the upload down rather than filling the gateway's memory. `finish` sends the
    execution (known only once the whole multipart body is read) and waits for its result;
    `abort` ends the call without one, and the executor discards the file.
    """

    _QUEUED_CHUNKS = 4

    def __init__(self, connection: ExecutorConnection, max_bytes: int) -> None:
        self.address = connection.address
        self._max_bytes = max_bytes
        self._queue: asyncio.Queue[bytes | Execution | None] = asyncio.Queue(self._QUEUED_CHUNKS)
        self._call = connection._stub.Upload(self._messages(), metadata=connection._metadata)
        self._reply: asyncio.Future[pb.ExecuteResult] = asyncio.ensure_future(self._call)

    async def _messages(self) -> AsyncIterator[pb.UploadChunk]:
        first = True
        while True:
            item = await self._queue.get()
            if item is None:
                return
            if isinstance(item, Execution):
                yield translate.upload_end_to_proto(item)
                return
            yield translate.upload_data_to_proto(item, self._max_bytes if first else 0)
            first = False

    async def _put(self, item: bytes | Execution | None) -> None:
        put = asyncio.ensure_future(self._queue.put(item))
        await asyncio.wait((put, self._reply), return_when=asyncio.FIRST_COMPLETED)
        if not put.done():
            put.cancel()
            raise self._broken()

    def _broken(self) -> StreamBroken:
        detail = ""
        if self._reply.done() and not self._reply.cancelled():
            error = self._reply.exception()
            if isinstance(error, grpc.aio.AioRpcError):
                detail = f": {error.code().name}"
            elif error is None:
                result = self._reply.result()
                detail = f": {result.error.message}" if result.HasField("error") else ""
        return StreamBroken(f"executor {self.address} ended the upload{detail}", sent=True)

    async def send(self, data: bytes) -> None:
        """Queue the next bytes of the file (waits while the executor catches up)."""
        await self._put(bytes(data))

    async def finish(self, execution: Execution, wait_s: float) -> ExecutionResult:
        wait_s = backstop_s(execution, wait_s)
        await self._put(execution)
        try:
            reply = await asyncio.wait_for(asyncio.shield(self._reply), wait_s)
        except TimeoutError:
            self.abort()
            raise DeadlineExceeded(overrun(execution, wait_s, None)) from None
        except grpc.aio.AioRpcError as error:
            raise StreamBroken(
                f"executor {self.address} failed during the upload: {error.code().name}", sent=True
            ) from None
        return translate.result_from_proto(reply)

    def abort(self) -> None:
        """End the upload without running anything; the executor discards what it received."""
        if not self._reply.done():
            self._call.cancel()


class DownloadCall:
    """One file download from an executor (the `Download` RPC): `start` runs the download
    process and gives its result and the file's name, type and size; `chunks` then gives the
    bytes as they arrive (gRPC flow control holds the executor back while the client reads
    slowly); `close` ends the call whatever state it is in."""

    def __init__(self, connection: ExecutorConnection, execution: Execution, max_bytes: int):
        self.address = connection.address
        self._call = connection._stub.Download(
            translate.download_to_proto(execution, max_bytes), metadata=connection._metadata
        )
        self._execution = execution

    async def start(self, wait_s: float) -> DownloadStart:
        wait_s = backstop_s(self._execution, wait_s)
        try:
            first = await asyncio.wait_for(self._call.read(), wait_s)
        except TimeoutError:
            self.close()
            raise DeadlineExceeded(overrun(self._execution, wait_s, None)) from None
        except grpc.aio.AioRpcError as error:
            raise StreamBroken(
                f"executor {self.address} failed the download: {error.code().name}", sent=True
            ) from None
        if first is grpc.aio.EOF:
            raise StreamBroken(f"executor {self.address} ended the download early", sent=True)
        return translate.download_start_from_proto(first)

    async def chunks(self) -> AsyncIterator[bytes]:
        while True:
            try:
                message = await self._call.read()
            except grpc.aio.AioRpcError as error:
                raise StreamBroken(
                    f"executor {self.address} failed during the download: {error.code().name}",
                    sent=True,
                ) from None
            if message is grpc.aio.EOF:
                return
            yield message.data

    def close(self) -> None:
        self._call.cancel()
