"""Every input shape a user or server hands over becomes the same record (SPEC §4 `check`)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from domain.records import LabKind, PatientRecord, Qualitative
from fhir_mappings.read.record import UnusableInput, read_patient_record, resources_from_json
from fhir_mappings.site import default_mappings

FIXTURES = Path(__file__).parent / "fixtures"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def record_of(name: str, **kwargs: Any) -> PatientRecord:
    return read_patient_record(
        resources_from_json(load(name)), mappings=default_mappings(), **kwargs
    )


def test_collection_bundle() -> None:
    record = record_of("collection.json")
    assert record.patient.id == "pat-1"
    assert record.patient.name == "Ngozi Okafor"
    assert record.patient.birth_date == date(1990, 6, 1)
    labs = {lab.kind: lab for lab in record.labs}
    assert labs[LabKind.HBSAG].qualitative is Qualitative.NEGATIVE
    assert labs[LabKind.ANTI_HBC_TOTAL].qualitative is Qualitative.NEGATIVE
    assert [d.source.matched_by for d in record.doses] == ["NDC 00078-1007-68"]
    assert record.conditions[0].source.matched_by == "ICD-10-CM G35"
    assert (record.data.read, record.data.skipped) == (6, 0)


def test_searchset_with_included_medication_and_an_outcome_entry() -> None:
    record = record_of("searchset.json")
    assert len(record.doses) == 1
    assert record.data.problems == ()
    assert record.data.incomplete == frozenset()


def test_transaction_with_urn_uuid_references_and_no_ids() -> None:
    record = record_of("transaction.json")
    assert record.patient.id == "7f1c2d3e-0000-4000-8000-000000000001"
    assert len(record.doses) == 1
    assert len(record.labs) == 1


def test_batch_response_of_searchsets_and_a_failed_search() -> None:
    record = record_of("batch_response.json")
    assert len(record.labs) == 2 and len(record.doses) == 1 and len(record.conditions) == 1
    assert record.data.problems == (
        "The server reported an error, so data may be missing: "
        "Access to Immunization is not permitted",
    )
    assert "vaccinations" in record.data.incomplete
    assert "patient" not in record.data.incomplete


def test_everything_output_keeps_only_this_patients_resources() -> None:
    record = record_of("everything.json")
    assert len(record.labs) == 2 and len(record.doses) == 1
    # Patient, Encounter, 2 Observations, Condition, MedicationAdministration, Medication;
    # Practitioner, Organization and Provenance do not reference the patient.
    assert record.data.read == 7


def test_every_shape_gives_the_same_clinical_content() -> None:
    def content(record: PatientRecord) -> tuple[object, ...]:
        return (
            sorted((lab.kind.value, lab.qualitative) for lab in record.labs),
            [d.when.earliest for d in record.doses],
        )

    baseline = content(record_of("everything.json"))
    assert content(record_of("collection.json")) == baseline
    assert content(record_of("batch_response.json")) == baseline


def test_bare_resource_and_list_of_resources() -> None:
    bundle = load("collection.json")
    resources = [entry["resource"] for entry in bundle["entry"]]
    assert resources_from_json(resources) == resources
    assert resources_from_json(resources[0]) == [resources[0]]


def test_list_of_bundles_is_flattened() -> None:
    flattened = resources_from_json([load("collection.json"), load("searchset.json")])
    assert len(flattened) == 6 + 4


def test_non_object_entries_are_kept_so_they_are_counted_as_skipped() -> None:
    bundle = load("collection.json")
    bundle["entry"].append("garbage")
    record = read_patient_record(resources_from_json(bundle), mappings=default_mappings())
    assert record.data.skipped == 1
    assert record.data.problems == ("entry 7 is not a FHIR resource; it was skipped",)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("hello", "not FHIR JSON: expected a Bundle or a resource, got str"),
        (42, "not FHIR JSON: expected a Bundle or a resource, got int"),
        ({"name": "x"}, "not FHIR JSON: the object has no resourceType"),
        ([1, 2, 3], "not FHIR JSON: the list holds no FHIR resource"),
        ({"resourceType": "Bundle", "entry": {"a": 1}}, "the Bundle's 'entry' is not a list"),
    ],
)
def test_things_that_are_not_fhir_are_unusable_with_one_line(value: object, message: str) -> None:
    with pytest.raises(UnusableInput) as raised:
        resources_from_json(value)
    assert str(raised.value) == message
    assert "\n" not in str(raised.value)


def test_nested_bundles_too_deep_are_unusable() -> None:
    bundle: dict[str, Any] = {"resourceType": "Patient", "id": "x"}
    for _ in range(12):
        bundle = {"resourceType": "Bundle", "entry": [{"resource": bundle}]}
    with pytest.raises(UnusableInput):
        resources_from_json(bundle)


def test_the_input_is_not_modified() -> None:
    bundle = load("transaction.json")
    before = json.dumps(bundle, sort_keys=True)
    read_patient_record(resources_from_json(bundle), mappings=default_mappings())
    assert json.dumps(bundle, sort_keys=True) == before
