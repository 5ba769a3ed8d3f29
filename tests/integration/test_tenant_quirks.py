"""Tenant quirks against the real HAPI server: Observation searches split by `category`.

HAPI does not require `category`, but it answers category searches as Epic and Oracle
Health do: these tests show the split read finds what the plain read finds (for data
that carries categories), in the same single round trip, and that a category outside the
list is not read (which is why the list is a setting)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from fhir_mappings.site import Mappings
from smartapp import patient_service as service
from smartapp.fhir import FhirClient
from smartapp.fhir.dialect import SearchDialect
from smartapp.report import summary_json
from smartapp.rules.settings import RuleSettings
from tests.support.seeded import SeededCohort

pytestmark = pytest.mark.integration

SETTINGS = RuleSettings()
LAB_AND_SOCIAL = SearchDialect({"Observation": ("category", ("laboratory", "social-history"))})
LAB_ONLY = SearchDialect({"Observation": ("category", ("laboratory",))})
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
SLUGS = ("hbsag-positive", "messy-data", "pregnant", "ig-low", "interrupted")


def summary_of(client: FhirClient, patient_id: str, cohort: SeededCohort, mappings: Mappings):
    fetched = service.fetch_patient(client, patient_id, mappings)
    _, summary = service.summarize_fetched(fetched, patient_id, cohort.anchor, mappings, SETTINGS)
    return summary


@pytest.mark.parametrize("slug", SLUGS)
def test_category_searches_read_the_same_record_in_one_round_trip(
    seeded_demo: SeededCohort, mappings: Mappings, slug: str
) -> None:
    patient_id = seeded_demo.patient_ids[slug]
    with FhirClient(seeded_demo.base) as plain:
        expected = summary_json(summary_of(plain, patient_id, seeded_demo, mappings))
    with FhirClient(seeded_demo.base, dialect=LAB_AND_SOCIAL) as client:
        got = summary_json(summary_of(client, patient_id, seeded_demo, mappings))
        assert client.round_trips == 1
        assert [q.method for q in client.requests_made] == ["POST"]  # one batch, splits inside
    assert got == expected


def observation(pid: str, code: str, display: str, category: str | None) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code, "display": display}]},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": "2026-01-05",
        "valueCodeableConcept": {"text": "negative"},
    }
    if category:
        resource["category"] = [{"coding": [{"system": CATEGORY, "code": category}]}]
    return resource


def test_hapi_answers_each_category_and_a_category_left_out_is_not_read(
    hapi_base: str, mappings: Mappings
) -> None:
    pid = f"quirk-{uuid.uuid4().hex[:10]}"
    entries = [
        {
            "resource": {"resourceType": "Patient", "id": pid, "gender": "female"},
            "request": {"method": "PUT", "url": f"Patient/{pid}"},
        }
    ]
    for code, display, category in (
        ("5196-1", "HBsAg", "laboratory"),
        ("82810-3", "Pregnancy status", "social-history"),
        ("16935-9", "anti-HBs", None),
    ):
        entries.append(
            {
                "resource": observation(pid, code, display, category),
                "request": {"method": "POST", "url": "Observation"},
            }
        )
    with FhirClient(hapi_base) as client:
        client.transaction({"resourceType": "Bundle", "type": "transaction", "entry": entries})

    def codes(dialect: SearchDialect) -> set[str]:
        with FhirClient(hapi_base, dialect=dialect) as client:
            fetched = service.fetch_patient(client, pid, mappings)
            assert client.round_trips == 1 and not fetched.incomplete
        return {
            r["code"]["coding"][0]["code"]
            for r in fetched.resources
            if r["resourceType"] == "Observation"
        }

    assert codes(SearchDialect()) >= {"5196-1", "82810-3"}
    assert codes(LAB_AND_SOCIAL) == {"5196-1", "82810-3"}
    assert codes(LAB_ONLY) == {"5196-1"}
