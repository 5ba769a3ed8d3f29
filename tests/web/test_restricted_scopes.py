"""Filtered SMART grants (`patient/Task.cu?code=…`, `patient/Observation.rs?category=…`)
are honoured: no write with a filtered write grant, and a filtered read leaves the area
incomplete (what the server did not return is unknown, not absent)."""

from __future__ import annotations

import pytest

from smartapp.launch.scopes import GrantedScopes
from tests.launch.launch_fakes import ISS, PATIENT_ID, FakeEhr
from tests.support.fake_fhir import FakeFhir
from tests.support.pages import demo, retarget

FILTERED_TASK = "patient/Task.cu?code=http://example.org|x"
FILTERED_LABS = "patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory"
BASE = (
    "launch openid fhirUser patient/Patient.r patient/Condition.rs patient/CarePlan.rs "
    "patient/CarePlan.cu patient/Task.rs patient/Provenance.c"
)


def test_a_filtered_write_grant_is_not_write_access() -> None:
    scopes = GrantedScopes.parse(f"{FILTERED_TASK} patient/CarePlan.cu")
    assert not scopes.can_write("Task")
    assert scopes.can_write("CarePlan")
    assert scopes.filtered_writes("Task") == [FILTERED_TASK]
    both = GrantedScopes.parse(f"{FILTERED_TASK} patient/Task.u")
    assert both.can_write("Task")


def test_a_filtered_read_grant_reads_only_part() -> None:
    scopes = GrantedScopes.parse(f"{FILTERED_LABS} patient/Condition.rs")
    assert scopes.can_read("Observation") and scopes.reads_only_part("Observation")
    assert not scopes.reads_only_part("Condition")
    assert not scopes.reads_only_part("Immunization")  # not granted at all: not "part"


@pytest.fixture
def fhir(rsps) -> FakeFhir:
    return FakeFhir(retarget(demo("all-ok-maintenance"), PATIENT_ID), base=ISS).install(rsps)


def test_a_filtered_task_write_grant_makes_the_dashboard_read_only(client, rsps, fhir) -> None:
    FakeEhr(rsps, granted_scope=f"{BASE} {FILTERED_TASK} patient/Observation.rs").install().sign_in(
        client
    )
    html = client.get("/patient").get_data(as_text=True)
    assert 'id="read-only"' in html
    assert 'id="save-plan"' not in html
    assert 'id="filtered-write"' in html and "code=http://example.org|x" in html
    assert not [b for b in fhir.batches if b.get("type") == "transaction"]


def test_a_filtered_observation_grant_leaves_the_lab_checks_unknown(client, rsps, fhir) -> None:
    FakeEhr(rsps, granted_scope=f"{BASE} {FILTERED_LABS}").install().sign_in(client)
    html = client.get("/patient").get_data(as_text=True)
    assert 'id="data-incomplete"' in html
    assert "only part of the Observation records" in html
