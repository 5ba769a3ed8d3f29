"""Unit conversion to the canonical units (SPEC §2 "Quantitative results")."""

from __future__ import annotations

import pytest

from fhir_mappings.ucum import convert, parse_unit


@pytest.mark.parametrize(
    ("value", "unit", "target", "expected"),
    [
        # Immunoglobulin concentrations, compared in mg/dL.
        (850, "mg/dL", "mg/dL", 850),
        (7.1, "g/L", "mg/dL", 710),
        (0.71, "g/dL", "mg/dL", 710),
        (7100, "mg/L", "mg/dL", 710),
        (7.1, "mg/mL", "mg/dL", 710),
        (710, "mg/100mL", "mg/dL", 710),
        (710, "mg/dl", "mg/dL", 710),
        (7.1, "G/L", "mg/dL", 710),
        (710, "MG/DL", "mg/dL", 710),
        # Cell counts, compared in thousands per microlitre.
        (6.2, "10*3/uL", "10*3/uL", 6.2),
        (6.2, "10*9/L", "10*3/uL", 6.2),
        (6200, "/uL", "10*3/uL", 6.2),
        (6200, "/mm3", "10*3/uL", 6.2),
        (6200, "cells/uL", "10*3/uL", 6.2),
        (6200, "{cells}/uL", "10*3/uL", 6.2),
        (6.2, "K/uL", "10*3/uL", 6.2),
        (6.2, "x10E3/uL", "10*3/uL", 6.2),
        (6.2, "10^3/uL", "10*3/uL", 6.2),
        (6200, "10*6/L", "10*3/uL", 6.2),
        (6.2, "thou/uL", "10*3/uL", 6.2),
        # The CD19 count, per microlitre.
        (0.15, "10*9/L", "/uL", 150),
        # International units.
        (12, "mIU/mL", "m[IU]/mL", 12),
        (12, "IU/L", "m[IU]/mL", 12),
        (0.012, "[IU]/mL", "m[IU]/mL", 12),
        (2000, "IU/mL", "[IU]/mL", 2000),
    ],
)
def test_converts_to_the_unit_the_rules_compare_in(
    value: float, unit: str, target: str, expected: float
) -> None:
    assert convert(value, unit, target) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("unit", "target"),
    [
        ("%", "10*3/uL"),
        ("mmol/L", "mg/dL"),
        ("g", "mg/dL"),
        ("{copies}/mL", "[IU]/mL"),
        ("log IU/mL", "[IU]/mL"),
        ("mg/dL", "10*3/uL"),
        ("S/CO", "mg/dL"),
        ("", "mg/dL"),
        (None, "mg/dL"),
        ("g/(24.h)", "mg/dL"),
    ],
)
def test_units_that_cannot_convert_give_none(unit: str | None, target: str) -> None:
    assert convert(1.0, unit, target) is None


def test_dimensionless_annotations_and_percent() -> None:
    index = parse_unit("{s_co_ratio}")
    assert index is not None and index.dimension == (0, 0, 0) and index.factor == 1.0
    percent = parse_unit("%")
    assert percent is not None and percent.factor == pytest.approx(0.01)
