"""Choosing the patient, what counts as read or skipped, and incompleteness (SPEC §2, §5)."""

from __future__ import annotations

import pytest

from fhir_mappings.read.record import UnusableInput, read_patient_record
from fhir_mappings.site import default_mappings

from .fhirdata import HBSAG, interpretation, observation, patient, read


def test_no_patient_is_unusable() -> None:
    with pytest.raises(UnusableInput, match="no Patient in the bundle"):
        read_patient_record([observation()], mappings=default_mappings())


def test_patient_without_id_is_named_in_the_error() -> None:
    nameless = patient()
    del nameless["id"]
    with pytest.raises(UnusableInput, match="the Patient in the bundle has no id"):
        read_patient_record([nameless, observation()], mappings=default_mappings())


def test_several_patients_need_a_choice() -> None:
    resources = [patient("a"), patient("b"), observation()]
    with pytest.raises(UnusableInput) as raised:
        read_patient_record(resources, mappings=default_mappings())
    assert str(raised.value) == "several Patients (a, b): pass --patient"


def test_patient_id_chooses_and_other_patients_data_is_ignored() -> None:
    theirs = observation(oid="o2", subject={"reference": "Patient/b"})
    record = read_patient_record(
        [patient("b"), patient("p1"), observation(), theirs], "p1", mappings=default_mappings()
    )
    assert record.patient.id == "p1"
    assert len(record.labs) == 1
    assert record.data.read == 2


def test_unknown_patient_id_is_unusable() -> None:
    with pytest.raises(UnusableInput, match="Patient zz is not in the data"):
        read_patient_record([patient()], "zz", mappings=default_mappings())


def test_the_same_patient_twice_is_one_patient() -> None:
    record = read_patient_record([patient(), patient(), observation()], mappings=default_mappings())
    assert record.patient.id == "p1"


def test_duplicate_resources_count_once() -> None:
    record = read(observation(), observation())
    assert len(record.labs) == 1
    assert record.data.read == 2


@pytest.mark.parametrize(
    "reference",
    [
        "Patient/p1",
        "http://ehr.example.org/fhir/Patient/p1",
        "Patient/p1/_history/4",
        "urn:uuid:p1",
    ],
)
def test_patient_reference_forms(reference: str) -> None:
    record = read(
        observation(subject={"reference": reference}, interpretation=interpretation("NEG"))
    )
    assert len(record.labs) == 1


def test_resource_without_a_patient_reference_is_not_this_patients() -> None:
    record = read(observation(subject={"display": "somebody"}))
    assert record.labs == () and record.data.read == 1


def test_malformed_patient_reference_is_skipped() -> None:
    record = read(observation(subject="Patient/p1"))
    assert record.data.skipped == 1
    assert "labs" in record.data.incomplete


@pytest.mark.parametrize(
    ("resource", "problem", "area"),
    [
        (
            observation(code="x", oid="o9") | {"code": 5},
            "Observation/o9 could not be read: code is not a CodeableConcept",
            "labs",
        ),
        (
            observation(oid="o9", when="yesterday"),
            "Observation/o9 could not be read: effectiveDateTime 'yesterday' is not a FHIR date",
            "labs",
        ),
        (
            observation(oid="o9")
            | {"code": {"coding": [{"system": "http://loinc.org", "code": 5196}]}},
            "Observation/o9 could not be read: code.coding.code is not a string",
            "labs",
        ),
        (
            observation(oid="o9") | {"code": {"coding": "5196-1"}},
            "Observation/o9 could not be read: code.coding is not a list",
            "labs",
        ),
        (
            observation(oid="o9", interpretation="POS"),
            "Observation/o9 could not be read: interpretation is not a list",
            "labs",
        ),
    ],
)
def test_malformed_resource_is_skipped_counted_and_its_area_incomplete(
    resource: dict[str, object], problem: str, area: str
) -> None:
    record = read(resource, observation(HBSAG, oid="ok", interpretation=interpretation("NEG")))
    assert len(record.labs) == 1
    assert (record.data.read, record.data.skipped) == (2, 1)
    assert record.data.problems == (problem,)
    assert record.data.incomplete == frozenset({area})


def test_entries_that_are_not_resources_are_skipped_and_counted() -> None:
    record = read_patient_record(
        [patient(), "text", 7, None, {"id": "x"}, observation()], mappings=default_mappings()
    )
    assert (record.data.read, record.data.skipped) == (2, 4)
    assert "entry 2 is not a FHIR resource; it was skipped" in record.data.problems
    assert "entry 5 has no resourceType; it was skipped" in record.data.problems
    # The observation has no value: read, but listed as a record that could not be used.
    assert "Observation/o1: HBsAg 'no value' could not be interpreted; shown, not used" in (
        record.data.problems
    )


def test_resource_of_an_unknown_type_for_this_patient_is_read() -> None:
    record = read({"resourceType": "Encounter", "id": "e1", "subject": {"reference": "Patient/p1"}})
    assert record.data.read == 2


def test_client_incomplete_areas_and_problems_are_merged() -> None:
    record = read(
        observation(),
        incomplete=frozenset({"vaccinations"}),
        problems=("Immunization search failed: HTTP 500",),
    )
    assert record.data.incomplete == frozenset({"vaccinations"})
    assert record.data.problems[0] == "Immunization search failed: HTTP 500"


def test_patient_with_unreadable_birth_date_is_still_the_patient() -> None:
    record = read_patient_record([patient(birthDate="soon")], mappings=default_mappings())
    assert record.patient.birth_date is None
    assert "patient" in record.data.incomplete
    assert record.data.problems == (
        "Patient/p1 birthDate could not be read: birthDate 'soon' is not a FHIR date",
    )


def test_patient_name_forms() -> None:
    named = patient(
        name=[
            {"use": "old", "text": "Old Name"},
            {"use": "official", "given": ["Ada", "B"], "family": "Ng"},
        ]
    )
    record = read_patient_record([named], mappings=default_mappings())
    assert record.patient.name == "Ada B Ng"
    record = read_patient_record([patient(name=[])], mappings=default_mappings())
    assert record.patient.name == "(no name recorded)"
    record = read_patient_record([patient(name="Ada")], mappings=default_mappings())
    assert record.patient.name == "(name could not be read)"


def test_patient_name_with_markup_is_kept_as_text() -> None:
    record = read_patient_record(
        [patient(name=[{"text": "<script>alert(1)</script>"}])], mappings=default_mappings()
    )
    assert record.patient.name == "<script>alert(1)</script>"
