"""Sessions in the database: every app process (gunicorn workers, replicas) shares them, and
they survive a restart. Implements `smartapp.launch.session_store.SessionStore`.

- The session id is stored only as its SHA-256 (`sessions.sid_hash`).
- Values (Flask's session dict, the launch context, the tokens) and pending authorizations
  are JSON encrypted with `TokenCipher` (SMARTAPP_TOKEN_KEY): access and refresh tokens,
  PKCE verifiers and patient ids are never readable from the database alone.
- Idle expiry: each use moves `expires_at` forward, at most once a minute (a write per
  request would be wasted). Expired sessions are invisible at once and deleted by `purge()`
  (every few hundred new sessions, and `smartapp db purge`).
- `lock(sid)` is a database lease, so a refresh token is used by one process at a time.
- A pending `state` is found by its hash and removed in the same statement
  (`DELETE … RETURNING`): single use even when two processes race.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, and_, delete, select, update

from smartapp.launch.session_store import (
    DEFAULT_SESSION_TTL_S,
    MAX_PENDING,
    SessionStore,
    new_session_id,
)
from smartapp.store.cipher import TokenCipher
from smartapp.store.database import Database
from smartapp.store.leases import Leases, dialect_insert
from smartapp.store.schema import session_pending, session_values, sessions

#: A session's expiry moves forward on use, but at most this often (seconds).
TOUCH_EVERY_S = 60.0
#: A token refresh (one call to the EHR, 10 s timeout) holds the session's lease at most
#: this long; a crashed holder's lease lapses.
REFRESH_LEASE_S = 40.0
#: Purge expired rows after this many new sessions (per process).
PURGE_EVERY = 256


def sid_hash(sid: str) -> str:
    return hashlib.sha256(sid.encode("utf-8")).hexdigest()


def _state_hash(state: str) -> str:
    # A lookup by hash: response time cannot reveal how much of a guessed state matched.
    return hashlib.sha256(state.encode("utf-8")).hexdigest()


class DatabaseSessionStore(SessionStore):
    def __init__(
        self,
        db: Database,
        cipher: TokenCipher,
        ttl_s: float = DEFAULT_SESSION_TTL_S,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.cipher = cipher
        self._ttl = ttl_s
        self._clock = clock
        self._leases = Leases(db, clock=clock)
        self._created = 0
        self._count_lock = threading.Lock()

    # -- internals -------------------------------------------------------------------
    def _live_pk(self, conn: Connection, sid: str) -> int | None:
        pk = conn.execute(
            select(sessions.c.pk).where(
                sessions.c.sid_hash == sid_hash(sid), sessions.c.expires_at > self._clock()
            )
        ).scalar_one_or_none()
        return int(pk) if pk is not None else None

    def _maybe_purge(self) -> None:
        with self._count_lock:
            self._created += 1
            due = self._created % PURGE_EVERY == 0
        if due:
            self.purge()

    # -- interface -------------------------------------------------------------------
    def create(self) -> str:
        sid = new_session_id()
        now = self._clock()
        with self.db.write() as conn:
            conn.execute(
                sessions.insert().values(
                    sid_hash=sid_hash(sid), created_at=now, expires_at=now + self._ttl
                )
            )
        self._maybe_purge()
        return sid

    def exists(self, sid: str) -> bool:
        now = self._clock()
        with self.db.read() as conn:
            expires = conn.execute(
                select(sessions.c.expires_at).where(sessions.c.sid_hash == sid_hash(sid))
            ).scalar_one_or_none()
        if expires is None or expires <= now:
            return False
        if expires - now < self._ttl - TOUCH_EVERY_S:
            with self.db.write() as conn:
                conn.execute(
                    update(sessions)
                    .where(sessions.c.sid_hash == sid_hash(sid), sessions.c.expires_at > now)
                    .values(expires_at=now + self._ttl)
                )
        return True

    def get(self, sid: str, key: str) -> dict[str, Any] | None:
        with self.db.read() as conn:
            token = conn.execute(
                select(session_values.c.value)
                .join(sessions, sessions.c.pk == session_values.c.session_pk)
                .where(
                    sessions.c.sid_hash == sid_hash(sid),
                    sessions.c.expires_at > self._clock(),
                    session_values.c.key == key,
                )
            ).scalar_one_or_none()
        return self.cipher.decrypt(token) if token is not None else None

    def set(self, sid: str, key: str, value: dict[str, Any]) -> None:
        token = self.cipher.encrypt(value)  # TypeError before anything is written
        with self.db.write() as conn:
            pk = self._live_pk(conn, sid)
            if pk is None:
                return
            statement = dialect_insert(conn, session_values).values(
                session_pk=pk, key=key, value=token
            )
            conn.execute(
                statement.on_conflict_do_update(
                    index_elements=[session_values.c.session_pk, session_values.c.key],
                    set_={"value": token},
                )
            )

    def discard(self, sid: str, key: str) -> None:
        with self.db.write() as conn:
            pk = self._live_pk(conn, sid)
            if pk is not None:
                conn.execute(
                    delete(session_values).where(
                        session_values.c.session_pk == pk, session_values.c.key == key
                    )
                )

    def delete(self, sid: str) -> None:
        with self.db.write() as conn:
            pk = conn.execute(
                select(sessions.c.pk).where(sessions.c.sid_hash == sid_hash(sid))
            ).scalar_one_or_none()
            if pk is not None:
                _delete_sessions(conn, [int(pk)])

    def rotate(self, sid: str) -> str | None:
        new_sid = new_session_id()
        now = self._clock()
        with self.db.write() as conn:
            done = conn.execute(
                update(sessions)
                .where(sessions.c.sid_hash == sid_hash(sid), sessions.c.expires_at > now)
                .values(sid_hash=sid_hash(new_sid), expires_at=now + self._ttl)
            )
        return new_sid if done.rowcount == 1 else None

    def add_pending(self, sid: str, state: str, record: dict[str, Any], ttl_s: float) -> None:
        token = self.cipher.encrypt(record)
        now = self._clock()
        with self.db.write() as conn:
            pk = self._live_pk(conn, sid)
            if pk is None:
                return
            conn.execute(
                delete(session_pending).where(
                    session_pending.c.session_pk == pk,
                    (session_pending.c.expires_at <= now)
                    | (session_pending.c.state_hash == _state_hash(state)),
                )
            )
            conn.execute(
                session_pending.insert().values(
                    session_pk=pk,
                    state_hash=_state_hash(state),
                    expires_at=now + ttl_s,
                    record=token,
                )
            )
            newest = (
                conn.execute(
                    select(session_pending.c.pk)
                    .where(session_pending.c.session_pk == pk)
                    .order_by(session_pending.c.pk.desc())
                    .limit(MAX_PENDING)
                )
                .scalars()
                .all()
            )
            conn.execute(
                delete(session_pending).where(
                    session_pending.c.session_pk == pk,
                    session_pending.c.pk.not_in(list(newest)),
                )
            )

    def take_pending(self, sid: str, state: str) -> dict[str, Any] | None:
        now = self._clock()
        with self.db.write() as conn:
            pk = self._live_pk(conn, sid)
            if pk is None:
                return None
            taken = conn.execute(
                delete(session_pending)
                .where(
                    session_pending.c.session_pk == pk,
                    session_pending.c.state_hash == _state_hash(state),
                )
                .returning(session_pending.c.record, session_pending.c.expires_at)
            ).first()
        if taken is None or taken.expires_at <= now:
            return None
        return self.cipher.decrypt(taken.record)

    @contextmanager
    def lock(self, sid: str) -> Iterator[None]:
        with self._leases.hold(
            f"session:{sid_hash(sid)}", ttl_s=REFRESH_LEASE_S, wait_s=REFRESH_LEASE_S
        ):
            yield

    # -- housekeeping ------------------------------------------------------------------
    def purge(self) -> int:
        """Delete expired sessions (with their values) and expired pending records; the
        number of sessions removed."""
        now = self._clock()
        with self.db.write() as conn:
            expired = [
                int(pk)
                for pk in conn.execute(
                    select(sessions.c.pk).where(sessions.c.expires_at <= now)
                ).scalars()
            ]
            _delete_sessions(conn, expired)
            conn.execute(delete(session_pending).where(session_pending.c.expires_at <= now))
        self._leases.purge()
        return len(expired)

    def count(self) -> int:
        """Live sessions (for `smartapp db status`)."""
        with self.db.read() as conn:
            return len(
                conn.execute(
                    select(sessions.c.pk).where(sessions.c.expires_at > self._clock())
                ).all()
            )

    def rotate_key(self) -> tuple[int, int]:
        """Re-encrypt every stored value with the cipher's first key: (rewritten, dropped).

        A value no key can decrypt is deleted (it could never be read again)."""
        rewritten = dropped = 0
        with self.db.write() as conn:
            for table, key_columns, column in (
                (session_values, ("session_pk", "key"), "value"),
                (session_pending, ("pk",), "record"),
            ):
                rows = conn.execute(
                    select(*(table.c[name] for name in key_columns), table.c[column])
                ).all()
                for row in rows:
                    where = and_(*(table.c[name] == getattr(row, name) for name in key_columns))
                    fresh = self.cipher.rotate(getattr(row, column))
                    if fresh is None:
                        conn.execute(delete(table).where(where))
                        dropped += 1
                    else:
                        conn.execute(update(table).where(where).values({column: fresh}))
                        rewritten += 1
        return rewritten, dropped


def _delete_sessions(conn: Connection, pks: list[int]) -> None:
    # Children first: SQLite enforces ON DELETE CASCADE only with foreign_keys on.
    for start in range(0, len(pks), 500):
        part = pks[start : start + 500]
        conn.execute(delete(session_values).where(session_values.c.session_pk.in_(part)))
        conn.execute(delete(session_pending).where(session_pending.c.session_pk.in_(part)))
        conn.execute(delete(sessions).where(sessions.c.pk.in_(part)))
