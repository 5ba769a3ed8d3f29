"""Conditions (kind priority, status, verification) and ofatumumab allergies (SPEC §2, §3)."""

from __future__ import annotations

from datetime import date

import pytest

from domain.records import ConditionKind

from .fhirdata import ATC, ICD10CM, SNOMED, SUBJECT, concept, condition, read, read_skipped


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
    record = read_skipped(resource, "conditions")
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


# --- v2: clinical status, abatement, chronic infections, reactions (issue 10) ------------


def test_clinical_status_is_kept_and_absent_status_is_none() -> None:
    (with_status,) = read(condition(SNOMED, "233604007", clinical="resolved")).conditions
    (without,) = read(condition(SNOMED, "233604007", clinical=None)).conditions
    assert with_status.clinical_status == "resolved" and not with_status.active
    assert without.clinical_status is None and not without.active


@pytest.mark.parametrize(
    ("extra", "day", "abated"),
    [
        ({"abatementDateTime": "2025-02-01T10:00:00+01:00"}, date(2025, 2, 1), True),
        ({"abatementPeriod": {"start": "2025-01-20", "end": "2025-02-03"}}, date(2025, 2, 3), True),
        ({"abatementPeriod": {"start": "2025-01-20"}}, date(2025, 1, 20), True),
        ({"abatementString": "last winter"}, None, True),
        ({"abatementBoolean": True}, None, True),
        ({"abatementBoolean": False}, None, False),
        ({"abatementAge": {"value": 30, "unit": "a"}}, None, True),
    ],
)
def test_abatement_in_every_form(extra: dict[str, object], day: date | None, abated: bool) -> None:
    (record,) = read(condition(SNOMED, "233604007", **extra)).conditions
    assert (record.abatement.earliest if record.abatement else None) == day
    assert record.abated is abated


@pytest.mark.parametrize(
    ("system", "code", "chronic"),
    [
        (SNOMED, "56717001", True),  # tuberculosis
        (SNOMED, "86406008", True),  # HIV
        (SNOMED, "128302006", True),  # chronic hepatitis C
        (ICD10CM, "A15.0", True),
        (ICD10CM, "Z22.7", True),  # latent tuberculosis
        (ICD10CM, "B20", True),
        (ICD10CM, "B18.2", True),
        (SNOMED, "233604007", False),  # pneumonia
        (SNOMED, "444814009", False),  # viral sinusitis: acute, counted only when recent
        (ICD10CM, "J18.9", False),
    ],
)
def test_chronic_infections_of_the_curated_list(system: str, code: str, chronic: bool) -> None:
    (record,) = read(condition(system, code)).conditions
    assert record.kind is ConditionKind.INFECTION and record.chronic is chronic


@pytest.mark.parametrize(
    ("system", "code"),
    [
        (SNOMED, "40055000"),  # chronic sinusitis: removed in the 2026-12 review
        (ICD10CM, "B07.9"),  # viral wart
        (ICD10CM, "B35.1"),  # tinea unguium
        (ICD10CM, "B86"),  # scabies
        (ICD10CM, "A63.0"),  # anogenital warts
    ],
)
def test_conditions_removed_from_the_infection_value_set(system: str, code: str) -> None:
    assert read(condition(system, code)).conditions == ()


def test_hepatitis_b_carrier_is_hepatitis_b() -> None:
    (record,) = read(condition(SNOMED, "235871004")).conditions
    assert record.kind is ConditionKind.HEPATITIS_B


def test_allergy_type_criticality_and_reactions_are_read() -> None:
    resource = allergy(
        {"text": "Kesimpta"},
        type="intolerance",
        criticality="HIGH",
        reaction=[
            {"severity": "moderate", "manifestation": [concept(SNOMED, "39579001")]},
            {"severity": "severe", "manifestation": [{"text": "hives"}]},
        ],
    )
    (record,) = read(resource).allergies
    assert record.allergy_type == "intolerance" and record.criticality == "high"
    assert record.severe_reaction and record.anaphylaxis


def test_anaphylaxis_by_text_and_absent_fields() -> None:
    words = allergy(
        {"text": "ofatumumab"}, reaction=[{"manifestation": [{"text": "Anaphylactic shock"}]}]
    )
    (record,) = read(words).allergies
    assert record.anaphylaxis and not record.severe_reaction
    (bare,) = read(allergy({"text": "ofatumumab"})).allergies
    assert bare.allergy_type is None and bare.criticality is None and not bare.anaphylaxis


def test_allergy_with_a_malformed_type_is_skipped_not_fatal() -> None:
    result = read(allergy({"text": "ofatumumab"}, type=7))
    assert result.allergies == () and result.data.skipped == 1
    assert "allergies" in result.data.incomplete
