"""The services each runtime serves, compiled once per package version for the hot path.

The store holds the desired state; this registry is its in-memory, request-ready form: per runtime,
service path -> the active package version with its Flow translators built and its describe bodies
rendered. Rebuilding reuses what was compiled for versions that did not change.
"""

from __future__ import annotations

from collections.abc import Sequence
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


class Canary:
    """A second version of a service taking `percent` of its new executions.

    The split is a counter, not a coin: of every 100 new executions exactly `percent` go to the
    canary, spread evenly (10%: the 10th, 20th, ... of each hundred), so a test and an operator
    reading the per-version counts see the share they asked for."""

    __slots__ = ("percent", "service", "taken")

    def __init__(self, service: DeployedService, percent: int) -> None:
        self.service = service
        self.percent = percent
        self.taken = 0

    def take(self) -> bool:
        n = self.taken = self.taken + 1
        return n * self.percent // 100 > (n - 1) * self.percent // 100


class ServiceRegistry:
    def __init__(self) -> None:
        self._by_runtime: dict[str, dict[str, DeployedService]] = {}
        #: (runtime, service path) -> its canary; empty unless a canary runs (the hot path
        #: then costs one truthiness test).
        self._canaries: dict[tuple[str, str], Canary] = {}
        #: (runtime, deployment key) -> versions neither active nor canary that are kept for
        #: the WAITs they still owe a callback (hosted, never routed new executions to).
        self._retained: dict[tuple[str, str], DeployedService] = {}

    def replace(
        self,
        active: list[tuple[str, ServiceSpec, str]],
        canaries: Sequence[tuple[str, ServiceSpec, str, int]] = (),
        retained: Sequence[tuple[str, ServiceSpec, str]] = (),
    ) -> None:
        """Make (runtime, spec, source) triples the served set, reusing unchanged compilations;
        `canaries` (with their percent) run beside them, `retained` are only kept."""
        known = {(s.runtime, s.key): s for s in self._all()}

        def compiled(runtime: str, spec: ServiceSpec, source: str) -> DeployedService:
            return known.get((runtime, spec.key)) or compile_service(runtime, spec, source)

        fresh: dict[str, dict[str, DeployedService]] = {}
        for runtime, spec, source in active:
            fresh.setdefault(runtime, {})[spec.service_path.strip("/")] = compiled(
                runtime, spec, source
            )
        split: dict[tuple[str, str], Canary] = {}
        for runtime, spec, source, percent in canaries:
            path = spec.service_path.strip("/")
            old = self._canaries.get((runtime, path))
            if old is not None and old.service.key == spec.key and old.percent == percent:
                split[(runtime, path)] = old  # keeps its counter: the split stays even
            else:
                split[(runtime, path)] = Canary(compiled(runtime, spec, source), percent)
        self._retained = {(r, spec.key): compiled(r, spec, source) for r, spec, source in retained}
        self._by_runtime = fresh
        self._canaries = split

    def _all(self) -> list[DeployedService]:
        return [
            *(s for paths in self._by_runtime.values() for s in paths.values()),
            *(c.service for c in self._canaries.values()),
            *self._retained.values(),
        ]

    def lookup(self, runtime: str, path: str) -> DeployedService | None:
        """The active version at `path` (what metadata describes)."""
        paths = self._by_runtime.get(runtime)
        return paths.get(path) if paths else None

    def route(self, runtime: str, path: str) -> DeployedService | None:
        """The version a new execution at `path` runs on: the canary's share goes to it."""
        paths = self._by_runtime.get(runtime)
        service = paths.get(path) if paths else None
        if self._canaries and service is not None:
            canary = self._canaries.get((runtime, path))
            if canary is not None and canary.take():
                return canary.service
        return service

    def version(self, runtime: str, key: str) -> DeployedService | None:
        """The hosted version with deployment key `key` (active, canary or kept): what an
        execution that started on it finishes with."""
        return next((s for s in self.hosted(runtime) if s.key == key), None)

    def canary(self, runtime: str, path: str) -> Canary | None:
        return self._canaries.get((runtime, path.strip("/")))

    @property
    def keeps_any(self) -> bool:
        """Whether some version is kept only for owed WAITs."""
        return bool(self._retained)

    def retained(self, runtime: str) -> list[DeployedService]:
        return [s for (r, _), s in self._retained.items() if r == runtime]

    def runtimes_serving(self, path: str) -> list[str]:
        return sorted(r for r, paths in self._by_runtime.items() if path in paths)

    def desired(self, runtime: str) -> dict[str, str]:
        """Deployment key -> package source, for every version the runtime's executors host:
        the active ones, the canaries, and those kept for owed WAITs."""
        return {s.key: s.source for s in self.hosted(runtime)}

    def services(self, runtime: str) -> list[DeployedService]:
        """The active version of each service of the runtime."""
        return list(self._by_runtime.get(runtime, {}).values())

    def hosted(self, runtime: str) -> list[DeployedService]:
        """Every version the runtime's executors host: active, canary, kept for WAITs."""
        canaries = [c.service for (r, _), c in self._canaries.items() if r == runtime]
        return [*self.services(runtime), *canaries, *self.retained(runtime)]
