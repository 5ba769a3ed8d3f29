"""The worklist: find the population, read it in bulk, evaluate each patient, make rows.

    worklist = build_worklist(client, mappings=mappings, settings=settings, as_of=today)
    rows = WorklistFilters.from_query(request.args).apply(worklist.rows)

Who is on it (docs/worklist.md "Who is on the worklist"): members of the configured
Group, and patients whose own data show ofatumumab (Kesimpta) — a counted dose, an order
that is not stopped/cancelled, a Kesimpta-coded MedicationStatement, or the app's CarePlan.
The searches only find candidates; the same rule decides on the search and `$export`
paths, so both give the same rows (the export can find more: text-only and contained
medications no search can find).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from fhir_mappings import population as fp
from fhir_mappings.read import read_patient_record
from fhir_mappings.records import PatientRecord
from fhir_mappings.site import Mappings
from smartapp.fhir import FhirClient
from smartapp.rules import evaluate
from smartapp.rules.model import Summary
from smartapp.rules.settings import RuleSettings
from smartapp.worklist.bulk import PatientData, ReadReport, read_by_export, read_by_search
from smartapp.worklist.population import Population, find_population
from smartapp.worklist.rows import WorklistRow, row_for

log = logging.getLogger("smartapp.worklist")

#: MedicationRequest statuses that mean the patient is not (or no longer) to be treated.
ENDED_ORDER_STATUSES = frozenset({"stopped", "cancelled", "entered-in-error"})
REASON_GROUP = "worklist Group"
REASON_DOSES = "Kesimpta doses"
REASON_ORDER = "Kesimpta order"


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

    def __post_init__(self) -> None:
        if self.group_only and not self.group:
            raise ValueError("group_only needs a group")
        if self.chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")


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
    requests: int
    round_trips: int
    elapsed_s: float
    records: dict[str, PatientRecord] = field(default_factory=dict, repr=False, compare=False)

    @property
    def complete(self) -> bool:
        return self.population.complete and not self.problems


def membership(
    record: PatientRecord,
    resources: Iterable[dict[str, Any]],
    mappings: Mappings,
    *,
    in_group: bool,
) -> tuple[str, ...]:
    """Why the patient is on the worklist; empty when they are not (module doc)."""
    reasons: list[str] = []
    if in_group:
        reasons.append(REASON_GROUP)
    if record.doses:
        reasons.append(REASON_DOSES)
    if any(order.status not in ENDED_ORDER_STATUSES for order in record.orders):
        reasons.append(REASON_ORDER)
    reasons += sorted(fp.membership_evidence(resources, mappings))
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
    readable = [r for r in data.resources if r.get("resourceType") not in fp.MEMBERSHIP_ONLY_TYPES]
    record = read_patient_record(
        readable,
        data.patient_id,
        mappings=mappings,
        incomplete=data.incomplete,
        problems=data.problems,
    )
    reasons = membership(record, data.resources, mappings, in_group=in_group)
    if not reasons:
        return None
    summary = evaluate(record, as_of, settings)
    return record, summary, row_for(record, summary, reasons)


def _patients(
    client: FhirClient,
    mappings: Mappings,
    options: WorklistOptions,
    report: ReadReport,
    population: Population,
) -> Iterator[PatientData]:
    if options.export:
        group = options.group if options.group_only else None
        return read_by_export(
            client,
            report,
            group=group,
            poll_interval_s=options.poll_interval_s,
            max_wait_s=options.max_wait_s,
        )
    return read_by_search(
        client,
        list(population.candidates),
        mappings,
        report,
        chunk_size=options.chunk_size,
        readable=options.readable,
    )


def build_worklist(
    client: FhirClient,
    *,
    mappings: Mappings,
    settings: RuleSettings,
    as_of: date,
    options: WorklistOptions | None = None,
    keep_records: bool = False,
) -> Worklist:
    """Find, read and evaluate the worklist population (module doc).

    Never raises for failed searches (the result carries problems; affected patients'
    checks say unknown). Raises TokenExpired on 401, and FhirError when an `$export`
    cannot be run at all.
    """
    options = options or WorklistOptions()
    started = time.monotonic()
    first_request = client.round_trips
    if options.export and not options.group_only:
        # The Group (when configured) still adds its members; nothing else is searched.
        population = (
            find_population(client, mappings, group=options.group, group_only=True)
            if options.group
            else Population(candidates=())
        )
    else:
        population = find_population(
            client,
            mappings,
            group=options.group,
            group_only=options.group_only,
            readable=options.readable,
            text_search=options.text_search,
        )
    report = ReadReport.empty()
    rows: list[WorklistRow] = []
    records: dict[str, PatientRecord] = {}
    excluded = 0
    for data in _patients(client, mappings, options, report, population):
        in_group = data.patient_id in population.group_members
        if options.group_only and not in_group:
            continue
        found = evaluate_patient(
            data, as_of=as_of, mappings=mappings, settings=settings, in_group=in_group
        )
        if found is None:
            excluded += 1
            continue
        record, _summary, row = found
        rows.append(row)
        if keep_records:
            records[row.patient_id] = record
    problems = list(population.problems) + report.problems
    if report.missing:
        problems.append(
            f"{len(report.missing)} patient(s) found by the population search could not be "
            "read (their Patient resource was not returned)."
        )
    elapsed = time.monotonic() - started
    requests = client.round_trips - first_request
    log.info(
        "worklist (%s): %d patients, %d candidates not on ofatumumab, %d requests, %.1f s",
        "export" if options.export else "search",
        len(rows),
        excluded,
        requests,
        elapsed,
    )
    return Worklist(
        rows=tuple(rows),
        as_of=as_of,
        source="export" if options.export else "search",
        population=population,
        excluded=excluded,
        problems=tuple(dict.fromkeys(problems)),
        notes=population.notes,
        requests=requests,
        round_trips=client.round_trips,
        elapsed_s=elapsed,
        records=records,
    )
