"""Who may see a console page or post a console form: a signed-in admin, with the form's CSRF
token. `page` and `action` wrap every handler but the sign-in form's, so no page can forget.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from gateway.console import csrf
from gateway.console.backend import Backend
from gateway.console.sessions import Session, SessionStore
from gateway.errors import BadRequest
from gateway.settings import GatewaySettings

__all__ = ["PREFIX", "Console", "action", "console_of", "live", "page", "redirect"]

PREFIX = "/console"

PageHandler = Callable[[Request, Session], Awaitable[Response]]
ActionHandler = Callable[[Request, Session, FormData], Awaitable[Response]]
Handler = Callable[[Request], Awaitable[Response]]


@dataclass
class Console:
    """The console's own state, kept on its Starlette application."""

    settings: GatewaySettings
    backend_of: Callable[[], Backend]
    form_max_bytes: int
    _sessions: SessionStore | None = field(default=None, repr=False)

    @property
    def backend(self) -> Backend:
        return self.backend_of()

    @property
    def sessions(self) -> SessionStore:
        """Made on first use: the store exists only once the gateway's lifespan has started."""
        if self._sessions is None:
            self._sessions = SessionStore(
                self.backend.control.store.engine,
                lifetime_s=self.settings.console_session_s,
                idle_s=self.settings.console_idle_s,
            )
        return self._sessions

    def secure(self, request: Request) -> bool:
        """Cookies get `Secure` when the browser reached the gateway over HTTPS."""
        return self.settings.tls_cert_file is not None or request.url.scheme == "https"

    def session_cookie(self, request: Request) -> str:
        # `__Host-`: over HTTPS the browser refuses the cookie unless Secure, Path=/ and no
        # Domain, so a sibling subdomain cannot plant one.
        return "__Host-flowhost-console" if self.secure(request) else "flowhost-console"

    def signin_cookie(self, request: Request) -> str:
        return "__Host-flowhost-signin" if self.secure(request) else "flowhost-signin"

    async def session(self, request: Request, *, touch: bool = True) -> Session | None:
        token = request.cookies.get(self.session_cookie(request), "")
        if not token:
            return None
        backend = self.backend
        return await asyncio.to_thread(
            self.sessions.find, token, backend.admin_user, backend.admin_password, touch=touch
        )

    async def read_form(self, request: Request) -> FormData:
        """The form, bounded (the body was bounded before: `headers.BodyBound`)."""
        try:
            return await request.form(max_files=1, max_fields=50, max_part_size=self.form_max_bytes)
        except HTTPException as error:  # Starlette's answer to a malformed multipart body
            raise BadRequest(
                f"the form could not be read: {error.detail}", code="bad_form"
            ) from None


def console_of(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


def redirect(path: str) -> RedirectResponse:
    """After a POST, the page to show (303: the browser GETs it)."""
    return RedirectResponse(PREFIX + path, status_code=303)


def _to_signin(request: Request) -> Response:
    if request.headers.get("hx-request"):
        # A live-refreshing fragment: htmx follows HX-Redirect with a whole-page load.
        return Response(status_code=401, headers={"HX-Redirect": f"{PREFIX}/signin"})
    return RedirectResponse(f"{PREFIX}/signin", status_code=303)


def _page(touch: bool) -> Callable[[PageHandler], Handler]:
    def wrap(handler: PageHandler) -> Handler:
        @functools.wraps(handler)
        async def wrapped(request: Request) -> Response:
            console = console_of(request)
            session = await console.session(request, touch=touch)
            if session is None:
                return _to_signin(request)
            response = await handler(request, session)
            if touch and session.notice is not None:  # shown on this page: once is enough
                await asyncio.to_thread(console.sessions.clear_notice, session)
            return response

        return wrapped

    return wrap


#: A GET handler for a signed-in admin; anyone else is sent to the sign-in form.
page = _page(touch=True)
#: A live refresh (htmx polling): like `page`, but it does not keep an idle session alive.
live = _page(touch=False)


def action(handler: ActionHandler) -> Handler:
    """A POST handler for a signed-in admin whose form carries the session's CSRF token."""

    @functools.wraps(handler)
    async def wrapped(request: Request) -> Response:
        csrf.check_fetch_site(request.headers.get("sec-fetch-site"))
        console = console_of(request)
        session = await console.session(request)
        if session is None:
            return _to_signin(request)
        form = await console.read_form(request)
        try:
            csrf.check(session.csrf, form.get(csrf.FIELD))
            return await handler(request, session, form)
        finally:
            await form.close()  # an upload's spooled temporary file

    return wrapped
