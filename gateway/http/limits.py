"""The shared web server's HTTP limits, and the answer a client gets when it breaks one.

The connection (gateway/http/connection.py) enforces them; this module names them (settings
`http_*`, docs/operations.md "Limits") and writes the refusal: the gateway's problem body, a
ServiceProblem on `/fs/`, always with `Connection: close`.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.errors import SERVICE_PROBLEM_HEADER, GatewayError, api_problem, service_problem

LINGER_S = 1.0  # how long a refused client's bytes are still read (and dropped)
_REASONS = {400: "Bad Request", 408: "Request Timeout", 431: "Request Header Fields Too Large"}


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """What one client may make the server read and hold (settings `http_*`)."""

    header_max_bytes: int = 32 * 1024
    header_timeout_s: float = 20.0
    body_timeout_s: float = 20.0
    body_min_rate: int = 500
    max_requests_per_connection: int = 1000  # 0: no limit


def refusal(status: int, code: str, message: str, url: bytes) -> bytes:
    """The whole response refusing the request for `url` (what of it arrived)."""
    error = GatewayError(message, status=status, code=code)
    path = url.split(b"?", 1)[0]
    headers = [(b"content-type", b"application/json")]
    if path.startswith(b"/fs/"):
        body = service_problem(error, path[:200].decode("latin-1"))
        headers.append(SERVICE_PROBLEM_HEADER)
    else:
        body = api_problem(error)
    head = [f"HTTP/1.1 {status} {_REASONS[status]}\r\n".encode()]
    head += [name + b": " + value + b"\r\n" for name, value in headers]
    head.append(b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body))
    return b"".join(head) + body
