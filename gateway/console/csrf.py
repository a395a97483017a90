"""CSRF defences of the console's forms.

The console's POSTs are plain HTML forms, so they cannot carry the management API's
`X-Flowhost-Client` header; they are protected instead by:

- a synchronizer token: every form of a session carries the session's random `csrf` value in a
  hidden field, and a POST without the right one is refused (403);
- the sign-in form, which has no session yet, by a double-submit token: a random value in both a
  short-lived cookie and the form (login CSRF: a cross-site page must not sign the browser in);
- the session cookie's `SameSite=Strict`, so a cross-site request carries no session at all;
- `Sec-Fetch-Site: cross-site`, which browsers send on a cross-site request, refused outright.
"""

from __future__ import annotations

import hmac
import secrets

from gateway.errors import Forbidden

__all__ = ["FIELD", "CsrfRefused", "check", "check_fetch_site", "new_token"]

#: The hidden form field every console form carries.
FIELD = "csrf"


class CsrfRefused(Forbidden):
    code = "csrf_refused"


def new_token() -> str:
    return secrets.token_urlsafe(32)


def check(expected: str, presented: object) -> None:
    """The form's token is the expected one, compared in constant time; else 403."""
    if not isinstance(presented, str) or not presented:
        raise CsrfRefused(
            "the form carries no CSRF token: reload the page and send it again",
        )
    if not expected or not hmac.compare_digest(expected.encode(), presented.encode()):
        raise CsrfRefused(
            "the form's CSRF token is not this session's (an old page, or another site): "
            "reload the page and send it again"
        )


def check_fetch_site(fetch_site: str | None) -> None:
    """Refuse a POST the browser itself says comes from another site."""
    if fetch_site is not None and fetch_site.strip().lower() == "cross-site":
        raise CsrfRefused("the console takes no form posted from another site")
