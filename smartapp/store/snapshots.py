"""Worklist snapshots in the database: storage only (what is stored is encoded by
`smartapp.worklist.stored`; how a refresh runs is `smartapp.worklist.refresh`).

A snapshot belongs to a key: one FHIR server as one reader sees it (the app's backend
credentials, an open server, or one user's launch). Its life:

    begin()        a `building` row (invisible to readers)
    save_patients  patient data + entries, in batches (short transactions)
    copy_entries   unchanged patients carried over from the previous snapshot (in SQL)
    heartbeat()    progress for the screen; proves the builder is alive
    finish()       the screen's rows, `ready`, older snapshots pruned — one transaction
    fail()         `failed` with the error and its time; the previous snapshot stays

A builder that dies leaves a `building` row whose heartbeat stops; `abandon_stale()` marks
it failed ("interrupted"). Readers only ever see `ready` snapshots, so a crash mid-refresh
never shows half a worklist.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Connection, Integer, and_, delete, insert, literal, select, update

from smartapp.store.database import Database
from smartapp.store.schema import worklist_entries, worklist_patient_data, worklist_snapshots

BUILDING, READY, FAILED = "building", "ready", "failed"
#: Ready snapshots kept per key (the newest is shown; one before it for incremental safety).
KEEP_READY = 2
#: Failed snapshots kept per key (the newest failure is shown with its time).
KEEP_FAILED = 3
_BATCH = 200
#: Up to this many resource keys are looked up with LIKE; more in one pass over the rows.
_LIKE_LIMIT = 10


def snapshot_key(server: str, reader: str) -> str:
    return hashlib.sha256(f"{server}\n{reader}".encode()).hexdigest()


@dataclass(frozen=True)
class SnapshotInfo:
    id: int
    key: str
    server: str
    reader: str
    status: str
    mode: str
    source: str
    as_of: date
    fingerprint: str
    based_on: int | None
    started_at: float
    heartbeat_at: float
    finished_at: float | None
    since: float | None
    stage: str
    progress_done: int
    progress_total: int | None
    error: str | None
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PatientItem:
    """One patient of a snapshot: their stored data (new, or `data_id` of stored data kept
    as it was) and their evaluated summary."""

    patient_id: str
    summary: bytes
    data: bytes | None = None
    resource_keys: Sequence[str] = ()
    data_id: int | None = None


_INFO_COLUMNS = [column for column in worklist_snapshots.c if column.name != "rows"]


def _info(row: Any) -> SnapshotInfo:
    values = row._mapping
    return SnapshotInfo(
        id=int(values["id"]),
        key=values["key"],
        server=values["server"],
        reader=values["reader"],
        status=values["status"],
        mode=values["mode"],
        source=values["source"],
        as_of=date.fromisoformat(values["as_of"]),
        fingerprint=values["fingerprint"],
        based_on=values["based_on"],
        started_at=float(values["started_at"]),
        heartbeat_at=float(values["heartbeat_at"]),
        finished_at=values["finished_at"],
        since=values["since"],
        stage=values["stage"],
        progress_done=int(values["progress_done"]),
        progress_total=values["progress_total"],
        error=values["error"],
        stats=json.loads(values["stats"]) if values["stats"] else {},
    )


def _keys_text(keys: Iterable[str]) -> str:
    return "|" + "|".join(keys) + "|"


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class SnapshotStore:
    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock

    # -- a refresh writes ---------------------------------------------------------------
    def begin(
        self,
        *,
        key: str,
        server: str,
        reader: str,
        mode: str,
        source: str,
        as_of: date,
        fingerprint: str,
        based_on: int | None,
    ) -> int:
        now = self.clock()
        with self.db.write() as conn:
            created = conn.execute(
                insert(worklist_snapshots)
                .values(
                    key=key,
                    server=server,
                    reader=reader,
                    status=BUILDING,
                    mode=mode,
                    source=source,
                    as_of=as_of.isoformat(),
                    fingerprint=fingerprint,
                    based_on=based_on,
                    started_at=now,
                    heartbeat_at=now,
                    stage="starting",
                    progress_done=0,
                )
                .returning(worklist_snapshots.c.id)
            )
            return int(created.scalar_one())

    def heartbeat(
        self,
        snapshot_id: int,
        *,
        stage: str | None = None,
        done: int | None = None,
        total: int | None = None,
        mode: str | None = None,
    ) -> None:
        values: dict[str, Any] = {"heartbeat_at": self.clock()}
        if stage is not None:
            values["stage"] = stage[:200]
        if done is not None:
            values["progress_done"] = done
        if total is not None:
            values["progress_total"] = total
        if mode is not None:
            values["mode"] = mode
        with self.db.write() as conn:
            conn.execute(
                update(worklist_snapshots)
                .where(worklist_snapshots.c.id == snapshot_id)
                .values(**values)
            )

    def save_patients(self, snapshot_id: int, key: str, items: Sequence[PatientItem]) -> None:
        """Store the patients' new data and their entries (several short transactions)."""
        now = self.clock()
        for start in range(0, len(items), _BATCH):
            part = items[start : start + _BATCH]
            with self.db.write() as conn:
                for item in part:
                    data_id = item.data_id
                    if data_id is None:
                        if item.data is None:
                            raise ValueError(f"no data for {item.patient_id}")
                        data_id = int(
                            conn.execute(
                                insert(worklist_patient_data)
                                .values(
                                    key=key,
                                    patient_id=item.patient_id,
                                    read_at=now,
                                    resources=item.data,
                                    resource_keys=_keys_text(item.resource_keys),
                                )
                                .returning(worklist_patient_data.c.id)
                            ).scalar_one()
                        )
                    conn.execute(
                        insert(worklist_entries).values(
                            snapshot_id=snapshot_id,
                            patient_id=item.patient_id,
                            data_id=data_id,
                            summary=item.summary,
                        )
                    )

    def copy_entries(self, from_id: int, to_id: int, exclude: Collection[str]) -> int:
        """Carry the entries of `from_id` over to `to_id`, except the `exclude`d patients."""
        source = select(
            literal(to_id, Integer).label("snapshot_id"),
            worklist_entries.c.patient_id,
            worklist_entries.c.data_id,
            worklist_entries.c.summary,
        ).where(worklist_entries.c.snapshot_id == from_id)
        skipped = sorted(exclude)
        with self.db.write() as conn:
            if len(skipped) <= 500:
                if skipped:
                    source = source.where(worklist_entries.c.patient_id.not_in(skipped))
                done = conn.execute(
                    insert(worklist_entries).from_select(
                        ["snapshot_id", "patient_id", "data_id", "summary"], source
                    )
                )
                return int(done.rowcount)
            done = conn.execute(
                insert(worklist_entries).from_select(
                    ["snapshot_id", "patient_id", "data_id", "summary"], source
                )
            )
            removed = 0
            for start in range(0, len(skipped), 500):
                removed += conn.execute(
                    delete(worklist_entries).where(
                        worklist_entries.c.snapshot_id == to_id,
                        worklist_entries.c.patient_id.in_(skipped[start : start + 500]),
                    )
                ).rowcount
            return int(done.rowcount) - removed

    def finish(self, snapshot_id: int, *, rows: bytes, since: float, stats: dict[str, Any]) -> None:
        """Make the snapshot the one readers see, then prune old ones (one transaction)."""
        now = self.clock()
        with self.db.write() as conn:
            key = conn.execute(
                select(worklist_snapshots.c.key).where(worklist_snapshots.c.id == snapshot_id)
            ).scalar_one()
            conn.execute(
                update(worklist_snapshots)
                .where(worklist_snapshots.c.id == snapshot_id)
                .values(
                    status=READY,
                    rows=rows,
                    since=since,
                    stats=json.dumps(stats, sort_keys=True),
                    finished_at=now,
                    heartbeat_at=now,
                    stage="done",
                )
            )
            self._prune(conn, key)

    def fail(self, snapshot_id: int, error: str) -> None:
        now = self.clock()
        with self.db.write() as conn:
            key = conn.execute(
                select(worklist_snapshots.c.key).where(worklist_snapshots.c.id == snapshot_id)
            ).scalar_one_or_none()
            if key is None:
                return
            conn.execute(
                delete(worklist_entries).where(worklist_entries.c.snapshot_id == snapshot_id)
            )
            conn.execute(
                update(worklist_snapshots)
                .where(worklist_snapshots.c.id == snapshot_id)
                .values(status=FAILED, error=error[:2000], finished_at=now, stage="failed")
            )
            self._prune(conn, key)

    def abandon_stale(self, key: str, *, stale_after_s: float) -> int:
        """Mark `building` snapshots whose builder stopped beating as failed."""
        cutoff = self.clock() - stale_after_s
        with self.db.read() as conn:
            stale = (
                conn.execute(
                    select(worklist_snapshots.c.id).where(
                        worklist_snapshots.c.key == key,
                        worklist_snapshots.c.status == BUILDING,
                        worklist_snapshots.c.heartbeat_at < cutoff,
                    )
                )
                .scalars()
                .all()
            )
        for snapshot_id in stale:
            self.fail(int(snapshot_id), "The refresh was interrupted (its process stopped).")
        return len(stale)

    def _prune(self, conn: Connection, key: str) -> None:
        for status, keep in ((READY, KEEP_READY), (FAILED, KEEP_FAILED)):
            old = (
                conn.execute(
                    select(worklist_snapshots.c.id)
                    .where(worklist_snapshots.c.key == key, worklist_snapshots.c.status == status)
                    .order_by(worklist_snapshots.c.id.desc())
                    .offset(keep)
                )
                .scalars()
                .all()
            )
            if old:
                conn.execute(
                    delete(worklist_entries).where(worklist_entries.c.snapshot_id.in_(old))
                )
                conn.execute(delete(worklist_snapshots).where(worklist_snapshots.c.id.in_(old)))
        # Patient data no snapshot refers to any more (a building snapshot's is referred to).
        referenced = select(worklist_entries.c.data_id)
        conn.execute(
            delete(worklist_patient_data).where(
                worklist_patient_data.c.key == key,
                worklist_patient_data.c.read_at < self.clock() - 3600,
                worklist_patient_data.c.id.not_in(referenced),
            )
        )

    # -- readers ------------------------------------------------------------------------
    def get(self, snapshot_id: int) -> SnapshotInfo | None:
        with self.db.read() as conn:
            row = conn.execute(
                select(*_INFO_COLUMNS).where(worklist_snapshots.c.id == snapshot_id)
            ).first()
        return _info(row) if row is not None else None

    def _newest(self, key: str, status: str, *, after: int | None = None) -> SnapshotInfo | None:
        where = [worklist_snapshots.c.key == key, worklist_snapshots.c.status == status]
        if after is not None:
            where.append(worklist_snapshots.c.id > after)
        with self.db.read() as conn:
            row = conn.execute(
                select(*_INFO_COLUMNS)
                .where(and_(*where))
                .order_by(worklist_snapshots.c.id.desc())
                .limit(1)
            ).first()
        return _info(row) if row is not None else None

    def latest(self, key: str) -> SnapshotInfo | None:
        """The newest ready snapshot: what readers see."""
        return self._newest(key, READY)

    def running(self, key: str, *, stale_after_s: float) -> SnapshotInfo | None:
        """A refresh in progress whose builder is alive (heartbeat within `stale_after_s`)."""
        found = self._newest(key, BUILDING)
        if found is None or found.heartbeat_at < self.clock() - stale_after_s:
            return None
        return found

    def failure_since(self, key: str, snapshot_id: int | None) -> SnapshotInfo | None:
        """The newest failed refresh after snapshot `snapshot_id` (None: after nothing)."""
        return self._newest(key, FAILED, after=snapshot_id)

    def rows(self, snapshot_id: int) -> bytes | None:
        with self.db.read() as conn:
            blob = conn.execute(
                select(worklist_snapshots.c.rows).where(worklist_snapshots.c.id == snapshot_id)
            ).scalar_one_or_none()
        return bytes(blob) if blob is not None else None

    def entries(self, snapshot_id: int) -> dict[str, int]:
        """{patient id: data id} of the snapshot."""
        with self.db.read() as conn:
            return {
                str(patient_id): int(data_id)
                for patient_id, data_id in conn.execute(
                    select(worklist_entries.c.patient_id, worklist_entries.c.data_id).where(
                        worklist_entries.c.snapshot_id == snapshot_id
                    )
                ).all()
            }

    def patient_data(self, data_ids: Sequence[int]) -> Iterator[tuple[int, str, bytes]]:
        """(data id, patient id, stored data) for each id, in batches."""
        for start in range(0, len(data_ids), _BATCH):
            part = list(data_ids[start : start + _BATCH])
            with self.db.read() as conn:
                rows = conn.execute(
                    select(
                        worklist_patient_data.c.id,
                        worklist_patient_data.c.patient_id,
                        worklist_patient_data.c.resources,
                    ).where(worklist_patient_data.c.id.in_(part))
                ).all()
            for data_id, patient_id, blob in rows:
                yield int(data_id), str(patient_id), bytes(blob)

    def summaries(
        self, snapshot_id: int, patient_ids: Sequence[str] | None = None
    ) -> Iterator[tuple[str, bytes]]:
        """(patient id, stored summary) of the snapshot's patients (all, or those given)."""
        query = select(worklist_entries.c.patient_id, worklist_entries.c.summary).where(
            worklist_entries.c.snapshot_id == snapshot_id
        )
        if patient_ids is not None:
            query = query.where(worklist_entries.c.patient_id.in_(list(patient_ids)))
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        for patient_id, blob in rows:
            yield str(patient_id), bytes(blob)

    def owners(self, snapshot_id: int, resource_keys: Iterable[str]) -> set[str]:
        """Patients of the snapshot whose stored data hold any of `resource_keys` (Type/id)."""
        wanted = list(dict.fromkeys(resource_keys))
        found: set[str] = set()
        joined = (
            select(worklist_entries.c.patient_id, worklist_patient_data.c.resource_keys)
            .join(
                worklist_patient_data,
                worklist_patient_data.c.id == worklist_entries.c.data_id,
            )
            .where(worklist_entries.c.snapshot_id == snapshot_id)
        )
        if len(wanted) > _LIKE_LIMIT:  # one pass over the snapshot beats many scans
            keys = set(wanted)
            with self.db.read() as conn:
                for patient_id, text in conn.execute(joined):
                    if not keys.isdisjoint(text.strip("|").split("|")):
                        found.add(str(patient_id))
            return found
        with self.db.read() as conn:
            for resource_key in wanted:
                pattern = f"%|{_like_escape(resource_key)}|%"
                found.update(
                    str(patient_id)
                    for patient_id in conn.execute(
                        select(worklist_entries.c.patient_id)
                        .join(
                            worklist_patient_data,
                            worklist_patient_data.c.id == worklist_entries.c.data_id,
                        )
                        .where(
                            worklist_entries.c.snapshot_id == snapshot_id,
                            worklist_patient_data.c.resource_keys.like(pattern, escape="\\"),
                        )
                    ).scalars()
                )
        return found
