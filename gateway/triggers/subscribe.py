"""Subscribe triggers: consume a broker's subject or queue; each message runs the process.

One consumer per (runtime, package, trigger) on every gateway, started when a version with the
trigger is active and not paused, stopped when it goes away or is paused (the messages wait in
the broker), restarted when its broker URL or subject changes. Gateways compete for the same
durable consumer / queue, so each message runs once. A consumer that cannot connect retries
with back-off and shows why in `flowhost status` (`problem`), the URL's credentials left out.

The broker URL is a configuration value the operator sets (the package default otherwise);
its host must pass the runtime's egress policy, as callbacks do (gateway/egress.py): every
connection resolves the host once and goes to the first address that passes, as a literal
(`_pinned`), so the name cannot rebind between the check and the connection.
`nats_consumer.py`, `amqp_consumer.py` and `kafka_consumer.py` speak the brokers; `delivery.py`
runs a message.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import ipaddress
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit, urlunsplit

from gateway import egress
from gateway.errors import GatewayError
from gateway.lifecycle import Lifecycle
from gateway.periodic import Periodic
from gateway.policy import RuntimePolicy
from gateway.services import DeployedService, ServiceRegistry
from gateway.spec import SubscribeSpec, TriggerSpec
from gateway.triggers.amqp_consumer import consume_amqp
from gateway.triggers.delivery import SCHEMES, Delivery, Subscription
from gateway.triggers.fires import Key
from gateway.triggers.kafka_consumer import consume_kafka
from gateway.triggers.nats_consumer import consume_nats
from gateway.triggers.run import TriggerRunner

__all__ = ["Subscriptions"]

log = logging.getLogger("flowhost.gateway")

RECONNECT_MIN_S = 0.5
RECONNECT_MAX_S = 30.0


#: A broker's consumer: runs until cancelled or the connection fails for good, calling its last
#: argument with "" once it consumes and with a problem's text while it cannot connect.
Consume = Callable[[Subscription, Delivery, Callable[[str], None]], Awaitable[None]]
Pin = Callable[[Subscription], Awaitable[Subscription]]


class _Consumer:
    """One subscription's task: connect, consume, and on any failure reconnect with back-off.
    Every connection goes to the address `pin` checked for it."""

    def __init__(
        self, subscription: Subscription, delivery: Delivery, consume: Consume, pin: Pin
    ) -> None:
        self.subscription = subscription
        self.problem = "connecting"
        self._delivery = delivery
        self._consume = consume
        self._pin = pin
        self._at = ""
        self._wait = RECONNECT_MIN_S
        self._task = asyncio.create_task(self._loop(), name=f"subscribe {subscription.durable}")

    def _report(self, problem: str) -> None:
        self.problem = f"{self.subscription.where}{self._at}: {problem}" if problem else ""
        if not problem:  # consuming: the next outage's retries start from the shortest wait
            self._wait = RECONNECT_MIN_S

    async def _loop(self) -> None:
        s = self.subscription
        while True:
            self._at = ""  # the address this attempt connects to, once checked
            try:
                pinned = await self._pin(s)
                self._at = f" at {urlsplit(pinned.url).hostname}"
                await self._consume(pinned, self._delivery, self._report)
                self.problem = "the broker closed the subscription"
            except asyncio.CancelledError:
                raise
            except Exception as error:  # a broker's or network's, whatever its library raises
                self._report(f"{type(error).__name__}: {str(error)[:300]}")
                log.warning(
                    "subscribe %s: %s; retrying in %.1f s", s.durable, self.problem, self._wait
                )
            await asyncio.sleep(self._wait)
            self._wait = min(self._wait * 2, RECONNECT_MAX_S)

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


class Subscriptions(Lifecycle):
    """Keeps one consumer running per active, unpaused subscribe trigger."""

    def __init__(
        self,
        registry: ServiceRegistry,
        runner: TriggerRunner,
        policy: Callable[[str], RuntimePolicy],
        *,
        message_max_bytes: int,
        interval_s: float = 1.0,
    ) -> None:
        self._registry = registry
        self._runner = runner
        self._policy = policy
        self._message_max_bytes = message_max_bytes
        self._consumers: dict[Key, _Consumer] = {}
        self._refused: dict[Key, str] = {}
        self._egress_refused: dict[Key, tuple[Subscription, str]] = {}
        self._kinds: dict[str, Consume] = {
            "nats": consume_nats,
            "amqp": consume_amqp,
            "kafka": functools.partial(consume_kafka, policy=policy),
        }
        self._loop = Periodic("subscribe triggers", self._reconcile, interval_s)

    def problem(self, key: Key) -> str:
        """Why the trigger is not consuming now; empty when it is."""
        consumer = self._consumers.get(key)
        if consumer is not None:
            return consumer.problem
        return self._refused.get(key, "not started yet")

    async def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()
        consumers, self._consumers = self._consumers, {}
        for consumer in consumers.values():
            await consumer.stop()

    async def _reconcile(self) -> None:
        wanted: dict[Key, tuple[Subscription, Delivery, Consume]] = {}
        refused: dict[Key, str] = {}
        for service in self._registry.every_service():
            for trigger in service.spec.triggers:
                if trigger.subscribe is None:
                    continue
                key = (service.runtime, service.spec.name, trigger.name)
                if self._runner.listener(service, trigger).pause is not None:
                    refused[key] = "paused by the operator: not consuming"
                    continue
                try:
                    subscription, consume = await self._resolve(key, service, trigger)
                except GatewayError as error:
                    refused[key] = error.message
                    continue
                delivery = Delivery(self._runner, service, trigger, self._message_max_bytes)
                wanted[key] = (subscription, delivery, consume)
        for key, consumer in list(self._consumers.items()):
            if key not in wanted or wanted[key][0] != consumer.subscription:
                del self._consumers[key]
                await consumer.stop()
        for key, (subscription, delivery, consume) in wanted.items():
            if key in self._consumers:
                continue
            seen = self._egress_refused.get(key)
            problem = (
                seen[1]
                if seen is not None and seen[0] == subscription
                else await self._egress_refusal(subscription)
            )
            if problem is not None:
                self._egress_refused[key] = (subscription, problem)
                refused[key] = problem
                continue
            self._egress_refused.pop(key, None)
            self._consumers[key] = _Consumer(subscription, delivery, consume, self._pinned)
        self._refused = refused

    async def _resolve(
        self, key: Key, service: DeployedService, trigger: TriggerSpec
    ) -> tuple[Subscription, Consume]:
        spec = trigger.subscribe
        assert spec is not None
        url = self._runner.config_value(service, spec.broker)
        if not url:
            raise GatewayError(
                f"configuration value '{spec.broker}' (the broker URL) is not set: "
                f"flowhost config set {spec.broker} URL --runtime {service.runtime}"
            )
        parts = urlsplit(url)
        consume = self._kinds.get(parts.scheme)
        if consume is None or not parts.hostname:
            raise GatewayError(
                f"configuration value '{spec.broker}' is not a broker URL this gateway speaks "
                f"(nats://host:port, amqp://user:password@host:port/vhost or "
                f"kafka://host:port), got scheme {parts.scheme!r}"
            )
        _check_destination(spec, parts.scheme, url)
        fill: dict[str, str] = {
            name: self._runner.config_value(service, name)
            for name in ("prefix", "suffix")
            if name in service.declared_config
        }
        subscription = Subscription(
            key=key,
            deployment=service.key,
            url=url,
            subject=_fill(spec.topic or spec.subject, fill),
            dead_letter=_fill(spec.dead_letter, fill),
            spec=spec,
            run_timeout_s=(service.spec.timeout_ms(trigger.process) or 300_000) / 1000,
            policy_digest=self._policy(service.runtime).digest,
        )
        return subscription, consume

    async def _egress_refusal(self, s: Subscription) -> str | None:
        """Why the runtime's egress policy refuses the broker, or None. Checked when a
        consumer starts (a changed policy restarts it), never on every pass."""
        parts = urlsplit(s.url)
        host, port = parts.hostname or "", parts.port or SCHEMES[parts.scheme]
        refused = await egress.check_uri(self._policy(s.key[0]), host, port)
        return None if refused is None else _refused(s, host, port, refused)

    async def _pinned(self, s: Subscription) -> Subscription:
        """`s` with its URL's host replaced by the address the runtime's policy allows now;
        raises (the consumer's problem, retried with back-off) when none does."""
        parts = urlsplit(s.url)
        host, port = parts.hostname or "", parts.port or SCHEMES[parts.scheme]
        try:
            address = await egress.pin(self._policy(s.key[0]), host, port)
        except egress.EgressRefused as refused:
            raise PermissionError(_refused(s, host, port, str(refused))) from None
        literal = f"[{address}]" if isinstance(address, ipaddress.IPv6Address) else str(address)
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@{literal}:{port}" if userinfo else f"{literal}:{port}"
        return dataclasses.replace(s, url=urlunsplit(parts._replace(netloc=netloc)))


def _refused(s: Subscription, host: str, port: int, reason: str) -> str:
    return f"broker {host}:{port} is refused by runtime '{s.key[0]}' egress policy: {reason}"


def _check_destination(spec: SubscribeSpec, scheme: str, url: str) -> None:
    """The package names a topic or a subject (checked at deploy); which one the broker needs
    is known only now, from the operator's URL."""
    if scheme == "kafka" and not spec.topic:
        raise GatewayError(
            f"configuration value '{spec.broker}' is a kafka:// broker: the trigger needs "
            f"topic, not subject"
        )
    if scheme != "kafka" and spec.topic:
        raise GatewayError(
            f"configuration value '{spec.broker}' is a {scheme}:// broker: topic is Kafka's, "
            f"the trigger needs subject"
        )
    if scheme == "kafka" and (urlsplit(url).username or urlsplit(url).password):
        raise GatewayError(
            f"configuration value '{spec.broker}': kafka:// with credentials (SASL) is not "
            f"supported yet"
        )


def _fill(subject: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        subject = subject.replace("{" + name + "}", value)
    return subject
