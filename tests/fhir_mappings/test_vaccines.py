"""Immunizations: CVX class, ambiguous means review, never silently non-live (SPEC §2, §3)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from domain.records import VaccineClass
from fhir_mappings.terminology import default_valuesets

from .fhirdata import CVX, SNOMED, concept, immunization, read, read_skipped

FIXTURES = Path(__file__).parent / "fixtures"


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
    assert vaccination.classified_by_text


def test_vaccine_coded_only_in_snomed_is_classified_by_its_text() -> None:
    resource = immunization(None, vaccineCode=concept(SNOMED, "871765008", text="MMR vaccine"))
    (vaccination,) = read(resource).vaccinations
    assert vaccination.vaccine_class is VaccineClass.LIVE
    assert vaccination.display == "MMR vaccine"
    assert "matched by text ('mmr'" in vaccination.source.matched_by
    assert "no recognised vaccine code" in vaccination.source.matched_by


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Zostavax", VaccineClass.LIVE),
        ("Yellow fever vaccine", VaccineClass.LIVE),
        ("Varicella (chickenpox)", VaccineClass.LIVE),
        ("Nasal flu spray", VaccineClass.LIVE),
        ("Influenza, live, intranasal", VaccineClass.LIVE),
        ("Shingrix (zoster recombinant)", VaccineClass.AMBIGUOUS),
        ("Influenza vaccine, non-live", VaccineClass.AMBIGUOUS),
        ("flu shot", VaccineClass.AMBIGUOUS),
        ("Varicella zoster immune globulin", VaccineClass.AMBIGUOUS),
    ],
)
def test_text_fallback_live_words_or_review_never_silently_non_live(
    text: str, expected: VaccineClass
) -> None:
    (vaccination,) = read(
        immunization("4242", vaccineCode=concept(CVX, "4242", text=text))
    ).vaccinations
    assert vaccination.vaccine_class is expected


def test_every_code_of_the_cdc_cvx_list_is_classified_exactly_once() -> None:
    """SPEC §2 / issue 10: a new CDC code that no value set classifies fails here."""
    listed = json.loads((FIXTURES / "cdc-cvx-2025-09-03.json").read_text())["codes"]
    assert len(listed) > 280
    sets = ("cvx-live", "cvx-non-live", "cvx-ambiguous", "cvx-not-a-vaccine")
    members = {vs: {c.code.lstrip("0") for c in default_valuesets()[vs].codes} for vs in sets}
    unclassified = []
    for entry in listed:
        code = entry["code"].lstrip("0")
        found = [vs for vs in sets if code in members[vs]]
        if len(found) != 1:
            unclassified.append((entry["code"], entry["short_description"], found))
    assert unclassified == []


@pytest.mark.parametrize(
    ("cvx", "expected"),
    [
        ("20", VaccineClass.NON_LIVE),  # DTaP
        ("48", VaccineClass.NON_LIVE),  # Hib PRP-T
        ("49", VaccineClass.NON_LIVE),  # Hib PRP-OMP
        ("09", VaccineClass.NON_LIVE),  # Td
        ("113", VaccineClass.NON_LIVE),
        ("115", VaccineClass.NON_LIVE),  # Tdap
        ("62", VaccineClass.NON_LIVE),  # HPV
        ("133", VaccineClass.NON_LIVE),  # pneumococcal
        ("43", VaccineClass.NON_LIVE),  # hepatitis B
        ("83", VaccineClass.NON_LIVE),  # hepatitis A
        ("309", VaccineClass.NON_LIVE),  # COVID-19 mRNA
        ("78", VaccineClass.LIVE),  # tularemia LVS
        ("105", VaccineClass.LIVE),  # vaccinia (Dryvax) diluted
        ("129", VaccineClass.AMBIGUOUS),  # Japanese encephalitis, unspecified
        ("500", VaccineClass.AMBIGUOUS),  # COVID-19 non-US, product unknown
    ],
)
def test_common_vaccines_are_classified_and_never_timed_as_live(
    cvx: str, expected: VaccineClass
) -> None:
    (vaccination,) = read(immunization(cvx)).vaccinations
    assert vaccination.vaccine_class is expected
    assert not vaccination.classified_by_text


@pytest.mark.parametrize(
    "system", [CVX, "urn:oid:2.16.840.1.113883.12.292", "urn:oid:2.16.840.1.113883.6.59"]
)
def test_the_oid_form_of_cvx_is_the_same_system(system: str) -> None:
    (vaccination,) = read(immunization(None, vaccineCode=concept(system, "20"))).vaccinations
    assert vaccination.vaccine_class is VaccineClass.NON_LIVE


@pytest.mark.parametrize("cvx", ["86", "180", "801", "998"])
def test_immune_globulins_adjuvants_and_no_vaccine_are_not_vaccinations(cvx: str) -> None:
    assert read(immunization(cvx)).vaccinations == ()


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
    read_skipped(immunization("03", occurrenceDateTime="last spring"), "vaccinations")


def test_vaccine_name_falls_back_to_the_value_set_display() -> None:
    (vaccination,) = read(immunization("03")).vaccinations
    assert vaccination.display == "MMR"
    assert vaccination.source.display == "MMR (live) on 2025-02-01"
