"""The gateway's connection to one executor: control calls, and one execution stream.

The execution path does not pay a call per request. Each connection keeps one execution stream
open (gateway/execution_stream.py: the execution link, or the `Execute` RPC); requests are sent
with an id, those of one loop turn in one message, so under load a message carries many requests
and at rest a request goes out at once. Each result batch resolves the waiting futures.
Deadlines travel with each request (the executor enforces them), the gateway keeps its own timer
as a backstop, and a request the caller gives up on is cancelled on the executor with a cancel
message on the same stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any, Final, cast

import grpc

from gateway import translate
from gateway.errors import DeadlineExceeded, GatewayError, Unavailable
from gateway.execution_stream import ExecutionStream, GrpcStream, LinkStream
from gateway.link import ClusterLink, NotOfCluster
from gateway.policy import RuntimePolicy
from gateway.spec import ServiceSpec
from gateway.translate import (
    Execution,
    ExecutionResult,
    ExecutorInfo,
    Issue,
    KeptResult,
)
from protos.flowhost.v1 import executor_pb2 as pb
from protos.flowhost.v1 import executor_pb2_grpc as pb_grpc

log = logging.getLogger("flowhost.gateway")

_MAX_MESSAGE_BYTES = 64 * 1024 * 1024
_CONTROL_TIMEOUT_S = 10.0
#: The backstop: past an execution's own deadline, how long the gateway waits for the executor's
#: `deadline_exceeded` before answering it itself (the executor may be stuck or gone).
BACKSTOP_GRACE_S = 1.0
#: An executor heard from neither result nor heartbeat for this long takes no new requests
#: (executors send an empty batch every 0.25 s, executors/servicer.py HEARTBEAT_S).
SILENCE_S = 1.0
_WATCH_EVERY_S = 0.1
#: gRPC's reconnect back-off, capped: by default it grows 1.6x per failed attempt up to 120 s, so
#: an executor back after a 30 s outage waited up to ~10 s more to be dialled again (issue 19
#: measured > 4 s). Capped at 0.5 s (±20 % jitter), a returning executor is dialled within
#: 0.6 s of listening, and the reconciler, woken by the connection (`until_reachable`), routes
#: to it without waiting for its next pass. A dial is one TCP SYN: cheap at this rate.
RECONNECT_BACKOFF_MS: Final = {"initial": 100, "min": 100, "max": 500}
#: How long connecting to an executor's execution link and its handshake may take.
LINK_OPEN_S = 3.0


def backstop_s(execution: Execution, wait_s: float) -> float:
    """How long to wait for ``execution``: its deadline plus the grace, at most ``wait_s``."""
    if execution.timeout_ms:
        return min(wait_s, execution.timeout_ms / 1000 + BACKSTOP_GRACE_S)
    return wait_s


class StreamBroken(Unavailable):
    """The stream to the executor failed. `sent` says whether the request may have run."""

    def __init__(self, message: str, *, sent: bool) -> None:
        super().__init__(message, code="executor_unavailable")
        self.sent = sent


class Detached:
    """An execution the gateway stopped waiting for at its sync timeout; it runs on.

    `result` resolves when it ends (or fails with StreamBroken when the stream does; the result
    is then taken with `ExecutorConnection.take_result`). `progress` is the latest interim
    message; `on_progress` is called with each one that arrives after detaching.
    """

    def __init__(
        self,
        connection: ExecutorConnection,
        request_id: int,
        future: asyncio.Future[ExecutionResult],
        progress: str,
    ) -> None:
        self.connection = connection
        self.request_id = request_id
        self.result = future
        self.progress = progress
        self.on_progress: Callable[[str], None] | None = None

    def cancel(self) -> None:
        self.connection._cancel(self.request_id)
        self.connection._release(self.request_id)


#: What a detachable request's future holds when its sync timeout passed first.
_PAST_SYNC_TIMEOUT: Final = object()


class ExecutorConnection:
    def __init__(self, address: str, link: ClusterLink, poll_s: float = 0.0) -> None:
        """`poll_s`: how long the execution link polls for results (protos/reply_poll.py)."""
        self.address = address
        self.info: ExecutorInfo | None = None
        self._link = link
        self._poll_s = poll_s
        # Sent with every call; the executor checks it once per RPC (once per stream).
        self._metadata = link.metadata
        self._channel = link.channel(
            address,
            [
                ("grpc.max_receive_message_length", _MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", _MAX_MESSAGE_BYTES),
                ("grpc.keepalive_time_ms", 10_000),
                ("grpc.keepalive_timeout_ms", 5_000),
                ("grpc.http2.max_pings_without_data", 0),
                ("grpc.keepalive_permit_without_calls", 1),
                ("grpc.initial_reconnect_backoff_ms", RECONNECT_BACKOFF_MS["initial"]),
                ("grpc.min_reconnect_backoff_ms", RECONNECT_BACKOFF_MS["min"]),
                ("grpc.max_reconnect_backoff_ms", RECONNECT_BACKOFF_MS["max"]),
            ],
        )
        self._stub = pb_grpc.ExecutorStub(self._channel)
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[ExecutionResult]] = {}
        # Detachable executions: latest progress message before detaching, or the Detached.
        self._progress: dict[int, str] = {}
        self._detached: dict[int, Detached] = {}
        self._stream: ExecutionStream | None = None
        self._watch: asyncio.Task[None] | None = None
        #: What carries the stream: "link", "grpc", or "" while there is none.
        self.carrier = ""
        self._broken: str | None = None
        self.closed = False
        #: The stream carries heartbeats (an executor that sends none is never called silent).
        self._beats = False
        self._heard = 0.0
        #: Nothing heard for SILENCE_S: new requests go elsewhere until it speaks again.
        self.silent = False
        #: When the execution stream last opened (epoch seconds): what the console shows as an
        #: executor's uptime, since a restarted executor needs a new stream.
        self.connected_at: float | None = None
        self._link_problem: str | None = None  # said once per problem, not every pass

    # -- state ---------------------------------------------------------------------------------

    @property
    def streaming(self) -> bool:
        return self._stream is not None and self._broken is None and not self.closed

    @property
    def accepting(self) -> bool:
        """Streaming and heard from lately: routing sends it new requests."""
        return self.streaming and not self.silent

    @property
    def outstanding(self) -> int:
        return len(self._waiting)

    @property
    def connected(self) -> bool:
        """Whether the channel is connected now (not asking it to connect)."""
        state: grpc.ChannelConnectivity = self._channel.get_state(try_to_connect=False)
        return bool(state == grpc.ChannelConnectivity.READY)

    async def until_reachable(self) -> None:
        """Return once the channel connects: gRPC redials at the capped back-off meanwhile."""
        await self._channel.channel_ready()

    # -- control calls -------------------------------------------------------------------------

    async def describe(self) -> ExecutorInfo:
        """Who the executor is and what it hosts; raises NotOfCluster for a stranger, whose
        stream is closed at once so nothing more reaches it."""
        nonce = self._link.challenge()
        try:
            reply = await self._stub.Describe(
                pb.DescribeRequest(nonce=nonce), timeout=_CONTROL_TIMEOUT_S, metadata=self._metadata
            )
            self._link.verify(nonce, reply.proof)
        except grpc.aio.AioRpcError as error:
            refused = self._link.refusal(error)
            if refused is None:
                raise
            await self._refuse(refused)
            raise refused from None
        except NotOfCluster as refused:
            await self._refuse(refused)
            raise
        self.info = translate.info_from_proto(reply)
        return self.info

    async def _refuse(self, refused: NotOfCluster) -> None:
        self.info = None
        await self._stop_stream()
        reason = f"executor {self.address} is {refused}"
        self._broken = reason  # the reconciler says it, once; _fail would say it again
        self._fail(reason)

    async def configure(self, policy: RuntimePolicy) -> None:
        """Give the executor its runtime's policy (it reports the digest back in Describe)."""
        await self._stub.Configure(
            translate.configure_to_proto(policy),
            timeout=_CONTROL_TIMEOUT_S,
            metadata=self._metadata,
        )

    async def validate(self, source: str) -> ServiceSpec | list[Issue]:
        try:
            reply = await self._stub.Validate(
                pb.ValidateRequest(source=source),
                timeout=_CONTROL_TIMEOUT_S * 3,
                metadata=self._metadata,
            )
        except grpc.aio.AioRpcError as error:
            raise GatewayError(
                f"executor {self.address} failed validating the package: "
                f"{error.code().name} {error.details() or ''}".strip()[:500],
                status=502,
                code="validation_failed",
            ) from None
        if reply.issues:
            return translate.issues_from_proto(list(reply.issues))
        return translate.spec_from_proto(reply.spec)

    async def deploy(self, key: str, source: str) -> list[Issue]:
        reply = await self._stub.Deploy(
            pb.DeployRequest(key=key, source=source),
            timeout=_CONTROL_TIMEOUT_S * 3,
            metadata=self._metadata,
        )
        return translate.issues_from_proto(list(reply.issues))

    async def undeploy(self, key: str) -> None:
        await self._stub.Undeploy(
            pb.UndeployRequest(key=key), timeout=_CONTROL_TIMEOUT_S, metadata=self._metadata
        )

    async def take_result(self, execution_id: str) -> KeptResult:
        """What the executor knows of a detached execution (its result once it ended)."""
        reply = await self._stub.TakeResult(
            pb.TakeResultRequest(execution_id=execution_id),
            timeout=_CONTROL_TIMEOUT_S,
            metadata=self._metadata,
        )
        return translate.kept_from_proto(reply)

    async def ack_result(self, execution_id: str) -> None:
        """The result of a detached execution is stored: the executor may forget it."""
        await self._stub.AckResult(
            pb.AckResultRequest(execution_id=execution_id),
            timeout=_CONTROL_TIMEOUT_S,
            metadata=self._metadata,
        )

    # -- the execution stream ------------------------------------------------------------------

    async def open_stream(self) -> None:
        """Open the execution stream (again, after it broke): over the executor's execution
        link when Describe named a port this gateway reaches, else over the `Execute` RPC.
        Raises NotOfCluster when the link's handshake shows a stranger."""
        await self._stop_stream()
        self._broken = None
        self._beats, self.silent, self._heard = False, False, time.monotonic()
        port = self.info.stream_port if self.info is not None else 0
        stream: ExecutionStream | None = None
        if port:
            try:
                stream = await LinkStream.open(
                    self.address,
                    port,
                    self._link,
                    self._received,
                    self._fail,
                    LINK_OPEN_S,
                    self._poll_s,
                )
                self.carrier = "link"
                stream.in_flight = self._waiting.__len__
                self._link_problem = None  # a later problem is said again
            except NotOfCluster as refused:
                await self._refuse(refused)
                raise
            except (OSError, TimeoutError) as error:
                if self._link_problem != str(error):
                    log.warning(
                        "executor %s: its execution link (port %d) cannot be reached (%s); "
                        "using the gRPC stream",
                        self.address,
                        port,
                        str(error) or type(error).__name__,
                    )
                self._link_problem = str(error)
        if stream is None:
            stream = GrpcStream(
                self.address, self._stub, self._metadata, self._received, self._fail
            )
            self.carrier = "grpc"
        self._stream = stream
        self.connected_at = time.time()
        self._watch = asyncio.create_task(self._watch_loop(), name=f"watch {self.address}")

    async def execute(self, execution: Execution, wait_s: float) -> ExecutionResult:
        """Run one execution; waits at most wait_s (or its deadline and a grace: `backstop_s`),
        then cancels it on the executor."""
        wait_s = backstop_s(execution, wait_s)
        if not self.accepting:
            raise StreamBroken(f"executor {self.address} {self._state}", sent=False)
        request_id = next(self._ids)
        future: asyncio.Future[ExecutionResult] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        self._send(translate.execution_to_proto(request_id, execution))
        try:
            return await asyncio.wait_for(future, wait_s)
        except TimeoutError:
            self._cancel(request_id)
            raise DeadlineExceeded(overrun(execution, wait_s, self)) from None
        except asyncio.CancelledError:
            self._cancel(request_id)
            raise
        finally:
            self._waiting.pop(request_id, None)

    @property
    def _state(self) -> str:
        if self.streaming:
            return f"has not answered for {time.monotonic() - self._heard:.1f}s"
        return "is not connected"

    async def execute_detachable(
        self, execution: Execution, sync_s: float, wait_s: float
    ) -> ExecutionResult | Detached:
        """Like `execute`, but at sync_s stop waiting without cancelling: the execution goes on
        and its result comes later through the returned `Detached`."""
        wait_s = backstop_s(execution, wait_s)
        if sync_s >= wait_s:
            return await self.execute(execution, wait_s)
        if not self.accepting:
            raise StreamBroken(f"executor {self.address} {self._state}", sent=False)
        request_id = next(self._ids)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[ExecutionResult] = loop.create_future()
        self._waiting[request_id] = future
        self._progress[request_id] = ""
        execution.detachable = True
        self._send(translate.execution_to_proto(request_id, execution))
        # One future and one timer per request (this runs for every message action that
        # carries a callbackUri): at sync_s the timer hands the request a fresh future for
        # the eventual result and wakes the caller with _PAST_SYNC_TIMEOUT; nothing is
        # cancelled.
        timer = loop.call_later(sync_s, self._past_sync_timeout, request_id, future)
        try:
            outcome: Any = await future
        except BaseException as error:  # cancelled, or the stream broke (StreamBroken)
            if isinstance(error, asyncio.CancelledError):
                self._cancel(request_id)
            self._release(request_id)
            raise
        finally:
            timer.cancel()
        if outcome is not _PAST_SYNC_TIMEOUT:
            self._release(request_id)
            return cast(ExecutionResult, outcome)
        # Past the sync timeout: the executor keeps the result for us from now on.
        later = self._waiting[request_id]
        self._send(translate.detach_to_proto(request_id))
        detached = Detached(self, request_id, later, self._progress.pop(request_id, ""))
        self._detached[request_id] = detached
        later.add_done_callback(lambda _: self._release(request_id))
        return detached

    def _past_sync_timeout(self, request_id: int, future: asyncio.Future[Any]) -> None:
        if not future.done():
            self._waiting[request_id] = future.get_loop().create_future()
            future.set_result(_PAST_SYNC_TIMEOUT)

    def _release(self, request_id: int) -> None:
        self._waiting.pop(request_id, None)
        self._progress.pop(request_id, None)
        self._detached.pop(request_id, None)

    def _progressed(self, messages: Iterable[pb.Progress]) -> None:
        for message in messages:
            detached = self._detached.get(message.id)
            if detached is not None:
                detached.progress = message.message
                if detached.on_progress is not None:
                    detached.on_progress(message.message)
            elif message.id in self._progress:
                self._progress[message.id] = message.message

    def _cancel(self, request_id: int) -> None:
        if self.streaming:
            self._send(translate.cancel_to_proto(request_id))

    def _send(self, request: pb.ExecuteRequest) -> None:
        assert self._stream is not None  # callers checked `accepting` or `streaming`
        self._stream.send(request)

    def _received(self, batch: pb.ResultBatch) -> None:
        """One result batch from the stream: resolve the futures it answers."""
        self._heard = time.monotonic()
        if self.silent:
            self.silent = False
            log.warning("executor %s answers again; routing to it", self.address)
        if not batch.results and not batch.progress:  # a heartbeat
            self._beats = True
            return
        waiting = self._waiting
        for message in batch.results:
            future = waiting.get(message.id)
            if future is not None and not future.done():
                future.set_result(translate.result_from_proto(message))
        if batch.progress:
            self._progressed(batch.progress)

    async def _watch_loop(self) -> None:
        """Mark the connection silent after SILENCE_S without a message (see `accepting`)."""
        due = time.monotonic() + _WATCH_EVERY_S
        while True:
            await asyncio.sleep(_WATCH_EVERY_S)
            now = time.monotonic()
            late, due = now - due, now + _WATCH_EVERY_S
            if late > SILENCE_S / 2:  # our own loop was held: the executor's beats are queued
                continue
            if self._beats and not self.silent and now - self._heard > SILENCE_S:
                self.silent = True
                log.warning(
                    "executor %s has not answered for %.1fs; routing around it",
                    self.address,
                    now - self._heard,
                )

    def _fail(self, reason: str) -> None:
        """The stream is gone: fail every waiting request now, so callers can move on."""
        if self._broken is None:
            log.warning("%s", reason)
        self._broken = reason
        unsent = self._stream.unsent() if self._stream is not None else set()
        for request_id, future in list(self._waiting.items()):
            if not future.done():
                future.set_exception(StreamBroken(reason, sent=request_id not in unsent))

    async def _stop_stream(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._watch
            self._watch = None
        if self._stream is not None:
            stream, self._stream = self._stream, None
            await stream.close()
        self.carrier = ""

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        await self._stop_stream()
        self._fail(f"connection to {self.address} closed")
        await self._channel.close()


def overrun(execution: Execution, wait_s: float, connection: ExecutorConnection | None) -> str:
    if not execution.timeout_ms or wait_s < execution.timeout_ms / 1000:
        return f"process '{execution.process}' did not finish within {wait_s:g}s"
    silent = " (it has stopped answering)" if connection is not None and connection.silent else ""
    return (
        f"process '{execution.process}' exceeded its deadline of "
        f"{execution.timeout_ms / 1000:g}s; the executor{silent} did not report it within "
        f"{BACKSTOP_GRACE_S:g}s, so the gateway did"
    )
