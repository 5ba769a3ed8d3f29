"""Qualitative results in SPEC §2 order: interpretation, code, string, index with range."""

from __future__ import annotations

import pytest

from domain.records import LabKind, Qualitative

from .fhirdata import (
    ANTI_HBC,
    HBSAG,
    INTERPRETATION,
    LOINC,
    SNOMED,
    concept,
    interpretation,
    observation,
    quantity,
    read,
)

POS, NEG = Qualitative.POSITIVE, Qualitative.NEGATIVE


def reading(**value: object) -> tuple[Qualitative | None, bool, str]:
    (lab,) = read(observation(HBSAG, **value)).labs
    return lab.qualitative, lab.interpretable, lab.source.display


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("RR", POS),
        ("WR", POS),
        ("POS", POS),
        ("DET", POS),
        ("A", POS),
        ("NR", NEG),
        ("NEG", NEG),
        ("ND", NEG),
        ("N", NEG),
    ],
)
def test_interpretation_alone_decides(code: str, expected: Qualitative) -> None:
    value, interpretable, display = reading(interpretation=interpretation(code))
    assert value is expected and interpretable
    assert f"interpretation {code}" in display


@pytest.mark.parametrize(
    "system", [INTERPRETATION, "http://terminology.hl7.org/CodeSystem/v2-0078"]
)
def test_r_means_resistant_and_is_never_read_as_reactive(system: str) -> None:
    value, interpretable, _ = reading(interpretation=[concept(system, "R")])
    assert value is None and not interpretable
    # R does not hide a readable value either: it is simply not a serology flag.
    value, _, _ = reading(interpretation=[concept(system, "R")], valueString="Non-reactive")
    assert value is NEG


@pytest.mark.parametrize("code", ["IND", "E"])
@pytest.mark.parametrize(
    "system", [INTERPRETATION, "http://terminology.hl7.org/CodeSystem/v2-0078"]
)
def test_indeterminate_or_equivocal_interpretation_is_uninterpretable_whatever_the_value(
    code: str, system: str
) -> None:
    value, interpretable, display = reading(
        interpretation=[concept(system, code)], valueString="Reactive"
    )
    assert value is None and not interpretable
    assert code in display


def test_interpretation_code_without_system_is_accepted() -> None:
    value, _, _ = reading(interpretation=[{"coding": [{"code": "POS"}]}])
    assert value is POS


def test_interpretation_in_the_old_v2_system_is_accepted() -> None:
    value, _, _ = reading(
        interpretation=[concept("http://terminology.hl7.org/CodeSystem/v2-0078", "NEG")]
    )
    assert value is NEG


def test_interpretation_comes_before_the_value() -> None:
    value, _, _ = reading(
        interpretation=interpretation("POS"), valueCodeableConcept=concept(SNOMED, "260385009")
    )
    assert value is POS


def test_unrelated_interpretation_falls_through_to_the_value() -> None:
    value, _, _ = reading(interpretation=interpretation("H"), valueString="Negative")
    assert value is NEG


def test_conflicting_interpretations_are_uninterpretable() -> None:
    both = [
        {
            "coding": [
                {"system": INTERPRETATION, "code": "POS"},
                {"system": INTERPRETATION, "code": "NEG"},
            ]
        }
    ]
    value, interpretable, _ = reading(interpretation=both)
    assert value is None and not interpretable


@pytest.mark.parametrize(
    ("system", "code", "expected"),
    [
        (SNOMED, "10828004", POS),
        (SNOMED, "11214006", POS),
        (SNOMED, "260373001", POS),
        (SNOMED, "260385009", NEG),
        (SNOMED, "131194007", NEG),
        (SNOMED, "260415000", NEG),
        (LOINC, "LA6576-8", POS),
        (LOINC, "LA6577-6", NEG),
        (LOINC, "LA11882-0", POS),
        (LOINC, "LA11883-8", NEG),
    ],
)
def test_answer_codes(system: str, code: str, expected: Qualitative) -> None:
    value, interpretable, _ = reading(valueCodeableConcept=concept(system, code))
    assert value is expected and interpretable


@pytest.mark.parametrize("code", ["82334004", "42425007", "419984006"])
def test_indeterminate_answers_are_uninterpretable(code: str) -> None:
    value, interpretable, display = reading(valueCodeableConcept=concept(SNOMED, code))
    assert value is None and not interpretable
    assert "cannot be interpreted" in display


