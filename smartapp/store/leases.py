"""Named leases in the database: at most one holder at a time across every process.

    lease = Leases(db).try_acquire("worklist-refresh:…", ttl_s=120)   # None when held
    lease.renew()    # a long job renews well before the lease lapses
    lease.release()

    with Leases(db).hold("session:…", ttl_s=60, wait_s=30): ...       # waits its turn

A lease is one row (name, owner, expires_at). Taking it is one atomic statement: insert, or
take over a row whose lease has lapsed (`ON CONFLICT … DO UPDATE … WHERE expires_at < now`),
so two processes can never both hold it, on SQLite and PostgreSQL alike. A holder that
crashes simply stops renewing, and the lease lapses after `ttl_s`.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Table, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from smartapp.store.database import Database, StoreError
from smartapp.store.schema import leases

#: How often a waiting `hold()` tries again.
POLL_S = 0.05


class LeaseTimeout(StoreError):
    """`hold()` waited `wait_s` and the lease was still held by someone else."""


def dialect_insert(conn: Connection, table: Table) -> Any:
    """INSERT with ON CONFLICT support for the connection's dialect (SQLite, PostgreSQL)."""
    module = postgresql if conn.dialect.name == "postgresql" else sqlite
    return module.insert(table)


@dataclass
class _LocalTurn:
    lock: threading.Lock
    users: int = 0


@dataclass
class Lease:
    leases: Leases
    name: str
    owner: str
    ttl_s: float

    def renew(self) -> bool:
        """Extend the lease by `ttl_s`; False when it was lost (lapsed and taken over)."""
        now = self.leases.clock()
        with self.leases.db.write() as conn:
            done = conn.execute(
                update(leases)
                .where(leases.c.name == self.name, leases.c.owner == self.owner)
                .values(expires_at=now + self.ttl_s)
            )
        return done.rowcount == 1

    def release(self) -> None:
        with self.leases.db.write() as conn:
            conn.execute(
                delete(leases).where(leases.c.name == self.name, leases.c.owner == self.owner)
            )


class Leases:
    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock
        self._local: dict[str, _LocalTurn] = {}
        self._local_guard = threading.Lock()

    def try_acquire(self, name: str, *, ttl_s: float) -> Lease | None:
        """The lease, or None when another holder has it (never waits)."""
        owner = secrets.token_hex(16)
        now = self.clock()
        with self.db.write() as conn:
            statement = dialect_insert(conn, leases).values(
                name=name, owner=owner, expires_at=now + ttl_s
            )
            statement = statement.on_conflict_do_update(
                index_elements=[leases.c.name],
                set_={"owner": owner, "expires_at": now + ttl_s},
                where=leases.c.expires_at < now,
            ).returning(leases.c.owner)
            taken = conn.execute(statement).scalar_one_or_none()
        return Lease(self, name, owner, ttl_s) if taken == owner else None

    def holder_expires(self, name: str) -> float | None:
        """When the current holder's lease lapses (None: nobody holds it)."""
        with self.db.read() as conn:
            expires = conn.execute(
                select(leases.c.expires_at).where(leases.c.name == name)
            ).scalar_one_or_none()
        return expires if expires is not None and expires >= self.clock() else None

    @contextmanager
    def _local_turn(self, name: str, wait_s: float) -> Iterator[None]:
        """This process's threads take turns per name (entries live while in use)."""
        with self._local_guard:
            entry = self._local.setdefault(name, _LocalTurn(threading.Lock()))
            entry.users += 1
        try:
            if not entry.lock.acquire(timeout=max(wait_s, 0.0)):
                raise LeaseTimeout(f"'{name}' stayed busy for {wait_s:.0f} s")
            try:
                yield
            finally:
                entry.lock.release()
        finally:
            with self._local_guard:
                entry.users -= 1
                if entry.users == 0:
                    del self._local[name]

    @contextmanager
    def hold(self, name: str, *, ttl_s: float, wait_s: float) -> Iterator[Lease]:
        """Wait (up to `wait_s`) for the lease, hold it for the block, then release it.

        Threads of one process queue locally first, so only one of them polls the database."""
        deadline = time.monotonic() + wait_s
        with self._local_turn(name, wait_s):
            lease = self.try_acquire(name, ttl_s=ttl_s)
            while lease is None:
                if time.monotonic() >= deadline:
                    raise LeaseTimeout(f"'{name}' stayed busy for {wait_s:.0f} s")
                time.sleep(POLL_S)
                lease = self.try_acquire(name, ttl_s=ttl_s)
            try:
                yield lease
            finally:
                lease.release()

    def purge(self, *, older_than_s: float = 3600.0) -> int:
        """Forget leases that lapsed long ago; the number removed."""
        with self.db.write() as conn:
            done = conn.execute(
                delete(leases).where(leases.c.expires_at < self.clock() - older_than_s)
            )
        return int(done.rowcount)
