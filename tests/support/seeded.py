"""Patients seeded on a real FHIR server under an identifier system of their own (so tests
sharing one server never see each other's data), and their server-assigned ids."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from smartapp.demo.bundles import demo_bundles, demo_system
from smartapp.demo.seed import seed
from smartapp.fhir import FhirClient


@dataclass(frozen=True)
class SeededCohort:
    base: str
    system: str
    anchor: date
    #: demo slug (identifier value) -> server-assigned Patient id
    patient_ids: dict[str, str]


def patient_ids_for(client: FhirClient, system: str) -> dict[str, str]:
    """Identifier value -> Patient id, for every Patient with an identifier in `system`."""
    found = client.search_all(f"Patient?identifier={system}|&_count=500&_elements=identifier")
    assert found.complete, found.problem
    ids: dict[str, str] = {}
    for patient in found.resources:
        for identifier in patient.get("identifier", []):
            if identifier.get("system") == system:
                ids[identifier["value"]] = patient["id"]
    return ids


def seed_cohort(
    client: FhirClient, system: str, anchor: date, bundles: Iterable[dict[str, Any]]
) -> SeededCohort:
    """Post the transaction `bundles` (all must be written) whose patients carry `system`."""
    report = seed(client, bundles)
    assert report.ok, report.describe()
    return SeededCohort(client.base, system, anchor, patient_ids_for(client, system))


def seed_demo(
    client: FhirClient, tag: str, *, anchor: date | None = None, slugs: Sequence[str] | None = None
) -> SeededCohort:
    """The demo patients (all, or `slugs`) as of `anchor` (today), under a new identifier
    system named after `tag`."""
    anchor = anchor or date.today()
    system = demo_system(f"{tag}-{uuid.uuid4().hex[:8]}")
    bundles = demo_bundles(anchor, identifier_system=system, slugs=slugs)
    return seed_cohort(client, system, anchor, bundles)
