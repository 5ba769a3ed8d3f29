"""Reading many patients' records at once: batches of multi-patient searches, or `$export`.

Search path (`read_by_search`): one batch POST per chunk of patients (50 by default), each
entry a search over the whole chunk (`patient=Patient/a,Patient/b,…`), then the `next`
pages. Requests grow with patients ÷ chunk size and resources ÷ page size, never one set of
requests per patient. A failed search marks its area incomplete for the chunk's patients
only, so only their affected checks say unknown.

Export path (`read_by_export`): FHIR Bulk Data `$export` (kick-off, poll, NDJSON files),
streamed resource by resource into per-patient buckets that wait on disk (`spool.py`)
until the last file is read, then evaluated one patient at a time. The export
is all-or-nothing per type: any problem the server reports marks every patient's data
incomplete, because it cannot be told whose resources are missing. A type the server
does not have (not in its CapabilityStatement, or refused at kick-off) marks the record
areas it feeds incomplete for everyone, as a scope gap does on the search path: the app
cannot tell "none recorded" from "not offered here".

Both yield `PatientData`: one patient's resources (with the Medications they reference)
and what could not be read.
"""

from __future__ import annotations

import logging
import queue
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from domain.records import AREAS, PatientRecord
from fhir_mappings.read.record import AREA_OF, read_patient_record
from fhir_mappings.search import population as fp
from fhir_mappings.site import Mappings
from smartapp.fhir import FhirClient, FhirError, TokenExpired
from smartapp.fhir.bulk import BulkExport
from smartapp.worklist.spool import DiskBuckets, SpoolError

log = logging.getLogger("smartapp.worklist")

_DATA_AREAS = frozenset(AREAS) - {"patient"}
#: Pages followed per search area (a chunk's administrations fill about seven at 500).
MAX_PAGES = 200


@dataclass(frozen=True)
class PatientData:
    """One patient's resources as read, and which record areas may be incomplete."""

    patient_id: str
    resources: list[dict[str, object]]
    incomplete: frozenset[str] = frozenset()
    problems: tuple[str, ...] = ()


def patient_record(data: PatientData, mappings: Mappings) -> PatientRecord:
    """The patient's record as the rules read it, with the areas that could not be read
    marked incomplete."""
    return read_patient_record(
        data.resources,
        data.patient_id,
        mappings=mappings,
        incomplete=data.incomplete,
        problems=data.problems,
    )


@dataclass
class ReadReport:
    """What went wrong reading in bulk, beyond single patients (for the banner)."""

    problems: list[str]
    #: Candidates whose Patient resource was not returned although the search worked.
    missing: list[str]
    export_manifest: dict[str, object] | None = None
    #: Worth knowing, nothing lost (e.g. an expired export file read again).
    notes: list[str] = field(default_factory=list)
    #: `transactionTime` of the export the data came from (the first, after a restart).
    export_transaction_time: str | None = None

    @classmethod
    def empty(cls) -> ReadReport:
        return cls([], [])


def _scope_gaps(
    chunk: Sequence[str], mappings: Mappings, readable: frozenset[str] | None
) -> frozenset[str]:
    """Record areas that cannot be read at all because the token may not read a type."""
    if readable is None:
        return frozenset()
    every = fp.population_searches_for(chunk[:1], mappings)
    kept = {spec.url for spec in fp.population_searches_for(chunk[:1], mappings, readable=readable)}
    return _areas(spec.area for spec in every if spec.url not in kept)


def _areas(names: Iterable[str]) -> frozenset[str]:
    """Record areas named by search areas (`labs,imaging` names two)."""
    return frozenset(part for name in names for part in name.split(",") if part in AREAS)


def _read_chunk(
    client: FhirClient,
    chunk: tuple[str, ...],
    mappings: Mappings,
    chunk_size: int,
    readable: frozenset[str] | None,
) -> tuple[list[PatientData], list[str]]:
    """One batch for one chunk: (each found patient's data, ids whose Patient is missing)."""
    specs = fp.population_searches_for(chunk, mappings, chunk_size=chunk_size, readable=readable)
    result = client.batch_search([(s.area, s.url) for s in specs], max_pages=MAX_PAGES)
    gaps = _scope_gaps(chunk, mappings, readable)
    incomplete = _areas(result.failed_areas) | gaps
    problems = tuple(result.problems)
    if gaps:
        problems += (
            "Not permitted by the granted scopes, so not read: " + ", ".join(sorted(gaps)),
        )
    groups = fp.PatientGroups(wanted=chunk)
    groups.extend(r for r in result.resources if fp.search_relevant(r, mappings))
    found: list[PatientData] = []
    missing: list[str] = []
    for patient_id in chunk:
        has_patient = groups.has_patient_resource(patient_id)
        resources = groups.pop(patient_id)
        if not has_patient:
            if "patient" not in incomplete:
                missing.append(patient_id)
                continue
            resources.insert(0, fp.placeholder_patient(patient_id))
        own = incomplete | (_DATA_AREAS if "patient" in incomplete else frozenset())
        found.append(PatientData(patient_id, resources, frozenset(own), problems))
    return found, missing


