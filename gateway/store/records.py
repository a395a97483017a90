"""What the store returns: frozen dataclasses, never rows.

Timestamps are timezone-aware UTC datetimes everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gateway.spec import ServiceSpec

__all__ = [
    "ActiveDeployment",
    "CanaryDeployment",
    "Credential",
    "UserAccess",
    "UserRecord",
    "VersionRecord",
]


@dataclass(frozen=True, slots=True)
class UserRecord:
    name: str
    runtime: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Credential:
    """What the authenticator caches: never the token itself, only its hash."""

    name: str
    runtime: str
    token_hash: str


@dataclass(frozen=True, slots=True)
class UserAccess:
    """What a runtime user is bound to and limited to; empty tuples: no restriction."""

    name: str
    client_cert_sha256: str | None = None
    allow_ips: tuple[str, ...] = ()  # CIDRs, normalised
    services: tuple[str, ...] = ()  # service paths without slashes at either end


@dataclass(frozen=True, slots=True)
class VersionRecord:
    name: str
    version: str
    digest: str
    created_at: datetime
    active: bool
    canary_percent: int | None = None  # the share of new executions it takes as the canary


@dataclass(frozen=True, slots=True)
class ActiveDeployment:
    runtime: str
    spec: ServiceSpec
    source: str


@dataclass(frozen=True, slots=True)
class CanaryDeployment:
    """A version beside the active one, taking `percent` of the service's new executions."""

    runtime: str
    spec: ServiceSpec
    source: str
    percent: int


@dataclass(frozen=True, slots=True)
class RuntimeRecord:
    """A created runtime and what it holds (flowhost runtimes list)."""

    name: str
    created_at: datetime
    users: int
    active_deployments: int
