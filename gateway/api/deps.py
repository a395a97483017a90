"""What every management endpoint needs: the control plane, behind admin credentials."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPBasic, HTTPBasicCredentials

from gateway.auth import AuthError, check_admin
from gateway.control import ControlPlane
from gateway.errors import Unauthorized

_basic = HTTPBasic(auto_error=False, description="The gateway's admin credentials.")


def control_plane(
    request: Request,
    credentials: Annotated[HTTPBasicCredentials | None, Depends(_basic)],
) -> ControlPlane:
    state = request.app.state
    header = request.headers.get("authorization")
    try:
        check_admin(header, state.admin_user, state.admin_password)
    except AuthError as error:
        raise Unauthorized(f"management API: {error.message}", code=error.code) from None
    control: ControlPlane = state.control
    return control


Control = Annotated[ControlPlane, Depends(control_plane)]
