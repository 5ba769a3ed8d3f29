"""Unit conversion to the canonical units (SPEC §2 "Quantitative results")."""

from __future__ import annotations

import pytest

from fhir_mappings.ucum import convert, parse_unit


@pytest.mark.parametrize(
    ("value", "unit", "mg_dl"),
    [
        (850, "mg/dL", 850),
        (7.1, "g/L", 710),
        (0.71, "g/dL", 710),
        (7100, "mg/L", 710),
        (7.1, "mg/mL", 710),
        (710, "mg/100mL", 710),
        (710, "mg/dl", 710),
        (7.1, "G/L", 710),
        (710, "MG/DL", 710),
    ],
)
def test_immunoglobulin_concentrations_convert_to_mg_dl(
    value: float, unit: str, mg_dl: float
) -> None:
    assert convert(value, unit, "mg/dL") == pytest.approx(mg_dl)


@pytest.mark.parametrize(
    ("value", "unit", "per_ul_thousands"),
    [
        (6.2, "10*3/uL", 6.2),
        (6.2, "10*9/L", 6.2),
        (6200, "/uL", 6.2),
        (6200, "/mm3", 6.2),
        (6200, "cells/uL", 6.2),
        (6200, "{cells}/uL", 6.2),
        (6.2, "K/uL", 6.2),
        (6.2, "x10E3/uL", 6.2),
        (6.2, "10^3/uL", 6.2),
        (6200, "10*6/L", 6.2),
        (6.2, "thou/uL", 6.2),
    ],
)
def test_cell_counts_convert_to_thousands_per_microlitre(
    value: float, unit: str, per_ul_thousands: float
) -> None:
    assert convert(value, unit, "10*3/uL") == pytest.approx(per_ul_thousands)


def test_cd19_count_to_per_microlitre() -> None:
    assert convert(0.15, "10*9/L", "/uL") == pytest.approx(150)


@pytest.mark.parametrize(
    ("value", "unit", "target", "expected"),
    [
        (12, "mIU/mL", "m[IU]/mL", 12),
        (12, "IU/L", "m[IU]/mL", 12),
        (0.012, "[IU]/mL", "m[IU]/mL", 12),
        (2000, "IU/mL", "[IU]/mL", 2000),
    ],
)
def test_international_units(value: float, unit: str, target: str, expected: float) -> None:
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
