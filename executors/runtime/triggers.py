"""A package's `triggers:`: what starts its processes besides Flow, checked at deploy.

Executors never run triggers (the gateway does: gateway/triggers/); they validate them here, with
a path for every issue (`triggers[1].schedule.cron`), so a bad cron expression, an unknown time
zone or a process that does not exist is refused at deploy instead of failing at 3 a.m.
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass
from typing import Any, Protocol

from croniter import croniter

from .compile import describe

TRIGGER_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
KINDS = ("webhook", "schedule", "subscribe")
BODIES = ("json", "raw")
MISSED = ("skip", "once")
#: `{name}` in a subject: only these, filled from configuration values of the same name.
PLACEHOLDERS = ("prefix", "suffix")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_SUBJECT = re.compile(r"^[A-Za-z0-9_.*>{}:/-]+$")
_TOPIC = re.compile(r"^[A-Za-z0-9_.{}-]{1,249}$")

DEFAULT_REPLAY_WINDOW_S = 300
MAX_REPLAY_WINDOW_S = 3600
DEFAULT_WEBHOOK_BODY_BYTES = 1024 * 1024
MAX_WEBHOOK_BODY_BYTES = 64 * 1024 * 1024  # the gateway's FLOWHOST_WEBHOOK_BODY_MAX_BYTES caps it
MIN_EVERY_S = 1.0
MAX_EVERY_S = 366 * 86400.0
DEFAULT_ATTEMPTS = 5
MAX_ATTEMPTS = 100
DEFAULT_BACKOFF_S = 1.0
MAX_BACKOFF_S = 60.0
DEFAULT_CONCURRENCY = 4
MAX_CONCURRENCY = 64
MAX_TRIGGERS = 100  # per package: each is a consumer, a schedule or a route on every gateway


@dataclass(frozen=True)
class WebhookDef:
    secret: str = ""
    users: bool = True
    body: str = "json"
    respond_async: bool = False
    replay_window_s: int = DEFAULT_REPLAY_WINDOW_S
    max_body_bytes: int = DEFAULT_WEBHOOK_BODY_BYTES


@dataclass(frozen=True)
class ScheduleDef:
    cron: str = ""
    every_ms: int = 0
    timezone: str = "UTC"
    missed: str = "skip"


@dataclass(frozen=True)
class SubscribeDef:
    broker: str
    subject: str
    stream: str = ""
    attempts: int = DEFAULT_ATTEMPTS
    backoff_ms: int = int(DEFAULT_BACKOFF_S * 1000)
    dead_letter: str = ""
    concurrency: int = DEFAULT_CONCURRENCY
    topic: str = ""  # Kafka: the topic instead of a subject


@dataclass(frozen=True)
class TriggerDef:
    name: str
    process: str
    summary: str = ""
    webhook: WebhookDef | None = None
    schedule: ScheduleDef | None = None
    subscribe: SubscribeDef | None = None


class Shapes(Protocol):
    """The package checker's generic checks (package.py `_Checker`)."""

    def add(self, path: str, message: str) -> None: ...
    def mapping(
        self, value: Any, path: str, required: tuple[str, ...], optional: tuple[str, ...]
    ) -> dict[str, Any] | None: ...
    def string(
        self,
        value: Any,
        path: str,
        *,
        pattern: re.Pattern[str] | None = None,
        what: str = "",
        scalars: bool = False,
    ) -> str: ...
    def boolean(self, value: Any, path: str) -> bool: ...
    def duration_ms(self, value: Any, path: str, default_s: float) -> int: ...
    def items(self, value: Any, path: str) -> list[tuple[str, Any]]: ...
    def reference(self, value: Any, path: str, names: Any, kind: str) -> str: ...
    def unique(self, names: list[tuple[str, str]], kind: str) -> None: ...


