"""The control plane: what the management API does, over the store, the registry and executors.

The store is the desired state. This module keeps the in-memory registry and the credentials cache
in step with it (also when another gateway sharing the database changed it), validates packages on
an executor of the target runtime (executors own the step types, third-party ones included), and
waits for a deployment to reach the executors before answering.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from gateway import store as store_module
from gateway.access_store import AccessStore
from gateway.auth import Authenticator
from gateway.errors import GatewayError, Unavailable, Unprocessable
from gateway.reconcile import Reconciler
from gateway.services import ServiceRegistry
from gateway.spec import ServiceSpec
from gateway.store import Store

log = logging.getLogger("flowhost.gateway")
T = TypeVar("T")

# Store error codes -> HTTP status; the one place store errors become gateway errors.
_STORE_STATUS = {
    "user_exists": 409,
    "unknown_user": 404,
    "version_conflict": 409,
    "unknown_version": 404,
    "unknown_package": 404,
    "nothing_to_roll_back": 409,
    "path_conflict": 409,
    "unknown_callback": 404,
    "certificate_in_use": 409,
}


@dataclass(frozen=True, slots=True)
class DeployOutcome:
    spec: ServiceSpec
    runtime: str
    created: bool  # False: that exact version was deployed already
    dry_run: bool
    executors: tuple[str, ...]  # executors hosting it when the call returned


class ControlPlane:
    def __init__(
        self,
        store: Store,
        registry: ServiceRegistry,
        authenticator: Authenticator,
        reconciler: Reconciler,
        poll_interval_s: float,
    ) -> None:
        self.store = store
        self.access = AccessStore(store)
        self.registry = registry
        self.authenticator = authenticator
        self.reconciler = reconciler
        self._poll_interval_s = poll_interval_s
        self._generation = -1
        self._poller: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.refresh()
        self.reconciler.start()
        self._poller = asyncio.create_task(self._poll(), name="store poller")

    async def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        await self.reconciler.stop()

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a store method off the event loop, translating its errors."""
        try:
            return await asyncio.to_thread(fn, *args)
        except store_module.StoreError as error:
            code = getattr(error, "code", "store_error")
            raise GatewayError(
                str(error),
                status=_STORE_STATUS.get(code, 400),
                code=code,
                details=getattr(error, "details", None),
            ) from None

    async def refresh(self) -> None:
        """Load desired state and credentials from the store into memory."""

        def read() -> tuple[int, list[Any], list[Any], list[Any]]:
            store = self.store
            return store.generation(), store.active(), store.credentials(), self.access.all()

        generation, active, credentials, access = await asyncio.to_thread(read)
        self.registry.replace([(a.runtime, a.spec, a.source) for a in active])
        self.authenticator.load(credentials, access)
        self._generation = generation

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._poll_interval_s)
            try:
                generation = await asyncio.to_thread(self.store.generation)
                if generation != self._generation:
                    await self.refresh()
                    await self.reconciler.reconcile()
            except Exception:
                log.exception("polling the store failed")

    async def changed(self) -> None:
        """After a write: refresh memory and push the change to executors before answering."""
        await self.refresh()
        await self.reconciler.reconcile()

    # -- packages ------------------------------------------------------------------------------

    async def validate(self, runtime: str, source: str) -> ServiceSpec:
        connections = self.reconciler.connections_of(runtime)
        if not connections:
            await self.reconciler.reconcile()
            connections = self.reconciler.connections_of(runtime)
        if not connections:
            raise Unavailable(
                f"no executor of runtime '{runtime}' is connected to validate the package; "
                f"start one with: flowhost executor --runtime {runtime}",
                code="no_executor",
            )
        result = await connections[0].validate(source)
        if isinstance(result, list):
            listing = "; ".join(f"{i.path}: {i.message}" for i in result)
            raise Unprocessable(
                f"package is invalid: {listing}",
                code="invalid_package",
                details={"issues": [{"path": i.path, "message": i.message} for i in result]},
            )
        return result

    async def deploy(self, runtime: str, source: str, dry_run: bool = False) -> DeployOutcome:
        spec = await self.validate(runtime, source)
        if dry_run:
            return DeployOutcome(spec, runtime, created=False, dry_run=True, executors=())
        created = await self.call(self.store.add_version, runtime, spec, source)
        await self.call(self.store.activate, runtime, spec.name, spec.version)
        await self.changed()
        return DeployOutcome(spec, runtime, created, False, self._hosting(runtime, spec.key))

    async def rollback(self, runtime: str, name: str, version: str | None) -> str:
        active = await self.call(self.store.rollback, runtime, name, version)
        await self.changed()
        return active

    async def undeploy(self, runtime: str, name: str) -> None:
        await self.call(self.store.deactivate, runtime, name)
        await self.changed()

    def _hosting(self, runtime: str, key: str) -> tuple[str, ...]:
        return tuple(
            c.address
            for c in self.reconciler.connections_of(runtime)
            if c.info is not None and key in c.info.deployments
        )

    # -- users ---------------------------------------------------------------------------------

    async def add_user(self, runtime: str, name: str) -> str:
        token = await self.call(self.store.add_user, runtime, name)
        await self.refresh()
        return token

    async def rotate_token(self, name: str) -> str:
        token = await self.call(self.store.rotate_token, name)
        await self.refresh()
        return token

    async def remove_user(self, name: str) -> None:
        await self.call(self.store.remove_user, name)
        await self.refresh()
