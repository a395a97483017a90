"""Executors registering, renewing and leaving (`flowhost executor --gateway URL`).

No admin credentials here: each message is signed with the cluster token
(`gateway/registration.py` says how, and why a network attacker can do nothing with it).
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gateway.api.deps import running
from gateway.errors import PayloadTooLarge, from_store_error, validation_error
from gateway.registration import SIGNATURE_HEADER, Registrations, Signed
from gateway.store import StoreError

router = APIRouter(tags=["executors"])

_JSON_BODY: dict[str, Any] = {
    "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}}
}
_SIGNED = {
    "parameters": [
        {
            "name": SIGNATURE_HEADER,
            "in": "header",
            "required": True,
            "description": "t=<unix ms>;sig=<hex HMAC-SHA256 with the cluster token>",
            "schema": {"type": "string"},
        }
    ]
}


class JoinIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    runtime: str = Field(max_length=200)
    address: str = Field(max_length=300, description="host:port gateways dial")
    executor_id: str = Field("", max_length=64, pattern=r"^[A-Za-z0-9_-]*$")


class LeaveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    address: str = Field(max_length=300)


class Joined(BaseModel):
    address: str
    runtime: str
    expires_in_s: float
    renew_in_s: float = Field(description="When the executor should renew (a third of the expiry)")


async def _signed(request: Request) -> tuple[Registrations, Signed, bytes]:
    gateway = running(request)
    body = await request.body()
    limit = gateway.settings.registration_max_bytes
    if len(body) > limit:
        raise PayloadTooLarge(
            f"registration message of {len(body)} bytes, more than the {limit} allowed "
            "(FLOWHOST_REGISTRATION_MAX_BYTES)"
        )
    header = request.headers.get(SIGNATURE_HEADER)
    signed = gateway.registrations.check(request.method, request.url.path, header, body)
    return gateway.registrations, signed, body


SignedMessage = Annotated[tuple[Registrations, Signed, bytes], Depends(_signed)]


M = TypeVar("M", bound=BaseModel)


def _parse(model: type[M], body: bytes) -> M:
    try:
        return model.model_validate_json(body)
    except ValidationError as error:
        raise validation_error(error.errors(include_url=False)) from None


@router.post(
    "/api/executors/registrations",
    response_model=Joined,
    summary="Register or renew an executor (signed with the cluster token)",
    responses={
        400: {"description": "Not a host:port, or a bad runtime name"},
        401: {"description": "No signature, a wrong one, an old one or a replay"},
        403: {"description": "This gateway has no cluster token to check signatures with"},
        404: {"description": "No such runtime"},
        413: {"description": "A body over FLOWHOST_REGISTRATION_MAX_BYTES"},
        422: {"description": "A body that is not the registration's fields"},
    },
    openapi_extra={**_JSON_BODY, **_SIGNED},
)
async def join(signed: SignedMessage) -> Joined:
    registrations, message, body = signed
    joining = _parse(JoinIn, body)
    try:
        await registrations.join(message, joining.address, joining.runtime, joining.executor_id)
    except StoreError as error:
        raise from_store_error(error) from None
    ttl = registrations.ttl_s
    return Joined(
        address=joining.address, runtime=joining.runtime, expires_in_s=ttl, renew_in_s=ttl / 3
    )


@router.post(
    "/api/executors/registrations/leave",
    status_code=204,
    summary="De-register an executor that drains (signed with the cluster token)",
    responses={
        400: {"description": "Not a host:port"},
        401: {"description": "No signature, a wrong one, an old one or a replay"},
        403: {"description": "This gateway has no cluster token to check signatures with"},
        413: {"description": "A body over FLOWHOST_REGISTRATION_MAX_BYTES"},
        422: {"description": "A body that is not {address}"},
    },
    openapi_extra={**_JSON_BODY, **_SIGNED},
)
async def leave(signed: SignedMessage) -> None:
    registrations, message, body = signed
    await registrations.leave(message, _parse(LeaveIn, body).address)
