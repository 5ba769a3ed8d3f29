"""Scope parsing and down-grading, request classification, the patient compartment."""

from urllib.parse import parse_qsl

import pytest

from sandbox_ehr.policy import (
    AccessContext,
    Denied,
    classify,
    in_compartment,
    search_limited_to_patient,
)
from sandbox_ehr.scopes import (
    ScopeFilter,
    invalid_scopes,
    make_scope_filter,
    parse_resource_scope,
    resource_scopes,
)

BASES = ("http://sandbox.test/fhir", "http://hapi.test/fhir")


@pytest.mark.parametrize(
    ("scope", "permissions", "v1"),
    [
        ("patient/Observation.rs", "rs", False),
        ("user/Task.cruds", "cruds", False),
        ("system/*.r", "r", False),
        ("patient/CarePlan.read", "rs", True),
        ("patient/CarePlan.write", "cud", True),
        ("user/*.*", "cruds", True),
    ],
)
def test_resource_scopes_parse(scope: str, permissions: str, v1: bool) -> None:
    parsed = parse_resource_scope(scope)
    assert parsed is not None
    assert parsed.permissions == permissions and parsed.v1 is v1
    assert parsed.render() == scope


@pytest.mark.parametrize(
    "scope",
    [
        "patient/Observation.dus",
        "patient/Observation.rr",
        "patient/Observation.x",
        "Observation.rs",
        "patient/observation.rs",
        "patient/Observation.read?category=x",
        "launch/banana",
        "admin",
    ],
)
def test_malformed_scopes_are_invalid(scope: str) -> None:
    assert invalid_scopes([scope]) == [scope]


def test_granular_scope_keeps_its_parameters() -> None:
    parsed = parse_resource_scope(
        "patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory"
    )
    assert parsed is not None
    assert parsed.params == (
        ("category", "http://terminology.hl7.org/CodeSystem/observation-category|laboratory"),
    )


def test_read_only_filter() -> None:
    flt = make_scope_filter("read-only")
    assert flt is not None
    scopes = [
        "launch",
        "patient/CarePlan.cu",
        "patient/CarePlan.cruds",
        "patient/Task.write",
        "user/*.*",
        "patient/Observation.rs",
    ]
    assert flt(scopes) == [
        "launch",
        "patient/CarePlan.rs",
        "user/*.read",
        "patient/Observation.rs",
    ]


def test_drop_patterns() -> None:
    flt = ScopeFilter(drop=("offline_access", "*/Task.*"))
    assert flt(["offline_access", "online_access", "patient/Task.rs", "user/Task.cu"]) == [
        "online_access"
    ]


LABS = "category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory"


def test_restrict_narrows_matching_v2_scopes_to_granular_ones() -> None:
    flt = make_scope_filter(
        {"strip": "d", "restrict": {"patient/Observation.*": LABS, "patient/Task.cu*": "code=a|b"}}
    )
    assert callable(flt)
    granted = flt(
        ["launch", "patient/Observation.rs", "patient/Task.cud", "patient/Observation.read"]
    )
    assert granted == [
        "launch",
        f"patient/Observation.rs?{LABS}",
        "patient/Task.cu?code=a|b",
        "patient/Observation.read",  # v1 has no granular form: left as it is
    ]
    parsed = parse_resource_scope(granted[1])
    assert parsed is not None and parsed.params == tuple(parse_qsl(LABS))


def test_filter_specs_are_validated() -> None:
    with pytest.raises(ValueError):
        make_scope_filter({"restrict": ["patient/Task.cu"]})
    with pytest.raises(ValueError):
        make_scope_filter({"restrict": {"patient/Task.cu": ""}})
    with pytest.raises(ValueError):
        make_scope_filter({"strip": "cuz"})
    with pytest.raises(ValueError):
        make_scope_filter({"remove": "c"})
    assert make_scope_filter(None) is None


def test_classify_interactions() -> None:
    assert classify("GET", "Observation", {"patient": ["p1"]}).interaction == "s"
    assert classify("POST", "Observation/_search", {}).interaction == "s"
    assert classify("GET", "Observation/o1", {}).interaction == "r"
    assert classify("GET", "Observation/o1/_history/2", {}).interaction == "r"
    assert classify("POST", "Task", {}).interaction == "c"
    created = classify("POST", "Task", {}, if_none_exist="identifier=a|1")
    assert created.conditional and created.params == {"identifier": ["a|1"]}
    assert classify("PUT", "CarePlan/1", {}).interaction == "u"
    assert classify("PUT", "CarePlan", {"identifier": ["x"]}).conditional
    assert classify("DELETE", "Task/1", {}).interaction == "d"
    assert classify("GET", "", {"_getpages": ["x"]}).resource_type is None
    assert classify("GET", "Patient/p1/$everything", {}).operation == "$everything"
    for method, path in [("GET", "Patient/../x"), ("PUT", "CarePlan"), ("POST", "Patient/p1")]:
        with pytest.raises(Denied):
            classify(method, path, {})


def test_provenance_reaches_the_patient_through_the_transaction() -> None:
    index = {
        "urn:uuid:cp": {"resourceType": "CarePlan", "subject": {"reference": "Patient/p1"}},
        "urn:uuid:loop": {"resourceType": "Provenance", "target": [{"reference": "urn:uuid:loop"}]},
    }
    provenance = {"resourceType": "Provenance", "target": [{"reference": "urn:uuid:cp"}]}
    assert in_compartment(provenance, "p1", BASES, index)
    assert not in_compartment(provenance, "p2", BASES, index)
    assert not in_compartment(index["urn:uuid:loop"], "p1", BASES, index)


@pytest.mark.parametrize(
    ("ref", "ok"),
    [
        ("Patient/p1", True),
        ("Patient/p1/_history/3", True),
        ("http://sandbox.test/fhir/Patient/p1", True),
        ("http://hapi.test/fhir/Patient/p1", True),
        ("http://elsewhere.test/fhir/Patient/p1", False),
        ("Patient/p10", False),
        ("Group/p1", False),
    ],
)
def test_compartment_references(ref: str, ok: bool) -> None:
    observation = {"resourceType": "Observation", "subject": {"reference": ref}}
    assert in_compartment(observation, "p1", BASES) is ok


def test_search_must_name_only_the_patient() -> None:
    def limited(params: dict[str, list[str]], rtype: str = "Observation") -> bool:
        return search_limited_to_patient(rtype, params, "p1", BASES)

    assert limited({"patient": ["p1"]})
    assert limited({"subject:Patient": ["p1"]})
    assert limited({"subject": ["Patient/p1"], "code": ["x"]})
    assert not limited({"subject": ["p1"]})  # a bare id could be a Group
    assert not limited({"subject:Group": ["g1"]})
    assert not limited({"patient.name": ["smith"]})
    assert not limited({"patient": ["p1"], "subject": ["Patient/p2"]})
    assert limited({"_id": ["p1"]}, "Patient")
    assert not limited({"name": ["smith"]}, "Patient")


def test_user_scope_beats_patient_scope() -> None:
    access = AccessContext(
        tuple(resource_scopes(["patient/Observation.rs", "user/Observation.r"])), "p1", BASES
    )
    assert access.level("Observation", "r") == "all"
    assert access.level("Observation", "s") == "patient"
    assert access.level("Condition", "r") is None
