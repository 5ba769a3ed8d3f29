"""Integration fixtures: the real HAPI server (tests/conftest.py) seeded with the demo cohort."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

import pytest

from fhir_mappings.site import Mappings, load_mappings
from smartapp.demo.bundles import demo_bundles, demo_system
from smartapp.demo.generator import generate_cohort
from smartapp.demo.seed import seed
from smartapp.fhir import FhirClient

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class SeededCohort:
    base: str
    system: str
    anchor: date
    #: demo slug (identifier value) -> server-assigned Patient id
    patient_ids: dict[str, str]


def patient_ids_for(client: FhirClient, system: str) -> dict[str, str]:
    found = client.search_all(f"Patient?identifier={system}|&_count=500&_elements=identifier")
    assert found.complete, found.problem
    ids: dict[str, str] = {}
    for patient in found.resources:
        for identifier in patient.get("identifier", []):
            if identifier.get("system") == system:
                ids[identifier["value"]] = patient["id"]
    return ids


@pytest.fixture(scope="session")
def mappings() -> Mappings:
    return load_mappings(None)


@pytest.fixture(scope="session")
def seeded_demo(hapi_base: str) -> SeededCohort:
    """The named demo cohort, under an identifier system unique to this test session."""
    anchor = date.today()
    system = demo_system(f"it-{uuid.uuid4().hex[:8]}")
    with FhirClient(hapi_base) as client:
        report = seed(client, demo_bundles(anchor, identifier_system=system))
        assert report.ok, report.describe()
        ids = patient_ids_for(client, system)
    return SeededCohort(hapi_base, system, anchor, ids)


@pytest.fixture(scope="session")
def long_history_patient(hapi_base: str) -> SeededCohort:
    """One generated patient with 5 years of history (for paging and round-trip counts)."""
    anchor = date.today()
    system = demo_system(f"long-{uuid.uuid4().hex[:8]}")
    with FhirClient(hapi_base) as client:
        report = seed(
            client, generate_cohort(1, anchor, seed=11, years=(5, 5), identifier_system=system)
        )
        assert report.ok, report.describe()
        ids = patient_ids_for(client, system)
    assert len(ids) == 1
    return SeededCohort(hapi_base, system, anchor, ids)
