"""The stored worklist behind `/worklist`: which snapshot a request sees, background
refreshes with progress, and the rows for a day (docs/worklist.md "Stored worklists").

- Whose snapshot (`reader_of`): an open server's is shared by everyone using that server;
  the population worklist (the app's Backend Services token) by everyone signed in for
  it, and it is the one `smartapp worklist --refresh --backend` (the scheduled job)
  writes; a coordinator's launch has their own (`user:<fhirUser>`), read with their token.
- A refresh runs in a thread of the web process (`BackgroundRefresher`), never in the
  request: the page shows the stored worklist and the refresh's progress, which it polls
  (`/worklist/refresh-status`), and any worker can show any refresh's progress because it
  lives in the snapshot row. The database lease makes sure one runs at a time, across
  every worker and replica.
- The screen's rows are decoded once per snapshot and day and kept in a small cache:
  snapshots never change once stored, so this cannot show stale rows.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from flask import Flask, current_app

from fhir_mappings.site import Mappings
from smartapp.config import normalise_base
from smartapp.fhir import FhirClient, TokenExpired
from smartapp.rules.settings import RuleSettings
from smartapp.store.database import Database
from smartapp.store.leases import Leases
from smartapp.store.snapshots import SnapshotInfo, SnapshotStore
from smartapp.web.database import current_database
from smartapp.worklist import stored
from smartapp.worklist.refresh import (
    STALE_AFTER_S,
    RefreshRunning,
    RefreshTarget,
    failure_text,
    refresh_worklist,
    rows_as_of,
)
from smartapp.worklist.rows import WorklistRow
from smartapp.worklist.service import WorklistOptions

log = logging.getLogger(__name__)

REFRESHER_EXTENSION = "smartapp.worklist.refresher"
ROWS_EXTENSION = "smartapp.worklist.rows"
#: Decoded snapshots kept per app process (about 2 KB per row).
_ROWS_CACHE_ENTRIES = 4

#: Makes a FHIR client for a refresh (one that renews a refused token once).
ClientMaker = Callable[[], FhirClient]


def reader_of(mode: str, fhir_user: str | None, launch_id: str) -> str:
    """Whose view of the server a snapshot is (module doc)."""
    if mode in ("open", "backend"):
        return mode
    return f"user:{fhir_user}" if fhir_user else f"launch:{launch_id}"


def target_for(fhir_base: str, reader: str, options: WorklistOptions) -> RefreshTarget:
    return RefreshTarget(normalise_base(fhir_base), reader, options)


@dataclass(frozen=True)
class StoredState:
    """What the store holds for one worklist right now."""

    latest: SnapshotInfo | None
    running: SnapshotInfo | None
    #: The newest failed refresh after `latest` (None: none failed since).
    failure: SnapshotInfo | None

    def status_json(self) -> dict[str, object]:
        running = self.running
        return {
            "latest": self.latest.id if self.latest else None,
            "running": running is not None,
            "stage": running.stage if running else None,
            "done": running.progress_done if running else None,
            "total": running.progress_total if running else None,
            "failed": self.failure.error if self.failure else None,
        }


def stored_state(target: RefreshTarget) -> StoredState:
    snapshots = SnapshotStore(current_database())
    latest = snapshots.latest(target.key)
    return StoredState(
        latest=latest,
        running=snapshots.running(target.key, stale_after_s=STALE_AFTER_S),
        failure=snapshots.failure_since(target.key, latest.id if latest else None),
    )


class RowsCache:
    """(snapshot id, day) -> rows, the few most recently used, for one app and database."""

    def __init__(self) -> None:
        self._rows: OrderedDict[tuple[int, str], list[WorklistRow]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[int, str]) -> list[WorklistRow] | None:
        with self._lock:
            found = self._rows.get(key)
            if found is not None:
                self._rows.move_to_end(key)
            return found

    def put(self, key: tuple[int, str], rows: list[WorklistRow]) -> None:
        with self._lock:
            self._rows[key] = rows
            while len(self._rows) > _ROWS_CACHE_ENTRIES:
                self._rows.popitem(last=False)


def stored_rows(
    snapshot: SnapshotInfo, as_of: date, *, mappings: Mappings, settings: RuleSettings
) -> list[WorklistRow]:
    """The snapshot's rows for `as_of`: as stored on its own day, else evaluated again from
    its stored records (slower; cached like the rest)."""
    cache: RowsCache = current_app.extensions.setdefault(ROWS_EXTENSION, RowsCache())
    key = (snapshot.id, as_of.isoformat())
    found = cache.get(key)
    if found is not None:
        return found
    snapshots = SnapshotStore(current_database())
    if as_of == snapshot.as_of:
        blob = snapshots.rows(snapshot.id)
        rows = stored.decode_rows(blob) if blob is not None else []
    else:
        rows = rows_as_of(snapshots, snapshot, as_of, mappings=mappings, settings=settings)
    cache.put(key, rows)
    return rows


class BackgroundRefresher:
    """Refresh threads of this process, at most one per worklist (the lease guards the
    others). `wait()` lets tests and a graceful shutdown see them finish."""

    def __init__(self) -> None:
        self._threads: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()

    def start(self, key: str, work: Callable[[], None]) -> bool:
        """Run `work` in a thread unless this process already refreshes `key`."""
        with self._lock:
            thread = self._threads.get(key)
            if thread is not None and thread.is_alive():
                return False
            thread = threading.Thread(target=work, name="worklist-refresh", daemon=True)
            self._threads[key] = thread
            thread.start()
            return True

    def running(self, key: str) -> bool:
        """This process refreshes `key` now (its snapshot row may not exist yet)."""
        with self._lock:
            thread = self._threads.get(key)
            return thread is not None and thread.is_alive()

    def wait(self, timeout_s: float | None = None) -> None:
        with self._lock:
            threads = list(self._threads.values())
        for thread in threads:
            thread.join(timeout_s)


def refresher_of(app: Flask) -> BackgroundRefresher:
    found = app.extensions.get(REFRESHER_EXTENSION)
    if not isinstance(found, BackgroundRefresher):
        found = app.extensions[REFRESHER_EXTENSION] = BackgroundRefresher()
    return found


def start_refresh(
    target: RefreshTarget,
    make_client: ClientMaker,
    *,
    mappings: Mappings,
    settings: RuleSettings,
    as_of: date,
    full: bool = False,
) -> bool:
    """Start a background refresh of `target` (False: this process already runs one)."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]

    def work() -> None:
        with app.app_context():
            db = current_database()
            client: FhirClient | None = None
            try:
                client = make_client()
                refresh_worklist(
                    SnapshotStore(db),
                    Leases(db),
                    client,
                    target,
                    mappings=mappings,
                    settings=settings,
                    as_of=as_of,
                    full=full,
                )
            except TokenExpired:  # the client renewed it once already
                log.info("worklist refresh: the FHIR server refused the token again")
            except RefreshRunning:
                pass  # another worker or the scheduled job is on it
            except Exception as err:
                log.warning("worklist refresh failed: %s", failure_text(err))
                if client is None:  # it never started: record why for the page
                    _record_failure(db, target, as_of, failure_text(err))
            finally:
                if client is not None:
                    client.close()

    return refresher_of(app).start(target.key, work)


def _record_failure(db: Database, target: RefreshTarget, as_of: date, error: str) -> None:
    snapshots = SnapshotStore(db)
    failed = snapshots.begin(
        key=target.key,
        server=target.server,
        reader=target.reader,
        mode="full",
        source="export" if target.options.export else "search",
        as_of=as_of,
        fingerprint="",
        based_on=None,
    )
    snapshots.fail(failed, error)
