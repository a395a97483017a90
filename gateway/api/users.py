"""Runtime users: the basic-auth name and token Flow connectors use."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from gateway.api.deps import Control
from gateway.control import ControlPlane

router = APIRouter(tags=["users"])


class NewUser(BaseModel):
    name: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._@-]+$")


class UserToken(BaseModel):
    name: str
    runtime: str
    token: str = Field(description="Shown once; only its hash is stored.")


class UserOut(BaseModel):
    name: str
    runtime: str
    created_at: str


@router.post(
    "/api/runtimes/{runtime}/users",
    response_model=UserToken,
    status_code=201,
    summary="Create a runtime user and return its token once",
    responses={
        400: {"description": "Invalid name"},
        404: {"description": "No such runtime: create it first (POST /api/runtimes/{runtime})"},
        409: {"description": "The user exists"},
    },
)
async def add_user(runtime: str, user: NewUser, control: Control) -> UserToken:
    token = await control.add_user(runtime, user.name)
    return UserToken(name=user.name, runtime=runtime, token=token)


@router.get("/api/users", response_model=list[UserOut], summary="List runtime users")
async def list_users(control: Control, runtime: str | None = None) -> list[UserOut]:
    records = await control.call(control.store.users, runtime)
    return [
        UserOut(name=u.name, runtime=u.runtime, created_at=u.created_at.isoformat())
        for u in records
    ]


@router.post(
    "/api/users/{name}/token",
    response_model=UserToken,
    summary="Issue a new token; the old one stops working",
    responses={404: {"description": "No such user"}},
)
async def rotate_token(name: str, control: Control) -> UserToken:
    runtime, token = await rotate_user_token(control, name)
    return UserToken(name=name, runtime=runtime, token=token)


async def rotate_user_token(control: ControlPlane, name: str) -> tuple[str, str]:
    """Issue `name` a new token: (its runtime, the token), for the API and the console."""
    token = await control.rotate_token(name)
    runtime = next(
        u.runtime for u in await control.call(control.store.users, None) if u.name == name
    )
    return runtime, token


@router.delete(
    "/api/users/{name}",
    status_code=204,
    summary="Remove a runtime user",
    responses={404: {"description": "No such user"}},
)
async def remove_user(name: str, control: Control) -> None:
    await control.remove_user(name)
