"""Who may call this executor: a gateway of its cluster, proven by the cluster token or by a
client certificate the cluster CA signed (docs/operations.md, "Security model").

Every call but `grpc.health.v1` goes through `ClusterGate`, a server interceptor that runs once
per RPC: the execution stream is one long-lived RPC, so it pays the check once, not per request.
In token mode the gate compares the presented token with each accepted one in constant time; in
mTLS mode the TLS handshake already refused a caller without a certificate from the CA.

`prove` answers a gateway's challenge (the nonce in Describe) with an HMAC of it keyed with the
token that caller presented, so the gateway can tell an executor of its cluster from one that
would accept anyone.
"""

from __future__ import annotations

import hashlib
import hmac
import ssl
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from executors.settings import ExecutorSettings
from protos import execution_link

#: The metadata key the gateway sends the cluster token in (gateway/link.py sends the same).
TOKEN_METADATA_KEY = "x-flowhost-cluster-token"
#: Shorter tokens are refused at start-up: a guessable secret is no secret.
MIN_TOKEN_CHARS = 16
#: Calls anyone may make: health probes (compose, Kubernetes) carry no credentials.
OPEN_PREFIX = "/grpc.health.v1.Health/"


class LinkMisconfigured(Exception):
    """The executor has no usable cluster credentials; the message names the settings."""


def read_tokens(text: str) -> list[str]:
    """Tokens from a setting or a file: comma- or line-separated, blanks and # comments ignored."""
    tokens: list[str] = []
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        tokens.extend(part.strip() for part in line.split(",") if part.strip())
    return tokens


def _read(path: Path, setting: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise LinkMisconfigured(f"{setting}: cannot read {path}: {error.strerror}") from None


@dataclass(frozen=True, slots=True)
class TlsFiles:
    cert: bytes
    key: bytes
    ca: bytes


@dataclass(frozen=True, slots=True)
class LinkCredentials:
    """The cluster credentials this executor accepts."""

    tokens: tuple[bytes, ...]
    tls: TlsFiles | None

    @classmethod
    def from_settings(cls, settings: ExecutorSettings) -> LinkCredentials:
        names = "FLOWHOST_EXECUTOR_LINK_TOKEN"
        tokens = read_tokens(settings.link_token)
        if settings.link_token_file is not None:
            path = settings.link_token_file
            tokens += read_tokens(_read(path, f"{names}_FILE").decode("utf-8", "replace"))
        for token in tokens:
            if len(token) < MIN_TOKEN_CHARS:
                raise LinkMisconfigured(
                    f"{names}: a cluster token has {len(token)} characters, fewer than the "
                    f"minimum of {MIN_TOKEN_CHARS} (MIN_TOKEN_CHARS)"
                )
        files = (settings.link_tls_cert_file, settings.link_tls_key_file, settings.link_tls_ca_file)
        tls = None
        if any(f is not None for f in files):
            if not all(f is not None for f in files):
                raise LinkMisconfigured(
                    "mTLS needs all three of FLOWHOST_EXECUTOR_LINK_TLS_CERT_FILE, "
                    "FLOWHOST_EXECUTOR_LINK_TLS_KEY_FILE and FLOWHOST_EXECUTOR_LINK_TLS_CA_FILE"
                )
            cert, key, ca = (
                _read(path, f"FLOWHOST_EXECUTOR_LINK_TLS_{what}_FILE")
                for path, what in zip(files, ("CERT", "KEY", "CA"), strict=True)
                if path is not None
            )
            tls = TlsFiles(cert, key, ca)
        if not tokens and tls is None:
            raise LinkMisconfigured(
                "no cluster credentials: set FLOWHOST_EXECUTOR_LINK_TOKEN (or "
                "FLOWHOST_EXECUTOR_LINK_TOKEN_FILE) to the token the cluster's gateways present, "
                "or FLOWHOST_EXECUTOR_LINK_TLS_CERT_FILE, _KEY_FILE and _CA_FILE for mTLS"
            )
        return cls(tuple(t.encode() for t in tokens), tls)

    def server_credentials(self) -> grpc.ServerCredentials | None:
        """TLS that requires and verifies a client certificate from the cluster CA, if set."""
        if self.tls is None:
            return None
        return grpc.ssl_server_credentials(
            [(self.tls.key, self.tls.cert)], root_certificates=self.tls.ca, require_client_auth=True
        )

    def link_ssl_context(self) -> ssl.SSLContext | None:
        """The execution link's TLS under mTLS: the same certificate, the same client check."""
        if self.tls is None:
            return None
        context: ssl.SSLContext = execution_link.server_ssl_context(
            self.tls.cert, self.tls.key, self.tls.ca
        )
        return context

    def link_accepts(
        self, gateway_proof: bytes, executor_nonce: bytes, gateway_nonce: bytes
    ) -> bytes | None:
        """The token a gateway proved it holds in the execution link's handshake (b"" when
        this executor takes no token: mTLS only), or None when it proved none of ours."""
        if not self.tokens:
            expected = execution_link.proof(b"", "gateway", executor_nonce, gateway_nonce)
            return b"" if hmac.compare_digest(expected, gateway_proof) else None
        matched = None
        for token in self.tokens:  # every one compared, in constant time each
            expected = execution_link.proof(token, "gateway", executor_nonce, gateway_nonce)
            if hmac.compare_digest(expected, gateway_proof):
                matched = token
        return matched

    def gate(self) -> ClusterGate:
        return ClusterGate(self.tokens)

    def prove(self, nonce: bytes, metadata: Iterable[tuple[str, Any]] | None) -> bytes:
        """HMAC-SHA256 of `nonce` with the token the caller presented (the gate checked it)."""
        if not nonce or not self.tokens:
            return b""
        presented = _presented(metadata)
        if presented is None or _accepted(self.tokens, presented) is None:
            return b""
        return hmac.new(presented, nonce, hashlib.sha256).digest()


def _presented(metadata: Iterable[tuple[str, Any]] | None) -> bytes | None:
    for key, value in metadata or ():
        if key == TOKEN_METADATA_KEY:
            return value.encode() if isinstance(value, str) else bytes(value)
    return None


def _accepted(tokens: tuple[bytes, ...], presented: bytes) -> bytes | None:
    matched = None
    for token in tokens:  # every one compared, in constant time each
        if hmac.compare_digest(token, presented):
            matched = token
    return matched


class ClusterGate(grpc.aio.ServerInterceptor):  # type: ignore[misc]  # grpc is untyped here
    """Answers UNAUTHENTICATED to every call but health that lacks an accepted cluster token."""

    def __init__(self, tokens: tuple[bytes, ...]) -> None:
        self._tokens = tokens

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None or not self._tokens or details.method.startswith(OPEN_PREFIX):
            return handler
        presented = _presented(details.invocation_metadata)
        if presented is None:
            return _refusal(handler, "this executor needs its cluster's token; none was sent")
        if _accepted(self._tokens, presented) is None:
            return _refusal(handler, "the cluster token sent is not this executor's cluster's")
        return handler


def _refusal(handler: grpc.RpcMethodHandler, message: str) -> grpc.RpcMethodHandler:
    """A handler of the same kind as `handler` that aborts with UNAUTHENTICATED."""

    async def refuse(request: Any, context: grpc.aio.ServicerContext) -> None:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(refuse)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(refuse)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(refuse)
    return grpc.unary_unary_rpc_method_handler(refuse)
