"""Packages: parse the YAML, validate every part, report every issue with its path."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .compile import compile_steps, describe, join_path, unknown_key_message
from .config_owners import SET_BY, default_set_by, host_config_names
from .configuration import CONFIG_TYPES, convert_config_value
from .context import ProcessPlan
from .durations import parse_duration
from .errors import Issue, PackageInvalid
from .loader import YamlLimits, load_yaml
from .package_tests import PackageTest, parse_tests
from .profile_refs import resolve_profiles
from .profiles import profile_issues
from .registry import step_types

PACKAGE_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
SERVICE_PATH = re.compile(r"^[A-Za-z0-9_-]+(?:/[A-Za-z0-9_-]+)*$")
PROCESS_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
ACTION_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
CONFIG_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
FILE_PATH = re.compile(r"^(?:/[A-Za-z0-9._~-]+)+$|^/$")
MODES = ("low-latency", "general")
DEFAULT_PROCESS_TIMEOUT_S = 300.0
DEFAULT_SYNC_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class ConfigDef:
    """A Flow configuration value; processes see it as ``$config.<name>``."""

    name: str
    type: str = "string"
    required: bool = False
    default: str = ""
    summary: str = ""
    #: "operator": only the runtime's operator sets it; "flow": Flow may too (config_owners.py).
    set_by: str = "flow"


@dataclass(frozen=True)
class ActionDef:
    """A message action: ``POST /fs/<path>/actions/<name>`` runs ``process``."""

    name: str
    process: str
    request: str = ""
    response: str = ""
    sync_timeout_ms: int = int(DEFAULT_SYNC_TIMEOUT_S * 1000)
    wait_message: str = ""
    summary: str = ""
    outcomes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DataDef:
    """Data actions (load / save / delete) on one Flow type, shaped by ``profile``."""

    type: str
    profile: str
    id: str
    load: str = ""
    save: str = ""
    delete: str = ""


@dataclass(frozen=True)
class FileDef:
    """A file resource: ``list``, ``upload`` and ``download`` processes."""

    path: str
    list: str = ""
    upload: str = ""
    #: Points a listed file's download link at the file to stream (docs/packages.md).
    download: str = ""


@dataclass(frozen=True)
class ServiceDef:
    """The Flow-facing part of a package."""

    path: str
    summary: str = ""
    configuration: list[ConfigDef] = field(default_factory=list)
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    actions: list[ActionDef] = field(default_factory=list)
    data: list[DataDef] = field(default_factory=list)
    files: list[FileDef] = field(default_factory=list)


@dataclass(frozen=True)
class ProcessDef:
    """A process as written: its steps stay raw; ``CompiledPackage`` holds them compiled."""

    name: str
    mode: str = "low-latency"
    timeout_ms: int = int(DEFAULT_PROCESS_TIMEOUT_S * 1000)
    steps: list[Any] = field(default_factory=list)
    summary: str = ""


@dataclass(frozen=True)
class Package:
    """A validated package. Build it with ``load_package``."""

    name: str
    version: str
    summary: str
    service: ServiceDef
    processes: dict[str, ProcessDef]
    source: str
    #: The package's own tests (``tests:``); `flowhost test` runs them, executors ignore them.
    tests: list[PackageTest] = field(default_factory=list)
    # The processes compiled while validating, so nothing is compiled twice.
    _plans: dict[str, ProcessPlan] | None = field(default=None, compare=False, repr=False)


def load_package(source: str, limits: YamlLimits | None = None) -> Package:
    """Parse and validate a package; raise ``PackageInvalid`` listing every issue.

    `limits` bound the YAML document (depth, aliases, values); the defaults when omitted.
    """
    raw = load_yaml(source, limits)
    checker = _Checker()
    package = checker.package(raw, source)
    if checker.issues or package is None:
        raise PackageInvalid(checker.issues)
    return package


def compile_processes(package: Package) -> dict[str, ProcessPlan]:
    """Compile every process of a package; raise ``PackageInvalid`` on any issue."""
    issues: list[Issue] = []
    plans = _compile_processes(package.processes, issues)
    if issues:
        raise PackageInvalid(issues)
    return plans


def _compile_processes(processes: dict[str, ProcessDef], issues: list[Issue]) -> dict[str, Any]:
    types = step_types()
    names = frozenset(processes)
    plans = {}
    for name, process in processes.items():
        path = f"processes.{name}.steps"
        steps = compile_steps(process.steps, path, issues, types, names)
        plans[name] = ProcessPlan(name, process.mode, process.timeout_ms / 1000, steps)
    return plans


class _Checker:
    """Walks the raw YAML value, builds the dataclasses and collects issues."""

    def __init__(self) -> None:
        self.issues: list[Issue] = []

    def add(self, path: str, message: str) -> None:
        self.issues.append(Issue(path, message))

    # generic shapes ------------------------------------------------------------------------

    def mapping(
        self, value: Any, path: str, required: tuple[str, ...], optional: tuple[str, ...]
    ) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.add(path, f"expected a mapping, got {describe(value)}")
            return None
        known = required + optional
        for key in value:
            if key not in known:
                self.add(join_path(path, str(key)), unknown_key_message(key, known))
        for key in required:
            if key not in value:
                self.add(path, f"missing required key '{key}'")
        return value

    def string(
        self,
        value: Any,
        path: str,
        *,
        pattern: re.Pattern[str] | None = None,
        what: str = "",
        scalars: bool = False,
    ) -> str:
        if value is None:
            return ""
        if scalars and isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if scalars and isinstance(value, bool):
            value = "true" if value else "false"
        if not isinstance(value, str):
            self.add(path, f"expected a string, got {describe(value)}")
            return ""
        if pattern is not None and not pattern.match(value):
            self.add(path, f"{value!r} is not a valid {what}")
        return value

    def boolean(self, value: Any, path: str) -> bool:
        if value is None:
            return False
        if not isinstance(value, bool):
            self.add(path, f"expected true or false, got {describe(value)}")
            return False
        return value

    def duration_ms(self, value: Any, path: str, default_s: float) -> int:
        if value is None:
            return int(default_s * 1000)
        try:
            return int(parse_duration(value) * 1000)
        except ValueError as error:
            self.add(path, str(error))
            return int(default_s * 1000)

    def items(self, value: Any, path: str) -> list[tuple[str, Any]]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.add(path, f"expected a list, got {describe(value)}")
            return []
        return [(join_path(path, index), item) for index, item in enumerate(value)]

    def reference(self, value: Any, path: str, names: Any, kind: str) -> str:
        name = self.string(value, path)
        if name and name not in names:
            self.add(path, f"no {kind} named '{name}'")
        return name

    def unique(self, names: list[tuple[str, str]], kind: str) -> None:
        seen: set[str] = set()
        for path, name in names:
            if name and name in seen:
                self.add(path, f"duplicate {kind} '{name}'")
            seen.add(name)

    # the package ---------------------------------------------------------------------------

    def package(self, raw: Any, source: str) -> Package | None:
        top = self.mapping(
            raw, "", ("name", "version", "service", "processes"), ("summary", "tests")
        )
        if top is None:
            return None
        name = self.string(top.get("name"), "name", pattern=PACKAGE_NAME, what="package name")
        version = self.string(top.get("version"), "version", scalars=True)
        if "version" in top and not version:
            self.add("version", "must not be empty")
        processes = self.processes(top.get("processes"), "processes")
        service = self.service(top.get("service"), "service", processes)
        plans = _compile_processes(processes, self.issues)
        actions = {action.name: action.process for action in service.actions}
        types = [data.type for data in service.data]
        tests, test_issues = parse_tests(top.get("tests"), "tests", processes, actions, types)
        self.issues.extend(test_issues)
        return Package(
            name=name,
            version=version,
            summary=self.string(top.get("summary"), "summary"),
            service=service,
            processes=processes,
            source=source,
            tests=tests,
            _plans=plans,
        )

    def processes(self, raw: Any, path: str) -> dict[str, ProcessDef]:
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            self.add(path, f"expected a mapping of process names to processes, got {describe(raw)}")
            return {}
        processes = {}
        for name, value in raw.items():
            here = join_path(path, str(name))
            if not isinstance(name, str) or not PROCESS_NAME.match(name):
                self.add(here, f"{name!r} is not a valid process name")
                continue
            body = self.mapping(value, here, ("steps",), ("mode", "timeout", "summary"))
            if body is None:
                continue
            mode = body.get("mode", "low-latency")
            if mode not in MODES:
                self.add(f"{here}.mode", f"expected one of {', '.join(MODES)}, got {mode!r}")
                mode = "low-latency"
            steps = body.get("steps")
            if isinstance(steps, list) and not steps:
                self.add(f"{here}.steps", "a process needs at least one step")
            processes[name] = ProcessDef(
                name=name,
                mode=mode,
                timeout_ms=self.duration_ms(
                    body.get("timeout"), f"{here}.timeout", DEFAULT_PROCESS_TIMEOUT_S
                ),
                steps=steps if isinstance(steps, list) else [],
                summary=self.string(body.get("summary"), f"{here}.summary"),
            )
            if steps is not None and not isinstance(steps, list):
                self.add(f"{here}.steps", f"expected a list of steps, got {describe(steps)}")
        return processes

    def service(self, raw: Any, path: str, processes: dict[str, ProcessDef]) -> ServiceDef:
        body = self.mapping(
            raw,
            path,
            ("path",),
            ("summary", "configuration", "profiles", "actions", "data", "files"),
        )
        if body is None:
            return ServiceDef(path="")
        profiles = self.profiles(body.get("profiles"), f"{path}.profiles")
        return ServiceDef(
            path=self.string(body.get("path"), f"{path}.path", pattern=SERVICE_PATH, what="path"),
            summary=self.string(body.get("summary"), f"{path}.summary"),
            configuration=self.configuration(
                body.get("configuration"), f"{path}.configuration", processes
            ),
            profiles=profiles,
            actions=self.actions(body.get("actions"), f"{path}.actions", processes, profiles),
            data=self.data(body.get("data"), f"{path}.data", processes, profiles),
            files=self.files(body.get("files"), f"{path}.files", processes),
        )

    def configuration(
        self, raw: Any, path: str, processes: dict[str, ProcessDef]
    ) -> list[ConfigDef]:
        result = []
        host_names = host_config_names(p.steps for p in processes.values())
        optional = ("type", "required", "default", "summary", "set_by")
        for here, item in self.items(raw, path):
            body = self.mapping(item, here, ("name",), optional)
            if body is None:
                continue
            kind = body.get("type", "string")
            if kind not in CONFIG_TYPES:
                self.add(f"{here}.type", f"expected one of {', '.join(CONFIG_TYPES)}, got {kind!r}")
                kind = "string"
            default = self.string(body.get("default"), f"{here}.default", scalars=True)
            if default:
                try:
                    convert_config_value(kind, default)
                except ValueError as error:
                    self.add(f"{here}.default", str(error))
            name = self.string(body.get("name"), f"{here}.name", pattern=CONFIG_NAME, what="name")
            set_by = body.get("set_by")
            if set_by is None:
                set_by = default_set_by(kind, name, host_names)
            elif set_by not in SET_BY:
                self.add(f"{here}.set_by", f"expected one of {', '.join(SET_BY)}, got {set_by!r}")
                set_by = default_set_by(kind, name, host_names)
            result.append(
                ConfigDef(
                    name=name,
                    type=kind,
                    required=self.boolean(body.get("required"), f"{here}.required"),
                    default=default,
                    summary=self.string(body.get("summary"), f"{here}.summary"),
                    set_by=set_by,
                )
            )
        self.unique(
            [(f"{path}[{i}].name", c.name) for i, c in enumerate(result)], "configuration value"
        )
        return result

    def profiles(self, raw: Any, path: str) -> dict[str, dict[str, Any]]:
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            self.add(
                path, f"expected a mapping of profile names to JSON Schemas, got {describe(raw)}"
            )
            return {}
        # References are inlined first (profile_refs.py), so the checks below and everything
        # after deploy see plain schemas.
        resolved, ref_issues = resolve_profiles({str(k): v for k, v in raw.items()}, path)
        self.issues.extend(ref_issues)
        profiles = {}
        for name, schema in resolved.items():
            here = join_path(path, name)
            issues = profile_issues(schema, here)
            self.issues.extend(issues)
            if isinstance(schema, dict) and not any(i.path == here for i in issues):
                profiles[name] = schema
        return profiles

    def actions(
        self, raw: Any, path: str, processes: dict[str, ProcessDef], profiles: dict[str, Any]
    ) -> list[ActionDef]:
        result = []
        optional = ("request", "response", "sync_timeout", "wait_message", "summary", "outcomes")
        for here, item in self.items(raw, path):
            body = self.mapping(item, here, ("name", "process"), optional)
            if body is None:
                continue
            outcomes = []
            for at, outcome in self.items(body.get("outcomes"), f"{here}.outcomes"):
                outcomes.append(self.string(outcome, at, scalars=True))
            self.unique([(f"{here}.outcomes", o) for o in outcomes], "outcome")
            result.append(
                ActionDef(
                    name=self.string(
                        body.get("name"), f"{here}.name", pattern=ACTION_NAME, what="action name"
                    ),
                    process=self.reference(
                        body.get("process"), f"{here}.process", processes, "process"
                    ),
                    request=self.reference(
                        body.get("request"), f"{here}.request", profiles, "profile"
                    ),
                    response=self.reference(
                        body.get("response"), f"{here}.response", profiles, "profile"
                    ),
                    sync_timeout_ms=self.duration_ms(
                        body.get("sync_timeout"), f"{here}.sync_timeout", DEFAULT_SYNC_TIMEOUT_S
                    ),
                    wait_message=self.string(body.get("wait_message"), f"{here}.wait_message"),
                    summary=self.string(body.get("summary"), f"{here}.summary"),
                    outcomes=outcomes,
                )
            )
        self.unique([(f"{path}[{i}].name", a.name) for i, a in enumerate(result)], "action")
        return result

    def data(
        self, raw: Any, path: str, processes: dict[str, ProcessDef], profiles: dict[str, Any]
    ) -> list[DataDef]:
        result = []
        for here, item in self.items(raw, path):
            body = self.mapping(item, here, ("type", "profile", "id"), ("load", "save", "delete"))
            if body is None:
                continue
            profile = self.reference(body.get("profile"), f"{here}.profile", profiles, "profile")
            key = self.string(body.get("id"), f"{here}.id")
            properties = profiles.get(profile, {}).get("properties", {})
            if key and profile in profiles and key not in properties:
                self.add(f"{here}.id", f"'{key}' is not a property of profile '{profile}'")
            actions = {
                verb: self.reference(body.get(verb), f"{here}.{verb}", processes, "process")
                for verb in ("load", "save", "delete")
            }
            if not any(verb in body for verb in actions):
                self.add(here, "a data action needs at least one of load, save, delete")
            result.append(
                DataDef(
                    type=self.string(body.get("type"), f"{here}.type"),
                    profile=profile,
                    id=key,
                    **actions,
                )
            )
        self.unique([(f"{path}[{i}].type", d.type) for i, d in enumerate(result)], "data type")
        return result

    def files(self, raw: Any, path: str, processes: dict[str, ProcessDef]) -> list[FileDef]:
        result = []
        for here, item in self.items(raw, path):
            body = self.mapping(item, here, ("path",), ("list", "upload", "download"))
            if body is None:
                continue
            if "list" not in body and "upload" not in body:
                self.add(here, "a file resource needs at least one of list, upload")
            if "download" in body and "list" not in body:
                self.add(f"{here}.download", "download links come with list results: add list")
            result.append(
                FileDef(
                    path=self.string(
                        body.get("path"), f"{here}.path", pattern=FILE_PATH, what="path"
                    ),
                    list=self.reference(body.get("list"), f"{here}.list", processes, "process"),
                    upload=self.reference(
                        body.get("upload"), f"{here}.upload", processes, "process"
                    ),
                    download=self.reference(
                        body.get("download"), f"{here}.download", processes, "process"
                    ),
                )
            )
        self.unique([(f"{path}[{i}].path", f.path) for i, f in enumerate(result)], "file path")
        return result


__all__ = [
    "ActionDef",
    "ConfigDef",
    "DataDef",
    "FileDef",
    "Issue",
    "Package",
    "PackageInvalid",
    "ProcessDef",
    "ServiceDef",
    "compile_processes",
    "load_package",
]