def read_by_search(
    clients: Sequence[FhirClient],
    patient_ids: Sequence[str],
    mappings: Mappings,
    report: ReadReport,
    *,
    chunk_size: int = fp.CHUNK,
    readable: Iterable[str] | None = None,
) -> Iterator[PatientData]:
    """Each patient's data, one batch per chunk (module doc), in `patient_ids` order.

    With several clients (one per worker; `FhirClient` is not thread-safe), that many
    chunks are read at once: the server works on them in parallel. Never raises for a
    failed search; raises TokenExpired on 401.
    """
    if not clients:
        raise ValueError("read_by_search needs at least one client")
    allowed = None if readable is None else frozenset(readable)
    todo = list(fp.chunks(patient_ids, chunk_size))
    if len(clients) == 1 or len(todo) <= 1:
        for chunk in todo:
            found, missing = _read_chunk(clients[0], chunk, mappings, chunk_size, allowed)
            report.missing.extend(missing)
            yield from found
        return
    idle: queue.Queue[FhirClient] = queue.Queue()
    for client in clients:
        idle.put(client)

    def work(chunk: tuple[str, ...]) -> tuple[list[PatientData], list[str]]:
        client = idle.get()
        try:
            return _read_chunk(client, chunk, mappings, chunk_size, allowed)
        finally:
            idle.put(client)

    window = 2 * len(clients)  # bounded read-ahead: memory stays a few chunks
    with ThreadPoolExecutor(max_workers=len(clients), thread_name_prefix="worklist") as pool:
        pending: deque[Future[tuple[list[PatientData], list[str]]]] = deque()
        remaining = iter(todo)
        for chunk in remaining:
            pending.append(pool.submit(work, chunk))
            if len(pending) >= window:
                break
        while pending:
            found, missing = pending.popleft().result()
            next_chunk = next(remaining, None)
            if next_chunk is not None:
                pending.append(pool.submit(work, next_chunk))
            report.missing.extend(missing)
            yield from found


def read_by_export(
    client: FhirClient,
    mappings: Mappings,
    report: ReadReport,
    *,
    group: str | None = None,
    poll_interval_s: float = 5.0,
    max_wait_s: float = 1800.0,
    spool_dir: str | None = None,
    file_origins: Sequence[str] = (),
    token_origins: Sequence[str] = (),
    on_progress: Callable[[str], None] | None = None,
) -> Iterator[PatientData]:
    """Every exported patient's data (module doc): `Group/<id>/$export` when `group` is
    given, else system-level `$export`. Raises FhirError when the export cannot be run.
    Resources wait on disk (`spool_dir`, default the temporary directory) until the last
    file is read; the spool file is gone when the generator finishes or is closed.
    `file_origins`/`token_origins`: where the tenant lets output files live (FileAccess)."""
    export = client.bulk_export(
        fp.export_url(group),
        poll_interval_s=poll_interval_s,
        max_wait_s=max_wait_s,
        file_origins=file_origins,
        token_origins=token_origins,
        on_progress=on_progress,
    )
    try:
        yield from _spool_and_split(export, mappings, report, spool_dir)
    except SpoolError as err:
        export.close()
        raise FhirError(f"The bulk export could not be read: {err}") from err


def _spool_and_split(
    export: BulkExport, mappings: Mappings, report: ReadReport, spool_dir: str | None
) -> Iterator[PatientData]:
    # A system-level export is the whole server: buckets go to disk, not memory (spool.py).
    with DiskBuckets(spool_dir) as store:
        groups = fp.PatientGroups(store=store)
        try:
            for resource in export:
                if fp.search_relevant(resource, mappings):
                    groups.add(resource)
        except TokenExpired:
            raise
        except FhirError as err:
            export.close()
            raise FhirError(f"The bulk export failed: {err}", status=err.status) from err
        report.export_manifest = export.manifest
        report.export_transaction_time = export.transaction_time
        report.notes.extend(export.notes)
        gaps, gap_text = unsupported_type_gaps(export.unsupported_types)
        problems = tuple(export.problems) + ((gap_text,) if gap_text and gaps else ())
        if gap_text and not gaps:
            report.notes.append(gap_text)
        report.problems.extend(problems)
        incomplete = _DATA_AREAS if export.problems else gaps
        log.info(
            "worklist export: %d patients, %d resources spooled, %d shared Medications, "
            "%d resources without a patient",
            len(groups.patient_ids()),
            store.count,
            len(groups.medications),
            groups.unassigned,
        )
        for patient_id in groups.patient_ids():
            has_patient = groups.has_patient_resource(patient_id)
            resources = groups.pop(patient_id)
            if not has_patient:
                report.missing.append(patient_id)
                continue
            yield PatientData(patient_id, resources, frozenset(incomplete), problems)


def unsupported_type_gaps(types: Sequence[str]) -> tuple[frozenset[str], str | None]:
    """The record areas that types the server does not have would feed, and the sentence
    saying so (module doc); (empty, None) when every type was exported."""
    if not types:
        return frozenset(), None
    areas = frozenset(area for rtype in types for area in AREA_OF.get(rtype, ())) & _DATA_AREAS
    named = ", ".join(types)
    if not areas:
        return areas, f"This server does not offer {named}; it was not read."
    return areas, (
        f"This server does not offer {named}, so the {', '.join(sorted(areas))} part of "
        "every record could not be read; the checks that need it say unknown."
    )
