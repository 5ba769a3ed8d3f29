"""Conditions (kind priority, status, verification) and ofatumumab allergies (SPEC §2, §3)."""

from __future__ import annotations

from datetime import date

import pytest

from fhir_mappings.records import ConditionKind

from .fhirdata import ATC, ICD10CM, SNOMED, SUBJECT, concept, condition, read


@pytest.mark.parametrize(
    ("system", "code", "kind"),
    [
        (SNOMED, "24700007", ConditionKind.MULTIPLE_SCLEROSIS),
        (SNOMED, "426373005", ConditionKind.MULTIPLE_SCLEROSIS),
        (ICD10CM, "G35", ConditionKind.MULTIPLE_SCLEROSIS),
        (SNOMED, "61977001", ConditionKind.HEPATITIS_B),
        (ICD10CM, "B18.1", ConditionKind.HEPATITIS_B),
        (ICD10CM, "Z22.51", ConditionKind.HEPATITIS_B),
        (SNOMED, "22255007", ConditionKind.PML),
        (ICD10CM, "A81.2", ConditionKind.PML),
        (SNOMED, "77386006", ConditionKind.PREGNANCY),
        (ICD10CM, "Z34.81", ConditionKind.PREGNANCY),
        (SNOMED, "233604007", ConditionKind.INFECTION),
        (SNOMED, "4740000", ConditionKind.INFECTION),
        (ICD10CM, "J18.9", ConditionKind.INFECTION),
        (ICD10CM, "A41.9", ConditionKind.INFECTION),
    ],
)
def test_condition_kinds(system: str, code: str, kind: ConditionKind) -> None:
    (record,) = read(condition(system, code)).conditions
    assert record.kind is kind


def test_pml_beats_infection_and_hepatitis_b_beats_infection() -> None:
    """A81.2 and B18.1 are in A00-B99 too; one kind per condition, by priority."""
    codes = {
        "coding": [{"system": ICD10CM, "code": "B18.1"}, {"system": SNOMED, "code": "22255007"}]
    }
    resource = condition(SNOMED, "x")
    resource["code"] = codes
    (record,) = read(resource).conditions
    assert record.kind is ConditionKind.PML
    (record,) = read(condition(ICD10CM, "B18.1")).conditions
    assert record.kind is ConditionKind.HEPATITIS_B


def test_unrelated_condition_gives_no_record() -> None:
    assert read(condition(SNOMED, "38341003")).conditions == ()


@pytest.mark.parametrize(
    ("clinical", "active"),
    [
        ("active", True),
        ("recurrence", True),
        ("relapse", True),
        ("inactive", False),
        ("remission", False),
        ("resolved", False),
        (None, False),
    ],
)
def test_clinical_status(clinical: str | None, active: bool) -> None:
    (record,) = read(condition(SNOMED, "233604007", clinical=clinical)).conditions
    assert record.active is active


@pytest.mark.parametrize(
    ("verification", "refuted"),
    [
        ("confirmed", False),
        ("provisional", False),
        ("unconfirmed", False),
        ("refuted", True),
        ("entered-in-error", True),
        (None, False),
    ],
)
def test_verification_status(verification: str | None, refuted: bool) -> None:
    (record,) = read(condition(SNOMED, "22255007", verification=verification)).conditions
    assert record.refuted is refuted


def test_onset_falls_back_to_period_start_then_recorded_date() -> None:
    period = condition(SNOMED, "233604007", onsetPeriod={"start": "2024-11"})
    del period["onsetDateTime"]
    recorded = condition(SNOMED, "4740000", cid="c2", recordedDate="2024-12-03")
    del recorded["onsetDateTime"]
    first, second = read(period, recorded).conditions
    assert (
        first.onset is not None
        and first.onset.partial
        and first.onset.earliest == date(2024, 11, 1)
    )
    assert second.onset is not None and second.onset.earliest == date(2024, 12, 3)


def test_wrong_type_code_skips_the_condition_and_marks_conditions_incomplete() -> None:
    resource = condition(SNOMED, "22255007")
    resource["code"] = 5
    record = read(resource)
    assert record.conditions == ()
    assert record.data.skipped == 1
    assert record.data.incomplete == frozenset({"conditions"})
    assert record.data.problems == (
        "Condition/c1 could not be read: code is not a CodeableConcept",
    )


def allergy(code: dict[str, object], **extra: object) -> dict[str, object]:
    return {
        "resourceType": "AllergyIntolerance",
        "id": "a1",
        "patient": SUBJECT,
        "code": code,
        **extra,
    }


def test_allergy_to_ofatumumab_by_code_or_text() -> None:
    (by_code,) = read(allergy(concept(ATC, "L04AG12"))).allergies
    assert by_code.active and not by_code.refuted
    assert by_code.source.matched_by == "ATC L04AG12"
    (by_text,) = read(allergy({"text": "Kesimpta injection reaction"})).allergies
    assert by_text.source.matched_by == "matched by text ('kesimpta')"


def test_allergy_to_something_else_is_ignored() -> None:
    assert read(allergy(concept(SNOMED, "91936005", "penicillin"))).allergies == ()


@pytest.mark.parametrize(
    ("clinical", "active"), [("active", True), ("inactive", False), ("resolved", False)]
)
def test_allergy_clinical_status(clinical: str, active: bool) -> None:
    status = concept("http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", clinical)
    (record,) = read(allergy({"text": "ofatumumab"}, clinicalStatus=status)).allergies
    assert record.active is active


@pytest.mark.parametrize("verification", ["refuted", "entered-in-error"])
def test_refuted_allergy(verification: str) -> None:
    status = concept(
        "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification", verification
    )
    (record,) = read(allergy({"text": "ofatumumab"}, verificationStatus=status)).allergies
    assert record.refuted


def test_condition_name_from_the_code_display_or_the_value_set() -> None:
    (record,) = read(condition(SNOMED, "22255007")).conditions
    assert record.display == "Progressive multifocal leukoencephalopathy (disorder)"
    assert record.source.display.startswith(record.display + " (active), onset 2025-01-10")
