"""Deploy (with dry-run), list versions, roll back and undeploy packages."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Body, Query, Request
from pydantic import BaseModel

from gateway.api.deps import Control, running
from gateway.control import ControlPlane, DeployOutcome
from gateway.errors import BadRequest
from gateway.package_limits import PackageLimits

router = APIRouter(prefix="/api/runtimes/{runtime}/packages", tags=["packages"])


class WarningOut(BaseModel):
    path: str
    message: str


class DeployResult(BaseModel):
    name: str
    version: str
    runtime: str
    service_path: str
    created: bool
    dry_run: bool
    executors: list[str]
    actions: list[str]
    processes: list[str]
    #: Valid but probably unmeant: a process without return, an unlisted outcome, unused parts.
    warnings: list[WarningOut] = []


class VersionOut(BaseModel):
    name: str
    version: str
    digest: str
    created_at: str
    active: bool
    #: The share of new executions it takes as its service's canary; None: not the canary.
    canary_percent: int | None = None


class RollbackResult(BaseModel):
    name: str
    runtime: str
    active_version: str


@router.post(
    "",
    response_model=DeployResult,
    summary="Deploy a package version",
    description="The body is the package YAML. The package is validated on an executor of the "
    "runtime; every issue is reported with its path in the file. Versions are immutable: the "
    "same name and version with other content is refused (409). With `dry_run=true` nothing is "
    "stored or deployed. A package over a limit (size 413; nesting, aliases, values, profile "
    "size, processes 422) is refused before any executor sees it; the answer names the limit.",
    responses={
        400: {"description": "The package is empty"},
        409: {"description": "That version exists with other content, or the path is taken"},
        502: {"description": "The executor failed while validating"},
        503: {"description": "No executor of the runtime is connected"},
    },
)
async def deploy(
    runtime: str,
    request: Request,
    control: Control,
    source: Annotated[str, Body(media_type="application/yaml")],
    dry_run: Annotated[bool, Query(description="Validate only.")] = False,
    strict: Annotated[
        bool, Query(description="Refuse (422 package_warnings) a package with warnings.")
    ] = False,
) -> DeployResult:
    outcome = await deploy_package(
        control, running(request).package_limits, runtime, source, dry_run, strict
    )
    spec = outcome.spec
    return DeployResult(
        name=spec.name,
        version=spec.version,
        runtime=runtime,
        service_path=spec.service_path,
        created=outcome.created,
        dry_run=outcome.dry_run,
        executors=list(outcome.executors),
        actions=[a.name for a in spec.actions],
        processes=list(spec.processes),
        warnings=[WarningOut(path=w.path, message=w.message) for w in spec.warnings],
    )


async def deploy_package(
    control: ControlPlane,
    limits: PackageLimits,
    runtime: str,
    source: str,
    dry_run: bool,
    strict: bool = False,
) -> DeployOutcome:
    """Bound, validate and (unless `dry_run`) deploy a package: the API's and the console's."""
    if not source.strip():
        raise BadRequest("the package is empty", code="empty_package")
    await asyncio.to_thread(limits.check, source)
    return await control.deploy(runtime, source, dry_run, strict)


@router.get("", response_model=list[VersionOut], summary="List package versions")
async def versions(runtime: str, control: Control, name: str | None = None) -> list[VersionOut]:
    records = await control.call(control.store.versions, runtime, name)
    return [
        VersionOut(
            name=r.name,
            version=r.version,
            digest=r.digest,
            created_at=r.created_at.isoformat(),
            active=r.active,
            canary_percent=r.canary_percent,
        )
        for r in records
    ]


@router.post(
    "/{name}/rollback",
    response_model=RollbackResult,
    responses={
        404: {"description": "No such package or version"},
        409: {"description": "Nothing to roll back to"},
    },
    summary="Roll back to a version",
    description="Activate `version`, or without it the version active before the current one.",
)
async def rollback(
    runtime: str, name: str, control: Control, version: str | None = None
) -> RollbackResult:
    active = await control.rollback(runtime, name, version)
    return RollbackResult(name=name, runtime=runtime, active_version=active)


@router.delete(
    "/{name}",
    status_code=204,
    summary="Undeploy a package",
    responses={404: {"description": "No such package"}},
)
async def undeploy(runtime: str, name: str, control: Control) -> None:
    await control.undeploy(runtime, name)
