"""How the CLI's clients check an https gateway's certificate: its own module, so that
`flowhost probe` (flowhost/probe.py) gets it without importing httpx."""

from __future__ import annotations

import os
import ssl
from pathlib import Path


def tls_verify(ca_file: Path | str | None = None) -> ssl.SSLContext:
    """How an https gateway's certificate is checked: against `ca_file`, else
    FLOWHOST_TLS_CA_FILE, else the system's CA store."""
    ca = ca_file or os.environ.get("FLOWHOST_TLS_CA_FILE") or None
    return ssl.create_default_context(cafile=str(ca) if ca else None)
