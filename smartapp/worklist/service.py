"""The worklist: find the population, read it in bulk, evaluate each patient, make rows.

    worklist = build_worklist(client, mappings=mappings, settings=settings, as_of=today)
    rows = WorklistFilters.from_query(request.args).apply(worklist.rows)

Who is on it (docs/worklist.md "Who is on the worklist"): members of the configured
Group, the app's CarePlan, and patients whose own data show ofatumumab (Kesimpta) by the
one definition of therapy (`smartapp.rules.therapy.therapy_reasons`): a dose, a dispense,
a statement, or an order that is not stopped/cancelled.
The searches only find candidates; the same rule decides on the search and `$export`
paths, so both give the same rows (the export can find more: text-only and contained
medications no search can find).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from domain.findings import Summary, Therapy
from domain.records import PatientRecord
from fhir_mappings.search import population as fp
from fhir_mappings.site import Mappings
from smartapp.fhir import FhirClient, QueryLogEntry
from smartapp.rules import evaluate
from smartapp.rules.settings import RuleSettings
from smartapp.rules.therapy import therapy_of, therapy_reasons
from smartapp.worklist.bulk import (
    PatientData,
    ReadReport,
    patient_record,
    read_by_export,
    read_by_search,
)
from smartapp.worklist.population import Population, PopulationFinder, group_population
from smartapp.worklist.rows import WorklistRow, row_for

log = logging.getLogger("smartapp.worklist")

REASON_GROUP = "worklist Group"


@dataclass(frozen=True)
class WorklistOptions:
    """How the population is found and read (settings: docs/worklist.md)."""

    #: Group id (`SMARTAPP_WORKLIST_GROUP`): its members are always on the worklist.
    group: str | None = None
    #: Only the Group's members (`SMARTAPP_WORKLIST_GROUP_ONLY`): no searches.
    group_only: bool = False
    #: Read with Bulk Data `$export` instead of searches (large servers, nightly runs).
    export: bool = False
    chunk_size: int = fp.CHUNK
    #: Resource types the token may read (None: all), e.g. from the granted scopes.
    readable: frozenset[str] | None = None
    text_search: bool = True
    poll_interval_s: float = 5.0
    max_wait_s: float = 1800.0
    #: Chunks read at once (one FhirClient each); the server works on them in parallel.
    workers: int = 4
    #: Timeout of the extra clients' requests (a large population search takes a while).
    timeout_s: float = 120.0
    #: Origins (besides the FHIR server's) that may serve `$export` files, and those of
    #: them the token may be sent to (tenant `bulk_file_origins` / `bulk_token_origins`).
    file_origins: tuple[str, ...] = ()
    token_origins: tuple[str, ...] = ()
    #: Told each `$export` status ("export 40% complete; waited 12 s so far").
    on_progress: Callable[[str], None] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.group_only and not self.group:
            raise ValueError("group_only needs a group")
        if self.chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")
        if self.workers < 1:
            raise ValueError("workers must be at least 1")


@dataclass(frozen=True)
class Worklist:
    """Every patient on the worklist (unsorted; see `WorklistFilters.apply`)."""

    rows: tuple[WorklistRow, ...]
    as_of: date
    source: str  # "search" or "export"
    population: Population
    #: Candidates whose data show no ofatumumab (and who are not in the Group).
    excluded: int
    #: Problems that concern the whole list (banner), one sentence each.
    problems: tuple[str, ...]
    notes: tuple[str, ...]
    #: HTTP requests made (every page and retry), and the requests themselves.
    requests: int
    request_log: tuple[QueryLogEntry, ...] = field(repr=False, compare=False)
    elapsed_s: float
    records: dict[str, PatientRecord] = field(default_factory=dict, repr=False, compare=False)

    @property
    def complete(self) -> bool:
        return self.population.complete and not self.problems

    @property
    def population_unreadable(self) -> bool:
        """No patient could be found because the population searches failed: an empty
        list would be a lie (the CLI exits 2, the web page shows an error)."""
        return not self.population.complete and not self.population.candidates and not self.rows


def membership(
    record: PatientRecord,
    resources: Iterable[dict[str, Any]],
    therapy: Therapy,
    *,
    in_group: bool,
) -> tuple[str, ...]:
    """Why the patient is on the worklist; empty when they are not (module doc)."""
    reasons: list[str] = []
    if in_group:
        reasons.append(REASON_GROUP)
    reasons += therapy_reasons(record, therapy)
    if fp.has_app_careplan(resources):
        reasons.append(fp.EVIDENCE_CAREPLAN)
    return tuple(reasons)


def evaluate_patient(
    data: PatientData,
    *,
    as_of: date,
    mappings: Mappings,
    settings: RuleSettings,
    in_group: bool,
) -> tuple[PatientRecord, Summary, WorklistRow] | None:
    """Record, summary and row of one patient, or None when not on the worklist."""
    record = patient_record(data, mappings)
    therapy = therapy_of(record, as_of, settings)
    reasons = membership(record, data.resources, therapy, in_group=in_group)
    if not reasons:
        return None
    summary = evaluate(record, as_of, settings)
    return record, summary, row_for(record, summary, reasons)


ClientFactory = Callable[[], FhirClient]


@dataclass
class WorklistListener:
    """Told about the work as it happens (a refresh stores each patient and shows progress).

    `candidates(n)`: n more patients will be read. `patient(data, summary, row)`: one was
    read and evaluated; `summary` and `row` are None when they are not on the worklist.
    """

    candidates: Callable[[int], None] = field(default=lambda _count: None)
    patient: Callable[[PatientData, Summary | None, WorklistRow | None], None] = field(
        default=lambda _data, _summary, _row: None
    )


class Clients:
    """The caller's client plus the extra ones the workers need (closed at the end)."""

    def __init__(self, client: FhirClient, factory: ClientFactory, extra: int) -> None:
        self.main = client
        self.extra = [factory() for _ in range(max(0, extra))]
        self._start = {id(c): c.round_trips for c in self.all}

    @property
    def all(self) -> list[FhirClient]:
        return [self.main, *self.extra]

    def requests(self) -> list[QueryLogEntry]:
        return [entry for c in self.all for entry in c.requests_made[self._start[id(c)] :]]

    def close(self) -> None:
        for client in self.extra:
            client.close()


