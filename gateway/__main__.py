"""`python -m gateway`: settings -> app -> serve (uvicorn handles SIGTERM/SIGINT and draining)."""

from __future__ import annotations

import gc
import socket
import ssl
import sys
from typing import NamedTuple

import uvicorn

from gateway import logs, redaction, tracing
from gateway.app import create_app
from gateway.data_folder import make_private
from gateway.http import GatewayHttpProtocol, HttpLimits
from gateway.http.acceptor import GatewayServer, bind
from gateway.link import LinkMisconfigured
from gateway.settings import GatewaySettings


def main(settings: GatewaySettings | None = None) -> None:
    settings = settings or GatewaySettings()
    redaction.install()  # before anything logs: no secret in any line (redaction.py)
    logs.configure(settings.log_level, settings.log_format)
    if settings.otel_enabled:
        tracing.configure_export("flowhost-gateway")
    make_private(settings.data_dir)
    tls = tls_options(settings)
    try:
        app = create_app(settings)
    except LinkMisconfigured as error:
        print(f"flowhost gateway cannot start: {error}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        lifespan="on",
        access_log=False,  # per-request log lines cost more than the request on the hot path
        # The client address is the peer's: the login throttle and auth.py never believe a
        # forwarded header a client could forge (auth.py believes X-Forwarded-For only from
        # trusted_proxies), and Flow needs no server/date headers: skip the work.
        proxy_headers=False,
        server_header=False,
        date_header=False,
        log_level=settings.log_level.lower(),
        # JSON logs: uvicorn's loggers keep no handlers of their own and reach ours.
        log_config=None if settings.log_format == "json" else uvicorn.config.LOGGING_CONFIG,
        timeout_graceful_shutdown=10,
        timeout_keep_alive=settings.http_keep_alive_s,
        # Our own HTTP protocol: one write per response, HTTP limits, the TLS extension (why:
        # gateway/http/connection.py).
        http=GatewayHttpProtocol.with_limits(http_limits(settings), tls=tls.certfile is not None),
        ssl_certfile=tls.certfile,
        ssl_keyfile=tls.keyfile,
        ssl_cert_reqs=tls.cert_reqs,
        ssl_ca_certs=tls.ca_certs,
    )
    # An inherited socket (settings.listen_fd) is used as it is: socket() reads its family.
    if settings.listen_fd is not None:
        listener = socket.socket(fileno=settings.listen_fd)
    else:
        try:
            listener = bind(settings.host, settings.port, config.backlog)
        except OSError as error:
            where = f"{settings.host}:{settings.port}"
            print(f"flowhost gateway cannot listen on {where}: {error}", file=sys.stderr)
            raise SystemExit(1) from None
    tune_gc()
    # Connections are accepted by gateway/http/acceptor.py, all that wait in each loop turn.
    GatewayServer(config, [listener]).run()


def http_limits(settings: GatewaySettings) -> HttpLimits:
    return HttpLimits(
        header_max_bytes=settings.http_header_max_bytes,
        header_timeout_s=settings.http_header_timeout_s,
        body_timeout_s=settings.http_body_timeout_s,
        body_min_rate=settings.http_body_min_rate,
        max_requests_per_connection=settings.http_max_requests_per_connection,
    )


class TlsOptions(NamedTuple):
    certfile: str | None = None
    keyfile: str | None = None
    cert_reqs: int = ssl.CERT_NONE
    ca_certs: str | None = None


def tls_options(settings: GatewaySettings) -> TlsOptions:
    """uvicorn's TLS options: HTTPS with the certificate and key, and, with a client CA, an
    optional client certificate verified against it (an unverified one fails the handshake;
    none at all leaves basic auth). Python's server context allows TLS 1.2 and later only."""
    if settings.tls_cert_file is None:
        return TlsOptions()
    client_ca = settings.tls_client_ca_file
    return TlsOptions(
        str(settings.tls_cert_file),
        str(settings.tls_key_file) if settings.tls_key_file else None,
        ssl.CERT_OPTIONAL if client_ca else ssl.CERT_NONE,
        str(client_ca) if client_ca else None,
    )


def tune_gc() -> None:
    """Fewer, cheaper collections: everything built at start-up is frozen out of the young
    generations, and gen-0 runs every 50,000 allocations instead of 700. A request allocates
    and frees many small objects; collecting them early only adds pauses to the tail."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


if __name__ == "__main__":
    main()
