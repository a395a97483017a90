"""Runtimes, created and removed by the operator: a user or a policy names one that exists.

`GET /api/runtimes` (status.py) lists them with what they serve and their labels; these change
the list and the labels (what `deploy --where` selects by).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from gateway.api.deps import Control
from gateway.store.labels import parse_label

router = APIRouter(tags=["runtimes"])


class RuntimeCreated(BaseModel):
    name: str
    created: bool  # False: it existed already (creating is idempotent)
    labels: dict[str, str] = {}


class LabelChange(BaseModel):
    set: dict[str, str] = Field({}, description="Labels to set (key: value)")
    remove: list[str] = Field([], description="Label keys to remove")


class Labels(BaseModel):
    name: str
    labels: dict[str, str]


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
async def add_runtime(
    runtime: str,
    control: Control,
    response: Response,
    label: Annotated[list[str], Query(description="A label key=value to set (repeatable).")] = [],  # noqa: B006
) -> RuntimeCreated:
    labels = dict([await control.call(parse_label, text) for text in label])  # 400 before a write
    created = await control.add_runtime(runtime)
    if not created:
        response.status_code = 200
    current = await control.change_labels(runtime, labels, []) if labels else {}
    return RuntimeCreated(name=runtime, created=created, labels=current)


@router.patch(
    "/api/runtimes/{runtime}/labels",
    response_model=Labels,
    summary="Set and remove labels of a runtime",
    description="Keys and values follow Kubernetes label syntax (docs/operations.md, "
    '"Labels and deploying to many runtimes"); a bad one is refused (400 `invalid_label`) '
    "naming it, and so is a label past `FLOWHOST_RUNTIME_LABELS_MAX`.",
    responses={400: {"description": "A bad label"}, 404: {"description": "No such runtime"}},
)
async def change_labels(runtime: str, change: LabelChange, control: Control) -> Labels:
    labels = await control.change_labels(runtime, change.set, change.remove)
    return Labels(name=runtime, labels=labels)


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