def _evaluate_all(
    patients: Iterable[PatientData],
    population: Population,
    *,
    as_of: date,
    mappings: Mappings,
    settings: RuleSettings,
    group_only: bool,
    rows: list[WorklistRow],
    records: dict[str, PatientRecord] | None,
    listener: WorklistListener,
) -> int:
    """Evaluate each patient into `rows`; the number of candidates not on the worklist."""
    excluded = 0
    for data in patients:
        in_group = data.patient_id in population.group_members
        if group_only and not in_group:
            listener.patient(data, None, None)
            continue
        found = evaluate_patient(
            data, as_of=as_of, mappings=mappings, settings=settings, in_group=in_group
        )
        if found is None:
            excluded += 1
            listener.patient(data, None, None)
            continue
        record, summary, row = found
        listener.patient(data, summary, row)
        rows.append(row)
        if records is not None:
            records[row.patient_id] = record
    return excluded


def build_worklist(
    client: FhirClient,
    *,
    mappings: Mappings,
    settings: RuleSettings,
    as_of: date,
    options: WorklistOptions | None = None,
    client_factory: ClientFactory | None = None,
    keep_records: bool = False,
    listener: WorklistListener | None = None,
) -> Worklist:
    """Find, read and evaluate the worklist population (module doc).

    With `options.workers` > 1, extra clients (from `client_factory`, default: same base
    and token as `client`) read chunks in parallel, and the slow administrations search
    runs alongside the bulk read. Never raises for failed searches (the result carries
    problems; affected patients' checks say unknown). Raises TokenExpired on 401, and
    FhirError when an `$export` cannot be run at all. `listener` hears of each patient.
    """
    options = options or WorklistOptions()
    started = time.monotonic()
    factory = client_factory or same_server(client, options.timeout_s)
    workers = 1 if options.export else options.workers
    clients = Clients(client, factory, workers if workers > 1 else 0)
    report = ReadReport.empty()
    rows: list[WorklistRow] = []
    records: dict[str, PatientRecord] | None = {} if keep_records else None
    evaluate_kw: dict[str, Any] = {
        "as_of": as_of,
        "mappings": mappings,
        "settings": settings,
        "group_only": options.group_only,
        "rows": rows,
        "records": records,
        "listener": listener or WorklistListener(),
    }
    try:
        if options.export:
            population = (
                group_population(client, options.group) if options.group else Population(())
            )
            exported = read_by_export(
                client,
                mappings,
                report,
                group=options.group if options.group_only else None,
                poll_interval_s=options.poll_interval_s,
                max_wait_s=options.max_wait_s,
                file_origins=options.file_origins,
                token_origins=options.token_origins,
                on_progress=options.on_progress,
            )
            excluded = _evaluate_all(exported, population, **evaluate_kw)
        else:
            population, excluded = _search_path(clients, mappings, options, report, evaluate_kw)
    finally:
        clients.close()
    problems = list(population.problems) + report.problems
    if report.missing:
        problems.append(
            f"{len(report.missing)} patient(s) found by the population search could not be "
            "read (their Patient resource was not returned)."
        )
    elapsed = time.monotonic() - started
    made = clients.requests()
    log.info(
        "worklist (%s): %d patients, %d candidates not on ofatumumab, %d requests, %.1f s",
        "export" if options.export else "search",
        len(rows),
        excluded,
        len(made),
        elapsed,
    )
    return Worklist(
        rows=tuple(rows),
        as_of=as_of,
        source="export" if options.export else "search",
        population=population,
        excluded=excluded,
        problems=tuple(dict.fromkeys(problems)),
        notes=tuple(dict.fromkeys(population.notes + tuple(report.notes))),
        requests=len(made),
        request_log=tuple(made),
        elapsed_s=elapsed,
        records=records or {},
    )