def test_answer_display_alone_is_never_read() -> None:
    """SPEC §2: never by display text alone."""
    value, interpretable, _ = reading(
        valueCodeableConcept={
            "coding": [{"system": "http://local", "code": "x", "display": "Positive"}],
            "text": "Positive",
        }
    )
    assert value is None and not interpretable


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Reactive", POS),
        ("REACTIVE", POS),
        ("Positive", POS),
        ("Detected", POS),
        ("Non-Reactive", NEG),
        ("Nonreactive", NEG),
        ("non reactive", NEG),
        ("NOT DETECTED", NEG),
        ("Not Detected.", NEG),
        ("negative (0.21 S/CO)", NEG),
    ],
)
def test_string_words_in_any_case(text: str, expected: Qualitative) -> None:
    value, _, _ = reading(valueString=text)
    assert value is expected


@pytest.mark.parametrize(
    "text", ["see comment", "weakly reactive", "equivocal", "", "reactive?? call lab"]
)
def test_other_strings_are_uninterpretable_and_kept_raw(text: str) -> None:
    (lab,) = read(observation(HBSAG, valueString=text)).labs
    assert lab.qualitative is None and not lab.interpretable
    assert lab.raw == (text.strip() or "no value")


def test_not_detected_is_never_read_as_detected() -> None:
    value, _, _ = reading(valueString="not detected")
    assert value is NEG


@pytest.mark.parametrize(
    ("value", "comparator", "high", "expected"),
    [
        (3.2, None, 1.0, POS),
        (1.0, None, 1.0, POS),
        (0.4, None, 1.0, NEG),
        (0.1, "<", 1.0, NEG),
        (5.0, ">", 1.0, POS),
        (2.0, "<", 1.0, None),
    ],
)
def test_index_against_reference_range_high(
    value: float, comparator: str | None, high: float, expected: Qualitative | None
) -> None:
    extra = {"comparator": comparator} if comparator else {}
    got, _, _ = reading(
        valueQuantity=quantity(value, "{s_co_ratio}", **extra),
        referenceRange=[{"high": quantity(high, "{s_co_ratio}")}],
    )
    assert got is expected


def test_index_against_a_range_text_cutoff() -> None:
    got, _, display = reading(
        valueQuantity={"value": 12.5, "unit": "S/CO"},
        referenceRange=[{"text": "<1.00 Non-reactive"}],
    )
    assert got is POS
    assert "cut-off 1" in display


def test_index_without_a_usable_range_is_uninterpretable() -> None:
    (lab,) = read(observation(ANTI_HBC, valueQuantity=quantity(3.2, "{index}"))).labs
    assert lab.qualitative is None and not lab.interpretable
    assert lab.raw == "3.2 {index}"


def test_pregnancy_status_answers() -> None:
    pregnant = observation("82810-3", valueCodeableConcept=concept(SNOMED, "77386006"))
    not_pregnant = observation(
        "11449-6", oid="o2", valueCodeableConcept=concept(LOINC, "LA26683-5")
    )
    labs = read(pregnant, not_pregnant).labs
    assert [(lab.kind, lab.qualitative) for lab in labs] == [
        (LabKind.PREGNANCY_STATUS, POS),
        (LabKind.PREGNANCY_STATUS, NEG),
    ]
    assert "Pregnant" in labs[0].source.display


def test_pregnancy_answer_code_is_not_a_positive_for_hbsag() -> None:
    value, _, _ = reading(valueCodeableConcept=concept(SNOMED, "77386006"))
    assert value is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1500, POS), (25, POS), (3, NEG), (12, None)],
)
def test_quantitative_hcg_without_range_uses_serum_cutoffs(
    value: float, expected: Qualitative | None
) -> None:
    (lab,) = read(observation("19080-1", valueQuantity=quantity(value, "m[IU]/mL"))).labs
    assert lab.kind is LabKind.HCG
    assert lab.qualitative is expected
    assert lab.value == value and lab.interpretable


def test_hcg_high_flag_reads_positive() -> None:
    (lab,) = read(observation("2106-3", interpretation=interpretation("H"))).labs
    assert lab.qualitative is POS


def test_qualitative_urine_hcg_string() -> None:
    (lab,) = read(observation("2106-3", valueString="Negative")).labs
    assert lab.qualitative is NEG


def test_pregnancy_status_as_boolean() -> None:
    labs = read(
        observation("11449-6", valueBoolean=True),
        observation("11449-6", oid="o2", valueBoolean=False),
    ).labs
    assert [lab.qualitative for lab in labs] == [POS, NEG]
    assert labs[0].raw == "true"


def test_boolean_is_not_read_for_serology() -> None:
    value, interpretable, _ = reading(valueBoolean=True)
    assert value is None and not interpretable
