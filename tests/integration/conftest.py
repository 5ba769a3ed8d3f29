"""Integration fixtures: the real HAPI server (tests/conftest.py) seeded with the demo cohort."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date

import pytest

from fhir_mappings.site import Mappings, load_mappings
from smartapp.demo.bundles import demo_system
from smartapp.demo.generator import generate_cohort
from smartapp.fhir import FhirClient
from tests.support.loopback import LoopbackSession
from tests.support.seeded import SeededCohort, seed_cohort, seed_demo

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def mappings() -> Mappings:
    return load_mappings(None)


@pytest.fixture(scope="session")
def seeded_demo(hapi_base: str) -> SeededCohort:
    """The named demo cohort, under an identifier system unique to this test session."""
    with FhirClient(hapi_base) as client:
        return seed_demo(client, "it")


@pytest.fixture(scope="session")
def long_history_patient(hapi_base: str) -> SeededCohort:
    """One generated patient with 5 years of history (for paging and round-trip counts)."""
    anchor = date.today()
    system = demo_system(f"long-{uuid.uuid4().hex[:8]}")
    with FhirClient(hapi_base) as client:
        cohort = seed_cohort(
            client,
            system,
            anchor,
            generate_cohort(1, anchor, seed=11, years=(5, 5), identifier_system=system),
        )
    assert len(cohort.patient_ids) == 1
    return cohort


@pytest.fixture
def session() -> Iterator[LoopbackSession]:
    """A browser-like requests session (Secure cookies kept over loopback http)."""
    with LoopbackSession() as s:
        yield s
