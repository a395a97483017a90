"""The gateway's HTTP/1.1 server: the protocol uvicorn's `Server` runs for each connection.

`GatewayHttpProtocol.with_limits(HttpLimits(...), tls=...)` is the class to pass as uvicorn's
`http`. connection.py reads requests off one connection (parsing, pipelining, keep-alive, the
limits' clock); cycle.py is one request's exchange with the application (`receive`, `send`);
limits.py names the limits and writes their refusals; tls.py builds the ASGI TLS extension.
"""

from gateway.http.connection import GatewayHttpProtocol
from gateway.http.limits import HttpLimits

__all__ = ["GatewayHttpProtocol", "HttpLimits"]