def same_server(client: FhirClient, timeout_s: float) -> ClientFactory:
    """A factory of clients for the same server, token and search dialect (one per worker
    thread), with the same read limits (one deadline for the whole worklist)."""
    return lambda: FhirClient(
        client.base,
        token=client.token,
        timeout=timeout_s,
        dialect=client.dialect,
        limits=client.limits,
    )


def _search_path(
    clients: Clients,
    mappings: Mappings,
    options: WorklistOptions,
    report: ReadReport,
    evaluate_kw: dict[str, Any],
) -> tuple[Population, int]:
    """Population searches and bulk reads; the administrations search runs alongside the
    bulk read of the patients the quick searches found (on its own client)."""
    main = clients.main
    listener: WorklistListener = evaluate_kw["listener"]
    if options.group_only and options.group:
        population = group_population(main, options.group)
        listener.candidates(len(population.candidates))
        patients = read_by_search(
            clients.all,
            list(population.candidates),
            mappings,
            report,
            chunk_size=options.chunk_size,
            readable=options.readable,
        )
        return population, _evaluate_all(patients, population, **evaluate_kw)
    finder = PopulationFinder(
        mappings, group=options.group, readable=options.readable, text_search=options.text_search
    )
    quick = finder.quick(main)
    readers = clients.all
    done: set[str] = set()
    excluded = 0
    if len(readers) > 1:
        lane, readers = readers[-1], readers[:-1]
        listener.candidates(len(quick.candidates))
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="worklist-pop") as pool:
            slow = pool.submit(finder.administrations, lane)
            first = read_by_search(
                readers,
                list(quick.candidates),
                mappings,
                report,
                chunk_size=options.chunk_size,
                readable=options.readable,
            )
            excluded += _evaluate_all(first, quick, **evaluate_kw)
            done.update(quick.candidates)
            administrations = slow.result()
    else:
        administrations = finder.administrations(main)
    population = quick.merged(administrations)
    extra = [pid for pid in population.candidates if pid not in done]
    listener.candidates(len(extra))
    patients = read_by_search(
        readers,
        extra,
        mappings,
        report,
        chunk_size=options.chunk_size,
        readable=options.readable,
    )
    excluded += _evaluate_all(patients, population, **evaluate_kw)
    return population, excluded
