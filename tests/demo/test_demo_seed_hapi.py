"""Seeding the demo onto a real HAPI FHIR server: conditional updates, twice, no duplicates."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import pytest
import requests

from smartapp.demo import DEMO_SLUGS, demo_bundles, demo_system, generate_cohort, seed
from smartapp.fhir import FhirClient

pytestmark = pytest.mark.integration

NO_CACHE = {"Cache-Control": "no-cache", "Accept": "application/fhir+json"}


def _search(base: str, query: str) -> dict[str, Any]:
    reply = requests.get(f"{base}/{query}", headers=NO_CACHE, timeout=30)
    reply.raise_for_status()
    found: dict[str, Any] = reply.json()
    return found


def test_seeding_twice_creates_then_updates_the_same_patients(hapi_base: str) -> None:
    # A system of our own, as on the shared public sandbox: nothing else can match it.
    system = demo_system(f"test-{uuid.uuid4().hex[:10]}")
    bundles = demo_bundles(date(2025, 3, 1), identifier_system=system)
    total = sum(len(b["entry"]) for b in bundles)
    with FhirClient(hapi_base) as client:
        first = seed(client, bundles)
        assert first.ok, first.errors
        assert (first.created, first.updated) == (total, 0)

        again = seed(client, demo_bundles(date(2025, 3, 20), identifier_system=system))
        assert again.ok, again.errors
        assert (again.created, again.updated) == (0, total)

    found = _search(hapi_base, f"Patient?identifier={system}|&_summary=count")
    assert found["total"] == len(DEMO_SLUGS)

    patient = _search(hapi_base, f"Patient?identifier={system}|escaping")["entry"][0]["resource"]
    assert patient["name"][0]["family"] == "<script>alert(1)</script>"
    doses = _search(
        hapi_base, f"MedicationAdministration?patient=Patient/{patient['id']}&_count=100"
    )
    assert doses["total"] > 0
    for entry in doses["entry"]:
        assert entry["resource"]["subject"]["reference"] == f"Patient/{patient['id']}"


def test_a_generated_cohort_loads(hapi_base: str) -> None:
    system = demo_system(f"gen-{uuid.uuid4().hex[:10]}")
    with FhirClient(hapi_base) as client:
        report = seed(
            client, generate_cohort(3, date(2025, 3, 1), seed=1, identifier_system=system)
        )
    assert report.ok, report.errors
    assert report.patients == 3 and report.created > 3 * 20
