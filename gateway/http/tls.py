"""The ASGI TLS extension of a connection's scope, with the client certificate's fingerprint."""

from __future__ import annotations

import hashlib
import ssl
from typing import Any

from gateway.auth import CLIENT_CERT_SHA256

_TLS_VERSIONS = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}


def tls_extension(ssl_object: ssl.SSLObject) -> dict[str, Any]:
    """scope["extensions"]["tls"] of the ASGI TLS extension, plus the client certificate's
    fingerprint (CLIENT_CERT_SHA256). Only a certificate the client CA verified gets here: an
    unverified one fails the handshake."""
    der = ssl_object.getpeercert(binary_form=True)
    name = None
    if der:
        subject = (ssl_object.getpeercert() or {}).get("subject", ())
        name = ",".join(f"{key}={value}" for rdn in reversed(subject) for key, value in rdn)
    return {
        "server_cert": None,
        "client_cert_chain": [ssl.DER_cert_to_PEM_cert(der)] if der else [],
        "client_cert_name": name,
        "client_cert_error": None,
        "tls_version": _TLS_VERSIONS.get(ssl_object.version() or ""),
        "cipher_suite": None,
        CLIENT_CERT_SHA256: hashlib.sha256(der).hexdigest() if der else None,
    }
