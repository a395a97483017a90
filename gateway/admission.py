"""Fair admission at the shared ingress: how many Flow executions a runtime, and a runtime user,
may have going through this gateway at once.

Runtimes share the gateway (its event loop, its connections, its memory); without a bound one
runtime's flood queues up without end and every other runtime waits behind it. Each runtime and
each (runtime, user) has a concurrency limit with a short FIFO wait queue in front: a request
over the limit waits its turn, at most `wait_s`, in a queue at most `queue` long. A request the
queue cannot take, or that waited its time out, is refused with `Retry-After`: 429
`too_many_requests` for a user's limit, 503 `runtime_busy` for a runtime's, the message naming
the limit and its setting. Nothing waits without bound.

A request the full queue cannot take is refused after `refusal_delay_s` rather than at once:
measured with `flowhost bench --scenario noisy-neighbour`, a flood that ignores Retry-After and
re-sends the instant it is refused otherwise makes the gateway answer some 16,000 refusals a
second, and that (not the admitted work) is what slows the other runtimes.

The user's limit is checked first (one connector must not take its whole runtime), then the
runtime's; both waits share one `wait_s`. A message action answered `WAIT` gives its request
slots back when the gateway answers (the request is over), and the execution running on is
counted against the runtime's `detached` limit until this gateway stops following it; a
detachable request (one with a callbackUri) is refused while that limit is full.

Cost on the request path (timeit, uncontended, a loaded 2-core machine): admit + release 1.7 us
(tests/gateway/test_admission.py prints it), against hundreds of microseconds for the rest of a
Flow request.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from gateway.errors import GatewayError, TooManyRequests, Unavailable
from gateway.settings import GatewaySettings


@dataclass(frozen=True)
class Limit:
    """At most `concurrency` at once; `queue` more may wait, each at most the admission's wait."""

    concurrency: int
    queue: int


@dataclass(frozen=True)
class RuntimeLimits:
    runtime: Limit
    user: Limit
    detached: int


@dataclass(frozen=True)
class AdmissionLimits:
    """The limits in force: the defaults, and per-runtime overrides."""

    default: RuntimeLimits
    wait_s: float
    overrides: dict[str, RuntimeLimits] = field(default_factory=dict)
    #: A request the full queue cannot take is answered this much later, not at once: a client
    #: that ignores Retry-After then loops at most 1/delay times a second per connection.
    refusal_delay_s: float = 0.0

    def of(self, runtime: str) -> RuntimeLimits:
        return self.overrides.get(runtime, self.default)


