"""Server-side session store: everything secret lives here, keyed by an opaque session id.

The browser cookie carries only a signed session id (see `smartapp.web.session`). Tokens,
the id_token, the launch context, PKCE verifiers and `state` values are kept in this store
and never leave the server.

`SessionStore` is the interface. The app uses `smartapp.store.sessions.DatabaseSessionStore`
(the app's database, shared by every process and kept across restarts);
`MemorySessionStore` is for unit tests (ONE process, lost on restart). The interface is
shaped for a shared store:

- values are JSON-serialisable dicts, stored under a few named keys per session
  (`"session"` for Flask's session dict, `"launch"`, `"token"`), so writers of different
  keys never overwrite each other (a Redis hash per session);
- pending authorizations are single-use records taken atomically (Redis `GETDEL`);
- `lock(sid)` serialises token refreshes across requests (a Redis lock);
- `rotate(sid)` moves a session to a fresh id (Redis `RENAME`), against session fixation.

A shared store that does not answer raises `SessionStoreUnavailable`.
"""

from __future__ import annotations

import hmac
import json
import secrets
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

#: Idle lifetime of a session: each use extends it.
DEFAULT_SESSION_TTL_S = 8 * 3600
#: Lifetime of a pending authorization (`state` → verifier, nonce…): SMART best practice.
PENDING_TTL_S = 10 * 60
#: At most this many launches may be pending in one session (several EHR tabs).
MAX_PENDING = 8

#: The named values of a session the launch keeps: the launch context (patient, scopes,
#: FHIR base) and the token response (access and refresh tokens).
LAUNCH_KEY = "launch"
TOKEN_KEY = "token"  # noqa: S105 - a store key, not a secret


class SessionStoreUnavailable(RuntimeError):
    """A shared store (the database) did not answer; `str(err)` is one sentence."""


def new_session_id() -> str:
    """256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


class SessionStore(ABC):
    """Where sessions live. Implementations must be safe to share between threads."""

    @abstractmethod
    def create(self) -> str:
        """Start an empty session and return its new id."""

    @abstractmethod
    def exists(self, sid: str) -> bool:
        """True when `sid` is a live session (and extends its lifetime)."""

    @abstractmethod
    def get(self, sid: str, key: str) -> dict[str, Any] | None:
        """A copy of the value stored under `key`, or None."""

    @abstractmethod
    def set(self, sid: str, key: str, value: dict[str, Any]) -> None:
        """Store a JSON-serialisable dict under `key` (no-op when the session is gone)."""

    @abstractmethod
    def discard(self, sid: str, key: str) -> None:
        """Remove `key` from the session."""

    @abstractmethod
    def delete(self, sid: str) -> None:
        """End the session and everything in it."""

    @abstractmethod
    def rotate(self, sid: str) -> str | None:
        """Move the session to a new id; the old id stops working. None when gone."""

    @abstractmethod
    def add_pending(self, sid: str, state: str, record: dict[str, Any], ttl_s: float) -> None:
        """Remember an authorization request, single-use, for `ttl_s` seconds."""

    @abstractmethod
    def take_pending(self, sid: str, state: str) -> dict[str, Any] | None:
        """Remove and return the pending record whose state equals `state` in this session.

        The comparison is constant-time; a second call with the same state returns None.
        """

    @abstractmethod
    @contextmanager
    def lock(self, sid: str) -> Iterator[None]:
        """Exclusive per-session lock (token refresh)."""
        yield  # pragma: no cover


def _copy(value: dict[str, Any]) -> dict[str, Any]:
    # A JSON round trip both deep-copies and proves the value would fit a shared store.
    copied: dict[str, Any] = json.loads(json.dumps(value))
    return copied


@dataclass
class _Entry:
    expires: float
    values: dict[str, dict[str, Any]] = field(default_factory=dict)
    pending: list[tuple[str, float, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class MemorySessionStore(SessionStore):
    """Thread-safe in-process store with idle TTL. Lost on restart; one process only."""

    def __init__(
        self,
        ttl_s: float = DEFAULT_SESSION_TTL_S,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl_s
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._mutex = threading.Lock()
        self._ops = 0

    # -- internals (call with self._mutex held) -------------------------------------
    def _live(self, sid: str) -> _Entry | None:
        entry = self._entries.get(sid)
        now = self._clock()
        if entry is None:
            return None
        if entry.expires <= now:
            del self._entries[sid]
            return None
        entry.expires = now + self._ttl
        return entry

    def _sweep(self) -> None:
        self._ops += 1
        if self._ops % 256:
            return
        now = self._clock()
        for sid in [sid for sid, entry in self._entries.items() if entry.expires <= now]:
            del self._entries[sid]

    # -- interface -------------------------------------------------------------------
    def create(self) -> str:
        sid = new_session_id()
        with self._mutex:
            self._sweep()
            self._entries[sid] = _Entry(expires=self._clock() + self._ttl)
        return sid

    def exists(self, sid: str) -> bool:
        with self._mutex:
            return self._live(sid) is not None

    def get(self, sid: str, key: str) -> dict[str, Any] | None:
        with self._mutex:
            entry = self._live(sid)
            value = entry.values.get(key) if entry else None
            return _copy(value) if value is not None else None

    def set(self, sid: str, key: str, value: dict[str, Any]) -> None:
        copied = _copy(value)
        with self._mutex:
            entry = self._live(sid)
            if entry is not None:
                entry.values[key] = copied

    def discard(self, sid: str, key: str) -> None:
        with self._mutex:
            entry = self._live(sid)
            if entry is not None:
                entry.values.pop(key, None)

    def delete(self, sid: str) -> None:
        with self._mutex:
            self._entries.pop(sid, None)

    def rotate(self, sid: str) -> str | None:
        new_sid = new_session_id()
        with self._mutex:
            entry = self._live(sid)
            if entry is None:
                return None
            del self._entries[sid]
            self._entries[new_sid] = entry
        return new_sid

    def add_pending(self, sid: str, state: str, record: dict[str, Any], ttl_s: float) -> None:
        copied = _copy(record)
        with self._mutex:
            entry = self._live(sid)
            if entry is None:
                return
            now = self._clock()
            entry.pending = [item for item in entry.pending if item[1] > now]
            entry.pending.append((state, now + ttl_s, copied))
            del entry.pending[:-MAX_PENDING]

    def take_pending(self, sid: str, state: str) -> dict[str, Any] | None:
        with self._mutex:
            entry = self._live(sid)
            if entry is None:
                return None
            now = self._clock()
            found: tuple[str, float, dict[str, Any]] | None = None
            # Compare against every pending state so timing does not depend on which matched.
            for item in entry.pending:
                if hmac.compare_digest(item[0].encode(), state.encode()) and found is None:
                    found = item
            entry.pending = [item for item in entry.pending if item is not found and item[1] > now]
            if found is None or found[1] <= now:
                return None
            return found[2]

    @contextmanager
    def lock(self, sid: str) -> Iterator[None]:
        with self._mutex:
            entry = self._entries.get(sid)
            per_session = entry.lock if entry is not None else threading.Lock()
        with per_session:
            yield
