"""The operator's configuration values in memory: what the Flow path reads, never the store.

`OperatorConfig` is loaded from the store's entries whenever the store's generation moves (the
control plane does it, as for credentials), so a value another gateway set reaches this one at
its next poll. Secret values are decrypted once, at load.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from gateway.configuration.keys import ConfigKeyError, ConfigKeys
from gateway.configuration.store import ConfigEntry

log = logging.getLogger("flowhost.gateway")

__all__ = ["EMPTY", "OperatorConfig", "RuntimeConfig"]

#: Restricted copies kept per runtime snapshot at most (services x overridden tenants).
_CACHE_MAX = 4096


@dataclass(slots=True)
class RuntimeConfig:
    """One runtime's operator values: for every tenant, and per-tenant overrides."""

    values: dict[str, str] = field(default_factory=dict)
    tenants: dict[str, dict[str, str]] = field(default_factory=dict)
    #: Names the operator marked secret (for any tenant).
    secrets: frozenset[str] = frozenset()
    #: Names set in the store that no key at hand decrypts.
    undecryptable: frozenset[str] = frozenset()
    _restricted: dict[tuple[frozenset[str], str], dict[str, str]] = field(default_factory=dict)

    def for_service(self, declared: frozenset[str], tenant: object) -> dict[str, str]:
        """The values of the names a service declares, the tenant's overrides applied.

        A copy the caller may change. Cached per (names, tenant) only for tenants the operator
        named, so hostile tenant ids cannot grow the cache.
        """
        if not self.values and not self.tenants:
            return {}  # most runtimes: nothing set by the operator
        name = tenant if isinstance(tenant, str) else ""
        overrides = self.tenants.get(name) if name else None
        key = (declared, name if overrides is not None else "")
        cached = self._restricted.get(key)
        if cached is None:
            merged = dict(self.values)
            if overrides is not None:
                merged.update(overrides)
            cached = {name: value for name, value in merged.items() if name in declared}
            if len(self._restricted) >= _CACHE_MAX:
                self._restricted.clear()
            self._restricted[key] = cached
        return dict(cached)


EMPTY = RuntimeConfig()


class OperatorConfig:
    """Every runtime's operator values; `of` does no I/O."""

    def __init__(self) -> None:
        self._by_runtime: dict[str, RuntimeConfig] = {}

    def load(self, entries: Iterable[ConfigEntry], keys: ConfigKeys | None) -> None:
        """Replace every value at once (one assignment: readers see old or new, never a mix)."""
        values: dict[str, dict[str, str]] = {}
        tenants: dict[str, dict[str, dict[str, str]]] = {}
        secrets: dict[str, set[str]] = {}
        broken: dict[str, set[str]] = {}
        for entry in entries:
            value = entry.value
            if entry.secret:
                secrets.setdefault(entry.runtime, set()).add(entry.name)
                try:
                    if keys is None:
                        raise ConfigKeyError("the gateway has no configuration key")
                    value = keys.decrypt(value)
                except ConfigKeyError as error:
                    log.error(
                        "configuration value %r of runtime %r cannot be used: %s",
                        entry.name,
                        entry.runtime,
                        error,
                    )
                    broken.setdefault(entry.runtime, set()).add(entry.name)
                    continue
            if entry.tenant:
                tenants.setdefault(entry.runtime, {}).setdefault(entry.tenant, {})[entry.name] = (
                    value
                )
            else:
                values.setdefault(entry.runtime, {})[entry.name] = value
        runtimes = set(values) | set(tenants) | set(broken)
        self._by_runtime = {
            runtime: RuntimeConfig(
                values.get(runtime, {}),
                tenants.get(runtime, {}),
                frozenset(secrets.get(runtime, ())),
                frozenset(broken.get(runtime, ())),
            )
            for runtime in runtimes
        }

    def of(self, runtime: str) -> RuntimeConfig:
        return self._by_runtime.get(runtime, EMPTY)
