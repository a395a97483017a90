"""A small client of the gateway's management API, for the CLI."""

from __future__ import annotations

import hashlib
import json
import os
import ssl
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from flowhost.tls import tls_verify


class ApiError(Exception):
    def __init__(self, status: int, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details or {}


def admin_from(data_dir: Path) -> tuple[str, str]:
    """Admin credentials: FLOWHOST_ADMIN_USER/PASSWORD, else the data folder's admin.json."""
    password = os.environ.get("FLOWHOST_ADMIN_PASSWORD", "")
    user = os.environ.get("FLOWHOST_ADMIN_USER", "admin")
    if password:
        return user, password
    path = data_dir / "admin.json"
    if not path.exists():
        raise ApiError(
            0,
            f"no admin credentials: set FLOWHOST_ADMIN_PASSWORD or point --data-dir at the "
            f"gateway's data folder (looked for {path})",
        )
    saved = json.loads(path.read_text())
    return saved["user"], saved["password"]


#: Sent with every request: the gateway refuses management API changes without it, because a
#: cross-site HTML form cannot send it (docs/operations.md, "The management API's guards").
CLIENT_HEADERS = {"X-Flowhost-Client": "cli"}


def certificate_fingerprint(path: Path) -> str:
    """SHA-256 of a certificate's DER form (hex), from a PEM (the first certificate) or DER file;
    what a runtime user is bound to."""
    data = path.read_bytes()
    if b"-----BEGIN CERTIFICATE-----" in data:
        pem = data[data.index(b"-----BEGIN CERTIFICATE-----") :].decode("ascii", "replace")
        try:
            der = ssl.PEM_cert_to_DER_cert(pem[: pem.index("-----END CERTIFICATE-----") + 25])
        except ValueError as error:
            raise ApiError(0, f"{path} holds no readable PEM certificate: {error}") from None
    elif data[:1] == b"\x30":  # a DER SEQUENCE
        der = data
    else:
        raise ApiError(0, f"{path} is neither a PEM nor a DER certificate")
    return hashlib.sha256(der).hexdigest()


def _is_json(response: httpx.Response) -> bool:
    kind: str = response.headers.get("content-type", "")
    return kind.split(";")[0].strip() == "application/json"


def _problem(response: httpx.Response) -> dict[str, Any]:
    """The gateway's JSON problem ({"error": code, "message": ...}, gateway/errors.py); any
    other answer is from something that is not a flowhost gateway (a wrong --url)."""
    try:
        body = response.json() if _is_json(response) else None
    except ValueError:
        body = None
    if not isinstance(body, dict) or not {"error", "message"} <= body.keys():
        raise _not_flowhost(response)
    return body


def _not_flowhost(response: httpx.Response) -> ApiError:
    """One line instead of someone else's HTML page: what answered, and what to check."""
    kind = response.headers.get("content-type", "no content type").split(";")[0]
    return ApiError(
        response.status_code,
        f"{response.request.url.copy_with(query=None)} answered HTTP {response.status_code} "
        f"({kind}), not as a flowhost gateway does: is --url (FLOWHOST_URL) the gateway's "
        "base URL?",
    )


class ManagementClient:
    def __init__(
        self,
        url: str,
        admin: tuple[str, str],
        timeout: float = 60.0,
        verify: ssl.SSLContext | None = None,
    ) -> None:
        self._http = httpx.Client(
            base_url=url.rstrip("/"),
            auth=admin,
            timeout=timeout,
            verify=verify if verify is not None else tls_verify(),
            headers=CLIENT_HEADERS,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ManagementClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise ApiError(
                0, f"cannot reach the gateway at {self._http.base_url}: {error}"
            ) from None
        if response.status_code >= 400:
            body = _problem(response)
            message = body.get("message") or response.reason_phrase
            raise ApiError(response.status_code, str(message), body.get("details"))
        if response.status_code == 204 or not response.content:
            return None
        if not _is_json(response):
            raise _not_flowhost(response)
        return response.json()

    def deploy(self, runtime: str, source: str, dry_run: bool, strict: bool = False) -> Any:
        return self.request(
            "POST",
            f"/api/runtimes/{runtime}/packages",
            content=source.encode(),
            headers={"content-type": "application/yaml"},
            params={"dry_run": str(dry_run).lower(), "strict": str(strict).lower()},
        )

    def deploy_many(
        self,
        source: str,
        runtimes: list[str],
        where: list[str],
        canary: int | None,
        dry_run: bool,
        strict: bool = False,
    ) -> Any:
        params: dict[str, Any] = {
            "runtime": runtimes,
            "where": where,
            "dry_run": str(dry_run).lower(),
            "strict": str(strict).lower(),
        }
        if canary is not None:
            params["canary"] = canary
        return self.request(
            "POST",
            "/api/deployments",
            content=source.encode(),
            headers={"content-type": "application/yaml"},
            params=params,
        )

    def promote(self, runtime: str, name: str) -> Any:
        return self.request("POST", f"/api/runtimes/{runtime}/packages/{name}/promote")

    def abort(self, runtime: str, name: str) -> Any:
        return self.request("POST", f"/api/runtimes/{runtime}/packages/{name}/abort")

    def versions(self, runtime: str, name: str | None) -> Any:
        return self.request(
            "GET", f"/api/runtimes/{runtime}/packages", params={"name": name} if name else {}
        )

    def rollback(self, runtime: str, name: str, version: str | None) -> Any:
        params = {"version": version} if version else {}
        return self.request(
            "POST", f"/api/runtimes/{runtime}/packages/{name}/rollback", params=params
        )

    def undeploy(self, runtime: str, name: str) -> None:
        self.request("DELETE", f"/api/runtimes/{runtime}/packages/{name}")

    def runtimes(self) -> Any:
        return self.request("GET", "/api/runtimes")

    def add_runtime(self, name: str, labels: list[str] | None = None) -> Any:
        params = {"label": labels} if labels else {}
        return self.request("POST", f"/api/runtimes/{quote(name, safe='')}", params=params)

    def label_runtime(self, name: str, set_labels: dict[str, str], remove: list[str]) -> Any:
        return self.request(
            "PATCH",
            f"/api/runtimes/{quote(name, safe='')}/labels",
            json={"set": set_labels, "remove": remove},
        )

    def remove_runtime(self, name: str, force: bool) -> None:
        self.request(
            "DELETE", f"/api/runtimes/{quote(name, safe='')}", params={"force": str(force).lower()}
        )

    def add_user(self, runtime: str, name: str) -> Any:
        return self.request("POST", f"/api/runtimes/{runtime}/users", json={"name": name})

    def users(self, runtime: str | None) -> Any:
        return self.request("GET", "/api/users", params={"runtime": runtime} if runtime else {})

    def remove_user(self, name: str) -> None:
        self.request("DELETE", f"/api/users/{name}")

    def rotate_token(self, name: str) -> Any:
        return self.request("POST", f"/api/users/{name}/token")

    def access(self, name: str) -> Any:
        return self.request("GET", f"/api/users/{name}/access")

    def set_access(self, name: str, **change: Any) -> Any:
        body = {k: v for k, v in change.items() if v is not None}
        return self.request("PUT", f"/api/users/{name}/access", json=body)

    def status(self) -> Any:
        return self.request("GET", "/api/status")

    def triggers(self, runtime: str | None = None) -> Any:
        params = {"runtime": runtime} if runtime else {}
        return self.request("GET", "/api/triggers", params=params)

    def executions(self, **filters: Any) -> Any:
        params = {k: v for k, v in filters.items() if v is not None}
        return self.request("GET", "/api/executions", params=params)

    def execution(self, execution_id: str) -> Any:
        return self.request("GET", f"/api/executions/{execution_id}")

    def recording(self, enabled: bool | None = None) -> Any:
        if enabled is None:
            return self.request("GET", "/api/history")
        return self.request("PUT", "/api/history", json={"enabled": enabled})

    def callbacks(self, state: str | None, runtime: str | None) -> Any:
        params = {k: v for k, v in {"state": state, "runtime": runtime}.items() if v}
        return self.request("GET", "/api/callbacks", params=params)

    def redeliver(self, callback_id: str) -> Any:
        return self.request("POST", f"/api/callbacks/{callback_id}/redeliver")
