"""The gateway's side of the executor link: the cluster credentials it presents, and how it tells
an executor of its cluster from a stranger (docs/operations.md, "Security model").

Token mode: every call carries the cluster token in metadata, and every Describe carries a fresh
nonce the executor must answer with an HMAC keyed with that token; an executor that answers
without it would accept anyone, and is refused like one that rejects the token. mTLS mode: the
channel presents the gateway's client certificate and accepts only executor certificates the
cluster CA signed, for `link_tls_server_name`. A refused executor never gets a Deploy or an
Execute (gateway/reconcile.py).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import ssl
from dataclasses import dataclass
from pathlib import Path

import grpc

from gateway.settings import GatewaySettings
from protos import execution_link

#: The metadata key executors read the token from (executors/link.py reads the same).
TOKEN_METADATA_KEY = "x-flowhost-cluster-token"
#: Shorter tokens are refused at start-up, as executors refuse them.
MIN_TOKEN_CHARS = 16
NONCE_BYTES = 32


class LinkMisconfigured(Exception):
    """The gateway has no usable cluster credentials; the message names the settings."""


class NotOfCluster(Exception):
    """An executor that could not prove it belongs to this gateway's cluster."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"not of this cluster: {reason}")


def _read(path: Path, setting: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise LinkMisconfigured(f"{setting}: cannot read {path}: {error.strerror}") from None


def _first_token(text: str) -> str:
    for line in text.splitlines():
        if not line.lstrip().startswith("#"):
            for part in line.split(","):
                if part.strip():
                    return part.strip()
    return ""


@dataclass(frozen=True, slots=True)
class ClusterLink:
    token: str
    #: (client certificate, key, CA), PEM.
    tls: tuple[bytes, bytes, bytes] | None
    server_name: str

    @classmethod
    def from_settings(cls, settings: GatewaySettings) -> ClusterLink:
        token = _first_token(settings.link_token)
        if not token and settings.link_token_file is not None:
            raw = _read(settings.link_token_file, "FLOWHOST_LINK_TOKEN_FILE")
            token = _first_token(raw.decode("utf-8", "replace"))
        if token and len(token) < MIN_TOKEN_CHARS:
            raise LinkMisconfigured(
                f"FLOWHOST_LINK_TOKEN: the cluster token has {len(token)} characters, fewer "
                f"than the minimum of {MIN_TOKEN_CHARS} (MIN_TOKEN_CHARS)"
            )
        files = (settings.link_tls_cert_file, settings.link_tls_key_file, settings.link_tls_ca_file)
        tls = None
        if any(f is not None for f in files):
            if not all(f is not None for f in files):
                raise LinkMisconfigured(
                    "mTLS needs all three of FLOWHOST_LINK_TLS_CERT_FILE, "
                    "FLOWHOST_LINK_TLS_KEY_FILE and FLOWHOST_LINK_TLS_CA_FILE"
                )
            cert, key, ca = (
                _read(path, f"FLOWHOST_LINK_TLS_{what}_FILE")
                for path, what in zip(files, ("CERT", "KEY", "CA"), strict=True)
                if path is not None
            )
            tls = (cert, key, ca)
        if not token and tls is None:
            raise LinkMisconfigured(
                "no cluster credentials: set FLOWHOST_LINK_TOKEN (or FLOWHOST_LINK_TOKEN_FILE) "
                "to the token the cluster's executors accept, or FLOWHOST_LINK_TLS_CERT_FILE, "
                "_KEY_FILE and _CA_FILE for mTLS"
            )
        return cls(token, tls, settings.link_tls_server_name)

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return ((TOKEN_METADATA_KEY, self.token),) if self.token else ()

    def channel(self, address: str, options: list[tuple[str, int | str]]) -> grpc.aio.Channel:
        if self.tls is None:
            return grpc.aio.insecure_channel(address, options=options)
        cert, key, ca = self.tls
        credentials = grpc.ssl_channel_credentials(
            root_certificates=ca, private_key=key, certificate_chain=cert
        )
        return grpc.aio.secure_channel(
            address,
            credentials,
            options=[*options, ("grpc.ssl_target_name_override", self.server_name)],
        )

    def challenge(self) -> bytes:
        return secrets.token_bytes(NONCE_BYTES) if self.token else b""

    def verify(self, nonce: bytes, proof: bytes) -> None:
        """Raise NotOfCluster unless `proof` is the HMAC of `nonce` with our token."""
        if not self.token:
            return  # mTLS only: the handshake was the proof
        if not proof:
            raise NotOfCluster(
                "it answered without proving it knows the cluster token (an executor that "
                "accepts any caller, or an older version)"
            )
        expected = hmac.new(self.token.encode(), nonce, hashlib.sha256).digest()
        if not hmac.compare_digest(expected, proof):
            raise NotOfCluster("its proof of the cluster token is wrong")

    # -- the execution link (protos/execution_link.py) ------------------------------------------

    def link_ssl_context(self) -> ssl.SSLContext | None:
        if self.tls is None:
            return None
        cert, key, ca = self.tls
        context: ssl.SSLContext = execution_link.client_ssl_context(cert, key, ca)
        return context

    def link_proof(self, executor_nonce: bytes, gateway_nonce: bytes) -> bytes:
        """Our proof in the link's handshake (keyed with no token under mTLS only)."""
        proof: bytes = execution_link.proof(
            self.token.encode(), "gateway", executor_nonce, gateway_nonce
        )
        return proof

    def verify_link(self, executor_nonce: bytes, gateway_nonce: bytes, proof: bytes) -> None:
        """Raise NotOfCluster unless the executor's link proof is made with our token."""
        expected = execution_link.proof(
            self.token.encode(), "executor", executor_nonce, gateway_nonce
        )
        if not hmac.compare_digest(expected, proof):
            raise NotOfCluster("its proof of the cluster token on the execution link is wrong")

    def refusal(self, error: grpc.aio.AioRpcError) -> NotOfCluster | None:
        """The NotOfCluster an RPC error means, if it means one."""
        if error.code() == grpc.StatusCode.UNAUTHENTICATED:
            return NotOfCluster(f"it refused this gateway's credentials ({error.details()})")
        details = (error.details() or "").lower()
        if self.tls is not None and ("handshake" in details or "certificate" in details):
            return NotOfCluster(
                "the TLS handshake failed: its certificate is not from the cluster CA or not "
                f"for {self.server_name!r}, or it does not speak mTLS"
            )
        return None
