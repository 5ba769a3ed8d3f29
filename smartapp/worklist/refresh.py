"""Refreshing a stored worklist snapshot: full or incremental, atomic, one at a time.

    outcome = refresh_worklist(snapshots, leases, client, target, mappings=…, settings=…,
                               as_of=today)

- **One at a time** per snapshot key (server + reader): a database lease, renewed by a
  heartbeat thread while the refresh runs. A second refresh raises `RefreshRunning` (with
  the running one's progress) instead of doing the work twice; a lease whose process died
  lapses, and the next refresh marks its half-built snapshot failed.
- **Atomic**: patients are written to a `building` snapshot that readers never see; the
  last transaction makes it `ready`. A failure marks it failed with the error and its
  time, and the previous snapshot stays in force.
- **Incremental** when a previous snapshot exists with the same settings: only patients
  with resources changed since it (`changes.py`: `_lastUpdated`, `_history` for deletions,
  `_since` on `$export`) are read again, plus patients whose changed records may put them
  on the list. Unchanged patients keep their stored rows (same day), or are evaluated again
  from their stored data when the day or nothing else changed. Anything the change
  searches cannot settle (a failed search, a changed Medication or Group) makes it a full
  refresh instead.
- The next incremental refresh asks for changes since this one started by the server's
  clock (its HTTP `Date`), minus `SINCE_MARGIN_S` for write transactions that were still
  open then and commit later; when the server's clock cannot be read, the app's clock minus
  `SINCE_MARGIN_NO_SERVER_CLOCK_S`.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any

from domain.findings import Summary
from fhir_mappings.search import population as fp
from fhir_mappings.site import Mappings
from smartapp.fhir import FhirClient, FhirError
from smartapp.report import summary_json
from smartapp.rules.settings import RuleSettings
from smartapp.store.leases import Lease, Leases
from smartapp.store.snapshots import PatientItem, SnapshotInfo, SnapshotStore, snapshot_key
from smartapp.worklist import stored
from smartapp.worklist.bulk import PatientData, ReadReport, read_by_search
from smartapp.worklist.changes import changes_by_export, changes_by_search
from smartapp.worklist.population import group_population
from smartapp.worklist.rows import WorklistRow
from smartapp.worklist.service import (
    REASON_GROUP,
    ClientFactory,
    Clients,
    WorklistListener,
    WorklistOptions,
    build_worklist,
    evaluate_patient,
    same_server,
)

log = logging.getLogger("smartapp.worklist")

SINCE_MARGIN_S = 60.0
SINCE_MARGIN_NO_SERVER_CLOCK_S = 600.0
LEASE_TTL_S = 120.0
HEARTBEAT_S = 15.0
#: A building snapshot whose heartbeat is older than this is abandoned (its process died).
STALE_AFTER_S = 3 * LEASE_TTL_S
_FLUSH_EVERY = 200
_PROGRESS_EVERY_S = 1.0
FULL, INCREMENTAL = "full", "incremental"


@dataclass(frozen=True)
class RefreshTarget:
    """Whose worklist: one FHIR server as one reader sees it (module doc of snapshots)."""

    server: str
    #: "backend" (the app's own credentials), "open" (an open server), "user:<fhirUser>".
    reader: str
    options: WorklistOptions = field(default_factory=WorklistOptions)

    @property
    def key(self) -> str:
        return snapshot_key(self.server, self.reader)

    @property
    def lease_name(self) -> str:
        return f"worklist-refresh:{self.key}"


class RefreshFailed(RuntimeError):
    """The read worked but its result cannot be stored (`str(err)`: one sentence)."""


class RefreshRunning(RuntimeError):
    """Another refresh of the same worklist is running (`running`: its snapshot, if known)."""

    def __init__(self, running: SnapshotInfo | None) -> None:
        super().__init__("A refresh of this worklist is already running.")
        self.running = running


@dataclass(frozen=True)
class RefreshOutcome:
    snapshot: SnapshotInfo
    mode: str
    patients: int
    #: Patients read from the server (all of them on a full refresh).
    read: int
    requests: int
    elapsed_s: float
    problems: tuple[str, ...]


@cache
def _code_fingerprint() -> str:
    """The rules and mappings code in force: a deploy that changes them re-evaluates."""
    digest = hashlib.sha256()
    root = Path(__file__).resolve().parents[2]
    for folder in ("smartapp/rules", "fhir_mappings"):
        for path in sorted((root / folder).rglob("*")):
            if path.suffix in (".py", ".json") and path.is_file():
                digest.update(path.relative_to(root).as_posix().encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()


def fingerprint(mappings: Mappings, settings: RuleSettings, options: WorklistOptions) -> str:
    """What the stored rows depend on besides the data: rules code, codes, settings, who is
    on the list and how it is read. A different fingerprint forces a full refresh."""
    codes = sorted(
        (vs_id, code.system, code.code)
        for vs_id, valueset in mappings.valuesets.items()
        for code in valueset.codes
    )
    parts = [
        _code_fingerprint(),
        repr(codes),
        repr(settings),
        repr(sorted(mappings.settings.items())),
        repr((options.group, options.group_only, options.export, options.text_search)),
        repr(sorted(options.readable) if options.readable is not None else None),
        str(stored.FORMAT),
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


class _Heartbeat:
    """Renews the lease and the snapshot's heartbeat while the refresh runs (a thread), and
    passes progress on to the snapshot row (throttled)."""

    def __init__(self, snapshots: SnapshotStore, lease: Lease, snapshot_id: int) -> None:
        self.snapshots = snapshots
        self.lease = lease
        self.snapshot_id = snapshot_id
        self.done = 0
        self.total: int | None = None
        self.stage = "starting"
        self._stop = threading.Event()
        self._last = 0.0
        self._thread = threading.Thread(target=self._run, name="worklist-heartbeat", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                self.lease.renew()
                self._write()
            except Exception:  # the refresh itself reports its failure; keep beating
                log.warning("worklist refresh heartbeat failed", exc_info=True)

    def _write(self) -> None:
        self.snapshots.heartbeat(
            self.snapshot_id, stage=self.stage, done=self.done, total=self.total
        )
        self._last = time.monotonic()

    def progress(self, *, stage: str | None = None, done: int = 0, total: int = 0) -> None:
        if stage is not None:
            self.stage = stage
        self.done += done
        if total:
            self.total = (self.total or 0) + total
        if stage is not None or time.monotonic() - self._last >= _PROGRESS_EVERY_S:
            self._write()


class _Saver:
    """Collects each evaluated patient's row, summary and data; stores them in batches."""

    def __init__(self, snapshots: SnapshotStore, snapshot_id: int, key: str, beat: _Heartbeat):
        self.snapshots = snapshots
        self.snapshot_id = snapshot_id
        self.key = key
        self.beat = beat
        self.rows: list[WorklistRow] = []
        self._pending: list[PatientItem] = []

    def add(
        self,
        data: PatientData,
        summary: Summary | None,
        row: WorklistRow | None,
        *,
        data_id: int | None = None,
    ) -> None:
        self.beat.progress(done=1)
        if summary is None or row is None:
            return
        self.rows.append(row)
        self._pending.append(
            PatientItem(
                patient_id=row.patient_id,
                summary=stored.encode_json(summary_json(summary)),
                data=None if data_id is not None else stored.encode_patient_data(data),
                resource_keys=() if data_id is not None else stored.resource_keys(data.resources),
                data_id=data_id,
            )
        )
        if len(self._pending) >= _FLUSH_EVERY:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            self.snapshots.save_patients(self.snapshot_id, self.key, self._pending)
            self._pending = []

    def listener(self) -> WorklistListener:
        return WorklistListener(
            candidates=lambda count: self.beat.progress(total=count),
            patient=lambda data, summary, row: self.add(data, summary, row),
        )