def check_triggers(
    shapes: Shapes, raw: Any, path: str, processes: Any, config: frozenset[str]
) -> list[TriggerDef]:
    """The triggers of a package; every issue is added to `shapes` with its path.
    `config` names the package's configuration values (brokers and secrets live there)."""
    result: list[TriggerDef] = []
    listed = shapes.items(raw, path)
    if len(listed) > MAX_TRIGGERS:
        shapes.add(path, f"at most {MAX_TRIGGERS} triggers per package, got {len(listed)}")
        return result
    for here, item in listed:
        body = shapes.mapping(item, here, ("name", "process"), ("summary", *KINDS))
        if body is None:
            continue
        kinds = [k for k in KINDS if k in body]
        if len(kinds) != 1:
            shapes.add(
                here,
                f"a trigger needs exactly one of {', '.join(KINDS)}, got "
                f"{', '.join(kinds) or 'none'}",
            )
        checks = _Kinds(shapes, config)
        result.append(
            TriggerDef(
                name=shapes.string(
                    body.get("name"), f"{here}.name", pattern=TRIGGER_NAME, what="trigger name"
                ),
                process=shapes.reference(
                    body.get("process"), f"{here}.process", processes, "process"
                ),
                summary=shapes.string(body.get("summary"), f"{here}.summary"),
                webhook=checks.webhook(body["webhook"], f"{here}.webhook")
                if "webhook" in body
                else None,
                schedule=checks.schedule(body["schedule"], f"{here}.schedule")
                if "schedule" in body
                else None,
                subscribe=checks.subscribe(body["subscribe"], f"{here}.subscribe")
                if "subscribe" in body
                else None,
            )
        )
    shapes.unique([(f"{path}[{i}].name", t.name) for i, t in enumerate(result)], "trigger")
    return result


