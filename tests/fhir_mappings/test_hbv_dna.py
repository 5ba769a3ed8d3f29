"""HBV DNA read as detectable or not, and quantitative HBsAg (SPEC §2 "Qualitative results")."""

from __future__ import annotations

from typing import Any

import pytest

from domain.records import LabResult, Qualitative

from .fhirdata import INTERPRETATION, concept, interpretation, observation, quantity, read

POS, NEG = Qualitative.POSITIVE, Qualitative.NEGATIVE
HBV_DNA_IU = "42595-9"


def dna(code: str = HBV_DNA_IU, **value: Any) -> LabResult:
    (lab,) = read(observation(code, **value)).labs
    return lab


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (35.0, "[IU]/mL", POS),
        (0.5, "[IU]/mL", POS),
        (0.0, "[IU]/mL", NEG),
        (250.0, "{copies}/mL", POS),  # copies do not convert to IU; detected all the same
        (1.3, "[log_IU]/mL", POS),  # a log value is only reported for a measured amount
        (0.0, "log IU/mL", POS),  # log 0 = 1 IU/mL
    ],
)
def test_an_exact_quantity_above_zero_is_detectable_in_any_unit(
    value: float, unit: str, expected: Qualitative
) -> None:
    lab = dna(valueQuantity=quantity(value, None, unit))
    assert lab.qualitative is expected and lab.interpretable


def test_a_below_bound_alone_is_uninterpretable_and_shown_as_written() -> None:
    lab = dna(valueQuantity=quantity(20, "[IU]/mL", comparator="<"))
    assert lab.qualitative is None and not lab.interpretable
    assert lab.raw.startswith("<20")


def test_detected_wins_over_a_below_bound() -> None:
    # "<20 IU/mL, detected": possible early reactivation.
    lab = dna(
        valueQuantity=quantity(20, "[IU]/mL", comparator="<"), interpretation=interpretation("DET")
    )
    assert lab.qualitative is POS
    assert "interpretation DET" in lab.source.display


def test_not_detected_with_a_below_bound_is_not_detectable() -> None:
    lab = dna(
        valueQuantity=quantity(10, "[IU]/mL", comparator="<"), interpretation=interpretation("ND")
    )
    assert lab.qualitative is NEG


def test_an_above_bound_is_detectable() -> None:
    lab = dna(valueQuantity=quantity(170000000, "[IU]/mL", comparator=">"))
    assert lab.qualitative is POS


def test_the_laboratory_limit_of_detection_is_respected() -> None:
    above = dna(
        valueQuantity=quantity(12, "[IU]/mL"),
        referenceRange=[{"low": quantity(10, "[IU]/mL")}],
    )
    assert above.qualitative is POS
    at = dna(
        valueQuantity=quantity(10, "[IU]/mL"),
        referenceRange=[{"low": quantity(10, "[IU]/mL")}],
    )
    assert at.qualitative is None and not at.interpretable


@pytest.mark.parametrize(
    ("text", "expected"),
    [("Detected", POS), ("Not detected", NEG), ("TARGET NOT DETECTED", NEG), ("see note", None)],
)
def test_qualitative_hbv_dna_words(text: str, expected: Qualitative | None) -> None:
    lab = dna("29610-3", valueString=text)
    assert lab.qualitative is expected


def test_qualitative_hbv_dna_answer_codes() -> None:
    detected = dna("5007-0", valueCodeableConcept=concept("http://snomed.info/sct", "260373001"))
    assert detected.qualitative is POS


@pytest.mark.parametrize(
    "code", ["45161-7", "48398-2", "20442-0", "29900-8", "32686-8", "29610-3", "49360-1"]
)
def test_every_common_hbv_dna_code_is_read_as_hbv_dna(code: str) -> None:
    lab = dna(code, valueQuantity=quantity(100, None, "IU/mL"))
    assert lab.kind.value == "hbv_dna" and lab.qualitative is POS


def test_hbv_dna_in_csf_is_not_a_viraemia_result() -> None:
    assert read(observation("49357-7", valueQuantity=quantity(100, "[IU]/mL"))).labs == ()


# --- quantitative HBsAg ------------------------------------------------------------------


def test_quantitative_hbsag_keeps_its_value_in_iu_for_the_rules_threshold() -> None:
    (lab,) = read(observation("63557-3", valueQuantity=quantity(0.05, "[IU]/mL"))).labs
    assert lab.kind.value == "hbsag" and lab.interpretable
    assert lab.qualitative is None and lab.value == pytest.approx(0.05)


def test_quantitative_hbsag_in_miu_converts() -> None:
    (lab,) = read(observation("63557-3", valueQuantity=quantity(49, "m[IU]/mL"))).labs
    assert lab.value == pytest.approx(0.049)


def test_quantitative_hbsag_with_a_range_is_read_against_it() -> None:
    (lab,) = read(
        observation(
            "63557-3",
            valueQuantity=quantity(0.03, "[IU]/mL"),
            referenceRange=[{"high": quantity(0.05, "[IU]/mL")}],
        )
    ).labs
    assert lab.qualitative is NEG


def test_hbsag_index_without_unit_or_range_stays_uninterpretable() -> None:
    (lab,) = read(observation(valueQuantity=quantity(2.5, None, "S/CO"))).labs
    assert lab.qualitative is None and lab.value is None and not lab.interpretable


def test_interpretation_system_alias_used_in_tests_is_the_v3_one() -> None:
    assert INTERPRETATION.endswith("v3-ObservationInterpretation")
