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

    @property
    def key(self) -> str:
        """The deployment key executors know this version by."""
        return f"{self.name}@{self.version}"

    def timeout_ms(self, process: str) -> int:
        """The process's deadline in ms; 0 when unknown (the executor applies its own)."""
        return self.process_timeouts_ms.get(process, 0)

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
        )


def _config_spec(raw: dict[str, Any]) -> ConfigSpec:
    # Versions stored before `set_by` existed: their password values are the operator's (the
    # executor's validation, which knew nothing of host fields then, cannot be asked again).
    if "set_by" not in raw:
        raw = {**raw, "set_by": "operator" if raw.get("type") == "password" else "flow"}
    return ConfigSpec(**raw)
