"""The executor link's credentials for a local cluster, made in the data folder on first start.

`flowhost up` keeps them in `<data>/link/`, every file 0600 in a 0700 folder: a random cluster
token, and with `--mtls` a cluster CA, a gateway client certificate and an executor server
certificate (for the name `flowhost-executor`, which the gateway checks whatever address it
dials). The CA's key is not kept: the certificates are made once, together, and reused, so a
restarted `up` keeps its cluster identity; another data folder is another cluster, whose
executors refuse this one's gateway and the other way round. Certificates come from the
`cryptography` package (a well-kept library; hand-rolled ASN.1 or a dependency on the `openssl`
binary would be worse).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

SERVER_NAME = "flowhost-executor"
CERT_DAYS = 825


@dataclass(frozen=True, slots=True)
class LinkFiles:
    token: Path
    ca: Path | None = None
    gateway_cert: Path | None = None
    gateway_key: Path | None = None
    executor_cert: Path | None = None
    executor_key: Path | None = None

    def gateway_env(self) -> dict[str, str]:
        env = {"FLOWHOST_LINK_TOKEN_FILE": str(self.token)}
        if self.ca is not None:
            env |= {
                "FLOWHOST_LINK_TLS_CA_FILE": str(self.ca),
                "FLOWHOST_LINK_TLS_CERT_FILE": str(self.gateway_cert),
                "FLOWHOST_LINK_TLS_KEY_FILE": str(self.gateway_key),
                "FLOWHOST_LINK_TLS_SERVER_NAME": SERVER_NAME,
            }
        return env

    def executor_env(self) -> dict[str, str]:
        env = {"FLOWHOST_EXECUTOR_LINK_TOKEN_FILE": str(self.token)}
        if self.ca is not None:
            env |= {
                "FLOWHOST_EXECUTOR_LINK_TLS_CA_FILE": str(self.ca),
                "FLOWHOST_EXECUTOR_LINK_TLS_CERT_FILE": str(self.executor_cert),
                "FLOWHOST_EXECUTOR_LINK_TLS_KEY_FILE": str(self.executor_key),
            }
        return env


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(data)
    os.chmod(path, 0o600)


def ensure_link(data_dir: Path, *, mtls: bool) -> LinkFiles:
    """The cluster's link credentials in `data_dir/link`, made now if missing."""
    folder = data_dir / "link"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    token = folder / "token"
    if not token.exists():
        _write_private(token, secrets.token_urlsafe(32).encode() + b"\n")
    if not mtls:
        return LinkFiles(token)
    files = LinkFiles(
        token,
        folder / "ca.pem",
        folder / "gateway.pem",
        folder / "gateway-key.pem",
        folder / "executor.pem",
        folder / "executor-key.pem",
    )
    paths = [files.ca, files.gateway_cert, files.gateway_key]
    paths += [files.executor_cert, files.executor_key]
    if not all(p is not None and p.exists() for p in paths):
        _make_certificates(folder, files)
    return files


def _make_certificates(folder: Path, files: LinkFiles) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    def pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
        return key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = name(f"flowhost cluster CA {secrets.token_hex(4)}")
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=CERT_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )

    def issue(
        common: str, usage: x509.ObjectIdentifier, names: list[x509.GeneralName]
    ) -> tuple[bytes, bytes]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(common))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=CERT_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
        )
        cert = builder.sign(ca_key, hashes.SHA256())
        return cert.public_bytes(serialization.Encoding.PEM), pem_key(key)

    gateway_cert, gateway_key = issue(
        "flowhost-gateway", ExtendedKeyUsageOID.CLIENT_AUTH, [x509.DNSName("flowhost-gateway")]
    )
    executor_cert, executor_key = issue(
        SERVER_NAME,
        ExtendedKeyUsageOID.SERVER_AUTH,
        [x509.DNSName(SERVER_NAME), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
    )
    assert files.ca and files.gateway_cert and files.gateway_key
    assert files.executor_cert and files.executor_key
    _write_private(files.ca, ca.public_bytes(serialization.Encoding.PEM))
    _write_private(files.gateway_cert, gateway_cert)
    _write_private(files.gateway_key, gateway_key)
    _write_private(files.executor_cert, executor_cert)
    _write_private(files.executor_key, executor_key)
