"""The control plane: what the management API does, over the store, the registry and executors.

The store is the desired state. This module keeps the in-memory registry and the credentials cache
in step with it (also when another gateway sharing the database changed it), validates packages on
an executor of the target runtime (executors own the step types, third-party ones included), and
waits for a deployment to reach the executors before answering.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from gateway.auth import Authenticator
from gateway.configuration.store import ConfigEntry, ConfigStore
from gateway.configuration.values import OperatorConfig
from gateway.errors import (
    BadRequest,
    GatewayError,
    NotFound,
    Unavailable,
    Unprocessable,
    from_store_error,
)
from gateway.lifecycle import Lifecycle
from gateway.listeners.state import Listeners
from gateway.listeners.store import Pause, PauseStore
from gateway.periodic import Periodic
from gateway.policy import RuntimePolicies, RuntimePolicy
from gateway.reconcile import Reconciler
from gateway.services import ServiceRegistry
from gateway.spec import ServiceSpec
from gateway.store import ActiveDeployment, CanaryDeployment, Store, StoreError
from gateway.store.access import AccessStore
from gateway.store.labels import LABELS_MAX_DEFAULT, LabelStore, matches, parse_selector
from gateway.store.policies import PolicyStore
from gateway.store.schema import check_name

log = logging.getLogger("flowhost.gateway")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RuntimeOutcome:
    """What one runtime of a multi-runtime deploy made of it."""

    runtime: str
    result: str  # deployed | deployed again | canary | canary again | valid | failed
    reason: str = ""
    code: str = ""
    executors: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DeployOutcome:
    spec: ServiceSpec
    runtime: str
    created: bool  # False: that exact version was deployed already
    dry_run: bool
    executors: tuple[str, ...]  # executors hosting it when the call returned


class ControlPlane(Lifecycle):
    def __init__(
        self,
        store: Store,
        registry: ServiceRegistry,
        authenticator: Authenticator,
        reconciler: Reconciler,
        poll_interval_s: float,
        config: ConfigStore | None = None,
        operator_config: OperatorConfig | None = None,
        policies: RuntimePolicies | None = None,
        listeners: Listeners | None = None,
        owed: Callable[[], set[tuple[str, str]]] | None = None,
        labels_max: int = LABELS_MAX_DEFAULT,
    ) -> None:
        self.store = store
        #: (runtime, deployment key) with WAITs still owed a callback (the outbox's).
        self._owed = owed
        self._kept: set[tuple[str, str]] = set()
        self.labels = LabelStore(store, labels_max)
        self.config = config
        self.operator_config = operator_config or OperatorConfig()
        #: Every runtime's policy (files, databases, egress, limits), kept in step with the store.
        self.policies = policies if policies is not None else RuntimePolicies()
        self.policy_store = PolicyStore(store)
        self.access = AccessStore(store)
        #: Paused or not, and this gateway's traffic, per service (the Flow path reads it).
        self.listeners = listeners if listeners is not None else Listeners()
        self.pauses = PauseStore(store)
        self.registry = registry
        self.authenticator = authenticator
        self.reconciler = reconciler
        self._generation = -1
        #: One refresh at a time: a poll's read taken before a write must not land after the
        #: writer's own refresh and put the old state back (deploy would then answer before its
        #: version is pushed, and the first Flow call find no executor hosting it).
        self._refreshing = asyncio.Lock()
        self._poller = Periodic("store poller", self._poll, poll_interval_s, delay_first=True)

    async def start(self) -> None:
        """Load the store into memory, then follow it. The reconciler starts after this (its
        first pass must see the desired state, or it would undeploy everything)."""
        await self.refresh()
        self._poller.start()
        self.listeners.start()

    async def stop(self) -> None:
        await self.listeners.stop()
        await self._poller.stop()

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a store method off the event loop, translating its errors."""
        try:
            return await asyncio.to_thread(fn, *args)
        except StoreError as error:
            raise from_store_error(error) from None

    async def refresh(self) -> None:
        """Load desired state and credentials from the store into memory."""
        async with self._refreshing:
            await self._refresh()

    async def _refresh(self) -> None:

        def read() -> tuple[
            int,
            list[Any],
            list[Any],
            list[ConfigEntry],
            dict[str, RuntimePolicy],
            list[Any],
            dict[tuple[str, str], Pause],
            list[CanaryDeployment],
            list[ActiveDeployment],
        ]:
            entries = self.config.entries() if self.config is not None else []
            active = self.store.active()
            canaries = self.store.canaries()
            return (
                self.store.generation(),
                active,
                self.store.credentials(),
                entries,
                self.policy_store.all(),
                self.access.all(),
                self.pauses.all(),
                canaries,
                self._retained(active, canaries),
            )

        (
            generation,
            active,
            credentials,
            entries,
            policies,
            access,
            pauses,
            canaries,
            retained,
        ) = await asyncio.to_thread(read)
        self.registry.replace(
            [(a.runtime, a.spec, a.source) for a in active],
            [(c.runtime, c.spec, c.source, c.percent) for c in canaries],
            [(r.runtime, r.spec, r.source) for r in retained],
        )
        self.listeners.load_pauses(pauses)
        self.authenticator.load(credentials, access)
        keys = self.config.keys if self.config is not None else None
        self.operator_config.load(entries, keys)
        self.policies.load(policies)
        self._generation = generation
        await self._seal_passwords(entries)

    def _retained(
        self, active: list[ActiveDeployment], canaries: list[CanaryDeployment]
    ) -> list[ActiveDeployment]:
        """Stored versions neither active nor canary that WAITs still owe callbacks from: kept
        hosted so those executions finish, and their results translate, on their own version."""
        if self._owed is None:
            return []
        owed = self._owed()
        self._kept = owed
        hosted = {(d.runtime, d.spec.key) for d in active}
        hosted |= {(c.runtime, c.spec.key) for c in canaries}
        kept = []
        for runtime, key in sorted(owed - hosted):
            name, _, version = key.partition("@")
            stored = self.store.stored(runtime, name, version)
            if stored is not None:
                kept.append(stored)
        return kept

    async def _seal_passwords(self, entries: list[ConfigEntry]) -> None:
        """Encrypt values kept in clear that a package now declares as `password`."""
        if self.config is None or self.config.keys is None:
            return
        exposed = [
            (e.runtime, e.tenant, e.name)
            for e in entries
            if not e.secret and e.name in self.password_names(e.runtime)
        ]
        if not exposed:
            return
        try:
            sealed = await asyncio.to_thread(self.config.seal, exposed)
        except Exception:  # the next refresh tries again; serving goes on meanwhile
            log.exception("encrypting configuration values declared as passwords failed")
            return
        log.info("encrypted %d configuration values that packages declare as passwords", sealed)

    async def _poll(self) -> None:
        """One look at the store: another gateway changed it, so memory and executors follow."""
        generation = await asyncio.to_thread(self.store.generation)
        if generation != self._generation or await self._owed_changed():
            await self.refresh()
            await self.reconciler.reconcile()

    async def _owed_changed(self) -> bool:
        """While versions are kept for owed WAITs: has one been called back since (so its
        version can go)? Costs nothing while none is kept."""
        if self._owed is None or not self.registry.keeps_any:
            return False
        return await asyncio.to_thread(self._owed) != self._kept

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

    async def deploy(
        self,
        runtime: str,
        source: str,
        dry_run: bool = False,
        strict: bool = False,
        canary: int | None = None,
    ) -> DeployOutcome:
        spec = await self.validate(runtime, source)
        _check_strict(spec, strict)
        if dry_run:
            return DeployOutcome(spec, runtime, created=False, dry_run=True, executors=())
        created = await self.call(self.store.deploy, runtime, spec, source, canary)
        await self.changed()
        return DeployOutcome(spec, runtime, created, False, self._hosting(runtime, spec.key))

    async def select_runtimes(self, named: list[str], where: list[str]) -> list[str]:
        """`--runtime` names (in order) plus the runtimes whose labels match every `--where`
        selector; a selector matching nothing is refused, naming it."""
        chosen = list(dict.fromkeys(named))
        for runtime in chosen:
            await self.call(check_name, "runtime", runtime)
        if where:
            selector = await self.call(parse_selector, where)
            labelled = await self.call(self.labels.all)
            matched = sorted(r for r, labels in labelled.items() if matches(labels, selector))
            if not matched:
                shown = ",".join(f"{k}={v}" for k, v in selector.items())
                raise NotFound(
                    f"no runtime has the labels {shown} (set them with flowhost runtimes "
                    "label RUNTIME KEY=VALUE)",
                    code="no_runtime_matches",
                    details={"where": shown},
                )
            chosen += [r for r in matched if r not in chosen]
        if not chosen:
            raise BadRequest(
                "name the runtimes to deploy to (runtime=...) or select them (where=key=value)",
                code="no_runtimes",
            )
        return chosen

    async def deploy_many(
        self, runtimes: list[str], source: str, dry_run: bool, strict: bool, canary: int | None
    ) -> tuple[ServiceSpec, list[RuntimeOutcome]]:
        """Validate once (on the first runtime with a connected executor), then deploy the same
        version to each runtime, each in one transaction: a runtime without a ready executor,
        or one the store refuses, fails alone and is reported; the others are deployed."""
        validator = next((r for r in runtimes if self.reconciler.connections_of(r)), runtimes[0])
        spec = await self.validate(validator, source)
        _check_strict(spec, strict)
        outcomes: list[RuntimeOutcome] = []
        for runtime in runtimes:
            if not self.reconciler.connections_of(runtime):
                reason = f"no executor of runtime '{runtime}' is connected"
                outcomes.append(RuntimeOutcome(runtime, "failed", reason, "no_executor"))
            elif dry_run:
                outcomes.append(RuntimeOutcome(runtime, "valid"))
            else:
                try:
                    created = await asyncio.to_thread(
                        self.store.deploy, runtime, spec, source, canary
                    )
                except StoreError as error:
                    outcomes.append(RuntimeOutcome(runtime, "failed", error.message, error.code))
                    continue
                result = "canary" if canary is not None else "deployed"
                outcomes.append(RuntimeOutcome(runtime, result if created else f"{result} again"))
        if not dry_run:
            await self.changed()
            outcomes = [
                replace(o, executors=self._hosting(o.runtime, spec.key))
                if o.result != "failed"
                else o
                for o in outcomes
            ]
        return spec, outcomes

    async def promote(self, runtime: str, name: str) -> str:
        version = await self.call(self.store.promote, runtime, name)
        await self.changed()
        return version

    async def abort(self, runtime: str, name: str) -> str:
        version = await self.call(self.store.abort, runtime, name)
        await self.changed()
        return version

    async def rollback(self, runtime: str, name: str, version: str | None) -> str:
        active = await self.call(self.store.rollback, runtime, name, version)
        await self.changed()
        return active

    async def undeploy(self, runtime: str, name: str) -> None:
        await self.call(self.store.deactivate, runtime, name)
        await self.changed()

    def _hosting(self, runtime: str, key: str) -> tuple[str, ...]:
        """Executors of `runtime` hosting deployment `key` now."""
        return tuple(
            c.address
            for c in self.reconciler.connections_of(runtime)
            if c.info is not None and key in c.info.deployments
        )

    # -- users ---------------------------------------------------------------------------------

    async def add_user(self, runtime: str, name: str) -> str:
        await self._known_runtime(runtime)
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

    # -- runtimes (flowhost runtimes add|list|remove) ------------------------------------------

    async def add_runtime(self, name: str) -> bool:
        created = await self.call(self.store.add_runtime, name)
        await self.refresh()
        return created

    async def change_labels(
        self, runtime: str, set_labels: dict[str, str], remove: list[str], create: bool = False
    ) -> dict[str, str]:
        labels = await self.call(self.labels.change, runtime, set_labels, remove, create)
        await self.refresh()
        return labels

    async def remove_runtime(self, name: str, force: bool) -> None:
        await self.call(self.store.remove_runtime, name, force)
        await self.changed()  # executors undeploy what it served

    async def _known_runtime(self, name: str) -> None:
        """Users join runtimes the operator created: a typo must not make a new one."""
        await self.call(check_name, "runtime", name)  # a bad name is a 400 first
        if not await self.call(self.store.has_runtime, name):
            raise GatewayError(
                f"no runtime {name!r}: create it first with `flowhost runtimes add {name}` "
                f"(POST /api/runtimes/{name})",
                status=404,
                code="unknown_runtime",
                details={"runtime": name},
            )

    # -- operator configuration ----------------------------------------------------------------

    def _config_store(self) -> ConfigStore:
        if self.config is None:
            raise Unavailable("operator configuration is not enabled on this gateway")
        return self.config

    def password_names(self, runtime: str) -> set[str]:
        """Names the runtime's hosted packages (active, canary, kept) declare as `password`:
        always kept secret."""
        return {
            c.name for s in self.registry.hosted(runtime) for c in s.spec.configuration if c.secret
        }

    async def set_config(
        self, runtime: str, tenant: str, name: str, value: str, secret: bool
    ) -> bool:
        """Set a value; returns whether it is kept secret (asked, or a package's password)."""
        await self.known_runtime(runtime)  # a typo must not configure a runtime of its own
        secret = secret or name in self.password_names(runtime)
        await self.call(self._config_store().set, runtime, tenant, name, value, secret)
        await self.refresh()
        return secret

    async def unset_config(self, runtime: str, tenant: str, name: str) -> None:
        await self.call(self._config_store().unset, runtime, tenant, name)
        await self.refresh()

    async def config_entries(self, runtime: str) -> list[ConfigEntry]:
        return await self.call(self._config_store().entries, runtime)

    async def rotate_config_key(self) -> int:
        rotated = await self.call(self._config_store().rotate)
        await self.refresh()
        return rotated

    # -- runtime policies ----------------------------------------------------------------------

    async def set_policy(self, runtime: str, policy: RuntimePolicy | None) -> None:
        """Store (None: forget) `runtime`'s policy, and push it to its executors before
        answering. A runtime neither created nor served by an executor is refused (404): a
        typo in `--runtime` must not put the policy on a new runtime while the meant one stays
        unrestricted."""
        await self.known_runtime(runtime)
        if policy is None:
            await self.call(self.policy_store.reset, runtime)
        else:
            await self.call(self.policy_store.set, runtime, policy)
        await self.changed()

    # -- listeners -----------------------------------------------------------------------------

    async def known_runtime(self, runtime: str) -> None:
        """NotFound unless `runtime` is in the store or has a connected executor."""
        names = set(await self.call(self.store.runtimes))
        names |= {s.runtime for s in self.reconciler.statuses() if s.runtime}
        if runtime not in names:
            known = ", ".join(sorted(names)) or "none"
            raise NotFound(
                f"no runtime '{runtime}' (runtimes: {known})",
                code="unknown_runtime",
                details={"runtime": runtime},
            )

    async def set_paused(
        self, runtime: str, service: str, paused: bool, reason: str = "", retry_after_s: int = 30
    ) -> str:
        """Pause or resume `service` in `runtime`; returns its normal path. Answers once this
        gateway refuses (or serves) it; the others follow at their next store poll."""
        path = service.strip("/")
        await self.known_runtime(runtime)
        if await asyncio.to_thread(self.store.generation) != self._generation:
            await self.refresh()  # a deployment made through another gateway counts already
        # A trigger's listener is `<service path>#<trigger>` (gateway/triggers/run.py).
        service_path, _, trigger = path.partition("#")
        found = self.registry.lookup(runtime, service_path)
        deployed = found is not None and (not trigger or found.spec.trigger(trigger) is not None)
        # A paused service that was undeployed since can still be resumed.
        resumable = not paused and self.listeners.pause_of(runtime, path) is not None
        if not deployed and not resumable:
            known = ", ".join(sorted(s.spec.service_path for s in self.registry.services(runtime)))
            raise NotFound(
                f"no service '{path}' is deployed in runtime '{runtime}' "
                f"(services: {known or 'none'})",
                code="unknown_service",
                details={"runtime": runtime, "service": path},
            )
        if paused:
            await self.call(self.pauses.pause, runtime, path, reason, retry_after_s)
        else:
            await self.call(self.pauses.resume, runtime, path)
        await self.refresh()
        return path


def _check_strict(spec: ServiceSpec, strict: bool) -> None:
    """--strict: what would only be warned about is refused."""
    if strict and spec.warnings:
        listing = "; ".join(f"{w.path}: {w.message}" for w in spec.warnings)
        raise Unprocessable(
            f"package has warnings (strict): {listing}",
            code="package_warnings",
            details={
                "issues": [{"path": w.path, "message": w.message} for w in spec.warnings],
                "strict": True,
            },
        )
