"""Deploy one version to many runtimes at once, and the canary's promote and abort."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Body, Query, Request
from pydantic import BaseModel, Field

from gateway.api.deps import Control, running
from gateway.errors import BadRequest

router = APIRouter(tags=["packages"])


class RuntimeResult(BaseModel):
    runtime: str
    version: str
    #: deployed | deployed again | canary | canary again | valid (dry run) | failed
    result: str
    reason: str = ""
    code: str = ""
    executors: list[str] = []


class MultiDeployResult(BaseModel):
    name: str
    version: str
    service_path: str
    canary_percent: int | None = None
    dry_run: bool
    failed: int = Field(description="How many runtimes failed (the others are deployed)")
    results: list[RuntimeResult]


class CanaryChange(BaseModel):
    name: str
    runtime: str
    version: str = Field(description="The version promoted to active, or the canary aborted")
    active_version: str


@router.post(
    "/api/deployments",
    response_model=MultiDeployResult,
    summary="Deploy a package version to many runtimes",
    description="The body is the package YAML. The runtimes are those named (`runtime`, "
    "repeatable) and those whose labels match every `where` selector (`key=value`, "
    "repeatable, AND-ed). The package is validated once, then stored and activated in each "
    "runtime in one transaction per runtime: a runtime without a connected executor, or one "
    "the store refuses (a taken path, a canary in progress), fails alone and is reported with "
    "its reason; the answer is 200 either way, `failed` counts them. With `canary` (1-99) the "
    "version becomes the canary beside the active one, taking that percent of new executions.",
    responses={
        400: {"description": "The package is empty, no runtime named, or a bad selector"},
        404: {"description": "A `where` selector matches no runtime"},
        422: {"description": "The package is invalid"},
        503: {"description": "No executor of any named runtime is connected to validate"},
    },
)
async def deploy_many(
    request: Request,
    control: Control,
    source: Annotated[str, Body(media_type="application/yaml")],
    runtime: Annotated[list[str], Query(description="A runtime (repeatable).")] = [],  # noqa: B006
    where: Annotated[
        list[str], Query(description="A label selector key=value (repeatable, AND-ed).")
    ] = [],  # noqa: B006
    canary: Annotated[
        int | None, Query(ge=1, le=99, description="Percent of new executions (canary).")
    ] = None,
    dry_run: Annotated[bool, Query(description="Validate only.")] = False,
    strict: Annotated[bool, Query(description="Refuse a package with warnings.")] = False,
) -> MultiDeployResult:
    if not source.strip():
        raise BadRequest("the package is empty", code="empty_package")
    await asyncio.to_thread(running(request).package_limits.check, source)
    runtimes = await control.select_runtimes(runtime, where)
    spec, outcomes = await control.deploy_many(runtimes, source, dry_run, strict, canary)
    return MultiDeployResult(
        name=spec.name,
        version=spec.version,
        service_path=spec.service_path,
        canary_percent=canary,
        dry_run=dry_run,
        failed=sum(1 for o in outcomes if o.result == "failed"),
        results=[
            RuntimeResult(
                runtime=o.runtime,
                version=spec.version,
                result=o.result,
                reason=o.reason,
                code=o.code,
                executors=list(o.executors),
            )
            for o in outcomes
        ],
    )


@router.post(
    "/api/runtimes/{runtime}/packages/{name}/promote",
    response_model=CanaryChange,
    summary="Make the canary the active version",
    description="The active version becomes the one a rollback returns to. Executions already "
    "running, and WAITs still owed a callback, finish on the version they started on.",
    responses={404: {"description": "The package has no canary there"}},
)
async def promote(runtime: str, name: str, control: Control) -> CanaryChange:
    version = await control.promote(runtime, name)
    return CanaryChange(name=name, runtime=runtime, version=version, active_version=version)


@router.post(
    "/api/runtimes/{runtime}/packages/{name}/abort",
    response_model=CanaryChange,
    summary="Drop the canary: the active version takes every new execution again",
    description="WAITs started on the canary still owe Flow a callback: the canary stays hosted "
    "on the executors (taking no new executions) until they are answered.",
    responses={404: {"description": "The package has no canary there"}},
)
async def abort(runtime: str, name: str, control: Control) -> CanaryChange:
    version = await control.abort(runtime, name)
    active = [s.spec.version for s in control.registry.services(runtime) if s.spec.name == name]
    return CanaryChange(
        name=name, runtime=runtime, version=version, active_version=active[0] if active else ""
    )
