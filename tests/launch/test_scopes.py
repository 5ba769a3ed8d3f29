"""Scope requests (v2, v1 fallback) and the granted-scope questions the UI asks."""

from __future__ import annotations

import pytest

from smartapp.launch.scopes import GrantedScopes, parse_resource_scope, requested_scopes, to_v1


@pytest.mark.parametrize(
    ("scope", "reads", "writes"),
    [
        ("patient/CarePlan.rs", True, False),
        ("patient/CarePlan.r", True, False),
        ("patient/CarePlan.s", True, False),
        ("patient/CarePlan.cu", False, True),
        ("patient/CarePlan.c", False, True),
        ("patient/CarePlan.u", False, True),
        ("patient/CarePlan.d", False, False),
        ("patient/CarePlan.cruds", True, True),
        ("user/CarePlan.read", True, False),
        ("user/CarePlan.write", False, True),
        ("user/CarePlan.*", True, True),
        ("patient/*.rs", True, False),
        ("patient/*.write", False, True),
        ("system/CarePlan.cud", False, True),
        ("patient/Observation.rs", False, False),
        ("patient/CarePlan.dus", False, False),  # letters out of order: invalid, ignored
        ("patient/CarePlan.xyz", False, False),
        ("", False, False),
    ],
)
def test_can_read_and_can_write_care_plan(scope, reads, writes):
    granted = GrantedScopes.parse(scope)
    assert granted.can_read("CarePlan") is reads
    assert granted.can_write("CarePlan") is writes


def test_granular_scope_counts_as_read_and_keeps_its_restriction():
    token = "patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory"
    parsed = parse_resource_scope(token)
    assert parsed is not None and parsed.query and parsed.query.startswith("category=")
    assert GrantedScopes.parse(token).can_read("Observation")


def test_context_and_identity_scopes_are_kept_apart():
    granted = GrantedScopes.parse("launch openid fhirUser launch/patient patient/Task.cu")
    assert "openid" in granted and "launch/patient" in granted
    assert granted.has_patient_scopes
    assert len(granted) == 5
    assert not GrantedScopes.parse("openid user/Task.rs").has_patient_scopes


def test_empty_or_missing_scope_grants_nothing():
    for value in (None, "", "   "):
        granted = GrantedScopes.parse(value)
        assert not granted.can_read("Patient") and not granted.can_write("Task")


def test_v2_to_v1_mapping():
    assert to_v1("patient/Observation.rs") == "patient/Observation.read"
    assert to_v1("patient/CarePlan.cu") == "patient/CarePlan.write"
    assert to_v1("patient/Provenance.c") == "patient/Provenance.write"
    assert to_v1("patient/Patient.r") == "patient/Patient.read"
    assert to_v1("user/Task.cruds") == "user/Task.*"
    assert to_v1("patient/Task.rs patient/Task.cu") == "patient/Task.read patient/Task.write"
    assert to_v1("launch openid fhirUser") == "launch openid fhirUser"
    assert to_v1("patient/Observation.rs?category=x patient/Observation.r") == (
        "patient/Observation.read"
    )


def test_requested_scopes_for_ehr_and_standalone():
    base = "launch/patient openid patient/Observation.rs"
    assert requested_scopes(base, ehr_launch=True).split() == [
        "launch",
        "openid",
        "patient/Observation.rs",
    ]
    assert requested_scopes(base, ehr_launch=False).split()[0] == "launch/patient"
    assert "launch" not in requested_scopes("launch user/Task.rs", ehr_launch=False).split()
    assert "launch/patient" not in requested_scopes("user/Task.rs", ehr_launch=False).split()
    assert requested_scopes(base, ehr_launch=True, v1=True).split()[-1] == (
        "patient/Observation.read"
    )
