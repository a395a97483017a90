"""Which callbackUris a runtime may use: checked when the request arrives, before any work.

A callbackUri that could never be delivered (not http(s), no host, too long, a host the runtime
may not call) is refused with a 400/403 naming the field while Flow is still waiting for the
answer, not discovered later as a dead-lettered callback. The checks are cached: Flow sends the
same callbackUri with every request.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from gateway import egress
from gateway.errors import BadRequest, Forbidden
from gateway.policy import RuntimePolicy

__all__ = ["CallbackPolicy", "default_policy", "uri_problem"]


def default_policy(runtime: str) -> RuntimePolicy:
    return RuntimePolicy()


# The URL rules httpx does not apply itself (it percent-encodes spaces, takes any scheme).
_HOST_NAME = re.compile(r"[A-Za-z0-9._-]+")  # after IDNA: no %-escapes, no spaces
_HOST_IP6 = re.compile(r"[0-9A-Fa-f:.]+")
_TENANT_MAX_CHARS = 200  # the outbox's tenant_id column


def uri_problem(uri: object, max_chars: int) -> str | None:
    """Why httpx could not POST to `uri` (or a receiver could not be meant by it); None if fine.

    httpx's own parsing first (control characters, ports that are not numbers, IDNA), then what
    it lets through: other schemes, no host, spaces, ports outside 1-65535, over-long URLs.
    """
    if not isinstance(uri, str):
        return f"must be text, got {_json_type(uri)}"
    if len(uri) > max_chars:
        return f"is {len(uri)} characters long; the limit is {max_chars} (callback_uri_max_chars)"
    if any(c.isspace() for c in uri):
        return "must not contain spaces or line breaks"
    try:
        url = httpx.URL(uri)
        port, _ = url.port, url.host  # .host decodes IDNA, which may fail ("xn--")
    except (httpx.InvalidURL, UnicodeError, ValueError) as error:
        return f"is not a URL httpx accepts: {str(error)[:100]}"
    if url.scheme not in ("http", "https"):
        return f"must be an http or https URL, not {url.scheme or 'a relative one'!r}"
    host = url.raw_host.decode("ascii", "replace")
    if not (_HOST_NAME.fullmatch(host) or (":" in host and _HOST_IP6.fullmatch(host))):
        return "must name a host (letters, digits, dots, dashes, underscores, or an IP address)"
    if port is not None and not 0 < port < 65536:
        return f"has port {port}; a port is 1 to 65535"
    return None


def _json_type(value: object) -> str:
    return {dict: "an object", list: "an array", bool: "a boolean"}.get(
        type(value), "a number" if isinstance(value, int | float) else "null"
    )


class CallbackPolicy:
    """Which callbackUris each runtime may use: the `callback_hosts` allow-lists (default any
    host), and the runtime policy's egress rule on the address (gateway/egress.py)."""

    def __init__(
        self,
        allowed_hosts: Mapping[str, list[str]],
        policy: Callable[[str], RuntimePolicy] = default_policy,
        *,
        uri_max_chars: int = 2048,
    ) -> None:
        self._allowed = {r: {h.lower() for h in hosts} for r, hosts in allowed_hosts.items()}
        self._checked: dict[tuple[str, str, str], None] = {}
        # URIs that passed `uri_problem`: Flow sends the same one with every request, and
        # parsing it each time cost the quote benchmark ~25 us a request (scripts/deadline_ab.py).
        self._well_formed: dict[str, None] = {}
        #: The runtime's policy, whose egress rule callbacks follow.
        self.policy = policy
        self.uri_max_chars = uri_max_chars

    def check_request(self, request: Mapping[str, Any]) -> None:
        """At request time: a callbackUri (and the tenantId sent with it) that could never be
        delivered is a 400 naming the field, whether or not this execution will call back."""
        uri = request.get("callbackUri")
        if uri is None or uri == "":
            return
        if not isinstance(uri, str) or uri not in self._well_formed:
            problem = uri_problem(uri, self.uri_max_chars)
            if problem is not None:
                raise BadRequest(f"callbackUri {problem}", code="bad_callback_uri")
            assert isinstance(uri, str)  # uri_problem refuses anything else
            if len(self._well_formed) > 1024:
                self._well_formed.clear()
            self._well_formed[uri] = None
        tenant = request.get("tenantId")
        if tenant is not None and not (
            isinstance(tenant, str)
            and len(tenant) <= _TENANT_MAX_CHARS
            and tenant.isascii()
            and tenant.isprintable()
        ):
            raise BadRequest(
                f"tenantId must be text of at most {_TENANT_MAX_CHARS} printable ASCII "
                "characters (it is sent back as the ManyWhoTenant header of the callback)",
                code="bad_tenant_id",
            )

    async def check(self, runtime: str, uri: str) -> None:
        """Raise a 400/403 GatewayError when the runtime may not call `uri` back."""
        policy = self.policy(runtime)
        key = (runtime, uri, policy.digest)
        if key in self._checked:  # Flow sends the same callbackUri over and over
            return
        problem = uri_problem(uri, self.uri_max_chars)
        if problem is not None:
            raise BadRequest(f"callbackUri {problem}", code="bad_callback_uri")
        url = httpx.URL(uri)
        host = url.host.lower()
        allowed = self._allowed.get(runtime)
        if allowed is not None and host not in allowed and "*" not in allowed:
            raise Forbidden(
                f"callbackUri host {host!r} is not allowed for runtime '{runtime}' "
                f"(allowed: {', '.join(sorted(allowed)) or 'none'})",
                code="callback_not_allowed",
            )
        port = url.port or (443 if url.scheme == "https" else 80)
        refused = await egress.check_uri(policy, host, port)
        if refused is not None:
            raise BadRequest(
                f"callbackUri {uri[:200]!r} is refused by runtime '{runtime}' egress policy: "
                f"{refused}",
                code="callback_not_allowed",
            )
        if len(self._checked) > 1024:
            self._checked.clear()
        self._checked[key] = None
