"""Joining gateways by registration (`flowhost executor --gateway URL`): register, renew, leave.

The executor tells each gateway its runtime and the address to dial, renews before the
registration expires (the gateway says when: `renew_in_s`), and leaves when it drains. Every
message is signed with the cluster token; the gateway's side (gateway/registration.py) documents
the scheme and checks it. A gateway that cannot be reached or refuses is tried again, its reason
logged once: an operator may create the runtime, or start the gateway, after the executor.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import ssl
import time
from collections.abc import Sequence

import httpx

log = logging.getLogger("flowhost.executor")

JOIN_PATH = "/api/executors/registrations"
LEAVE_PATH = "/api/executors/registrations/leave"
SIGNATURE_HEADER = "x-flowhost-executor-signature"  # gateway/registration.py reads the same
SIGNED_PREFIX = b"flowhost-registration-v1\n"
#: Until a gateway has answered: how soon to try again.
RETRY_S = 1.0
#: A leave that does not get through in this long is left to the registration's expiry.
LEAVE_TIMEOUT_S = 2.0


class RegistrationMisconfigured(Exception):
    """Registration is asked for but cannot work; the message names the setting."""


def advertised(gateways: Sequence[str], advertise: str, bound: str, tokens: Sequence[bytes]) -> str:
    """The address to register (`advertise`, else `bound`); raises RegistrationMisconfigured."""
    for gateway in gateways:
        if not gateway.startswith(("http://", "https://")):
            raise RegistrationMisconfigured(
                f"FLOWHOST_EXECUTOR_GATEWAYS: {gateway!r} is not an http:// or https:// URL"
            )
    if not tokens:
        raise RegistrationMisconfigured(
            "FLOWHOST_EXECUTOR_GATEWAYS needs a cluster token (FLOWHOST_EXECUTOR_LINK_TOKEN or "
            "_FILE): registrations are signed with it, also under mTLS"
        )
    address = advertise or bound
    host, _, port = address.rpartition(":")
    if not (port.isascii() and port.isdigit() and 1 <= int(port) <= 65535):
        raise RegistrationMisconfigured(
            f"FLOWHOST_EXECUTOR_ADVERTISE: {address!r} is not host:port (an IPv6 host in [])"
        )
    if host.strip("[]") in ("0.0.0.0", "::", ""):
        raise RegistrationMisconfigured(
            f"the executor listens on {bound}, which gateways cannot dial: set "
            "FLOWHOST_EXECUTOR_ADVERTISE (--advertise) to host:port they can reach"
        )
    return address


def sign(tokens: Sequence[bytes], method: str, path: str, signed_at_ms: int, body: bytes) -> str:
    """The signature header's value: one HMAC per accepted token (a rotation has two)."""
    head = b"%s%s\n%s\n%d\n" % (SIGNED_PREFIX, method.encode(), path.encode(), signed_at_ms)
    message = head + body
    sigs = ",".join(hmac.new(t, message, hashlib.sha256).hexdigest() for t in tokens)
    return f"t={signed_at_ms};sig={sigs}"


class Registrar:
    """Keeps this executor registered with each gateway until `leave`."""

    def __init__(
        self,
        gateways: Sequence[str],
        runtime: str,
        address: str,
        executor_id: str,
        tokens: Sequence[bytes],
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self._gateways = [g.rstrip("/") for g in gateways]
        self._address = address
        self._join = json.dumps(
            {"runtime": runtime, "address": address, "executor_id": executor_id}
        ).encode()
        self._leave = json.dumps({"address": address}).encode()
        self._tokens = tokens
        self._client = httpx.AsyncClient(timeout=5.0, verify=verify)
        self._last_ms = 0
        self._problems: dict[str, str] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._keep_registered(), name="registration")

    async def leave(self) -> None:
        """Stop renewing and de-register from every gateway (bounded: a gateway that does not
        answer drops this executor at the registration's expiry instead)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for gateway in self._gateways:
            try:
                leaving = self._post(gateway, LEAVE_PATH, self._leave)
                await asyncio.wait_for(leaving, LEAVE_TIMEOUT_S)
                log.info("left gateway %s", gateway)
            except (httpx.HTTPError, TimeoutError) as error:
                log.warning("could not leave %s (%s); it drops us at expiry", gateway, error)
        await self._client.aclose()

    async def _keep_registered(self) -> None:
        while True:
            waits = [await self._register(gateway) for gateway in self._gateways]
            await asyncio.sleep(min(waits))

    async def _register(self, gateway: str) -> float:
        """Register once with `gateway`; how long until the next time."""
        try:
            answer = await self._post(gateway, JOIN_PATH, self._join)
        except httpx.HTTPError as error:
            self._problem(gateway, f"unreachable ({error.__class__.__name__}: {error})")
            return RETRY_S
        if answer.status_code != 200:
            self._problem(gateway, f"refused with {answer.status_code}: {_message(answer)}")
            return RETRY_S
        if self._problems.get(gateway) != "":
            log.info("registered with gateway %s as %s", gateway, self._address)
        self._problems[gateway] = ""
        renew_s = answer.json().get("renew_in_s")
        return float(renew_s) if isinstance(renew_s, (int, float)) and renew_s > 0 else RETRY_S

    async def _post(self, gateway: str, path: str, body: bytes) -> httpx.Response:
        # Strictly increasing: the gateway refuses a timestamp it has seen (a replay).
        self._last_ms = max(int(time.time() * 1000), self._last_ms + 1)
        headers = {
            "content-type": "application/json",
            "x-flowhost-client": "executor",  # the management API's CSRF guard
            SIGNATURE_HEADER: sign(self._tokens, "POST", path, self._last_ms, body),
        }
        return await self._client.post(gateway + path, content=body, headers=headers)

    def _problem(self, gateway: str, problem: str) -> None:
        if self._problems.get(gateway) != problem:
            log.warning("cannot register with gateway %s: %s; retrying", gateway, problem)
        self._problems[gateway] = problem


def _message(answer: httpx.Response) -> str:
    try:
        return str(answer.json().get("message", answer.text))[:300]
    except ValueError:
        return answer.text[:300]
