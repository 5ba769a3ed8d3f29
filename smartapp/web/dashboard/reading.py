"""One patient read from the launch's FHIR server and evaluated, with its timings (the
dashboard and `/api/patient/<id>` both show it). Never raises for server trouble: a failed
read is an incomplete one (the affected checks say unknown); RelaunchRequired and
TokenExpired propagate to the relaunch page."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import date
from typing import Any

from domain.findings import Summary
from domain.records import AREAS, PatientRecord
from fhir_mappings.site import Mappings
from smartapp import patient_service
from smartapp.fhir import FhirClient, FhirError, TokenExpired
from smartapp.launch.context import LaunchContext, fhir_client_for, view_limits
from smartapp.web.fhir_access import app_mappings, rule_settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PatientRead:
    record: PatientRecord
    summary: Summary
    fetched: patient_service.FetchedPatient
    queries: tuple[Any, ...]
    fhir_ms: float
    rules_ms: float


def _fetch(
    context: LaunchContext, patient_id: str, mappings: Mappings
) -> tuple[patient_service.FetchedPatient, FhirClient]:
    """One batch read (the client renews a refused token once; see `fhir_client_for`)."""
    partial = {} if context.open_server else {"partial_types": context.scopes.reads_only_part}
    client = fhir_client_for(context, limits=view_limits())
    try:
        return patient_service.fetch_patient(client, patient_id, mappings, **partial), client
    except TokenExpired:
        client.close()
        raise
    except FhirError as err:
        # batch_search reports server trouble as values; anything raised here (a query
        # off the base, …) still must not hide the page: everything is unknown.
        log.info("FHIR read failed (status %s)", err.status)
        failed = patient_service.FetchedPatient(
            resources=[], incomplete=frozenset(AREAS), problems=(f"FHIR read failed: {err}",)
        )
        return failed, client


def read_patient(context: LaunchContext, patient_id: str, as_of: date) -> PatientRead:
    """Read one patient from the context's server and evaluate the checks (never raises
    for server trouble; RelaunchRequired/TokenExpired propagate to the relaunch page)."""
    mappings = app_mappings()
    settings = rule_settings()
    started = time.perf_counter()
    fetched, client = _fetch(context, patient_id, mappings)
    try:
        queries = tuple(client.requests_made)
    finally:
        client.close()
    fetched_at = time.perf_counter()
    fetched, record, summary = patient_service.evaluate_fetched(
        fetched, patient_id, as_of, mappings, settings
    )
    done = time.perf_counter()
    return PatientRead(
        record=record,
        summary=summary,
        fetched=fetched,
        queries=queries,
        fhir_ms=(fetched_at - started) * 1000,
        rules_ms=(done - fetched_at) * 1000,
    )


def server_timing(*metrics: tuple[str, float]) -> str:
    return ", ".join(f"{name};dur={ms:.1f}" for name, ms in metrics)
