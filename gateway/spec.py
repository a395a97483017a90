"""The gateway's view of a deployed package: the Flow-facing part an executor validated.

Plain frozen dataclasses; `gateway.translate` builds them from protobuf, the store keeps them as
JSON, and the Flow protocol code (`gateway.flow`) serves Flow from them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class ConfigSpec:
    name: str
    type: str = "string"  # string | number | boolean | datetime | password
    required: bool = False
    default: str = ""
    summary: str = ""
    #: "operator": only the runtime's operator sets it, a Flow-supplied value is refused;
    #: "flow": Flow's configurationValues may set it too (docs/packages.md, `set_by`).
    set_by: str = "flow"

    @property
    def flow_settable(self) -> bool:
        return self.set_by == "flow"

    @property
    def secret(self) -> bool:
        return self.type == "password"


@dataclass(frozen=True, slots=True)
class ActionSpec:
    name: str
    process: str
    request: str = ""  # profile name; empty: no inputs
    response: str = ""  # profile name; empty: no outputs
    sync_timeout_ms: int = 30_000
    wait_message: str = ""
    summary: str = ""
    outcomes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DataSpec:
    type: str
    profile: str
    id: str
    load: str = ""
    save: str = ""
    delete: str = ""


@dataclass(frozen=True, slots=True)
class FileSpec:
    path: str
    list: str = ""
    upload: str = ""
    download: str = ""


@dataclass(frozen=True, slots=True)
class WebhookSpec:
    secret: str = ""  # the configuration value holding the HMAC secret; empty: no signatures
    users: bool = True  # a runtime user's basic auth is accepted too
    body: str = "json"  # json | raw
    respond_async: bool = False  # answer 202 {executionId} at once
    replay_window_s: int = 300
    max_body_bytes: int = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ScheduleSpec:
    cron: str = ""
    every_ms: int = 0
    timezone: str = "UTC"
    missed: str = "skip"  # skip | once


@dataclass(frozen=True, slots=True)
class SubscribeSpec:
    broker: str  # the configuration value holding the broker URL
    subject: str
    stream: str = ""  # NATS JetStream stream; empty: core NATS with a queue group
    attempts: int = 5
    backoff_ms: int = 1000
    dead_letter: str = ""
    concurrency: int = 4
    topic: str = ""  # Kafka topic, instead of subject


@dataclass(frozen=True, slots=True)
class TriggerSpec:
    """A trigger of the package (docs/packages.md "Triggers"): exactly one kind is set."""

    name: str
    process: str
    summary: str = ""
    webhook: WebhookSpec | None = None
    schedule: ScheduleSpec | None = None
    subscribe: SubscribeSpec | None = None

    @property
    def kind(self) -> str:
        if self.webhook is not None:
            return "webhook"
        return "schedule" if self.schedule is not None else "subscribe"

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> TriggerSpec:
        webhook, schedule, subscribe = raw.get("webhook"), raw.get("schedule"), raw.get("subscribe")
        return cls(
            name=raw["name"],
            process=raw["process"],
            summary=raw.get("summary", ""),
            webhook=WebhookSpec(**webhook) if webhook else None,
            schedule=ScheduleSpec(**schedule) if schedule else None,
            subscribe=SubscribeSpec(**subscribe) if subscribe else None,
        )


@dataclass(frozen=True, slots=True)
class DeployWarning:
    """Valid but probably unmeant (executors/runtime/deploy_warnings.py); `path` in the file."""

    path: str
    message: str


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """One package version: its identity and the service it offers Flow."""

    name: str
    version: str
    service_path: str
    summary: str = ""
    configuration: tuple[ConfigSpec, ...] = ()
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> JSON Schema
    actions: tuple[ActionSpec, ...] = ()
    data: tuple[DataSpec, ...] = ()
    files: tuple[FileSpec, ...] = ()
    processes: tuple[str, ...] = ()
    #: Each process's deadline (ms); empty for a spec stored before executors sent them.
    process_timeouts_ms: dict[str, int] = field(default_factory=dict)
    #: What the executor's validation warned about (empty for a spec stored before warnings).
    warnings: tuple[DeployWarning, ...] = ()
    #: What starts its processes besides Flow (gateway/triggers/).
    triggers: tuple[TriggerSpec, ...] = ()

    @property
    def key(self) -> str:
        """The deployment key executors know this version by."""
        return f"{self.name}@{self.version}"

    def timeout_ms(self, process: str) -> int:
        """The process's deadline in ms; 0 when unknown (the executor applies its own)."""
        return self.process_timeouts_ms.get(process, 0)

    def trigger(self, name: str) -> TriggerSpec | None:
        return next((t for t in self.triggers if t.name == name), None)

    def action(self, name: str) -> ActionSpec | None:
        return next((a for a in self.actions if a.name == name), None)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> ServiceSpec:
        return cls(
            name=raw["name"],
            version=raw["version"],
            service_path=raw["service_path"],
            summary=raw.get("summary", ""),
            configuration=tuple(_config_spec(c) for c in raw.get("configuration", ())),
            profiles=dict(raw.get("profiles", {})),
            actions=tuple(
                ActionSpec(**{**a, "outcomes": tuple(a.get("outcomes", ()))})
                for a in raw.get("actions", ())
            ),
            data=tuple(DataSpec(**d) for d in raw.get("data", ())),
            files=tuple(FileSpec(**f) for f in raw.get("files", ())),
            processes=tuple(raw.get("processes", ())),
            process_timeouts_ms=dict(raw.get("process_timeouts_ms", {})),
            warnings=tuple(DeployWarning(**w) for w in raw.get("warnings", ())),
            triggers=tuple(TriggerSpec.from_json(t) for t in raw.get("triggers", ())),
        )


def _config_spec(raw: dict[str, Any]) -> ConfigSpec:
    # Versions stored before `set_by` existed: their password values are the operator's (the
    # executor's validation, which knew nothing of host fields then, cannot be asked again).
    if "set_by" not in raw:
        raw = {**raw, "set_by": "operator" if raw.get("type") == "password" else "flow"}
    return ConfigSpec(**raw)
