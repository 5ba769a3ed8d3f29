"""Immunizations: CVX class, ambiguous means review, never silently non-live (SPEC §2, §3)."""

from __future__ import annotations

from datetime import date

import pytest

from fhir_mappings.records import VaccineClass

from .fhirdata import CVX, SNOMED, concept, immunization, read


@pytest.mark.parametrize(
    ("cvx", "expected"),
    [
        ("03", VaccineClass.LIVE),
        ("3", VaccineClass.LIVE),
        ("21", VaccineClass.LIVE),
        ("121", VaccineClass.LIVE),
        ("149", VaccineClass.LIVE),
        ("187", VaccineClass.NON_LIVE),
        ("150", VaccineClass.NON_LIVE),
        ("208", VaccineClass.NON_LIVE),
        ("115", VaccineClass.NON_LIVE),
        ("188", VaccineClass.AMBIGUOUS),
        ("88", VaccineClass.AMBIGUOUS),
        ("206", VaccineClass.AMBIGUOUS),
        ("999", VaccineClass.AMBIGUOUS),
    ],
)
def test_cvx_classes(cvx: str, expected: VaccineClass) -> None:
    (vaccination,) = read(immunization(cvx)).vaccinations
    assert vaccination.vaccine_class is expected
    assert vaccination.source.matched_by.startswith(f"CVX {cvx}")


def test_unknown_cvx_code_is_ambiguous() -> None:
    (vaccination,) = read(immunization("4242")).vaccinations
    assert vaccination.vaccine_class is VaccineClass.AMBIGUOUS
    assert "not a known CVX code" in vaccination.source.matched_by


def test_vaccine_coded_only_in_snomed_is_ambiguous_never_non_live() -> None:
    resource = immunization(None, vaccineCode=concept(SNOMED, "871765008", text="MMR vaccine"))
    (vaccination,) = read(resource).vaccinations
    assert vaccination.vaccine_class is VaccineClass.AMBIGUOUS
    assert vaccination.display == "MMR vaccine"


def test_uncoded_vaccine_is_ambiguous() -> None:
    (vaccination,) = read(immunization(None, vaccineCode={"text": "travel vaccine"})).vaccinations
    assert vaccination.vaccine_class is VaccineClass.AMBIGUOUS


def test_most_cautious_class_wins_when_codes_disagree() -> None:
    codes = {"coding": [{"system": CVX, "code": "187"}, {"system": CVX, "code": "121"}]}
    (vaccination,) = read(immunization(None, vaccineCode=codes)).vaccinations
    assert vaccination.vaccine_class is VaccineClass.LIVE


@pytest.mark.parametrize("cvx", ["998", "96", "86", "306", "93"])
def test_not_a_vaccine_is_excluded(cvx: str) -> None:
    record = read(immunization(cvx))
    assert record.vaccinations == ()
    assert record.data.read == 2


@pytest.mark.parametrize("status", ["not-done", "entered-in-error"])
def test_only_completed_immunizations_count(status: str) -> None:
    assert read(immunization("03", status=status)).vaccinations == ()


def test_occurrence_string_is_shown_not_used_for_timing() -> None:
    resource = immunization("43", occurrenceString="childhood, date unknown")
    del resource["occurrenceDateTime"]
    (vaccination,) = read(resource).vaccinations
    assert vaccination.when is None
    assert vaccination.occurrence_text == "childhood, date unknown"
    assert "childhood, date unknown" in vaccination.source.display


def test_occurrence_date_time_in_its_offset() -> None:
    resource = immunization("03", occurrenceDateTime="2025-02-01T23:10:00-07:00")
    (vaccination,) = read(resource).vaccinations
    assert vaccination.when is not None and vaccination.when.earliest == date(2025, 2, 1)


def test_bad_occurrence_date_skips_the_immunization() -> None:
    record = read(immunization("03", occurrenceDateTime="last spring"))
    assert record.vaccinations == ()
    assert record.data.skipped == 1
    assert "vaccinations" in record.data.incomplete


def test_vaccine_name_falls_back_to_the_value_set_display() -> None:
    (vaccination,) = read(immunization("03")).vaccinations
    assert vaccination.display == "MMR"
    assert vaccination.source.display == "MMR (live) on 2025-02-01"