class _Kinds:
    def __init__(self, shapes: Shapes, config: frozenset[str]) -> None:
        self.s = shapes
        self.config = config

    def webhook(self, raw: Any, path: str) -> WebhookDef:
        optional = ("secret", "users", "body", "async", "replay_window", "max_body_bytes")
        body = self.s.mapping(raw if raw is not None else {}, path, (), optional)
        if body is None:
            return WebhookDef()
        secret = self.config_name(body.get("secret"), f"{path}.secret")
        users = (
            True if body.get("users") is None else self.s.boolean(body["users"], f"{path}.users")
        )
        if not secret and not users:
            self.s.add(path, "a webhook nobody can call: set `secret`, or leave `users` true")
        kind = body.get("body", "json")
        if kind not in BODIES:
            self.s.add(f"{path}.body", f"expected one of {', '.join(BODIES)}, got {kind!r}")
            kind = "json"
        window_ms = self.s.duration_ms(
            body.get("replay_window"), f"{path}.replay_window", DEFAULT_REPLAY_WINDOW_S
        )
        window_s = self.bounded(window_ms / 1000, 1, MAX_REPLAY_WINDOW_S, f"{path}.replay_window")
        return WebhookDef(
            secret=secret,
            users=users,
            body=kind,
            respond_async=self.s.boolean(body.get("async"), f"{path}.async"),
            replay_window_s=int(window_s),
            max_body_bytes=int(
                self.integer(
                    body.get("max_body_bytes"),
                    f"{path}.max_body_bytes",
                    DEFAULT_WEBHOOK_BODY_BYTES,
                    1,
                    MAX_WEBHOOK_BODY_BYTES,
                )
            ),
        )

    def schedule(self, raw: Any, path: str) -> ScheduleDef:
        body = self.s.mapping(raw, path, (), ("cron", "every", "timezone", "missed"))
        if body is None:
            return ScheduleDef()
        if ("cron" in body) == ("every" in body):
            self.s.add(path, "a schedule needs exactly one of cron, every")
        cron = self.s.string(body.get("cron"), f"{path}.cron")
        if cron and not croniter.is_valid(cron):
            self.s.add(f"{path}.cron", f"{cron!r} is not a valid cron expression")
        every_ms = 0
        if "every" in body:
            every_ms = self.s.duration_ms(body["every"], f"{path}.every", MIN_EVERY_S)
            self.bounded(every_ms / 1000, MIN_EVERY_S, MAX_EVERY_S, f"{path}.every")
        zone = self.s.string(body.get("timezone"), f"{path}.timezone") or "UTC"
        try:
            zoneinfo.ZoneInfo(zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            self.s.add(
                f"{path}.timezone", f"{zone!r} is not a known time zone (e.g. Europe/Berlin)"
            )
        missed = body.get("missed", "skip")
        if missed not in MISSED:
            self.s.add(f"{path}.missed", f"expected one of {', '.join(MISSED)}, got {missed!r}")
            missed = "skip"
        return ScheduleDef(cron=cron, every_ms=every_ms, timezone=zone, missed=missed)

    def subscribe(self, raw: Any, path: str) -> SubscribeDef:
        optional = ("subject", "topic", "stream", "attempts", "backoff", "dead_letter")
        body = self.s.mapping(raw, path, ("broker",), (*optional, "concurrency"))
        if body is None:
            return SubscribeDef(broker="", subject="")
        if ("subject" in body) == ("topic" in body):
            self.s.add(
                path,
                "a subscribe needs exactly one of subject (NATS subject, RabbitMQ queue) "
                "or topic (Kafka)",
            )
        if "topic" in body and "stream" in body:
            self.s.add(
                f"{path}.stream",
                "stream is NATS-only (a JetStream stream); a Kafka topic has none",
            )
        backoff_ms = self.s.duration_ms(body.get("backoff"), f"{path}.backoff", DEFAULT_BACKOFF_S)
        self.bounded(backoff_ms / 1000, 0, MAX_BACKOFF_S, f"{path}.backoff")
        return SubscribeDef(
            broker=self.config_name(body.get("broker"), f"{path}.broker"),
            subject=self.subject(body.get("subject"), f"{path}.subject"),
            topic=self.topic(body.get("topic"), f"{path}.topic"),
            stream=self.s.string(body.get("stream"), f"{path}.stream"),
            attempts=int(
                self.integer(
                    body.get("attempts"), f"{path}.attempts", DEFAULT_ATTEMPTS, 1, MAX_ATTEMPTS
                )
            ),
            backoff_ms=backoff_ms,
            dead_letter=self.subject(body.get("dead_letter"), f"{path}.dead_letter"),
            concurrency=int(
                self.integer(
                    body.get("concurrency"),
                    f"{path}.concurrency",
                    DEFAULT_CONCURRENCY,
                    1,
                    MAX_CONCURRENCY,
                )
            ),
        )

    def config_name(self, value: Any, path: str) -> str:
        name = self.s.string(value, path)
        if name and name not in self.config:
            known = ", ".join(sorted(self.config)) or "none"
            self.s.add(
                path,
                f"no configuration value named '{name}' in service.configuration (declared: "
                f"{known})",
            )
        return name

    def subject(self, value: Any, path: str) -> str:
        subject = self.s.string(value, path)
        if not subject:
            return subject
        if not _SUBJECT.match(subject):
            self.s.add(path, f"{subject!r} is not a valid subject or queue name")
        for name in _PLACEHOLDER.findall(subject):
            if name not in PLACEHOLDERS:
                self.s.add(path, f"unknown placeholder {{{name}}}: only {{prefix}} and {{suffix}}")
            elif name not in self.config:
                self.s.add(
                    path, f"{{{name}}} needs a configuration value named '{name}' to fill it"
                )
        return subject

    def topic(self, value: Any, path: str) -> str:
        """A subject whose characters Kafka accepts in a topic name, so a bad one is refused
        here rather than by the broker at the first message."""
        topic = self.subject(value, path)
        if topic and not _TOPIC.match(topic):
            self.s.add(path, f"{topic!r} is not a Kafka topic name (letters, digits, . _ -)")
        return topic

    def integer(self, value: Any, path: str, default: int, low: int, high: int) -> float:
        if value is None:
            return default
        if not isinstance(value, int) or isinstance(value, bool):
            self.s.add(path, f"expected a whole number, got {describe(value)}")
            return default
        return self.bounded(value, low, high, path)

    def bounded(self, value: float, low: float, high: float, path: str) -> float:
        if not low <= value <= high:
            self.s.add(path, f"must be between {low:.15g} and {high:.15g}, got {value:.15g}")
            return max(low, min(high, value))
        return value


__all__ = [
    "KINDS",
    "ScheduleDef",
    "SubscribeDef",
    "TriggerDef",
    "WebhookDef",
    "check_triggers",
]
