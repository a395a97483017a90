"""Runtime policies: what a runtime's processes may touch (files, databases, egress, limits)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from gateway.api.deps import Control
from gateway.policy import RuntimePolicy

router = APIRouter(tags=["policies"])

_UNKNOWN_RUNTIME: dict[int | str, dict[str, Any]] = {
    404: {
        "description": "unknown_runtime: no runtime of that name was created and no executor "
        "serves one (a typo must not restrict a new runtime while the meant one stays open)"
    }
}


class ExecutorPolicyOut(BaseModel):
    address: str
    digest: str = Field(description="Digest of the policy the executor holds.")
    applied: bool = Field(description="The executor holds the runtime's current policy.")


class PolicyOut(BaseModel):
    runtime: str
    stored: bool = Field(description="Set by the operator; false: the default applies.")
    digest: str = Field(description="Names the policy's content; executors report it back.")
    policy: RuntimePolicy
    executors: list[ExecutorPolicyOut]


def _policy_out(control: Control, runtime: str) -> PolicyOut:
    policy = control.policies.of(runtime)
    executors = [
        ExecutorPolicyOut(
            address=c.address,
            digest=c.info.policy_digest,
            applied=c.info.policy_digest == policy.digest,
        )
        for c in control.reconciler.connections_of(runtime)
        if c.info is not None
    ]
    return PolicyOut(
        runtime=runtime,
        stored=control.policies.is_stored(runtime),
        digest=policy.digest,
        policy=policy,
        executors=executors,
    )


@router.get(
    "/api/runtimes/{runtime}/policy",
    response_model=PolicyOut,
    summary="A runtime's policy (the default when none was set) and which executors hold it",
)
async def get_policy(runtime: str, control: Control) -> PolicyOut:
    return _policy_out(control, runtime)


@router.put(
    "/api/runtimes/{runtime}/policy",
    response_model=PolicyOut,
    summary="Replace a runtime's policy; answers once its executors hold it",
    responses=_UNKNOWN_RUNTIME,
    description="Fields left out take their defaults. A bad host, CIDR or URL is a 422 naming "
    "the field and the entry.",
)
async def put_policy(runtime: str, policy: RuntimePolicy, control: Control) -> PolicyOut:
    await control.set_policy(runtime, policy)
    return _policy_out(control, runtime)


@router.delete(
    "/api/runtimes/{runtime}/policy",
    response_model=PolicyOut,
    summary="Forget a runtime's policy: the default applies again",
    responses=_UNKNOWN_RUNTIME,
)
async def reset_policy(runtime: str, control: Control) -> PolicyOut:
    await control.set_policy(runtime, None)
    return _policy_out(control, runtime)