def refresh_worklist(
    snapshots: SnapshotStore,
    leases: Leases,
    client: FhirClient,
    target: RefreshTarget,
    *,
    mappings: Mappings,
    settings: RuleSettings,
    as_of: date,
    full: bool = False,
    client_factory: ClientFactory | None = None,
    clock: Callable[[], float] = time.time,
) -> RefreshOutcome:
    """Build and store a new snapshot of `target` (module doc). Raises RefreshRunning when
    one is already running; re-raises the read's error (TokenExpired, FhirError…) after
    marking the snapshot failed."""
    lease = leases.try_acquire(target.lease_name, ttl_s=LEASE_TTL_S)
    if lease is None:
        raise RefreshRunning(snapshots.running(target.key, stale_after_s=STALE_AFTER_S))
    snapshot_id: int | None = None
    try:
        snapshots.abandon_stale(target.key, stale_after_s=0)
        previous = snapshots.latest(target.key)
        settings_print = fingerprint(mappings, settings, target.options)
        incremental = (
            not full
            and previous is not None
            and previous.since is not None
            and previous.fingerprint == settings_print
        )
        started = clock()
        server_now = client.server_time()
        since = (
            server_now.timestamp() - SINCE_MARGIN_S
            if server_now is not None
            else started - SINCE_MARGIN_NO_SERVER_CLOCK_S
        )
        snapshot_id = snapshots.begin(
            key=target.key,
            server=target.server,
            reader=target.reader,
            mode=INCREMENTAL if incremental else FULL,
            source="export" if target.options.export else "search",
            as_of=as_of,
            fingerprint=settings_print,
            based_on=previous.id if previous is not None else None,
        )
        job = _Job(
            snapshots,
            client,
            target,
            mappings,
            settings,
            as_of,
            snapshot_id,
            client_factory or same_server(client, target.options.timeout_s),
        )
        with _Heartbeat(snapshots, lease, snapshot_id) as beat:
            job.beat = beat
            result = job.incremental(previous) if incremental and previous else None
            if result is None:
                if incremental:
                    snapshots.heartbeat(snapshot_id, mode=FULL)
                result = job.full(previous)
            rows, stats = result
            beat.progress(stage="saving the new worklist")
            elapsed = clock() - started
            stats["elapsed_s"] = round(elapsed, 2)
            snapshots.finish(
                snapshot_id,
                rows=stored.encode_rows(rows),
                since=since,
                stats=stats,
            )
        info = snapshots.get(snapshot_id)
        if info is None:  # pragma: no cover - pruning never removes the newest snapshot
            raise RuntimeError("the new worklist snapshot disappeared")
        log.info(
            "worklist refresh (%s, %s): %d patients, %d read, %d requests, %.1f s",
            info.mode,
            info.source,
            stats["patients"],
            stats["read"],
            stats["requests"],
            elapsed,
        )
        return RefreshOutcome(
            info,
            info.mode,
            stats["patients"],
            stats["read"],
            stats["requests"],
            elapsed,
            tuple(stats["problems"]),
        )
    except BaseException as err:
        if snapshot_id is not None:
            snapshots.fail(snapshot_id, failure_text(err))
        raise
    finally:
        lease.release()


