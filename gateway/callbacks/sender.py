"""Deliver the outbox: POST each due callback to Flow, retry, dead-letter.

Delivery POSTs each due callback's ServiceResponse to its `callbackUri` with the headers Flow
expects (`Content-Type: application/json`, `ManyWhoTenant`, and `Authorization` carrying Flow's
user string when the request brought one). Flow answers a JSON string: `SUCCESS` or `WAIT`
(delivered) or `BUSY` (try again). `BUSY`, network errors, timeouts, 408, 429 and 5xx are
retried with exponential backoff and jitter; other 4xx answers mean Flow refused the callback
for good and dead-letter it at once, as does running out of attempts.

Delivery is at least once: a callback is marked delivered only after Flow answered, so when
an answer is lost (a crash between Flow's answer and the mark) the callback is sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
import time
from collections.abc import Callable

import httpx
import orjson

from gateway import egress
from gateway.callbacks.outbox import Callback, Outbox
from gateway.callbacks.policy import default_policy
from gateway.lifecycle import Lifecycle
from gateway.periodic import Periodic
from gateway.policy import RuntimePolicy

log = logging.getLogger("flowhost.gateway")

_RETRY_STATUSES = {408, 429}


def backoff_s(
    attempt: int, base_s: float, max_s: float, rand: Callable[[], float] = random.random
) -> float:
    """Delay before attempt `attempt + 1`: exponential from base_s, capped at max_s, with
    "equal jitter" (half fixed, half random) so retries of many callbacks spread out."""
    delay = min(max_s, base_s * 2.0 ** max(0, attempt - 1))
    return delay / 2 + delay / 2 * rand()


class Answer:
    """How one delivery attempt went."""

    def __init__(self, delivered: bool, retry: bool, detail: str) -> None:
        self.delivered = delivered
        self.retry = retry
        self.detail = detail


# Transport errors worth another attempt: the receiver may be back, or faster, next time.
_TRANSIENT = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
    httpx.ProxyError,
)
# TLS failures that stay failures (a certificate that does not verify, no common protocol);
# an EOF during the handshake is a dropped connection, which may not happen again.
_TLS_TRANSIENT = (ssl.SSLEOFError, ssl.SSLZeroReturnError, ssl.SSLWantReadError)


def failed(error: BaseException) -> Answer:
    """A delivery attempt that raised: retried when transient (connect errors, timeouts, a
    dropped connection), dead-lettered at once otherwise (an invalid URL, an unsupported scheme,
    a TLS or certificate error, a header httpx will not send, a refusal by a check)."""
    detail = f"{type(error).__name__}: {error}"[:300]
    tls = _tls_cause(error)
    if tls is not None and not isinstance(tls, _TLS_TRANSIENT):
        return Answer(False, False, f"TLS: {type(tls).__name__}: {tls}"[:300])
    return Answer(False, isinstance(error, _TRANSIENT), detail)


def _tls_cause(error: BaseException) -> ssl.SSLError | None:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def interpret(status: int, body: bytes) -> Answer:
    text = body.decode("utf-8", "replace").strip()
    try:
        said = orjson.loads(body) if text else ""
    except orjson.JSONDecodeError:
        said = text
    said = said if isinstance(said, str) else text
    if 200 <= status < 300:
        if said.upper() == "BUSY":
            return Answer(False, True, "Flow answered BUSY")
        return Answer(True, False, said or f"HTTP {status}")
    detail = f"HTTP {status}: {text[:200]}"
    return Answer(False, status >= 500 or status in _RETRY_STATUSES, detail)


class CallbackSender(Lifecycle):
    """Delivers due callbacks from the outbox, a bounded number at a time."""

    def __init__(
        self,
        outbox: Outbox,
        *,
        attempts: int,
        backoff_base_s: float,
        backoff_max_s: float,
        timeout_s: float,
        concurrency: int,
        poll_interval_s: float,
        policy: Callable[[str], RuntimePolicy] = default_policy,
    ) -> None:
        self._outbox = outbox
        # Each delivery connects under its runtime's egress policy (checked on the address).
        self._policy = policy
        self._attempts = attempts
        self._base_s = backoff_base_s
        self._max_s = backoff_max_s
        self._timeout_s = timeout_s
        self._concurrency = concurrency
        # A receiver that never answers holds one connection for timeout_s, never a worker
        # forever: the pool and the number of deliveries in flight are both bounded.
        self._http = httpx.AsyncClient(
            transport=egress.GuardedTransport(httpx.Limits(max_connections=concurrency)),
            timeout=httpx.Timeout(timeout_s),
            follow_redirects=False,
            trust_env=False,  # through a proxy, the egress check would see the proxy's address
        )
        self._in_flight: set[asyncio.Task[None]] = set()
        self._delivering: dict[asyncio.Task[None], str] = {}
        self._loop = Periodic("callback sender", self._claim_due, poll_interval_s)
        #: Delivery attempts by outcome: delivered, retry, dead (read by gateway/metrics).
        self.attempts: dict[str, int] = {"delivered": 0, "retry": 0, "dead": 0}

    def wake(self) -> None:
        self._loop.wake()

    async def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()
        for task in list(self._in_flight):
            task.cancel()
        if self._in_flight:
            await asyncio.wait(set(self._in_flight), timeout=1.0)
        unfinished = list(self._delivering.values())
        self._delivering.clear()
        with contextlib.suppress(Exception):
            await asyncio.to_thread(self._outbox.release, unfinished)
        await self._http.aclose()

    async def _claim_due(self) -> None:
        """Take as many due callbacks from the outbox as there are free delivery slots."""
        free = self._concurrency - len(self._in_flight)
        if free <= 0:
            return
        # The lease outlives the longest attempt, so no other gateway takes it.
        lease = self._timeout_s + 30.0
        due = await asyncio.to_thread(self._outbox.claim, time.time(), lease, free)
        for row in due:
            task = asyncio.create_task(self._deliver(row), name=f"callback {row.id}")
            self._in_flight.add(task)
            self._delivering[task] = row.id
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        if not task.cancelled():
            self._delivering.pop(task, None)
        self._loop.wake()  # a slot is free

    async def _deliver(self, row: Callback) -> None:
        attempt = row.attempts + 1
        callback_id = row.id
        # Bytes, as they came in (latin-1 both ways): httpx would refuse non-ASCII text.
        headers = {
            b"content-type": b"application/json",
            b"ManyWhoTenant": row.tenant_id.encode("latin-1", "replace"),
        }
        if row.flow_user:
            headers[b"authorization"] = row.flow_user.encode("latin-1", "replace")
        egress.delivering_for(self._policy(row.runtime))  # this task's connections only
        try:
            response = await self._http.post(
                row.callback_uri, content=(row.body or "").encode(), headers=headers
            )
            answer = interpret(response.status_code, response.content)
        except egress.EgressRefused as refused:  # the policy will not change its mind: no retry
            answer = Answer(False, False, f"refused by the runtime's egress policy: {refused}")
        except Exception as error:  # never lets the task die with the row leased
            answer = failed(error)
            if not isinstance(error, httpx.HTTPError | httpx.InvalidURL):
                log.warning(
                    "execution %s: callback delivery raised", row.execution_id, exc_info=True
                )
        execution = row.execution_id
        outcome = (
            "delivered"
            if answer.delivered
            else "retry"
            if answer.retry and attempt < self._attempts
            else "dead"
        )
        self.attempts[outcome] += 1
        try:
            if answer.delivered:
                recorded = await asyncio.to_thread(self._outbox.delivered, row, attempt)
                log.info(
                    "execution %s: %s callback delivered (attempt %d, Flow said %s)",
                    execution,
                    row.kind,
                    attempt,
                    answer.detail,
                )
            elif answer.retry and attempt < self._attempts:
                delay = backoff_s(attempt, self._base_s, self._max_s)
                recorded = await asyncio.to_thread(
                    self._outbox.retry, row, attempt, time.time() + delay, answer.detail
                )
                log.info(
                    "execution %s: callback attempt %d failed (%s); next in %.2fs",
                    execution,
                    attempt,
                    answer.detail,
                    delay,
                )
            else:
                recorded = await asyncio.to_thread(self._outbox.dead, row, attempt, answer.detail)
                log.warning(
                    "execution %s: callback dead-lettered after %d attempts: %s "
                    "(redeliver with: flowhost callbacks redeliver %s)",
                    execution,
                    attempt,
                    answer.detail,
                    callback_id,
                )
            if not recorded:
                log.info(
                    "execution %s: callback attempt %d not recorded: the callback changed "
                    "meanwhile (superseded, redelivered, or its lease ran out and another "
                    "gateway took it over)",
                    execution,
                    attempt,
                )
        except Exception:
            log.exception("execution %s: recording a callback attempt failed", execution)
