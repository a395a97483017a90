"""Runtime policies in the gateway's store: one row per runtime the operator set a policy for.

A runtime without a row runs under the default policy (`RuntimePolicy()`, or loopback allowed
for the runtimes in the `loopback_runtimes` setting). Writes take the store's write lock and bump
its generation, so every gateway sharing the database reloads and re-pushes the policy.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, insert, select, update

from gateway.policy import RuntimePolicy
from gateway.store.schema import check_name
from gateway.store.schema import runtime_policies as policies
from gateway.store.store import Store

__all__ = ["PolicyStore"]


class PolicyStore:
    def __init__(self, store: Store) -> None:
        self._store = store
        # The store creates it; this covers a table dropped since (or a store made before it).
        policies.create(store.engine, checkfirst=True)

    def all(self) -> dict[str, RuntimePolicy]:
        """Every stored policy, by runtime."""
        with self._store.engine.connect() as conn:
            rows = conn.execute(select(policies.c.runtime, policies.c.policy))
            return {r.runtime: RuntimePolicy.model_validate(r.policy) for r in rows}

    def set(self, runtime: str, policy: RuntimePolicy) -> None:
        """Store `runtime`'s policy (the runtime is created if needed: the control plane refuses a
        runtime neither created nor served by an executor before it gets here)."""
        check_name("runtime", runtime)
        values = {
            "policy": policy.model_dump(mode="json"),
            "digest": policy.digest,
            "updated_at": datetime.now(UTC),
        }
        with self._store.write() as write:
            write.ensure_runtime(runtime)
            conn = write.connection
            found = conn.execute(
                select(policies.c.digest).where(policies.c.runtime == runtime)
            ).first()
            if found is None:
                conn.execute(insert(policies).values(runtime=runtime, **values))
            elif found.digest != policy.digest:
                conn.execute(update(policies).where(policies.c.runtime == runtime).values(values))
            else:
                return
            write.changed()

    def reset(self, runtime: str) -> None:
        """Forget `runtime`'s policy: it runs under the default again."""
        with self._store.write() as write:
            if write.connection.execute(
                delete(policies).where(policies.c.runtime == runtime)
            ).rowcount:
                write.changed()
