"""One broker connection per (URL, egress rule) on this executor, made on first use.

Connections are shared by every execution of every package here, as the `db` step's engines
are. Keying by the egress rule too means a connection is only used under the rule that checked
it: when the operator changes the runtime's policy, the next step connects (and is checked)
anew. Of one URL, the connections of the last ``KEEP`` rules are kept and an older one is
closed (a step still using it fails, which takes that many policy changes during the step), as
the `http` step's pools are (egress.py). A connection that closed for good (the adapters
reconnect by themselves until then) is replaced on next use. The executor closes them all at
shutdown.
"""

from __future__ import annotations

import asyncio

from ..policy import RuntimePolicy
from . import address
from .interface import Broker

_Key = tuple[str, tuple[str, ...], bool, bool]


class BrokerPool:
    KEEP = 4

    def __init__(self) -> None:
        self._brokers: dict[_Key, Broker] = {}
        self._locks: dict[_Key, asyncio.Lock] = {}

    async def get(self, url: str, policy: RuntimePolicy) -> Broker:
        """The connected broker for ``url`` under ``policy`` (raises StepError)."""
        key = (url, policy.egress_allow, policy.allow_loopback, policy.allow_private)
        found = self._brokers.get(key)
        if found is not None and not found.closed:
            return found
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            found = self._brokers.get(key)
            if found is not None and not found.closed:
                return found
            checked = await address.checked(url, policy)
            made = await _connect(checked, policy)
            self._brokers.pop(key, None)  # a closed one: the new one goes last, as newest
            self._brokers[key] = made
            await self._forget_old_rules(url)
            return made

    async def _forget_old_rules(self, url: str) -> None:
        same_url = [key for key in self._brokers if key[0] == url]
        for key in same_url[: -self.KEEP]:
            self._locks.pop(key, None)
            await self._brokers.pop(key).aclose()

    async def aclose(self) -> None:
        """Close every connection (executor shutdown, tests). Safe to call twice."""
        brokers, self._brokers = list(self._brokers.values()), {}
        self._locks.clear()
        for broker in brokers:
            await broker.aclose()


async def _connect(checked: address.BrokerAddress, policy: RuntimePolicy) -> Broker:
    # Imported here: an executor whose packages use no broker never loads the clients.
    if checked.scheme in ("nats", "tls"):
        from .nats import NatsBroker

        return await NatsBroker.connect(checked)
    if checked.scheme == "redis":
        from .redis_streams import RedisStreamsBroker

        return await RedisStreamsBroker.connect(checked)
    if checked.scheme == "kafka":
        from .kafka import KafkaBroker

        return await KafkaBroker.connect(checked, policy)
    from .amqp import AmqpBroker

    return await AmqpBroker.connect(checked)


BROKERS = BrokerPool()
