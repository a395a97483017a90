"""Console sessions: server-side, in the store, known by the hash of a random cookie value.

Why server-side rather than a signed token in the cookie:

- signing out (or a changed admin password) ends a session at once, everywhere; a signed token
  stays valid until it expires unless every gateway keeps a list of revoked ones;
- several gateways sharing PostgreSQL share the sessions with no signing key to distribute and
  rotate (the gateways share no secret meant for this);
- a console request is not hot: one indexed read per page costs nothing next to rendering it.

The cookie carries 32 random bytes; the store keeps only their SHA-256, so a copy of the
database signs nobody in. A session also remembers an HMAC of the admin credentials it was
opened with, keyed by the cookie value (so the database holds nothing that tests a password
guess): when the admin password changes, every session opened with the old one is refused.

A session ends `lifetime_s` after sign-in, or `idle_s` after it was last used. Synchronous and
short, like the store: call it through `asyncio.to_thread`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import Column, Float, MetaData, String, Table, Text, delete, insert, select, update
from sqlalchemy.engine import Engine

from gateway.store.schema import create_tables

__all__ = ["Session", "SessionStore"]

metadata = MetaData()

sessions = Table(
    "flowhost_console_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),  # SHA-256 of the cookie value, hex
    Column("csrf", String(64), nullable=False),  # the token every form of this session carries
    Column("user", String(200), nullable=False),
    Column("credentials", String(64), nullable=False),  # HMAC(cookie value, admin credentials)
    Column("created_at", Float, nullable=False),
    Column("seen_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False, index=True),
    Column("notice", Text, nullable=False),  # one message for the next page: "kind\ttext"
)

#: Seen-at is written at most this often (or a tenth of the idle limit), so a busy page view
#: is a read, not a write.
_TOUCH_EVERY_S = 30.0


@dataclass(frozen=True, slots=True)
class Session:
    id_hash: str
    user: str
    csrf: str
    expires_at: float
    notice: tuple[str, str] | None  # (kind, text) left by the last action, shown once


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _credentials(token: str, user: str, password: str) -> str:
    return hmac.new(token.encode(), f"{user}\0{password}".encode(), hashlib.sha256).hexdigest()


class SessionStore:
    def __init__(self, engine: Engine, *, lifetime_s: float, idle_s: float) -> None:
        self._engine = engine
        self.lifetime_s = lifetime_s
        self.idle_s = idle_s
        create_tables(engine, metadata)

    def open(self, user: str, password: str, now: float | None = None) -> tuple[str, Session]:
        """A new session for the admin `user`: (the cookie value, the session)."""
        now = time.time() if now is None else now
        token = secrets.token_urlsafe(32)
        session = Session(
            _hash(token), user, secrets.token_urlsafe(32), now + self.lifetime_s, None
        )
        with self._engine.begin() as conn:
            conn.execute(delete(sessions).where(sessions.c.expires_at <= now))
            conn.execute(
                insert(sessions).values(
                    id_hash=session.id_hash,
                    csrf=session.csrf,
                    user=user,
                    credentials=_credentials(token, user, password),
                    created_at=now,
                    seen_at=now,
                    expires_at=session.expires_at,
                    notice="",
                )
            )
        return token, session

    def find(
        self,
        token: str,
        user: str,
        password: str,
        *,
        now: float | None = None,
        touch: bool = True,
    ) -> Session | None:
        """The live session the cookie value names, or None (unknown, expired, idle too long,
        or opened with other admin credentials). `touch`: this counts as use."""
        if not token or len(token) > 100:
            return None
        now = time.time() if now is None else now
        id_hash = _hash(token)
        with self._engine.connect() as conn:
            row = conn.execute(select(sessions).where(sessions.c.id_hash == id_hash)).first()
        if row is None:
            return None
        current = hmac.compare_digest(row.credentials, _credentials(token, user, password))
        if not current or now >= row.expires_at or now - row.seen_at >= self.idle_s:
            self.close(token)
            return None
        if touch and now - row.seen_at >= min(_TOUCH_EVERY_S, self.idle_s / 10):
            with self._engine.begin() as conn:
                conn.execute(
                    update(sessions).where(sessions.c.id_hash == id_hash).values(seen_at=now)
                )
        kind, _, text = row.notice.partition("\t")
        return Session(id_hash, row.user, row.csrf, row.expires_at, (kind, text) if text else None)

    def notify(self, session: Session, kind: str, text: str) -> None:
        """Leave a message (kind: ok | error) for the session's next page."""
        with self._engine.begin() as conn:
            conn.execute(
                update(sessions)
                .where(sessions.c.id_hash == session.id_hash)
                .values(notice=f"{kind}\t{text}")
            )

    def clear_notice(self, session: Session) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                update(sessions).where(sessions.c.id_hash == session.id_hash).values(notice="")
            )

    def close(self, token: str) -> None:
        """Sign out: the cookie value names no session any more."""
        with self._engine.begin() as conn:
            conn.execute(delete(sessions).where(sessions.c.id_hash == _hash(token)))

    def count(self) -> int:
        with self._engine.connect() as conn:
            return len(conn.execute(select(sessions.c.id_hash)).all())
