"""What a runtime user is bound to and limited to: a client certificate, networks, services.

A user bound to a client certificate's SHA-256 fingerprint can log in with that certificate
(verified against FLOWHOST_TLS_CLIENT_CA_FILE) instead of basic auth. A user with an IP
allow-list is refused (403 `address_not_allowed`) from any other address; a user restricted to
services is refused (403 `service_not_allowed`) on any other. No rule: no restriction.
"""

from __future__ import annotations

import ipaddress
import re

from fastapi import APIRouter
from pydantic import BaseModel, Field, field_validator

from gateway.api.deps import Control

router = APIRouter(tags=["users"])

MAX_RULES = 256  # networks or services one user may list
_FINGERPRINT = re.compile(r"[0-9a-f]{64}")
# As a package's service.path must be (executors/runtime/package.py SERVICE_PATH).
_SERVICE = re.compile(r"[A-Za-z0-9_-]+(?:/[A-Za-z0-9_-]+)*")


class AccessChange(BaseModel):
    """Fields left out are kept; an empty string or list clears one."""

    client_cert_sha256: str | None = Field(
        None,
        max_length=128,
        description="SHA-256 fingerprint of the client certificate's DER form, in hex (colons "
        "and upper case accepted), e.g. from `openssl x509 -noout -fingerprint -sha256`; "
        "'' unbinds.",
    )
    allow_ips: list[str] | None = Field(
        None,
        max_length=MAX_RULES,
        description="Networks (CIDR, or one address) the user may call from; [] allows any.",
    )
    services: list[str] | None = Field(
        None,
        max_length=MAX_RULES,
        description="Service paths (as in /fs/<path>) the user may call; [] allows every "
        "service of its runtime.",
    )

    @field_validator("client_cert_sha256")
    @classmethod
    def _fingerprint(cls, value: str | None) -> str | None:
        if not value:
            return value
        normal = value.replace(":", "").strip().lower()
        if not _FINGERPRINT.fullmatch(normal):
            raise ValueError("not a SHA-256 fingerprint: expected 64 hex digits")
        return normal

    @field_validator("allow_ips")
    @classmethod
    def _networks(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        networks = []
        for item in value:
            try:
                networks.append(str(ipaddress.ip_network(item.strip()[:64], strict=False)))
            except ValueError:
                raise ValueError(f"{item[:64]!r} is not a network (CIDR) or address") from None
        return sorted(set(networks))

    @field_validator("services")
    @classmethod
    def _services(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        paths = []
        for item in value:
            path = item.strip().strip("/")
            if path.startswith("fs/"):
                path = path[3:]
            if len(path) > 1000 or not _SERVICE.fullmatch(path):
                raise ValueError(f"{item[:100]!r} is not a service path")
            paths.append(path)
        return sorted(set(paths))


class AccessOut(BaseModel):
    name: str
    client_cert_sha256: str | None
    allow_ips: list[str]
    services: list[str]


@router.get(
    "/api/users/{name}/access",
    response_model=AccessOut,
    summary="A runtime user's certificate binding, IP allow-list and services",
    responses={404: {"description": "No such user"}},
)
async def get_access(name: str, control: Control) -> AccessOut:
    access = await control.call(control.access.get, name)
    return AccessOut(
        name=access.name,
        client_cert_sha256=access.client_cert_sha256,
        allow_ips=list(access.allow_ips),
        services=list(access.services),
    )


@router.put(
    "/api/users/{name}/access",
    response_model=AccessOut,
    summary="Bind a runtime user to a client certificate, restrict its networks and services",
    responses={
        404: {"description": "No such user"},
        409: {"description": "The certificate is bound to another user"},
    },
)
async def set_access(name: str, change: AccessChange, control: Control) -> AccessOut:
    def write() -> object:
        return control.access.set(
            name,
            client_cert_sha256=change.client_cert_sha256,
            allow_ips=change.allow_ips,
            services=change.services,
        )

    await control.call(write)
    await control.refresh()
    return await get_access(name, control)
