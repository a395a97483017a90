"""gateway/http_protocol.py subclasses uvicorn's httptools protocol and overrides private methods
(one of them a copy of uvicorn's `on_response_complete`). pyproject pins uvicorn to the minor
version this was written against; this test fails, naming the method, when the installed uvicorn's
code behind the subclass is no longer the code it was written against. Then read uvicorn's change,
carry it into the subclass (or drop the override), and record the new digest here."""

from __future__ import annotations

import hashlib
import inspect

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gateway import http_protocol

# sha256 (first 16 hex digits) of uvicorn's source of each method the subclass overrides or
# relies on, as of the uvicorn version named.
WRITTEN_AGAINST = "0.54"
UVICORN_SOURCE = {
    "__init__": "4f08999410347141",
    "connection_made": "6efb565ff3d36b91",
    "connection_lost": "c91a4c9bf2e29c55",
    "_unset_keepalive_if_required": "00a6a4e47214e68e",
    "on_response_complete": "64e254f28e389e76",
    "data_received": "010a7ae59a5d3b1a",
    "on_headers_complete": "1ea8589acfad92d8",
    "on_message_complete": "1fbad42dc31fc01f",
    "on_message_begin": "96d377fdc7c2baef",
    "_start_asgi_task": "9c08c2571ae9b038",
    "timeout_keep_alive_handler": "8b53bf5f2e202970",
}
# Called by the subclass without being overridden.
RELIED_ON = ("__init__", "_start_asgi_task", "timeout_keep_alive_handler")


def _digest(name: str) -> str:
    source = inspect.getsource(getattr(HttpToolsProtocol, name))
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def test_every_override_is_recorded() -> None:
    subclasses = [
        cls
        for cls in vars(http_protocol).values()
        if isinstance(cls, type)
        and issubclass(cls, HttpToolsProtocol)
        and cls is not HttpToolsProtocol
    ]
    assert len(subclasses) >= 3  # coalescing, limited, limited over TLS
    overridden = {
        name
        for cls in subclasses
        for name, value in vars(cls).items()
        if callable(value) and hasattr(HttpToolsProtocol, name)
    }
    unrecorded = overridden - UVICORN_SOURCE.keys()
    assert not unrecorded, (
        f"the subclass now overrides {sorted(unrecorded)}: record uvicorn's digest of each "
        "in UVICORN_SOURCE"
    )


def test_uvicorn_code_behind_the_subclass_is_unchanged() -> None:
    changed = [name for name, digest in UVICORN_SOURCE.items() if _digest(name) != digest]
    assert not changed, (
        f"uvicorn {uvicorn.__version__} changed HttpToolsProtocol.{', '.join(changed)} since "
        f"{WRITTEN_AGAINST}, which gateway/http_protocol.py overrides or relies on: review the "
        "change, bring the subclass in line, then record the new digests"
    )
    assert all(hasattr(HttpToolsProtocol, name) for name in RELIED_ON)
