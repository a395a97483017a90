"""The store's tables, in one SQLAlchemy `MetaData`, and the rules for the names kept in them.

`Store` creates every table listed here at start (`create_all` only adds what is missing, so a
database made by an older flowhost gains the newer tables: user access, runtime policies, runtime
labels, canaries). Other modules sharing the database may put their tables on the same
`metadata`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    ForeignKeyConstraint,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.engine import Engine
from sqlalchemy.types import TypeDecorator

from gateway.store.errors import InvalidName

__all__ = [
    "LABEL_KEY_MAX",
    "LABEL_VALUE_MAX",
    "NAME_MAX",
    "SCHEMA_LOCK_KEY",
    "UTCDateTime",
    "canaries",
    "check_name",
    "create_tables",
    "deployments",
    "executor_registrations",
    "meta",
    "metadata",
    "runtime_labels",
    "runtime_policies",
    "runtimes",
    "user_access",
    "users",
    "versions",
]


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on SQLite (which keeps no zone) and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


NAME_MAX = 200  # generous bound for runtime, user, package and version names

# Any constant shared by every flowhost gateway: serialises concurrent first start-ups on one
# PostgreSQL database, where simultaneous CREATE TABLEs would otherwise collide.
SCHEMA_LOCK_KEY = 0x666C6F77

metadata = MetaData()


def create_tables(engine: Engine, tables: MetaData) -> None:
    """Create whatever of `tables` is missing. On PostgreSQL under SCHEMA_LOCK_KEY: gateways
    started together on an empty database would otherwise both find a table missing and the
    second CREATE TABLE fail, so that gateway would not start. The outbox, the history and the
    console's sessions keep their tables in the store's database and create them through here.
    """
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
        tables.create_all(conn)


# One row (id 1): its lock serialises writes, its generation counts them (see Store.write).
meta = Table(
    "flowhost_meta",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("generation", Integer, nullable=False),
)

runtimes = Table(
    "flowhost_runtimes",
    metadata,
    Column("name", String(NAME_MAX), primary_key=True),
    Column("created_at", UTCDateTime, nullable=False),
)

users = Table(
    "flowhost_users",
    metadata,
    # Unique across the gateway: the credentials alone select the runtime.
    Column("name", String(NAME_MAX), primary_key=True),
    Column("runtime", String(NAME_MAX), ForeignKey(runtimes.c.name), nullable=False, index=True),
    Column("token_hash", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("rotated_at", UTCDateTime, nullable=False),
)

versions = Table(
    "flowhost_versions",
    metadata,
    Column("runtime", String(NAME_MAX), ForeignKey(runtimes.c.name), primary_key=True),
    Column("name", String(NAME_MAX), primary_key=True),
    Column("version", String(NAME_MAX), primary_key=True),
    Column("service_path", String(1000), nullable=False),
    Column("spec", JSON, nullable=False),
    Column("source", Text, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

# One row per package ever activated in a runtime; `version` is NULL once undeployed, and
# `previous_version` is what a rollback without an explicit version goes back to.
deployments = Table(
    "flowhost_deployments",
    metadata,
    Column("runtime", String(NAME_MAX), primary_key=True),
    Column("name", String(NAME_MAX), primary_key=True),
    Column("version", String(NAME_MAX), nullable=True),
    Column("previous_version", String(NAME_MAX), nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
    ForeignKeyConstraint(
        ["runtime", "name", "version"],
        [versions.c.runtime, versions.c.name, versions.c.version],
    ),
    ForeignKeyConstraint(
        ["runtime", "name", "previous_version"],
        [versions.c.runtime, versions.c.name, versions.c.version],
    ),
)

# At most one canary per package and runtime: a stored version beside the active one that takes
# `percent` of the service's new executions until it is promoted or aborted.
canaries = Table(
    "flowhost_canaries",
    metadata,
    Column("runtime", String(NAME_MAX), primary_key=True),
    Column("name", String(NAME_MAX), primary_key=True),
    Column("version", String(NAME_MAX), nullable=False),
    Column("percent", Integer, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    ForeignKeyConstraint(
        ["runtime", "name", "version"],
        [versions.c.runtime, versions.c.name, versions.c.version],
    ),
)

LABEL_KEY_MAX = 63 + 1 + 253  # an optional DNS-name prefix, a slash, the name (as Kubernetes)
LABEL_VALUE_MAX = 63

# The operator's labels of a runtime (tier=prod, customer=acme): what `deploy --where` selects.
# A table of its own, so a database made before labels gains it by `create_all`.
runtime_labels = Table(
    "flowhost_runtime_labels",
    metadata,
    Column("runtime", String(NAME_MAX), ForeignKey(runtimes.c.name), primary_key=True),
    Column("key", String(LABEL_KEY_MAX), primary_key=True),
    Column("value", String(LABEL_VALUE_MAX), nullable=False),
)

# One row per restricted runtime user; a user without one has no restriction.
user_access = Table(
    "flowhost_user_access",
    metadata,
    Column(
        "name",
        String(NAME_MAX),
        ForeignKey(users.c.name, ondelete="CASCADE"),
        primary_key=True,
    ),
    # A certificate logs in one user only.
    Column("client_cert_sha256", String(64), nullable=True, unique=True),
    Column("allow_ips", JSON, nullable=False),
    Column("services", JSON, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# One row per runtime the operator set a policy for; the others run under the default.
runtime_policies = Table(
    "flowhost_runtime_policies",
    metadata,
    Column("runtime", String(NAME_MAX), primary_key=True),
    Column("policy", JSON, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# One row per executor that registered itself (`flowhost executor --gateway URL`), by the address
# gateways dial. `signed_at` is the timestamp of the last signed message accepted for it: an older
# or equal one is a replay. A row that left or expired stays until its messages are too old to
# replay anyway, so a replayed registration cannot bring back an executor that left.
executor_registrations = Table(
    "flowhost_executor_registrations",
    metadata,
    Column("address", String(300), primary_key=True),
    Column("runtime", String(NAME_MAX), nullable=False),
    Column("executor_id", String(NAME_MAX), nullable=False),
    Column("signed_at_ms", BigInteger, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False, index=True),
)

# Runtime and user names travel in URLs, CLI arguments and basic auth (where a colon would end
# the user name), so they are kept plain.
_VALID_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]*")


def check_name(kind: str, name: str) -> None:
    """Raise `InvalidName` naming `kind` unless `name` is a plain runtime or user name."""
    if len(name) > NAME_MAX or not _VALID_NAME.fullmatch(name):
        raise InvalidName(
            f"invalid {kind} name {name!r}: use letters, digits and . _ @ - "
            f"(starting with a letter or digit, at most {NAME_MAX} characters)",
            **{kind: name},
        )
