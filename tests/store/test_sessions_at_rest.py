"""Sessions in the database: encrypted at rest, shared by processes, single-use across
processes, purged when expired, re-encrypted on key rotation. SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial

from sqlalchemy import func, select

from smartapp.launch.session_store import PENDING_TTL_S
from smartapp.store import Database
from smartapp.store.cipher import TokenCipher, new_key
from smartapp.store.leases import Leases
from smartapp.store.schema import session_pending, session_values, sessions
from smartapp.store.sessions import DatabaseSessionStore
from tests.support.threads import most_inside_at_once, run_together

ACCESS = "AT-very-secret-access-token-0001"
REFRESH = "RT-very-secret-refresh-token-0001"
TOKEN_RECORD = {"access_token": ACCESS, "refresh_token": REFRESH, "scope": "user/*.rs"}


def raw_text(db: Database) -> str:
    """Everything the session tables hold, as one string (what a database dump shows)."""
    with db.read() as conn:
        rows = [
            *conn.execute(select(sessions)).all(),
            *conn.execute(select(session_values)).all(),
            *conn.execute(select(session_pending)).all(),
        ]
    return " ".join(str(tuple(row)) for row in rows)


def test_tokens_verifiers_and_session_ids_are_not_readable_in_the_database(
    database: Database,
) -> None:
    store = DatabaseSessionStore(database, TokenCipher([new_key()]))
    sid = store.create()
    store.set(sid, "token", TOKEN_RECORD)
    store.set(sid, "launch", {"patient": "pat-4711"})
    store.add_pending(sid, "state-abc", {"code_verifier": "VERIFIER-xyz-123"}, PENDING_TTL_S)
    dump = raw_text(database)
    for secret in (ACCESS, REFRESH, "pat-4711", "VERIFIER-xyz-123", "state-abc", sid):
        assert secret not in dump
    assert store.get(sid, "token") == TOKEN_RECORD


def test_a_value_no_key_can_decrypt_reads_as_absent(database: Database) -> None:
    writer = DatabaseSessionStore(database, TokenCipher([new_key()]))
    sid = writer.create()
    writer.set(sid, "token", TOKEN_RECORD)
    stranger = DatabaseSessionStore(database, TokenCipher([new_key()]))
    assert stranger.exists(sid)
    assert stranger.get(sid, "token") is None


@contextmanager
def stores_in_processes(database_url: str, count: int) -> Iterator[list[DatabaseSessionStore]]:
    """`count` session stores, each on an engine of its own over one (upgraded) database with
    one key: what gunicorn workers (or replicas) have."""
    from smartapp.store.migrate import upgrade

    cipher = TokenCipher([new_key()])
    dbs = [Database(database_url) for _ in range(count)]
    try:
        upgrade(dbs[0])
        yield [DatabaseSessionStore(db, cipher) for db in dbs]
    finally:
        for db in dbs:
            db.close()


def test_two_processes_share_one_session(database_url: str) -> None:
    with stores_in_processes(database_url, 2) as (a, b):
        sid = a.create()
        a.set(sid, "token", TOKEN_RECORD)
        assert b.exists(sid) and b.get(sid, "token") == TOKEN_RECORD
        b.set(sid, "session", {"csrf": "c1"})
        assert a.get(sid, "session") == {"csrf": "c1"}
        new_sid = b.rotate(sid)
        assert new_sid and not a.exists(sid) and a.get(new_sid, "token") == TOKEN_RECORD
        a.delete(new_sid)
        assert not b.exists(new_sid)


def test_a_pending_state_is_used_once_even_when_processes_race(database_url: str) -> None:
    with stores_in_processes(database_url, 6) as stores:
        sid = stores[0].create()
        stores[0].add_pending(sid, "the-state", {"v": 1}, PENDING_TTL_S)
        results: list[object] = []
        barrier = threading.Barrier(len(stores))

        def take(store: DatabaseSessionStore) -> None:
            barrier.wait()
            results.append(store.take_pending(sid, "the-state"))

        run_together([partial(take, store) for store in stores])
        assert sorted(results, key=str) == [None] * 5 + [{"v": 1}]


def test_the_refresh_lock_holds_across_processes(database_url: str) -> None:
    with stores_in_processes(database_url, 3) as stores:
        sid = stores[0].create()
        locks = [partial(store.lock, sid) for store in stores]
        assert most_inside_at_once(locks, rounds=3, hold_s=0.02) == 1


def test_a_lease_whose_holder_died_lapses_and_the_old_holder_cannot_renew_it(
    database: Database,
) -> None:
    now = [1000.0]
    leases = Leases(database, clock=lambda: now[0])
    crashed = leases.try_acquire("job", ttl_s=60)
    assert crashed is not None
    assert leases.try_acquire("job", ttl_s=60) is None
    assert leases.holder_expires("job") == 1060.0
    now[0] += 61  # the holder stopped renewing
    assert leases.holder_expires("job") is None
    taker = leases.try_acquire("job", ttl_s=60)
    assert taker is not None
    assert not crashed.renew()
    crashed.release()  # releasing someone else's lease does nothing
    assert leases.try_acquire("job", ttl_s=60) is None
    assert taker.renew()
    taker.release()
    assert leases.try_acquire("job", ttl_s=60) is not None


def test_purge_deletes_expired_sessions_with_their_values(database: Database) -> None:
    now = [1_000_000.0]
    store = DatabaseSessionStore(
        database, TokenCipher([new_key()]), ttl_s=100, clock=lambda: now[0]
    )
    old = store.create()
    store.set(old, "token", TOKEN_RECORD)
    store.add_pending(old, "s", {"v": 1}, 50)
    now[0] += 60
    young = store.create()
    store.set(young, "token", TOKEN_RECORD)
    now[0] += 50  # `old` idle for 110 s, `young` for 50 s
    assert store.purge() == 1
    with database.read() as conn:
        assert conn.execute(select(func.count()).select_from(sessions)).scalar() == 1
        assert conn.execute(select(func.count()).select_from(session_values)).scalar() == 1
        assert conn.execute(select(func.count()).select_from(session_pending)).scalar() == 0
    assert store.get(young, "token") == TOKEN_RECORD and store.count() == 1


def test_key_rotation_reencrypts_every_value_with_the_new_key(database: Database) -> None:
    old_key, new = new_key(), new_key()
    store = DatabaseSessionStore(database, TokenCipher([old_key]))
    sid = store.create()
    store.set(sid, "token", TOKEN_RECORD)
    store.add_pending(sid, "s", {"v": 1}, PENDING_TTL_S)
    # A value written under a key that is gone entirely cannot be kept.
    lost = DatabaseSessionStore(database, TokenCipher([new_key()]))
    lost_sid = lost.create()
    lost.set(lost_sid, "token", {"access_token": "x"})

    rotating = DatabaseSessionStore(database, TokenCipher([new, old_key]))
    assert rotating.rotate_key() == (2, 1)
    after = DatabaseSessionStore(database, TokenCipher([new]))
    assert after.get(sid, "token") == TOKEN_RECORD
    assert after.take_pending(sid, "s") == {"v": 1}
    assert after.get(lost_sid, "token") is None
