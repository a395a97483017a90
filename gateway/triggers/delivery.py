"""One subscribe trigger as its consumer sees it (`Subscription`) and what runs a message
(`Delivery`): the process, or the reason it failed, which the dead letter carries.

The consumers (nats_consumer.py, amqp_consumer.py, kafka_consumer.py) decide the rest the same
way: a failed attempt waits `backoff_s(attempt)` (the trigger's `backoff`, doubled each time,
at most 60 s) before the next; after `attempts` the message goes to the dead letter and is
acknowledged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

from gateway.errors import GatewayError
from gateway.services import DeployedService
from gateway.spec import SubscribeSpec, TriggerSpec
from gateway.triggers.fires import Key
from gateway.triggers.run import TriggerRunner

__all__ = ["ERROR_HEADER", "SCHEMES", "Delivery", "Subscription", "gave_up"]

log = logging.getLogger("flowhost.gateway")

SCHEMES = {"nats": 4222, "amqp": 5672, "kafka": 9092}
BACKOFF_MAX_S = 60.0
#: On a dead-lettered message: why its last attempt failed.
ERROR_HEADER = "x-flowhost-error"


@dataclass(frozen=True, slots=True)
class Subscription:
    """What one consumer needs, resolved: a change of any of it restarts the consumer."""

    key: Key
    deployment: str
    url: str
    subject: str
    dead_letter: str
    spec: SubscribeSpec
    #: Longest a run may take (the process deadline): JetStream's ack wait must outlast it.
    run_timeout_s: float
    #: The runtime policy the broker's host was checked against.
    policy_digest: str = ""

    @property
    def durable(self) -> str:
        """The name gateways share: the JetStream durable consumer, the NATS queue group, the
        Kafka consumer group."""
        raw = "_".join(("flowhost", *self.key))
        return "".join(c if c.isalnum() or c in "_-" else "_" for c in raw)

    @property
    def where(self) -> str:
        """The broker without credentials, for logs and status."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.hostname}:{parts.port or SCHEMES.get(parts.scheme, 0)}"

    def backoff_s(self, attempt: int) -> float:
        """The wait after the `attempt`-th failed run."""
        return min(self.spec.backoff_ms / 1000 * 2.0 ** (attempt - 1), BACKOFF_MAX_S)


class Delivery:
    """Runs one message's process: True when it succeeded. Failures are logged with the
    attempt, so the operator sees retries before the dead letter."""

    def __init__(
        self,
        runner: TriggerRunner,
        service: DeployedService,
        trigger: TriggerSpec,
        message_max_bytes: int,
    ) -> None:
        self._runner = runner
        self._service = service
        self._trigger = trigger
        self.message_max_bytes = message_max_bytes

    async def run(self, body: bytes, headers: dict[str, str], attempt: int) -> str | None:
        """None when the process succeeded; else why not (what the dead letter carries)."""
        if len(body) > self.message_max_bytes:
            return (
                f"message of {len(body)} bytes is larger than the limit of "
                f"{self.message_max_bytes} (FLOWHOST_SUBSCRIBE_MESSAGE_MAX_BYTES)"
            )
        properties = {str(k): str(v) for k, v in headers.items()}
        properties["attempt"] = str(attempt)
        try:
            execution = self._runner.execution(self._service, self._trigger, body, properties)
            fired = await self._runner.run(self._service, self._trigger, execution)
        except GatewayError as error:
            problem = error.message
        else:
            result = fired.result
            if result.status == "ok":
                return None
            detail = result.error.message if result.error else "no detail"
            problem = f"execution {fired.execution_id} {result.status}: {detail}"
        log.warning(
            "subscribe %s/%s attempt %d: %s",
            self._service.spec.name,
            self._trigger.name,
            attempt,
            problem,
        )
        return problem


def gave_up(s: Subscription, problem: str) -> None:
    """Log a message's last failed attempt, and where it goes."""
    where = f"dead-lettered to {s.dead_letter!r}" if s.dead_letter else "dropped (no dead_letter)"
    log.error("subscribe %s: %s after %d attempts: %s", s.durable, where, s.spec.attempts, problem)
