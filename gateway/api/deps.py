"""What every management endpoint needs: the control plane, behind admin credentials.

Failed logins are throttled per client address (`gateway.login_throttle`): a locked-out address
gets 429 with Retry-After before its credentials are looked at. The 401 carries no
`WWW-Authenticate` challenge: the CLI does not need one, and a browser that never saw one never
caches credentials to replay to cross-site requests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPBasic, HTTPBasicCredentials

from gateway.auth import AuthError, check_admin
from gateway.control import ControlPlane
from gateway.errors import Unauthorized
from gateway.login_throttle import LoginThrottle

_basic = HTTPBasic(auto_error=False, description="The gateway's admin credentials.")


def require_admin(request: Request, what: str = "management API") -> None:
    """Accept the admin's credentials, or raise Unauthorized / TooManyFailedLogins."""
    state = request.app.state
    host = request.client.host if request.client else None
    header = request.headers.get("authorization")
    throttled_login(
        state.login_throttle,
        host,
        what,
        lambda: check_admin(header, state.admin_user, state.admin_password),
    )


def throttled_login(
    throttle: LoginThrottle, host: str | None, what: str, check: Callable[[], None]
) -> None:
    """Run an admin credential `check` behind the login throttle (the API's Basic auth and the
    console's sign-in form count against the same address), or raise Unauthorized /
    TooManyFailedLogins."""
    throttle.check(host)
    try:
        check()
    except AuthError as error:
        if error.code != "missing_credentials":
            throttle.failed(host)
        raise Unauthorized(f"{what}: {error.message}", code=error.code) from None
    throttle.succeeded(host)


def control_plane(
    request: Request,
    credentials: Annotated[HTTPBasicCredentials | None, Depends(_basic)],
) -> ControlPlane:
    require_admin(request)
    control: ControlPlane = request.app.state.control
    return control


Control = Annotated[ControlPlane, Depends(control_plane)]
