"""Operator configuration: the values of a runtime's packages that its operator sets.

Per runtime, optionally per Flow tenant id (Flow's `tenantId`, which overrides the runtime's
value). A secret value (asked for, or a package's `password`) is encrypted at rest and never
answered back: reads show it as set, nothing more.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from gateway.api.deps import Control

router = APIRouter(tags=["configuration"])

MASK = "••••"

Tenant = Annotated[
    str,
    Query(
        max_length=200,
        description="A Flow tenant id: the value applies to this tenant's requests only and "
        "overrides the runtime's. Empty: every tenant of the runtime.",
    ),
]


_SET_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {
        "description": "invalid_configuration: a bad name or tenant id, or a value over "
        "config_value_max_bytes"
    },
    404: {
        "description": "unknown_runtime: no runtime of that name was created and no executor "
        "serves one"
    },
    409: {"description": "no_config_key: a secret value, and the gateway has no key"},
}
_UNSET_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "unknown_configuration: no such value (for that tenant)"}
}
_ROTATE_ERRORS: dict[int | str, dict[str, Any]] = {
    409: {
        "description": "no_config_key, or undecryptable_configuration: a value no key "
        "opens (nothing was changed)"
    }
}


class ConfigValueIn(BaseModel):
    value: str = Field(description="The value, as text (Flow configuration values are text).")
    secret: bool = Field(
        False,
        description="Keep it encrypted and never show it again. Values a package declares as "
        "`password` are always secret.",
    )


class ConfigValueOut(BaseModel):
    name: str
    tenant: str = Field(description="The Flow tenant id it applies to; empty: every tenant.")
    value: str | None = Field(
        description=f"The value; {MASK} for a secret one, null when not set by the operator."
    )
    secret: bool = Field(description="Encrypted at rest, never shown.")
    set: bool = Field(description="The operator set it (else: a declared value, not set).")
    set_by: str = Field(
        description="Who the runtime's active packages let set it: operator (only), flow "
        "(Flow as well), or empty when no active package declares it."
    )
    packages: list[str] = Field(description="Active packages of the runtime that declare it.")
    default: str = Field(description="The package default, when one declares it.")
    updated_at: str = Field(description="When the operator last set it (ISO 8601, UTC).")


class ConfigSet(BaseModel):
    name: str
    runtime: str
    tenant: str
    secret: bool = Field(description="Kept encrypted (asked for, or a package's password).")


class KeyRotation(BaseModel):
    rotated: int = Field(description="Secret values re-encrypted under the first key.")


@router.get(
    "/api/runtimes/{runtime}/config",
    response_model=list[ConfigValueOut],
    summary="List a runtime's configuration values (secrets masked)",
    description="The values the operator set, for every tenant and per tenant, and the values "
    "the runtime's active packages declare that are not set yet. Secret values are never "
    "returned.",
)
async def list_config(runtime: str, control: Control) -> list[ConfigValueOut]:
    declared: dict[str, tuple[list[str], str, str, bool]] = {}
    for service in control.registry.services(runtime):
        for c in service.spec.configuration:
            packages, set_by, default, secret = declared.get(c.name, ([], "", "", False))
            # One package keeping it for the operator is enough to refuse Flow's value there.
            who = "operator" if "operator" in (set_by, c.set_by) else c.set_by
            declared[c.name] = (
                [*packages, service.spec.name],
                who,
                default or c.default,
                secret or c.secret,
            )
    rows = []
    seen = set()
    for entry in await control.config_entries(runtime):
        packages, set_by, default, password = declared.get(entry.name, ([], "", "", False))
        secret = entry.secret or password
        seen.add(entry.name)
        rows.append(
            ConfigValueOut(
                name=entry.name,
                tenant=entry.tenant,
                value=MASK if secret else entry.value,
                secret=secret,
                set=True,
                set_by=set_by,
                packages=packages,
                default="" if password else default,
                updated_at=entry.updated_at,
            )
        )
    for name, (packages, set_by, default, password) in sorted(declared.items()):
        if name not in seen:
            rows.append(
                ConfigValueOut(
                    name=name,
                    tenant="",
                    value=None,
                    secret=password,
                    set=False,
                    set_by=set_by,
                    packages=packages,
                    default="" if password else default,
                    updated_at="",
                )
            )
    return rows


@router.put(
    "/api/runtimes/{runtime}/config/{name}",
    response_model=ConfigSet,
    summary="Set a configuration value of a runtime (or of one Flow tenant)",
    responses=_SET_ERRORS,
    description="Processes see it as `$config.<name>` from the next request on, on every "
    "gateway sharing the store. It overrides the package default; a Flow-supplied value still "
    "overrides it for values the package lets Flow set.",
)
async def set_config(
    runtime: str, name: str, body: ConfigValueIn, control: Control, tenant: Tenant = ""
) -> ConfigSet:
    secret = await control.set_config(runtime, tenant, name, body.value, body.secret)
    return ConfigSet(name=name, runtime=runtime, tenant=tenant, secret=secret)


@router.delete(
    "/api/runtimes/{runtime}/config/{name}",
    status_code=204,
    summary="Remove a configuration value (the package default applies again)",
    responses=_UNSET_ERRORS,
)
async def unset_config(runtime: str, name: str, control: Control, tenant: Tenant = "") -> None:
    await control.unset_config(runtime, tenant, name)


@router.post(
    "/api/config/rotate-key",
    response_model=KeyRotation,
    summary="Re-encrypt every secret value under the first configuration key",
    responses=_ROTATE_ERRORS,
    description="Key rotation: give every gateway the new key first and the old ones after it "
    "(FLOWHOST_CONFIG_KEY=new,old), restart them, call this, then drop the old keys.",
)
async def rotate_key(control: Control) -> KeyRotation:
    return KeyRotation(rotated=await control.rotate_config_key())