def failure_text(err: BaseException) -> str:
    """One sentence for the screen (never a traceback)."""
    if isinstance(err, RefreshFailed):
        return str(err)
    if isinstance(err, FhirError):
        return f"The FHIR server could not be read: {err}"
    if isinstance(err, KeyboardInterrupt | SystemExit):
        return "The refresh was stopped."
    message = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"The refresh failed ({type(err).__name__}{': ' + message if message else ''})."


@dataclass
class _Job:
    """One refresh's work (the reads and evaluations), for `refresh_worklist`."""

    snapshots: SnapshotStore
    client: FhirClient
    target: RefreshTarget
    mappings: Mappings
    settings: RuleSettings
    as_of: date
    snapshot_id: int
    factory: ClientFactory
    beat: _Heartbeat = field(init=False)

    def _saver(self) -> _Saver:
        return _Saver(self.snapshots, self.snapshot_id, self.target.key, self.beat)

    def full(self, previous: SnapshotInfo | None) -> tuple[list[WorklistRow], dict[str, Any]]:
        self.beat.progress(stage="reading the whole population")
        saver = self._saver()
        worklist = build_worklist(
            self.client,
            mappings=self.mappings,
            settings=self.settings,
            as_of=self.as_of,
            options=self.target.options,
            client_factory=self.factory,
            listener=saver.listener(),
        )
        saver.flush()
        if worklist.population_unreadable:
            said = " ".join(worklist.problems[1:3] or worklist.problems[:1])
            raise RefreshFailed(
                "None of the searches for patients on ofatumumab worked, so there is no "
                f"worklist to show (an empty list would be wrong). The FHIR server said: {said}"
            )
        problems = list(worklist.problems)
        stats = {
            "patients": len(worklist.rows),
            "read": len(worklist.rows) + worklist.excluded,
            "excluded": worklist.excluded,
            "requests": worklist.requests,
            "problems": problems,
            "population_problems": list(worklist.population.problems),
            "notes": list(worklist.notes),
            "complete": worklist.complete,
            "changed_resources": None,
            "deleted": None,
        }
        return saver.rows, stats

    def incremental(
        self, previous: SnapshotInfo
    ) -> tuple[list[WorklistRow], dict[str, Any]] | None:
        """The incremental refresh (module doc); None when a full one is needed."""
        if previous.since is None:
            return None
        options = self.target.options
        since = datetime.fromtimestamp(previous.since, UTC)
        start = self.client.round_trips
        self.beat.progress(stage="asking the server what changed")
        if options.export:
            changes = changes_by_export(
                self.client,
                since,
                self.mappings,
                readable=options.readable,
                group=options.group if options.group_only else None,
                poll_interval_s=options.poll_interval_s,
                max_wait_s=options.max_wait_s,
            )
        else:
            changes = changes_by_search(
                self.client, since, self.mappings, readable=options.readable, group=options.group
            )
        if not changes.complete:
            log.info("worklist refresh: the change searches failed; reading everything")
            return None
        previous_rows = {row.patient_id: row for row in self._rows(previous)}
        entries = self.snapshots.entries(previous.id)
        in_group = {pid for pid, row in previous_rows.items() if REASON_GROUP in row.membership}
        gone = list(changes.deleted) + [f"Medication/{mid}" for mid in changes.medications]
        owners = self.snapshots.owners(previous.id, gone) if gone else set()
        maybe = set(changes.maybe_members)
        if changes.kesimpta_medications:
            referring = self._patients_of_medications(sorted(changes.kesimpta_medications))
            if referring is None:
                return None
            maybe |= referring
        if changes.group_changed and options.group:
            population = group_population(self.client, options.group)
            if not population.complete:
                return None
            members = set(population.candidates)
            owners |= members ^ in_group
            in_group = members
        if options.group_only:
            maybe &= in_group
        to_read = sorted((changes.patients & set(entries)) | maybe | owners)
        why = {
            "listed_changed": len(changes.patients & set(entries)),
            "may_join": len(maybe),
            "deleted_or_medication_changed": len(owners),
            "changed_medications": len(changes.medications),
            "changed_kesimpta_medications": len(changes.kesimpta_medications),
        }
        log.info("worklist refresh: patients to read %s", why)
        saver = self._saver()
        self.beat.progress(stage=f"reading {len(to_read)} changed patient(s)", total=len(to_read))
        read_requests, missing, problems = self._read(to_read, in_group, saver)
        unchanged = [pid for pid in entries if pid not in set(to_read)]
        reevaluate = previous.as_of != self.as_of
        if reevaluate:
            self.beat.progress(
                stage=f"evaluating {len(unchanged)} unchanged patient(s) for the new day",
                total=len(unchanged),
            )
            self._evaluate_stored([entries[pid] for pid in unchanged], in_group, saver)
        else:
            self.snapshots.copy_entries(previous.id, self.snapshot_id, set(to_read))
            saver.rows.extend(previous_rows[pid] for pid in unchanged if pid in previous_rows)
        saver.flush()
        carried = list(previous.stats.get("population_problems", []))
        all_problems = list(dict.fromkeys(carried + list(changes.problems) + problems))
        if missing:
            log.info("worklist refresh: %d patient(s) no longer on the server", len(missing))
        stats = {
            "patients": len(saver.rows),
            "read": len(to_read),
            "excluded": len(to_read) - sum(1 for r in saver.rows if r.patient_id in to_read),
            "requests": self.client.round_trips - start + read_requests,
            "problems": all_problems,
            "population_problems": carried,
            "notes": list(dict.fromkeys([*previous.stats.get("notes", []), *changes.notes])),
            "complete": not all_problems,
            "changed_resources": changes.resources,
            "deleted": len(changes.deleted),
            "reevaluated": len(unchanged) if reevaluate else 0,
            "based_on": previous.id,
            "why_read": why,
        }
        return saver.rows, stats

    def _patients_of_medications(self, medication_ids: list[str]) -> set[str] | None:
        """Patients whose records reference these (Kesimpta) Medications; None on failure."""
        specs = fp.medication_population_searches(
            [f"Medication/{mid}" for mid in medication_ids], readable=self.target.options.readable
        )
        result = self.client.batch_search([(s.area, s.url) for s in specs], max_pages=1000)
        if result.failed_areas:
            return None
        return set(fp.subjects(result.resources))

    def _rows(self, snapshot: SnapshotInfo) -> list[WorklistRow]:
        blob = self.snapshots.rows(snapshot.id)
        return stored.decode_rows(blob) if blob is not None else []

    def _read(
        self, patient_ids: list[str], in_group: set[str], saver: _Saver
    ) -> tuple[int, list[str], list[str]]:
        """Read and evaluate these patients: (requests by extra clients, missing, problems)."""
        if not patient_ids:
            return 0, [], []
        options = self.target.options
        chunks = -(-len(patient_ids) // options.chunk_size)
        extra = min(options.workers, chunks) - 1
        clients = Clients(self.client, self.factory, extra)
        report = ReadReport.empty()
        problems: list[str] = []
        try:
            for data in read_by_search(
                clients.all,
                patient_ids,
                self.mappings,
                report,
                chunk_size=options.chunk_size,
                readable=options.readable,
            ):
                self._evaluate(data, data.patient_id in in_group, saver)
            extra_requests = sum(len(c.requests_made) for c in clients.extra)
        finally:
            clients.close()
        problems.extend(report.problems)
        return extra_requests, list(report.missing), problems

    def _evaluate(
        self, data: PatientData, in_group: bool, saver: _Saver, data_id: int | None = None
    ) -> None:
        options = self.target.options
        if options.group_only and not in_group:
            saver.add(data, None, None)
            return
        found = evaluate_patient(
            data,
            as_of=self.as_of,
            mappings=self.mappings,
            settings=self.settings,
            in_group=in_group,
        )
        if found is None:
            saver.add(data, None, None)
            return
        _record, summary, row = found
        saver.add(data, summary, row, data_id=data_id)

    def _evaluate_stored(self, data_ids: Iterable[int], in_group: set[str], saver: _Saver) -> None:
        for data_id, patient_id, blob in self.snapshots.patient_data(list(data_ids)):
            data = stored.decode_patient_data(patient_id, blob)
            self._evaluate(data, patient_id in in_group, saver, data_id=data_id)


def rows_as_of(
    snapshots: SnapshotStore,
    snapshot: SnapshotInfo,
    as_of: date,
    *,
    mappings: Mappings,
    settings: RuleSettings,
) -> list[WorklistRow]:
    """The snapshot's patients evaluated as of another day, from their stored records (no
    FHIR reads). A patient no longer on the list that day (e.g. an order not yet written)
    is left out, as a live read would."""
    blob = snapshots.rows(snapshot.id)
    stored_rows = stored.decode_rows(blob) if blob is not None else []
    in_group = {row.patient_id for row in stored_rows if REASON_GROUP in row.membership}
    entries = snapshots.entries(snapshot.id)
    rows: list[WorklistRow] = []
    for _data_id, patient_id, data_blob in snapshots.patient_data(list(entries.values())):
        data = stored.decode_patient_data(patient_id, data_blob)
        found = evaluate_patient(
            data,
            as_of=as_of,
            mappings=mappings,
            settings=settings,
            in_group=patient_id in in_group,
        )
        if found is not None:
            rows.append(found[2])
    return rows