class _Gate:
    """A counter with a bounded FIFO queue: a slot that frees goes to the first waiter, so a
    newcomer never overtakes those queued before it."""

    __slots__ = ("limit", "running", "waiting")

    def __init__(self, limit: Limit) -> None:
        self.limit = limit
        self.running = 0
        self.waiting: deque[asyncio.Future[bool]] = deque()

    def enter_now(self) -> bool:
        if self.running < self.limit.concurrency and not self.waiting:
            self.running += 1
            return True
        return False

    async def wait(self, timeout_s: float) -> bool:
        """Queue for a slot: True once handed one, False when the wait ran out."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        self.waiting.append(future)
        timer = loop.call_later(max(timeout_s, 0.0), _expire, future)
        try:
            return await future
        except asyncio.CancelledError:  # the client went away while queued
            if future.done() and not future.cancelled() and future.result():
                self.leave()  # handed a slot in the same instant: pass it on
            raise
        finally:
            timer.cancel()
            if not (future.done() and not future.cancelled() and future.result()):
                with contextlib.suppress(ValueError):
                    self.waiting.remove(future)

    def leave(self) -> None:
        while self.waiting:
            future = self.waiting.popleft()
            if not future.done():
                future.set_result(True)  # the slot passes on; `running` stays as it is
                return
        self.running -= 1

    @property
    def idle(self) -> bool:
        return self.running == 0 and not self.waiting


def _expire(future: asyncio.Future[bool]) -> None:
    if not future.done():
        future.set_result(False)


@dataclass
class RuntimeCounts:
    """What /metrics shows for one runtime."""

    running: int
    queued: int
    detached: int
    refused: dict[str, int]  # by limit: runtime, user, detached


class Admission:
    def __init__(self, limits: AdmissionLimits) -> None:
        self.limits = limits
        self._runtimes: dict[str, _Gate] = {}
        self._users: dict[tuple[str, str], _Gate] = {}  # dropped when idle: bounded by use
        self._detached: dict[str, int] = {}
        self._refused: dict[tuple[str, str], int] = {}
        self._retry_after = str(max(1, math.ceil(limits.wait_s)))

    async def admit(self, runtime: str, user: str) -> Admitted:
        """A ticket for one execution, or a 429/503 `GatewayError` naming the limit."""
        limits = self.limits.of(runtime)
        deadline = 0.0
        user_key = (runtime, user)
        user_gate = self._users.get(user_key)
        if user_gate is None:
            user_gate = self._users[user_key] = _Gate(limits.user)
        if not user_gate.enter_now():
            deadline = time.monotonic() + self.limits.wait_s
            await self._queue(user_gate, deadline, runtime, "user", user_key)
        runtime_gate = self._runtimes.get(runtime)
        if runtime_gate is None:  # runtimes are few (the operator makes them): kept
            runtime_gate = self._runtimes[runtime] = _Gate(limits.runtime)
        if not runtime_gate.enter_now():
            deadline = deadline or time.monotonic() + self.limits.wait_s
            try:
                await self._queue(runtime_gate, deadline, runtime, "runtime", user_key)
            except BaseException:
                self._leave_user(user_key, user_gate)
                raise
        return Admitted(self, runtime, user_key, runtime_gate, user_gate)

    async def _queue(
        self, gate: _Gate, deadline: float, runtime: str, which: str, user_key: tuple[str, str]
    ) -> None:
        if len(gate.waiting) >= gate.limit.queue:
            if self.limits.refusal_delay_s:
                await asyncio.sleep(self.limits.refusal_delay_s)
        elif await gate.wait(deadline - time.monotonic()):
            return
        if which == "user" and gate.idle:
            self._users.pop(user_key, None)
        raise self._refuse(runtime, which, gate.limit.concurrency, gate.limit.queue)

    def _leave_user(self, key: tuple[str, str], gate: _Gate) -> None:
        gate.leave()
        if gate.idle and self._users.get(key) is gate:
            del self._users[key]

    def _refuse(self, runtime: str, which: str, limit: int, queue: int) -> GatewayError:
        self._refused[(runtime, which)] = self._refused.get((runtime, which), 0) + 1
        setting, error = _SETTINGS[which]
        if which == "detached":
            what = f"runtime '{runtime}' already runs {limit} executions past a WAIT answer"
        else:
            whose = "runtime" if which == "runtime" else "each user of runtime"
            what = (
                f"{whose} '{runtime}' may run {limit} Flow requests at once with {queue} "
                f"more waiting at most {self.limits.wait_s:g}s; this one found no room"
            )
        return error(
            f"{what} (the limit is {limit}: {setting}, or ADMISSION_RUNTIMES for this "
            f"runtime); try again in {self._retry_after}s",
            details={"limit": which, "value": limit, "setting": setting, "runtime": runtime},
            headers={"Retry-After": self._retry_after},
        )

    def counts(self) -> dict[str, RuntimeCounts]:
        """Per runtime, for /metrics: read at scrape time, nothing kept for it."""
        runtimes = set(self._runtimes) | set(self._detached) | {r for r, _ in self._refused}
        return {
            runtime: RuntimeCounts(
                running=gate.running if (gate := self._runtimes.get(runtime)) else 0,
                queued=(len(gate.waiting) if gate else 0)
                + sum(len(g.waiting) for (r, _), g in list(self._users.items()) if r == runtime),
                detached=self._detached.get(runtime, 0),
                refused={w: n for (r, w), n in self._refused.items() if r == runtime},
            )
            for runtime in sorted(runtimes)
        }


_SETTINGS: dict[str, tuple[str, Callable[..., GatewayError]]] = {
    "user": (
        "FLOWHOST_ADMISSION_USER_CONCURRENCY",
        lambda message, **kw: TooManyRequests(message, code="too_many_requests", **kw),
    ),
    "runtime": (
        "FLOWHOST_ADMISSION_RUNTIME_CONCURRENCY",
        lambda message, **kw: Unavailable(message, code="runtime_busy", **kw),
    ),
    "detached": (
        "FLOWHOST_ADMISSION_DETACHED",
        lambda message, **kw: Unavailable(message, code="runtime_busy", **kw),
    ),
}


class Admitted:
    """One admitted request's slots: `release` when it is answered (idempotent); `detach` when
    it is answered WAIT and its execution runs on."""

    __slots__ = ("_admission", "_runtime", "_runtime_gate", "_user_gate", "_user_key")

    def __init__(
        self,
        admission: Admission,
        runtime: str,
        user_key: tuple[str, str],
        runtime_gate: _Gate,
        user_gate: _Gate,
    ) -> None:
        self._admission: Admission | None = admission
        self._runtime = runtime
        self._user_key = user_key
        self._runtime_gate = runtime_gate
        self._user_gate = user_gate

    def release(self) -> None:
        admission = self._admission
        if admission is None:
            return
        self._admission = None
        self._runtime_gate.leave()
        admission._leave_user(self._user_key, self._user_gate)

    def check_detachable(self) -> None:
        """Refuse (503) a request that may run on past WAIT while its runtime has its limit
        of such executions; called before the execution starts."""
        admission = self._admission
        if admission is not None:
            limit = admission.limits.of(self._runtime).detached
            if admission._detached.get(self._runtime, 0) >= limit:
                raise admission._refuse(self._runtime, "detached", limit, 0)

    def detach(self) -> Callable[[], None]:
        """Give the request's slots back and count the execution as detached; the returned
        function ends that (call it once this gateway stops following the execution)."""
        admission = self._admission
        if admission is None:
            return _nothing
        runtime = self._runtime
        detached = admission._detached
        detached[runtime] = detached.get(runtime, 0) + 1
        self.release()
        ended = False

        def end() -> None:
            nonlocal ended
            if not ended:
                ended = True
                detached[runtime] -= 1

        return end


def _nothing() -> None:
    return None


def limits_from_settings(settings: GatewaySettings) -> AdmissionLimits:
    """The operator's FLOWHOST_ADMISSION_* settings as limits (queues: factor x concurrency)."""
    s = settings

    def limit(concurrency: int) -> Limit:
        return Limit(concurrency, int(concurrency * s.admission_queue_factor))

    def runtime_limits(
        runtime: int | None, user: int | None, detached: int | None
    ) -> RuntimeLimits:
        return RuntimeLimits(
            limit(runtime or s.admission_runtime_concurrency),
            limit(user or s.admission_user_concurrency),
            detached or s.admission_detached,
        )

    return AdmissionLimits(
        default=runtime_limits(None, None, None),
        wait_s=s.admission_wait_s,
        refusal_delay_s=s.admission_refusal_delay_s,
        overrides={
            name: runtime_limits(o.runtime, o.user, o.detached)
            for name, o in s.admission_runtimes.items()
        },
    )
