"""Operator configuration values in the store: one row per (runtime, tenant, name).

A table of its own beside the store's (an existing flowhost.db keeps working: it is created on
start when missing). `tenant` is "" for the value of every tenant of the runtime, else a Flow
tenant id whose value overrides it. Secret values are kept encrypted (`keys.ConfigKeys`); the
rest in clear, so an operator can read them in the database.

Writes go through the store's write transaction (`Store.write()`) and bump its generation, like
every store write, so other gateways sharing the database reload their in-memory copy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Boolean, Column, String, Table, Text, and_, delete, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement

from gateway.configuration.keys import ConfigKeyError, ConfigKeys
from gateway.store import Store, StoreError
from gateway.store.schema import NAME_MAX, metadata

__all__ = [
    "ConfigEntry",
    "ConfigStore",
    "InvalidConfig",
    "NoConfigKey",
    "UndecryptableConfig",
    "UnknownConfig",
]

config_values = Table(
    "flowhost_config_values",
    metadata,
    Column("runtime", String(NAME_MAX), primary_key=True),
    Column("tenant", String(NAME_MAX), primary_key=True),  # "" = every tenant
    Column("name", String(NAME_MAX), primary_key=True),
    Column("value", Text, nullable=False),  # a Fernet token when secret
    Column("secret", Boolean, nullable=False),
    Column("updated_at", String(40), nullable=False),  # ISO 8601, UTC
)

# Configuration names as packages declare them (executors/runtime/package.py, CONFIG_NAME).
_CONFIG_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Flow tenant ids are UUIDs; anything plain is accepted, nothing that would need escaping.
_TENANT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]*")
_SCHEMA_LOCK_KEY = 0x666C6F78


class UnknownConfig(StoreError):
    code = "unknown_configuration"


class NoConfigKey(StoreError):
    code = "no_config_key"


class InvalidConfig(StoreError):
    code = "invalid_configuration"


class UndecryptableConfig(StoreError):
    code = "undecryptable_configuration"


@dataclass(frozen=True, slots=True)
class ConfigEntry:
    runtime: str
    tenant: str  # "" = every tenant
    name: str
    value: str  # clear text, or the Fernet token when secret
    secret: bool
    updated_at: str


class ConfigStore:
    """Operator configuration values of every runtime, in the gateway's database."""

    def __init__(self, store: Store, keys: ConfigKeys | None, value_max_bytes: int) -> None:
        self._store = store
        self._engine = store.engine
        self.keys = keys
        self._value_max_bytes = value_max_bytes
        with self._engine.begin() as conn:
            if store.postgres:
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})
            config_values.create(conn, checkfirst=True)

    def set(self, runtime: str, tenant: str, name: str, value: str, secret: bool) -> None:
        """Set (or replace) a value; a secret one is encrypted first."""
        _check(name, _CONFIG_NAME, "configuration name", "name")
        if tenant:
            _check(tenant, _TENANT, "tenant id", "tenant")
        if len(value.encode()) > self._value_max_bytes:
            raise InvalidConfig(
                f"configuration value {name!r} is larger than config_value_max_bytes "
                f"({self._value_max_bytes} bytes)",
                name=name,
                limit="config_value_max_bytes",
            )
        if secret:
            if self.keys is None:
                raise NoConfigKey(
                    f"cannot store secret value {name!r}: the gateway has no configuration key "
                    "(set FLOWHOST_CONFIG_KEY or FLOWHOST_CONFIG_KEY_FILE)",
                    name=name,
                )
            value = self.keys.encrypt(value)
        row = {
            "runtime": runtime,
            "tenant": tenant,
            "name": name,
            "value": value,
            "secret": secret,
            "updated_at": datetime.now(UTC).isoformat(),
        }
        dialect = postgresql if self._store.postgres else sqlite
        upsert = dialect.insert(config_values).values(**row)
        with self._store.write() as write:
            write.ensure_runtime(runtime)
            write.connection.execute(
                upsert.on_conflict_do_update(
                    index_elements=["runtime", "tenant", "name"],
                    set_={k: row[k] for k in ("value", "secret", "updated_at")},
                )
            )
            write.changed()

    def unset(self, runtime: str, tenant: str, name: str) -> None:
        with self._store.write() as write:
            removed = write.connection.execute(
                delete(config_values).where(_key(runtime, tenant, name))
            ).rowcount
            if not removed:
                where = f" for tenant {tenant!r}" if tenant else ""
                raise UnknownConfig(
                    f"runtime {runtime!r} has no configuration value {name!r}{where}",
                    runtime=runtime,
                    name=name,
                    tenant=tenant,
                )
            write.changed()

    def entries(self, runtime: str | None = None) -> list[ConfigEntry]:
        query = select(config_values).order_by(
            config_values.c.runtime, config_values.c.name, config_values.c.tenant
        )
        if runtime is not None:
            query = query.where(config_values.c.runtime == runtime)
        with self._engine.connect() as conn:
            return [
                ConfigEntry(r.runtime, r.tenant, r.name, r.value, bool(r.secret), r.updated_at)
                for r in conn.execute(query)
            ]

    def seal(self, keys: list[tuple[str, str, str]]) -> int:
        """Encrypt values stored in clear that have become secret: (runtime, tenant, name).

        A value set before a package declaring it a `password` was deployed. Idempotent, so
        gateways sealing at once do no harm; returns how many were sealed.
        """
        if self.keys is None or not keys:
            return 0
        sealed = 0
        with self._store.write() as write:
            conn = write.connection
            for runtime, tenant, name in keys:
                where = _key(runtime, tenant, name) & (config_values.c.secret.is_(False))
                value = conn.execute(select(config_values.c.value).where(where)).scalar()
                if value is not None:
                    conn.execute(
                        update(config_values)
                        .where(where)
                        .values(value=self.keys.encrypt(value), secret=True)
                    )
                    sealed += 1
                    write.changed()
        return sealed

    def rotate(self) -> int:
        """Re-encrypt every secret value under the first key; returns how many there were.

        One transaction: a value that no key decrypts fails the whole rotation, changing
        nothing, so no value is ever left unreadable.
        """
        if self.keys is None:
            raise NoConfigKey("the gateway has no configuration key to rotate to")
        keys = self.keys
        with self._store.write() as write:
            conn = write.connection
            rows = conn.execute(
                select(
                    config_values.c.runtime,
                    config_values.c.tenant,
                    config_values.c.name,
                    config_values.c.value,
                ).where(config_values.c.secret.is_(True))
            ).all()
            for r in rows:
                try:
                    rotated = keys.rotate(r.value)
                except ConfigKeyError as error:
                    raise UndecryptableConfig(
                        f"{error}: {r.name!r} of runtime {r.runtime!r}; nothing was changed "
                        "(keep the old key in the list until every value is rotated)",
                        runtime=r.runtime,
                        name=r.name,
                    ) from None
                conn.execute(
                    update(config_values)
                    .where(_key(r.runtime, r.tenant, r.name))
                    .values(value=rotated)
                )
                write.changed()
        return len(rows)


def _key(runtime: str, tenant: str, name: str) -> ColumnElement[bool]:
    return and_(
        config_values.c.runtime == runtime,
        config_values.c.tenant == tenant,
        config_values.c.name == name,
    )


def _check(value: str, pattern: re.Pattern[str], what: str, field: str) -> None:
    if len(value) > NAME_MAX or not pattern.fullmatch(value):
        raise InvalidConfig(
            f"invalid {what} {value!r}: use letters, digits and _ (names) or . _ @ - (tenants), "
            f"at most {NAME_MAX} characters",
            **{field: value},
        )
