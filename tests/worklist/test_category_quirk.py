"""A server that refuses Observation searches without `category` (Epic, Oracle Health):
the tenant quirk splits every Observation search, on the patient read and the worklist."""

from __future__ import annotations

import json

import pytest

from smartapp import patient_service
from smartapp.config import load_config
from smartapp.fhir import FhirClient
from tests.support.fake_fhir import BASE, FakeFhir
from tests.worklist.cohort import build, generated

EPIC_LIKE = {"Observation": "category"}


@pytest.fixture
def dialect(tmp_path):
    tenants = tmp_path / "tenants.json"
    tenants.write_text(
        json.dumps(
            [{"iss": BASE, "quirks": {"observation_categories": ["laboratory", "social-history"]}}]
        )
    )
    return load_config({"SMARTAPP_TENANTS": str(tenants)}).dialect_for(BASE)


def test_without_the_quirk_labs_are_unknown_on_such_a_server(rsps, mappings, settings) -> None:
    FakeFhir(generated(3), requires=EPIC_LIKE).install(rsps)
    with FhirClient(BASE, sleep=lambda _s: None) as client:
        result = build(client, mappings, settings)
    assert result.rows and all("labs" in row.summary.data.incomplete for row in result.rows)


def test_with_the_quirk_the_worklist_reads_labs_in_the_same_number_of_batches(
    rsps, mappings, settings, dialect
) -> None:
    plain = FakeFhir(generated(3)).install(rsps)
    with FhirClient(BASE, sleep=lambda _s: None) as client:
        reference = build(client, mappings, settings)
    rsps.reset()
    strict = FakeFhir(generated(3), requires=EPIC_LIKE).install(rsps)
    with FhirClient(BASE, sleep=lambda _s: None, dialect=dialect) as client:
        quirked = build(client, mappings, settings)
    assert [r.summary for r in quirked.rows] == [r.summary for r in reference.rows]
    assert not any(row.summary.data.incomplete for row in quirked.rows)
    assert strict.count("POST") == plain.count("POST")


def test_the_patient_read_stays_one_round_trip(rsps, mappings, dialect) -> None:
    FakeFhir(generated(1), requires=EPIC_LIKE).install(rsps)
    with FhirClient(BASE, dialect=dialect) as client:
        fetched = patient_service.fetch_patient(client, "gen-3-000000", mappings)
        assert client.round_trips == 1
    assert not fetched.incomplete
    assert sum(1 for r in fetched.resources if r["resourceType"] == "Observation") > 10
