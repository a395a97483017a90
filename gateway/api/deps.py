"""What every management endpoint needs: the running gateway's parts, behind admin credentials.

The parts travel as one typed object (`gateway.running.Gateway`) that the lifespan hands to the
application once they have all started; `running(request)` is the one way to reach it.

Failed logins are throttled per client address (`gateway.login_throttle`): a locked-out address
gets 429 with Retry-After before its credentials are looked at. The 401 carries no
`WWW-Authenticate` challenge: the CLI does not need one, and a browser that never saw one never
caches credentials to replay to cross-site requests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.security import HTTPBasic, HTTPBasicCredentials

from gateway.auth import AuthError, check_admin
from gateway.control import ControlPlane
from gateway.errors import Unauthorized, Unavailable
from gateway.login_throttle import LoginThrottle
from gateway.running import Gateway

_basic = HTTPBasic(auto_error=False, description="The gateway's admin credentials.")


class ManagementApi(FastAPI):
    """The FastAPI application, with the running gateway once its lifespan has started it."""

    gateway: Gateway | None = None

    def running_gateway(self) -> Gateway:
        """The running gateway's parts; 503 before they have started or after they stopped."""
        if self.gateway is None:
            raise Unavailable(
                "the gateway is not running (it is starting or stopping); try again",
                code="not_running",
            )
        return self.gateway


def running(request: Request) -> Gateway:
    """The running gateway's parts; 503 before they have started or after they stopped."""
    api: ManagementApi = request.app
    return api.running_gateway()


def require_admin(request: Request, what: str = "management API") -> None:
    """Accept the admin's credentials, or raise Unauthorized / TooManyFailedLogins."""
    gateway = running(request)
    host = request.client.host if request.client else None
    header = request.headers.get("authorization")
    throttled_login(
        gateway.login_throttle,
        host,
        what,
        lambda: check_admin(header, gateway.admin_user, gateway.admin_password),
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
    return running(request).control


Control = Annotated[ControlPlane, Depends(control_plane)]
