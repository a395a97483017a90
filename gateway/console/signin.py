"""Signing in to the console with the admin credentials, and signing out.

Failed sign-ins go through the same login throttle as the management API's Basic auth, so the
form is no faster a way to guess the password. The answer to a failure never says which of the
name or the password was wrong.
"""

from __future__ import annotations

import asyncio
import time

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from gateway.api.deps import throttled_login
from gateway.auth import check_admin_password
from gateway.console import csrf
from gateway.console.gate import PREFIX, action, console_of
from gateway.console.render import render
from gateway.console.sessions import Session
from gateway.errors import GatewayError
from gateway.login_throttle import TooManyFailedLogins

__all__ = ["signin_form", "signin_submit", "signout"]

_SIGNIN_COOKIE_S = 3600  # how long a sign-in form stays usable
_FIELD_MAX = 1024  # a longer name or password is no admin's


def _form(request: Request, *, status: int = 200, error: str = "", username: str = "") -> Response:
    console = console_of(request)
    token = csrf.new_token()
    response = render(
        request,
        "signin.html",
        None,
        status=status,
        signin_csrf=token,
        error=error,
        username=username,
    )
    response.set_cookie(
        console.signin_cookie(request),
        token,
        max_age=_SIGNIN_COOKIE_S,
        path="/",
        secure=console.secure(request),
        httponly=True,
        samesite="strict",
    )
    return response


async def signin_form(request: Request) -> Response:
    if await console_of(request).session(request, touch=False) is not None:
        return RedirectResponse(f"{PREFIX}/", status_code=303)
    return _form(request)


async def signin_submit(request: Request) -> Response:
    csrf.check_fetch_site(request.headers.get("sec-fetch-site"))
    console = console_of(request)
    form = await console.read_form(request)
    await form.close()  # plain fields only: nothing spooled to keep
    csrf.check(request.cookies.get(console.signin_cookie(request), ""), form.get(csrf.FIELD))
    username, password = form.get("username"), form.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        return _form(request, status=400, error="Enter the admin user name and password.")
    if len(username) > _FIELD_MAX or len(password) > _FIELD_MAX:
        return _form(request, status=400, error=f"At most {_FIELD_MAX} characters each.")
    backend = console.backend
    host = request.client.host if request.client else None
    try:
        throttled_login(
            backend.login_throttle,
            host,
            "console sign-in",
            lambda: check_admin_password(
                username, password, backend.admin_user, backend.admin_password
            ),
        )
    except TooManyFailedLogins as error:
        response = _form(request, status=429, error=error.message, username=username)
        response.headers.update(error.headers)
        return response
    except GatewayError:
        return _form(request, status=401, error="Wrong user name or password.", username=username)
    token, session = await asyncio.to_thread(
        console.sessions.open, backend.admin_user, backend.admin_password
    )
    response = RedirectResponse(f"{PREFIX}/", status_code=303)
    response.set_cookie(
        console.session_cookie(request),
        token,
        max_age=max(1, int(session.expires_at - time.time())),
        path="/",
        secure=console.secure(request),
        httponly=True,
        samesite="strict",
    )
    response.delete_cookie(
        console.signin_cookie(request),
        path="/",
        secure=console.secure(request),
        httponly=True,
        samesite="strict",
    )
    return response


@action
async def signout(request: Request, session: Session, form: object) -> Response:
    console = console_of(request)
    cookie = console.session_cookie(request)
    await asyncio.to_thread(console.sessions.close, request.cookies.get(cookie, ""))
    response = RedirectResponse(f"{PREFIX}/signin", status_code=303)
    response.delete_cookie(
        cookie, path="/", secure=console.secure(request), httponly=True, samesite="strict"
    )
    return response
