"""The services each runtime serves, compiled once per package version for the hot path.

The store holds the desired state; this registry is its in-memory, request-ready form: per runtime,
service path -> the active package version with its Flow translators built and its describe bodies
rendered. Rebuilding reuses what was compiled for versions that did not change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from gateway.flow import describe, values
from gateway.flow.objects import DeployedData, compile_data
from gateway.spec import ActionSpec, ServiceSpec


@dataclass(slots=True)
class DeployedAction:
    spec: ActionSpec
    request: values.RequestTranslator
    response: values.ResponseTranslator
    outcome_ids: dict[str, str]  # outcome developerName -> stable id
    #: Who ran, in the history's terms: (runtime, package, version, process, action).
    identity: tuple[str, str, str, str, str]


@dataclass(slots=True)
class DeployedService:
    runtime: str
    spec: ServiceSpec
    source: str
    actions: dict[str, DeployedAction]
    required_config: tuple[str, ...]
    describe_v2: bytes
    install_v2: bytes
    #: data actions by type name (objectDataType.developerName)
    data: dict[str, DeployedData] = field(default_factory=dict)
    #: Configuration names the package declares, and those Flow may set (`set_by: flow`).
    declared_config: frozenset[str] = frozenset()
    flow_config: frozenset[str] = frozenset()
    _describe_v1: dict[str | None, bytes] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return self.spec.key

    def describe_v1(self, uri: str | None, culture: Any) -> bytes:
        if culture is not None:  # echoing a culture makes the body request-specific
            return orjson.dumps(describe.describe_v1(self.spec, uri, culture))
        body = self._describe_v1.get(uri)
        if body is None:
            if len(self._describe_v1) > 64:
                self._describe_v1.clear()
            body = self._describe_v1[uri] = orjson.dumps(describe.describe_v1(self.spec, uri, None))
        return body


def compile_service(runtime: str, spec: ServiceSpec, source: str) -> DeployedService:
    actions = {}
    for action in spec.actions:
        actions[action.name] = DeployedAction(
            spec=action,
            request=values.compile_request(action.name, spec.profiles.get(action.request)),
            response=values.compile_response(action.name, spec.profiles.get(action.response)),
            outcome_ids={o: describe.outcome_id(spec, action.name, o) for o in action.outcomes},
            identity=(runtime, spec.name, spec.version, action.process, action.name),
        )
    return DeployedService(
        runtime=runtime,
        spec=spec,
        source=source,
        actions=actions,
        required_config=tuple(c.name for c in spec.configuration if c.required and not c.default),
        describe_v2=orjson.dumps(describe.describe_v2(spec)),
        install_v2=orjson.dumps(describe.install_v2(spec)),
        data=compile_data(spec),
        declared_config=frozenset(c.name for c in spec.configuration),
        flow_config=frozenset(c.name for c in spec.configuration if c.flow_settable),
    )


class ServiceRegistry:
    def __init__(self) -> None:
        self._by_runtime: dict[str, dict[str, DeployedService]] = {}

    def replace(self, active: list[tuple[str, ServiceSpec, str]]) -> None:
        """Make (runtime, spec, source) triples the served set, reusing unchanged compilations."""
        known = {
            (s.runtime, s.key): s for paths in self._by_runtime.values() for s in paths.values()
        }
        fresh: dict[str, dict[str, DeployedService]] = {}
        for runtime, spec, source in active:
            service = known.get((runtime, spec.key)) or compile_service(runtime, spec, source)
            fresh.setdefault(runtime, {})[spec.service_path.strip("/")] = service
        self._by_runtime = fresh

    def lookup(self, runtime: str, path: str) -> DeployedService | None:
        paths = self._by_runtime.get(runtime)
        return paths.get(path) if paths else None

    def runtimes_serving(self, path: str) -> list[str]:
        return sorted(r for r, paths in self._by_runtime.items() if path in paths)

    def desired(self, runtime: str) -> dict[str, str]:
        """Deployment key -> package source, for every service active in the runtime."""
        return {s.key: s.source for s in self._by_runtime.get(runtime, {}).values()}

    def services(self, runtime: str) -> list[DeployedService]:
        return list(self._by_runtime.get(runtime, {}).values())

    def every_service(self) -> list[DeployedService]:
        """The services of every runtime (what the triggers look through)."""
        return [s for paths in self._by_runtime.values() for s in paths.values()]
