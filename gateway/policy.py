"""A runtime's policy as the operator sets it: files, databases, egress and execution limits.

The gateway keeps one per runtime in its store (gateway/store/policies.py), serves it at
`/api/runtimes/{runtime}/policy`, and pushes it to every executor of the runtime (the reconciler,
through `Configure`), where the step engine enforces it. The same egress rule guards the
gateway's own callbacks to Flow (egress.py). The executor's copy lives in
executors/runtime/policy.py; the two share only the protobuf message.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import re

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

# A host name as DNS has them (letters, digits, hyphens, dots; IDNA already applied).
_HOST = re.compile(
    r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*"
)
#: Most entries in one list of a policy, and longest entry.
MAX_ENTRIES = 256
MAX_ENTRY_CHARS = 2048
#: Largest value of an execution limit: it travels as uint64 and reads back exactly from JSON.
LIMIT_MAX = 2**53 - 1


class ExecutionLimits(BaseModel):
    """Bounds on one execution; exceeding one fails the execution with a clear code."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    documents_per_step: int = Field(
        10_000, ge=1, le=LIMIT_MAX, description="Documents a step may produce."
    )
    document_bytes: int = Field(
        16 * 1024 * 1024, ge=1, le=LIMIT_MAX, description="Size of one document."
    )
    execution_bytes: int = Field(
        256 * 1024 * 1024,
        ge=1,
        le=LIMIT_MAX,
        description="Bytes of documents one execution holds at once.",
    )
    split_fanout: int = Field(
        10_000,
        ge=1,
        le=LIMIT_MAX,
        description="Documents one `split` may produce from one document.",
    )


class RuntimePolicy(BaseModel):
    """What a runtime's processes may touch (docs/operations.md, "Runtime policies")."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    files_root: str = Field(
        "",
        max_length=4096,
        description="The file step's root folder on the executor host (absolute); empty: the "
        "executor's default, files/<runtime> under its working folder. SQLite databases live "
        "there too.",
    )
    database_urls: tuple[str, ...] = Field(
        (),
        max_length=MAX_ENTRIES,
        description="SQLAlchemy URLs db steps may open besides SQLite in the files root: same "
        "backend, host and port; an entry without a database allows every database of that "
        "server. Passwords are not needed here and are refused.",
    )
    egress_allow: tuple[str, ...] = Field(
        (),
        max_length=MAX_ENTRIES,
        description="Hosts (api.example.com), domains (*.example.com) or networks "
        "(10.1.0.0/16) the http step and callbacks may reach; empty: any public address. A "
        "listed network also allows its private or loopback addresses.",
    )
    allow_loopback: bool = Field(
        False, description="127.0.0.0/8 and ::1 may be reached (development only)."
    )
    allow_private: bool = Field(
        False, description="Private addresses (RFC 1918, CGNAT, IPv6 ULA) may be reached."
    )
    limits: ExecutionLimits = Field(default_factory=ExecutionLimits)  # type: ignore[arg-type]

    @field_validator("files_root")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if value and (not value.startswith("/") or "\x00" in value):
            raise ValueError("files_root must be an absolute folder path (or empty)")
        return value

    @field_validator("database_urls")
    @classmethod
    def _database_urls(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        for index, value in enumerate(values):
            if len(value) > MAX_ENTRY_CHARS:
                raise ValueError(f"[{index}] is longer than {MAX_ENTRY_CHARS} characters")
            try:
                url = make_url(value)
            except ArgumentError:
                raise ValueError(f"[{index}] {value[:100]!r} is not a SQLAlchemy URL") from None
            if url.get_backend_name() == "sqlite":
                raise ValueError(
                    f"[{index}] SQLite needs no entry: its files are allowed inside files_root"
                )
            if not url.host:
                raise ValueError(f"[{index}] names no host")
            if url.port is not None and not 0 < url.port < 65536:
                raise ValueError(f"[{index}] port {url.port} is not a TCP port")
            if url.password:
                raise ValueError(f"[{index}] carries a password; list the URL without it")
        return values

    @field_validator("egress_allow")
    @classmethod
    def _egress(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        normal = []
        for index, value in enumerate(values):
            if len(value) > MAX_ENTRY_CHARS:
                raise ValueError(f"[{index}] is longer than {MAX_ENTRY_CHARS} characters")
            entry = value.strip().lower().rstrip(".")
            if "/" in entry or _is_ip(entry):
                try:
                    ipaddress.ip_network(entry, strict=False)
                except ValueError as error:
                    raise ValueError(
                        f"[{index}] {value[:100]!r}: not a network ({error})"
                    ) from None
            elif not _HOST.fullmatch(entry.removeprefix("*.")):
                raise ValueError(
                    f"[{index}] {value[:100]!r} is not a host name, *.domain or CIDR network"
                )
            normal.append(entry)
        return tuple(normal)

    @functools.cached_property
    def digest(self) -> str:
        """Names this policy's content; executors report it back so changes are noticed.
        (Cached: the WAIT path keys its callbackUri check by it.)"""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


class RuntimePolicies:
    """Every runtime's policy as the gateway holds it: stored ones, else the default.

    The default is `RuntimePolicy()`, with loopback allowed for the runtimes named in the
    `loopback_runtimes` setting (`flowhost up` names its development runtime).
    """

    def __init__(self, loopback_runtimes: list[str] | tuple[str, ...] = ()) -> None:
        self._loopback = frozenset(loopback_runtimes)
        self._stored: dict[str, RuntimePolicy] = {}
        self._default = RuntimePolicy()
        self._default_loopback = RuntimePolicy(allow_loopback=True)

    def load(self, stored: dict[str, RuntimePolicy]) -> None:
        self._stored = dict(stored)

    def of(self, runtime: str) -> RuntimePolicy:
        found = self._stored.get(runtime)
        if found is not None:
            return found
        return self._default_loopback if runtime in self._loopback else self._default

    def is_stored(self, runtime: str) -> bool:
        return runtime in self._stored
