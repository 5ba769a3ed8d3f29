"""The session store contract, for every implementation: the database store on SQLite and
PostgreSQL, and the in-memory one the unit tests use. TTL, single-use pending states,
rotation, locking, JSON-only values.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from smartapp.launch.session_store import MAX_PENDING, MemorySessionStore, SessionStore
from smartapp.store import Database
from smartapp.store.cipher import TokenCipher, new_key
from smartapp.store.migrate import upgrade
from smartapp.store.sessions import DatabaseSessionStore
from tests.support.clock import Clock
from tests.support.databases import BACKENDS, empty_database_url
from tests.support.threads import most_inside_at_once

MakeStore = Callable[..., SessionStore]


@pytest.fixture(params=("memory", *BACKENDS))
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> MakeStore:
    """`make_store(**kwargs)`: a new store of the parametrised kind (same database each call)."""
    if request.param == "memory":
        return MemorySessionStore
    db = Database(empty_database_url(request.param, tmp_path, request))
    upgrade(db)
    request.addfinalizer(db.close)
    cipher = TokenCipher([new_key()])

    def make(**kwargs: Any) -> SessionStore:
        return DatabaseSessionStore(db, cipher, **kwargs)

    return make


def test_values_are_copies_and_sessions_expire_when_idle(make_store: MakeStore):
    clock = Clock(1_000_000.0)
    store = make_store(ttl_s=100, clock=clock)
    sid = store.create()
    value = {"a": [1]}
    store.set(sid, "k", value)
    value["a"].append(2)
    assert store.get(sid, "k") == {"a": [1]}
    clock.now += 99
    assert store.exists(sid)  # use extends the lifetime
    clock.now += 99
    assert store.get(sid, "k") == {"a": [1]}
    clock.now += 101
    assert not store.exists(sid)
    assert store.get(sid, "k") is None


def test_session_ids_are_long_and_unique(make_store: MakeStore):
    store = make_store()
    ids = {store.create() for _ in range(100)}
    assert len(ids) == 100
    assert all(len(sid) >= 43 for sid in ids)


def test_pending_state_is_single_use_and_bound_to_its_session(make_store: MakeStore):
    store = make_store()
    sid, other = store.create(), store.create()
    store.add_pending(sid, "state-1", {"v": 1}, ttl_s=600)
    assert store.take_pending(other, "state-1") is None
    assert store.take_pending(sid, "state-2") is None
    assert store.take_pending(sid, "state-1") == {"v": 1}
    assert store.take_pending(sid, "state-1") is None


def test_pending_state_expires(make_store: MakeStore):
    clock = Clock(1_000_000.0)
    store = make_store(clock=clock)
    sid = store.create()
    store.add_pending(sid, "s", {"v": 1}, ttl_s=600)
    clock.now += 601
    assert store.take_pending(sid, "s") is None


def test_pending_states_are_bounded(make_store: MakeStore):
    store = make_store()
    sid = store.create()
    for n in range(MAX_PENDING + 3):
        store.add_pending(sid, f"s{n}", {"n": n}, ttl_s=600)
    assert store.take_pending(sid, "s0") is None
    assert store.take_pending(sid, f"s{MAX_PENDING + 2}") == {"n": MAX_PENDING + 2}


def test_rotate_moves_everything_and_kills_the_old_id(make_store: MakeStore):
    store = make_store()
    sid = store.create()
    store.set(sid, "k", {"v": 1})
    store.add_pending(sid, "s", {"p": 1}, ttl_s=600)
    new = store.rotate(sid)
    assert new and new != sid
    assert not store.exists(sid)
    assert store.get(new, "k") == {"v": 1}
    assert store.take_pending(new, "s") == {"p": 1}
    assert store.rotate("unknown") is None


def test_delete_and_discard(make_store: MakeStore):
    store = make_store()
    sid = store.create()
    store.set(sid, "a", {"x": 1})
    store.set(sid, "b", {"x": 2})
    store.discard(sid, "a")
    assert store.get(sid, "a") is None and store.get(sid, "b") == {"x": 2}
    store.delete(sid)
    assert not store.exists(sid)
    store.set(sid, "a", {"x": 1})  # writing to a dead session is a no-op
    assert store.get(sid, "a") is None


def test_lock_serialises_per_session(make_store: MakeStore):
    store = make_store()
    sid = store.create()
    assert most_inside_at_once([partial(store.lock, sid)] * 8, hold_s=0.01) == 1


def test_values_must_be_json_serialisable(make_store: MakeStore):
    store = make_store()
    sid = store.create()
    with pytest.raises(TypeError):
        store.set(sid, "k", {"when": object()})
