"""Download links: short-lived, HMAC-signed references to one listed file.

A list result's ``downloadUri`` is ``<public base>/fs/<service>/file/download/<token>``: the
token names (runtime, service path, resource path, file id, tenant) and when it expires, signed
with HMAC-SHA256. The signature is the link's only authentication (Flow's Files component
fetches the link in the user's browser, with no credentials), so a link is as good as the
file for whoever holds it until it expires (``download_link_ttl_s``, 300 s by default).

Every gateway of a cluster derives the same key from the configuration key it must share with
the others anyway (or takes ``download_link_key``), so a link made by one is honoured by all.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from gateway.errors import Forbidden, NotFound

#: What the configuration key is mixed with to make the links' key (never used for anything else).
PURPOSE = b"flowhost download links v1"
#: A longer token is refused unread.
TOKEN_MAX_CHARS = 4096


@dataclass(frozen=True, slots=True)
class LinkTarget:
    runtime: str
    service_path: str
    resource_path: str
    file_id: str
    tenant: str = ""


def derive_key(secret: bytes) -> bytes:
    """The links' key from a cluster-wide secret."""
    return hmac.new(secret, PURPOSE, hashlib.sha256).digest()


class DownloadLinks:
    def __init__(self, key: bytes, ttl_s: float, clock: Callable[[], float] = time.time) -> None:
        self._key = key
        self.ttl_s = ttl_s
        self._clock = clock

    def token(self, target: LinkTarget) -> str:
        expires = int(self._clock() + self.ttl_s)
        payload = orjson.dumps(
            [
                target.runtime,
                target.service_path,
                target.resource_path,
                target.file_id,
                target.tenant,
                expires,
            ]
        )
        body = _encode(payload)
        return f"{body}.{self._sign(body)}"

    def verify(self, token: str, service_path: str) -> LinkTarget:
        """The target of a valid link for ``service_path`` (404 malformed, 403 forged or
        expired, each naming why)."""
        body, _, signature = token.partition(".")
        if len(token) > TOKEN_MAX_CHARS or not body or not signature:
            raise _malformed()
        if not hmac.compare_digest(signature, self._sign(body)):
            raise Forbidden(
                "the download link's signature does not match (altered, or made by another "
                "cluster)",
                code="forged_download_link",
            )
        try:
            runtime, service, resource, file_id, tenant, expires = orjson.loads(_decode(body))
        except (ValueError, TypeError, binascii.Error):
            raise NotFound(
                "the download link is malformed", code="malformed_download_link"
            ) from None
        if self._clock() >= expires:
            when = datetime.fromtimestamp(expires, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            raise Forbidden(
                f"the download link expired at {when} (links live {self.ttl_s:g} s, "
                "setting download_link_ttl_s); list the files again for a fresh one",
                code="expired_download_link",
            )
        if service != service_path:
            raise Forbidden(
                f"the download link is for service '{service}', not '{service_path}'",
                code="forged_download_link",
            )
        return LinkTarget(runtime, service, resource, file_id, tenant)

    def _sign(self, body: str) -> str:
        return _encode(hmac.new(self._key, body.encode(), hashlib.sha256).digest())


def _malformed() -> NotFound:
    return NotFound("the download link is malformed", code="malformed_download_link")


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
