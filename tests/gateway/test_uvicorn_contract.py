"""gateway/http/connection.py is an HTTP protocol of our own that uvicorn's `Server` runs: the
server makes one per connection (`http_protocol_class(config=, server_state=, app_state=, _loop=)`),
keeps them in `server_state.connections` and their tasks in `server_state.tasks`, and on a
graceful shutdown calls each one's `shutdown()` and waits for both sets to empty. pyproject pins
uvicorn to the minor version this was written against; this test fails, naming the code, when
the installed uvicorn's code the protocol relies on is no longer the code it was written against.
Then read uvicorn's change, bring the protocol in line, and record the new digest here."""

from __future__ import annotations

import hashlib
import inspect

import uvicorn
from uvicorn.protocols import utils
from uvicorn.server import Server, ServerState

from gateway.http import GatewayHttpProtocol

# sha256 (first 16 hex digits) of uvicorn's source of what the protocol relies on, as of the
# uvicorn version named.
WRITTEN_AGAINST = "0.54"
UVICORN_SOURCE = {
    # Makes the protocol per connection; given sockets=[] it starts no listener of its own and
    # logs none, which gateway/http/acceptor.py's GatewayServer relies on.
    "Server.startup": (Server.startup, "2aa1d70a244bfcf2"),
    "Server.shutdown": (Server.shutdown, "9b33c50562992b1e"),  # calls connection.shutdown()
    "Server._wait_tasks_to_complete": (Server._wait_tasks_to_complete, "17209be1e991445d"),
    "ServerState.__init__": (ServerState.__init__, "8daf3a9b4e4e4245"),
    "protocols.utils.get_local_addr": (utils.get_local_addr, "6be1e23931c77938"),
    "protocols.utils.get_remote_addr": (utils.get_remote_addr, "5cb127377672c133"),
    "protocols.utils.is_ssl": (utils.is_ssl, "cfb89711af847b7e"),
}


def _digest(code: object) -> str:
    return hashlib.sha256(inspect.getsource(code).encode()).hexdigest()[:16]  # type: ignore[arg-type]


def test_uvicorn_code_the_protocol_relies_on_is_unchanged() -> None:
    changed = [name for name, (code, digest) in UVICORN_SOURCE.items() if _digest(code) != digest]
    assert not changed, (
        f"uvicorn {uvicorn.__version__} changed {', '.join(changed)} since {WRITTEN_AGAINST}, "
        "which gateway/http/connection.py relies on: review the change, bring the protocol in "
        "line, then record the new digests"
    )


def test_the_protocol_has_what_uvicorns_server_calls() -> None:
    startup = inspect.getsource(Server.startup)
    for argument in ("config=config", "server_state=self.server_state", "app_state=", "_loop="):
        assert argument in startup, argument
    assert "connection.shutdown()" in inspect.getsource(Server.shutdown)
    assert list(inspect.signature(GatewayHttpProtocol.__init__).parameters) == [
        "self",
        "config",
        "server_state",
        "app_state",
        "_loop",
    ]
    assert callable(GatewayHttpProtocol.shutdown)
