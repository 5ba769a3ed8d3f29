"""Read one patient (from a file's resources or a FHIR server) and evaluate the checks.

The same functions serve the CLI, the web dashboard and the API, so `check --bundle` and
`check --fhir-base` give exactly the same answer on the same data.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from domain.findings import Summary
from domain.records import AREAS, PatientRecord
from fhir_mappings.read.record import UnusableInput, read_patient_record
from fhir_mappings.search.queries import patient_searches
from smartapp.fhir import FhirClient
from smartapp.rules import evaluate
from smartapp.rules.settings import RuleSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FetchedPatient:
    """A patient's resources as read from a server, with what could not be read."""

    resources: list[dict[str, Any]]
    incomplete: frozenset[str] = frozenset()
    problems: tuple[str, ...] = ()
    queries: tuple[str, ...] = field(default=())


def fetch_patient(
    client: FhirClient,
    patient_id: str,
    mappings: Any,
    *,
    partial_types: Callable[[str], bool] | None = None,
) -> FetchedPatient:
    """One batch of searches (plus paging): SPEC §5's "at most 2 round trips" read.

    `partial_types(resource type)`: the grant covers only a filtered part of that type
    (a granular SMART scope), so its areas are marked incomplete: what the server leaves
    out is unknown, never "none recorded"."""
    specs = patient_searches(patient_id, mappings)
    result = client.batch_search([(spec.area, spec.url) for spec in specs])
    incomplete = set(result.failed_areas)
    problems = list(result.problems)
    for spec in specs:
        rtype = spec.url.split("?", 1)[0].split("/", 1)[0]
        if partial_types is not None and partial_types(rtype) and spec.area not in incomplete:
            incomplete.add(spec.area)
            problems.append(
                f"{spec.area}: the EHR granted access to only part of the {rtype} records "
                "(a filtered scope), so what it did not return is unknown"
            )
    return FetchedPatient(
        resources=list(result.resources),
        incomplete=frozenset(incomplete),
        problems=tuple(problems),
        queries=tuple(result.queries),
    )


def record_from_resources(
    resources: Iterable[dict[str, Any]],
    *,
    mappings: Any,
    patient_id: str | None = None,
    incomplete: frozenset[str] = frozenset(),
    problems: tuple[str, ...] = (),
) -> PatientRecord:
    return read_patient_record(
        resources, patient_id, mappings=mappings, incomplete=incomplete, problems=problems
    )


def summarize(record: PatientRecord, as_of: date, settings: RuleSettings) -> Summary:
    return evaluate(record, as_of, settings)


def summarize_fetched(
    fetched: FetchedPatient, patient_id: str, as_of: date, mappings: Any, settings: RuleSettings
) -> tuple[PatientRecord, Summary]:
    record = record_from_resources(
        fetched.resources,
        mappings=mappings,
        patient_id=patient_id,
        incomplete=fetched.incomplete,
        problems=fetched.problems,
    )
    return record, evaluate(record, as_of, settings)


def with_patient_stub(fetched: FetchedPatient, patient_id: str) -> FetchedPatient:
    """Without the Patient resource the record cannot be built: use a bare Patient and say
    so, so the checks still run (as unknown where data are missing) and the view renders."""
    has_patient = any(
        isinstance(item, dict)
        and item.get("resourceType") == "Patient"
        and item.get("id") == patient_id
        for item in fetched.resources
    )
    if has_patient:
        return fetched
    problems = fetched.problems
    if "patient" not in fetched.incomplete:
        problems = (*problems, f"Patient/{patient_id} was not returned by the server")
    return replace(
        fetched,
        resources=[{"resourceType": "Patient", "id": patient_id}, *fetched.resources],
        incomplete=fetched.incomplete | {"patient"},
        problems=problems,
    )


def evaluate_fetched(
    fetched: FetchedPatient, patient_id: str, as_of: date, mappings: Any, settings: RuleSettings
) -> tuple[FetchedPatient, PatientRecord, Summary]:
    """The record and the checks for whatever was read (never raises for bad data): the
    dashboard's and the CDS services' one way from resources to findings."""
    fetched = with_patient_stub(fetched, patient_id)
    try:
        record, summary = summarize_fetched(fetched, patient_id, as_of, mappings, settings)
    except UnusableInput as err:  # defensive: the stub above should prevent it
        log.warning("patient record unusable: %s", type(err).__name__)
        fetched = replace(
            fetched,
            resources=[{"resourceType": "Patient", "id": patient_id}],
            incomplete=frozenset(AREAS),
            problems=(*fetched.problems, str(err)),
        )
        record, summary = summarize_fetched(fetched, patient_id, as_of, mappings, settings)
    return fetched, record, summary
