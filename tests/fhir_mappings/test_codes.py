"""Matching by (system, code): system spellings and code forms in real data (SPEC §2)."""

from __future__ import annotations

import pytest

from fhir_mappings.site import default_mappings
from fhir_mappings.systems import ndc_keys, system_key


def valuesets(system: str, code: str) -> set[str]:
    return {hit.valueset for hit in default_mappings().lookup(system, code)}


@pytest.mark.parametrize(
    "system",
    [
        "http://loinc.org",
        "urn:oid:2.16.840.1.113883.6.1",
        "https://loinc.org",
        "http://loinc.org/",
        "HTTP://LOINC.ORG",
    ],
)
def test_loinc_is_recognised_in_every_spelling(system: str) -> None:
    assert system_key(system) == "loinc"
    assert "hbsag" in valuesets(system, "5196-1")


@pytest.mark.parametrize(
    "system",
    [
        "http://snomed.info/sct",
        "urn:oid:2.16.840.1.113883.6.96",
        "http://snomed.info/sct/731000124108",
        "http://snomed.info/sct/900000000000207008/version/20240301",
    ],
)
def test_snomed_edition_and_oid_uris_are_snomed(system: str) -> None:
    assert "condition-pml" in valuesets(system, "22255007")


def test_a_code_without_its_system_never_matches() -> None:
    assert valuesets("", "5196-1") == set()
    assert default_mappings().lookup(None, "5196-1") == ()
    assert valuesets("http://example.org/local-codes", "5196-1") == set()


def test_a_code_from_another_system_is_not_matched_by_equal_text() -> None:
    """SNOMED 22255007 is PML; the same digits as a LOINC code mean nothing."""
    assert valuesets("http://loinc.org", "22255007") == set()


@pytest.mark.parametrize(
    "code",
    [
        "0078-1007",
        "00078-1007",
        "0078-1007-68",
        "00078-1007-68",
        "0078100768",
        "00078100768",
        "0078-1007-69",
        "00078-1007-69",
        "0078100769",
        "00078100769",
        "0078-1007-98",
        "00078100798",
        "000781007",
        " 0078-1007-68 ",
    ],
)
def test_kesimpta_ndc_matches_in_every_10_and_11_digit_form(code: str) -> None:
    assert "ofatumumab-kesimpta" in valuesets("http://hl7.org/fhir/sid/ndc", code)
    assert "ofatumumab-kesimpta" in valuesets("urn:oid:2.16.840.1.113883.6.69", code)


@pytest.mark.parametrize(
    "code",
    ["0078-0669", "00078-0669-13", "0078066961", "00078069061", "0078-0690-61", "0078-0690"],
)
def test_arzerra_ndc_matches_in_every_form_and_is_not_kesimpta(code: str) -> None:
    found = valuesets("http://hl7.org/fhir/sid/ndc", code)
    assert "ofatumumab-arzerra" in found
    assert "ofatumumab-kesimpta" not in found


def test_a_hyphenated_ndc_of_another_labeler_does_not_match() -> None:
    """00781-007-68 (labeler 00781) pads to 00781-0007-68, not Kesimpta's 00078-1007-68."""
    assert valuesets("http://hl7.org/fhir/sid/ndc", "00781-007-68") == set()
    assert ndc_keys("00781-007-68") == ("00781000768", "007810007")


def test_malformed_ndc_gives_no_key() -> None:
    assert ndc_keys("0078-1007-68-1") == ()
    assert ndc_keys("abc-def") == ()
    assert ndc_keys("123") == ()


@pytest.mark.parametrize("code", ["03", "3", "003", " 03"])
def test_cvx_with_or_without_leading_zeros(code: str) -> None:
    assert valuesets("http://hl7.org/fhir/sid/cvx", code) == {"cvx-live"}


@pytest.mark.parametrize("code", ["G35", "G35.0", "g35", "G35.A", "G35D"])
def test_icd10cm_g35_and_its_subcodes_are_ms(code: str) -> None:
    assert "condition-ms" in valuesets("http://hl7.org/fhir/sid/icd-10-cm", code)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("A41.9", "condition-infection"),
        ("B02.9", "condition-infection"),
        ("J18.9", "condition-infection"),
        ("J20.9", "condition-infection"),
        ("N39.0", "condition-infection"),
        ("N390", "condition-infection"),
        ("L03.115", "condition-infection"),
        ("U07.1", "condition-infection"),
    ],
)
def test_infection_icd10cm_prefixes(code: str, expected: str) -> None:
    assert expected in valuesets("http://hl7.org/fhir/sid/icd-10-cm", code)


@pytest.mark.parametrize("code", ["B90.9", "B91", "B95.61", "N39.3", "J30.9", "L04.0"])
def test_sequelae_agent_codes_and_neighbours_are_not_infections(code: str) -> None:
    assert "condition-infection" not in valuesets("http://hl7.org/fhir/sid/icd-10-cm", code)


def test_atc_in_german_system_uri_and_lower_case() -> None:
    assert "ofatumumab-kesimpta" in valuesets("http://fhir.de/CodeSystem/bfarm/atc", "l04ag12")
    assert "ofatumumab-arzerra" in valuesets("http://www.whocc.no/atc", "L01FA02")


def test_lookup_tolerates_non_string_input() -> None:
    mappings = default_mappings()
    assert mappings.lookup(["http://loinc.org"], "5196-1") == ()
    assert mappings.lookup("http://loinc.org", 5196) == ()
