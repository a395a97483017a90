"""Runtimes, created and removed by the operator: a user or a policy names one that exists.

`GET /api/runtimes` (status.py) lists them with what they serve; these two change the list.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel

from gateway.api.deps import Control

router = APIRouter(tags=["runtimes"])


class RuntimeCreated(BaseModel):
    name: str
    created: bool  # False: it existed already (creating is idempotent)


@router.post(
    "/api/runtimes/{runtime}",
    response_model=RuntimeCreated,
    status_code=201,
    summary="Create a runtime (200 when it exists already)",
    responses={
        200: {"description": "The runtime existed already"},
        400: {"description": "Bad name"},
    },
)
async def add_runtime(runtime: str, control: Control, response: Response) -> RuntimeCreated:
    created = await control.add_runtime(runtime)
    if not created:
        response.status_code = 200
    return RuntimeCreated(name=runtime, created=created)


@router.delete(
    "/api/runtimes/{runtime}",
    status_code=204,
    summary="Remove a runtime with its versions, configuration values and policy",
    description="Refused with 409 `runtime_in_use` while the runtime has users or an active "
    "deployment, unless `force=true`, which removes those too. Execution history and callbacks "
    "are kept.",
    responses={404: {"description": "No such runtime"}, 409: {"description": "Still in use"}},
)
async def remove_runtime(
    runtime: str,
    control: Control,
    force: Annotated[bool, Query(description="Remove its users and deployments too.")] = False,
) -> None:
    await control.remove_runtime(runtime, force)
