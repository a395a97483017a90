"""Find executors and drive each to its runtime's desired deployments.

Executors are found from configured targets, from a DNS name re-resolved every pass (compose
service names, Kubernetes headless services) and from the live registrations of executors that
joined by themselves (`flowhost executor --gateway URL`; a registration wakes a pass at once,
and one that left or expired is dropped like a target no longer listed). Each pass asks every
executor who it is and what it hosts, deploys what its runtime should have, undeploys what it
should not, and (re)opens its execution stream. A restarted executor is therefore brought back
without anyone redeploying, and one that stopped answering stops getting traffic the moment its
stream breaks.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from gateway.executor_client import ExecutorConnection
from gateway.lifecycle import Lifecycle
from gateway.link import ClusterLink
from gateway.periodic import Periodic
from gateway.policy import RuntimePolicy
from gateway.routing import ExecutorPool

log = logging.getLogger("flowhost.gateway")

#: How long a dropped executor's connection may finish the requests it was sent (see `_drop`).
DROP_GRACE_S = 30.0
DROP_POLL_S = 0.05


@dataclass(frozen=True, slots=True)
class ExecutorStatus:
    address: str
    runtime: str
    executor_id: str
    ready: bool
    deployments: tuple[str, ...]
    outstanding: int
    problem: str
    connected_at: float | None = None  # epoch seconds its stream opened; None: not streaming
    carrier: str = ""  # "link" or "grpc" (gateway/execution_stream.py); "": not streaming


class Reconciler(Lifecycle):
    def __init__(
        self,
        pool: ExecutorPool,
        desired: Callable[[str], dict[str, str]],
        targets: list[str],
        dns: str,
        interval_s: float,
        link: ClusterLink,
        policy: Callable[[str], RuntimePolicy] | None = None,
        registered: Callable[[], Awaitable[set[str]]] | None = None,
        link_poll_s: float = 0.0,
    ) -> None:
        self._pool = pool
        self._link = link
        self._link_poll_s = link_poll_s
        # The runtime's policy, pushed to each executor before it gets deployments or traffic.
        self._policy = policy
        self._desired = desired
        self._targets = targets
        self._dns = dns
        self._registered = registered
        self._lock = asyncio.Lock()
        self._problems: dict[str, str] = {}
        self._loop = Periodic("reconciler", self.reconcile, interval_s)
        #: Per unreachable executor: a task that wakes the loop the moment it connects again.
        self._watchers: dict[str, asyncio.Task[None]] = {}
        #: Connections of dropped executors, closing once their requests have answered.
        self._closing: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()
        for task in (*self._watchers.values(), *self._closing):
            task.cancel()
        await asyncio.gather(*self._watchers.values(), *self._closing, return_exceptions=True)
        self._watchers.clear()
        self._closing.clear()

    def _drop(self, connection: ExecutorConnection) -> None:
        """Close a connection no longer listed once its outstanding requests have answered.

        One that left (a draining executor de-registers) answers what it was sent, a refusal
        the gateway retries on another executor; closing at once would fail those requests
        instead. A connection still busy after DROP_GRACE_S is closed all the same."""
        closing = self._close_when_idle(connection)
        task = asyncio.create_task(closing, name=f"drop {connection.address}")
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    @staticmethod
    async def _close_when_idle(connection: ExecutorConnection) -> None:
        for _ in range(int(DROP_GRACE_S / DROP_POLL_S)):
            if not connection.outstanding or not connection.streaming:
                break
            await asyncio.sleep(DROP_POLL_S)
        await connection.close()

    def wake(self) -> None:
        """Run a pass now (an executor registered or left), not at the next interval."""
        self._loop.wake()

    def _watch(self, connection: ExecutorConnection) -> None:
        """Reconcile as soon as ``connection`` connects, not at the next pass (issue 19)."""
        watcher = self._watchers.get(connection.address)
        if connection.connected or (watcher is not None and not watcher.done()):
            return  # a problem other than reachability waits for the next pass, as before
        self._watchers[connection.address] = asyncio.create_task(
            self._wake_when_reachable(connection), name=f"reach {connection.address}"
        )

    async def _wake_when_reachable(self, connection: ExecutorConnection) -> None:
        try:
            await connection.until_reachable()
        except Exception:  # a closed channel: the connection is gone, nothing to wake for
            return
        if not connection.closed:
            self._loop.wake()

    async def reconcile(self) -> None:
        """One pass over every executor; callers await it to know a change has been applied."""
        async with self._lock:
            addresses = await self._addresses()
            connections = self._pool.connections
            for address in set(connections) - addresses:
                watcher = self._watchers.pop(address, None)
                if watcher is not None:
                    watcher.cancel()
                log.info("executor %s is no longer listed; dropping it", address)
                self._pool.forget(address)
                self._drop(connections.pop(address))
            for address in addresses - set(connections):
                connections[address] = ExecutorConnection(address, self._link, self._link_poll_s)
            await asyncio.gather(*(self._reconcile_one(c) for c in connections.values()))
            ready: dict[str, list[ExecutorConnection]] = {}
            for connection in connections.values():
                info = connection.info
                healthy = connection.address not in self._problems
                if healthy and connection.streaming and info is not None and not info.draining:
                    ready.setdefault(info.runtime, []).append(connection)
            for runtime in {c.info.runtime for c in connections.values() if c.info} | set(ready):
                self._pool.set_ready(runtime, ready.get(runtime, []))

    async def _reconcile_one(self, connection: ExecutorConnection) -> None:
        address = connection.address
        try:
            info = await connection.describe()
            if self._policy is not None:
                policy = self._policy(info.runtime)
                if info.policy_digest != policy.digest:
                    await connection.configure(policy)
                    info = await connection.describe()  # now reports the digest it holds
                    log.info(
                        "executor %s: runtime %s policy %s applied",
                        address,
                        info.runtime,
                        policy.digest,
                    )
            desired = self._desired(info.runtime)
            for key in sorted(set(desired) - info.deployments):
                issues = await connection.deploy(key, desired[key])
                if issues:
                    raise RuntimeError(
                        f"rejected {key}: " + "; ".join(f"{i.path}: {i.message}" for i in issues)
                    )
            for key in sorted(info.deployments - set(desired)):
                await connection.undeploy(key)
            if set(desired) != info.deployments:
                info = await connection.describe()
            if not connection.streaming:
                await connection.open_stream()
                log.info(
                    "executor %s ready: runtime=%s id=%s deployments=%s",
                    address,
                    info.runtime,
                    info.executor_id,
                    ",".join(sorted(info.deployments)) or "-",
                )
            self._problems.pop(address, None)
        except Exception as error:
            problem = getattr(error, "details", lambda: None)() or str(error)
            if self._problems.get(address) != problem:
                log.warning("executor %s not ready: %s", address, problem)
            self._problems[address] = problem
            self._watch(connection)

    async def _addresses(self) -> set[str]:
        addresses = set(self._targets) | await self._registrations()
        if self._dns:
            for name in filter(None, (part.strip() for part in self._dns.split(","))):
                found = await _resolve(name)
                if found is None:  # keep what we know: a DNS blip must not drop live executors
                    found = {a for a in self._pool.connections if a not in self._targets}
                addresses |= found
        return addresses

    async def _registrations(self) -> set[str]:
        if self._registered is None:
            return set()
        try:
            return await self._registered()
        except Exception as error:  # a store blip must not drop live executors
            log.warning("cannot read executor registrations: %s", error)
            return {a for a in self._pool.connections if a not in self._targets}

    def statuses(self) -> list[ExecutorStatus]:
        result = []
        for address, connection in sorted(self._pool.connections.items()):
            info = connection.info
            problem = self._problems.get(address, "")
            result.append(
                ExecutorStatus(
                    address=address,
                    runtime=info.runtime if info else "",
                    executor_id=info.executor_id if info else "",
                    ready=connection.accepting and not problem and bool(info and not info.draining),
                    deployments=tuple(sorted(info.deployments)) if info else (),
                    outstanding=connection.outstanding,
                    problem=problem,
                    connected_at=connection.connected_at if connection.streaming else None,
                    carrier=connection.carrier if connection.streaming else "",
                )
            )
        return result

    def connections_of(self, runtime: str) -> list[ExecutorConnection]:
        return [
            c
            for c in self._pool.connections.values()
            if c.info is not None and c.info.runtime == runtime and c.address not in self._problems
        ]


async def _resolve(name: str) -> set[str] | None:
    """The addresses a `host:port` name resolves to (a headless Service: one per pod); None
    when it cannot be resolved now."""
    host, _, port = name.rpartition(":")
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, int(port), type=socket.SOCK_STREAM
        )
    except (OSError, ValueError) as error:
        log.warning("cannot resolve executors at %s: %s", name, error)
        return None
    return {
        f"[{sockaddr[0]}]:{port}" if family == socket.AF_INET6 else f"{sockaddr[0]}:{port}"
        for family, _, _, _, sockaddr in infos
    }
