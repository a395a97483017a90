"""Test certificates made with the `openssl` command: a CA, a server certificate for 127.0.0.1
and localhost, client certificates signed by the CA, and one from a CA the gateway does not
trust."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="the openssl command is not installed")


@dataclass(frozen=True)
class Pair:
    cert: Path
    key: Path


@dataclass(frozen=True)
class Certificates:
    ca: Path
    server: Pair
    client: Pair  # signed by `ca`, bound to a user by the tests
    unbound: Pair  # signed by `ca`, bound to nobody
    stranger: Pair  # signed by a CA the gateway does not trust

    def context(self, client: Pair | None = None) -> ssl.SSLContext:
        """What a client verifying the gateway uses (presenting `client`, if given)."""
        context = ssl.create_default_context(cafile=str(self.ca))
        if client is not None:
            context.load_cert_chain(str(client.cert), str(client.key))
        return context


def _run(*args: str, cwd: Path) -> None:
    assert OPENSSL is not None
    subprocess.run([OPENSSL, *args], cwd=cwd, check=True, capture_output=True, timeout=30)


def _ca(folder: Path, name: str) -> Pair:
    pair = Pair(folder / f"{name}.pem", folder / f"{name}.key")
    _run(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", str(pair.key), "-out", str(pair.cert), "-days", "2", "-subj", f"/CN={name}",
        cwd=folder,
    )  # fmt: skip
    return pair


def _signed(folder: Path, name: str, ca: Pair, extensions: str) -> Pair:
    pair = Pair(folder / f"{name}.pem", folder / f"{name}.key")
    csr = folder / f"{name}.csr"
    ext = folder / f"{name}.ext"
    ext.write_text(extensions + "\n")
    _run(
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", str(pair.key), "-out", str(csr), "-subj", f"/CN={name}",
        cwd=folder,
    )  # fmt: skip
    _run(
        "x509", "-req", "-in", str(csr), "-CA", str(ca.cert), "-CAkey", str(ca.key),
        "-CAcreateserial", "-out", str(pair.cert), "-days", "2", "-extfile", str(ext),
        cwd=folder,
    )  # fmt: skip
    return pair


def make_certificates(folder: Path) -> Certificates:
    folder.mkdir(parents=True, exist_ok=True)
    ca = _ca(folder, "test-ca")
    other = _ca(folder, "other-ca")
    client_ext = "extendedKeyUsage=clientAuth"
    return Certificates(
        ca=ca.cert,
        server=_signed(
            folder,
            "server",
            ca,
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth",
        ),
        client=_signed(folder, "flow-client", ca, client_ext),
        unbound=_signed(folder, "unbound-client", ca, client_ext),
        stranger=_signed(folder, "stranger", other, client_ext),
    )
