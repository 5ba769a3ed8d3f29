"""Observations -> LabResult: status filters, dates, units, lower limits (SPEC §2)."""

from __future__ import annotations

from datetime import date

import pytest

from domain.records import LabKind, Qualitative, ResultStatus
from fhir_mappings.read.quantity import QuantityValue, read_quantity
from fhir_mappings.site import Mappings
from fhir_mappings.systems import SYSTEMS

from .fhirdata import (
    ANTI_HBC,
    HBSAG,
    IGG,
    IGM,
    LOINC,
    concept,
    interpretation,
    observation,
    quantity,
    read,
    read_skipped,
)

UCUM = SYSTEMS["ucum"].uri


def igg(value: float, unit: str | None, **extra: object) -> dict[str, object]:
    return observation(IGG, valueQuantity=quantity(value, unit), **extra)


@pytest.mark.parametrize("status", ["final", "amended", "corrected"])
def test_final_amended_corrected_results_are_used(status: str) -> None:
    record = read(observation(status=status, interpretation=interpretation("NEG")))
    (lab,) = record.labs
    assert lab.status is ResultStatus.FINAL
    assert lab.qualitative is Qualitative.NEGATIVE


@pytest.mark.parametrize("status", ["preliminary", "registered"])
def test_preliminary_results_are_kept_as_pending(status: str) -> None:
    record = read(observation(status=status, interpretation=interpretation("POS")))
    (lab,) = record.labs
    assert lab.status is ResultStatus.PENDING
    assert "pending" in lab.source.display
    assert record.data.uninterpretable == 0


@pytest.mark.parametrize("status", ["entered-in-error", "cancelled", "unknown"])
def test_entered_in_error_and_cancelled_results_never_count(status: str) -> None:
    record = read(observation(status=status, interpretation=interpretation("POS")))
    assert record.labs == ()
    assert record.data.read == 2


def test_observation_without_status_is_skipped_and_labs_marked_incomplete() -> None:
    resource = observation(interpretation=interpretation("POS"))
    del resource["status"]
    read_skipped(resource, "labs")


def test_observation_date_order_effective_then_period_then_issued() -> None:
    period = observation(when=None, effectivePeriod={"start": "2025-01-05T08:00:00-08:00"})
    issued = observation(oid="o2", when=None, issued="2025-01-09T16:00:00Z")
    none = observation(oid="o3", when=None)
    record = read(period, issued, none)
    assert [lab.when.earliest if lab.when else None for lab in record.labs] == [
        date(2025, 1, 5),
        date(2025, 1, 9),
        None,
    ]


def test_partial_date_lab_is_kept_as_a_span() -> None:
    (lab,) = read(observation(when="2024-05", interpretation=interpretation("NEG"))).labs
    assert lab.when is not None
    assert (lab.when.earliest, lab.when.latest) == (date(2024, 5, 1), date(2024, 5, 31))
    assert "partial date" in lab.source.display


@pytest.mark.parametrize(
    ("value", "unit", "mg_dl"),
    [(7.1, "g/L", 710.0), (710, "mg/dL", 710.0), (0.71, "g/dL", 710.0), (7100, "mg/L", 710.0)],
)
def test_igg_in_any_mass_unit_is_mg_dl(value: float, unit: str, mg_dl: float) -> None:
    (lab,) = read(igg(value, unit)).labs
    assert lab.kind is LabKind.IGG
    assert lab.value == pytest.approx(mg_dl)
    assert lab.unit == "mg/dL"
    assert lab.interpretable


def test_unit_from_ucum_code_not_printed_unit() -> None:
    resource = observation(IGG, valueQuantity=quantity(7.1, "g/L", unit="grams per litre"))
    (lab,) = read(resource).labs
    assert lab.value == pytest.approx(710)


def test_printed_unit_used_when_system_is_not_ucum() -> None:
    resource = observation(IGG, valueQuantity={"value": 7.1, "unit": "g/L", "code": "GPL"})
    (lab,) = read(resource).labs
    assert lab.value == pytest.approx(710)


def test_unconvertible_unit_is_unknown_never_compared_raw() -> None:
    record = read(igg(850, "U/mL"), igg(850, None, oid="o2"))
    for lab in record.labs:
        assert lab.value is None
        assert lab.unit is None
        assert not lab.interpretable
        assert "850" in lab.raw
    assert record.data.uninterpretable == 2


def test_reference_range_low_in_g_l_becomes_lower_limit_in_mg_dl() -> None:
    resource = igg(
        6.5, "g/L", referenceRange=[{"low": quantity(7.0, "g/L"), "high": quantity(16, "g/L")}]
    )
    (lab,) = read(resource).labs
    assert lab.value == pytest.approx(650)
    assert lab.lower_limit == pytest.approx(700)


def test_reference_range_low_without_unit_takes_the_value_unit() -> None:
    resource = igg(6.5, "g/L", referenceRange=[{"low": {"value": 7.0}}])
    (lab,) = read(resource).labs
    assert lab.lower_limit == pytest.approx(700)


def test_unconvertible_reference_range_low_is_no_lower_limit() -> None:
    resource = igg(650, "mg/dL", referenceRange=[{"low": quantity(4.4, "umol/L")}])
    (lab,) = read(resource).labs
    assert lab.lower_limit is None


def test_comparator_keeps_the_value_and_shows_in_raw() -> None:
    resource = observation(IGM, valueQuantity=quantity(5, "mg/dL", comparator="<"))
    (lab,) = read(resource).labs
    assert lab.value == 5
    assert lab.raw.startswith("<5")


def test_interpretation_of_a_quantitative_igg_is_not_its_value() -> None:
    resource = igg(6.5, "g/L", interpretation=interpretation("L"))
    (lab,) = read(resource).labs
    assert lab.qualitative is None
    assert lab.value == pytest.approx(650)
    resource = observation(IGG, interpretation=interpretation("L"))
    (lab,) = read(resource).labs
    assert lab.value is None and not lab.interpretable


def test_string_value_for_a_quantitative_kind_is_uninterpretable() -> None:
    (lab,) = read(observation(IGG, valueString="see comment")).labs
    assert not lab.interpretable
    assert lab.raw == "see comment"


def test_numeric_value_as_json_string_is_malformed() -> None:
    record = read(observation(IGG, valueQuantity={"value": "7.1", "unit": "g/L"}))
    assert record.labs == ()
    assert record.data.skipped == 1
    assert record.data.problems == (
        "Observation/o1 could not be read: valueQuantity.value is not a number",
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"valueQuantity": {"value": "7.1"}}, "valueQuantity.value is not a number"),
        ({"valueQuantity": ["7.1 g/L"]}, "valueQuantity is not a Quantity"),
        (
            {"valueQuantity": quantity(7.1, "g/L"), "referenceRange": [{"low": {"value": "7"}}]},
            "referenceRange[0].low.value is not a number",
        ),
        (
            {
                "valueQuantity": quantity(7.1, "g/L"),
                "referenceRange": [{"text": "adult"}, {"low": {"value": 7, "unit": 7}}],
            },
            "referenceRange[1].low.unit is not a string",
        ),
        (
            {"component": [{"code": concept(LOINC, "2465-3"), "valueQuantity": {"value": "7"}}]},
            "component[0].valueQuantity.value is not a number",
        ),
        (
            {
                "component": [
                    {"code": concept(LOINC, "8480-6")},
                    {
                        "code": concept(LOINC, "2465-3"),
                        "valueQuantity": quantity(7.1, "g/L"),
                        "referenceRange": [{"low": "7 g/L"}],
                    },
                ]
            },
            "component[1].referenceRange[0].low is not a Quantity",
        ),
    ],
)
def test_a_malformed_quantity_is_reported_by_its_whole_path(
    extra: dict[str, object], message: str
) -> None:
    """The path in the message is joined only when there is an error (labs._quantity)."""
    record = read(observation(IGG, **extra))
    assert record.labs == ()
    assert record.data.problems == (f"Observation/o1 could not be read: {message}",)


def test_unrelated_observation_is_read_but_makes_no_record() -> None:
    record = read(observation("8480-6", valueQuantity=quantity(120, "mm[Hg]")))
    assert record.labs == ()
    assert (record.data.read, record.data.skipped) == (2, 0)


def test_components_are_read_with_the_parent_status_and_date() -> None:
    panel = observation(
        "24362-6",
        component=[
            {"code": concept(LOINC, "5196-1"), "valueString": "Non-reactive"},
            {"code": concept(LOINC, "13952-7"), "interpretation": interpretation("POS")},
            {"code": concept(LOINC, "8480-6"), "valueQuantity": quantity(1, "mm[Hg]")},
        ],
    )
    labs = read(panel).labs
    assert {(lab.kind, lab.qualitative) for lab in labs} == {
        (LabKind.HBSAG, Qualitative.NEGATIVE),
        (LabKind.ANTI_HBC_TOTAL, Qualitative.POSITIVE),
    }
    assert all(lab.source.matched_by.endswith("(component)") for lab in labs)
    assert all(lab.when and lab.when.earliest == date(2025, 3, 2) for lab in labs)


def test_cbc_panel_and_members() -> None:
    panel = observation("58410-2", oid="cbc", hasMember=[{"reference": "Observation/wbc"}])
    wbc = observation("6690-2", oid="wbc", valueQuantity=quantity(6.2, "10*3/uL"))
    lymph = observation("731-0", oid="ly", valueQuantity=quantity(1800, "/uL"))
    labs = {lab.kind: lab for lab in read(panel, wbc, lymph).labs}
    assert labs[LabKind.CBC_PANEL].interpretable
    assert labs[LabKind.WBC].value == pytest.approx(6.2)
    assert labs[LabKind.LYMPHOCYTES].value == pytest.approx(1.8)


def test_lymphocyte_percentage_is_not_matched_as_a_count() -> None:
    assert read(observation("736-9", valueQuantity=quantity(30, "%"))).labs == ()


def test_cbc_diagnostic_report_counts_as_a_cbc() -> None:
    report = {
        "resourceType": "DiagnosticReport",
        "id": "dr1",
        "status": "final",
        "code": concept(LOINC, "58410-2"),
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2025-02-02",
    }
    (lab,) = read(report).labs
    assert lab.kind is LabKind.CBC_PANEL and lab.status is ResultStatus.FINAL
    assert lab.source.reference == "DiagnosticReport/dr1"


def test_evidence_names_the_result_value_date_and_code() -> None:
    (lab,) = read(observation(interpretation=interpretation("NEG"))).labs
    assert lab.source.display == "HBsAg: Negative (interpretation NEG) on 2025-03-02"
    assert lab.source.matched_by == "LOINC 5196-1"
    assert lab.source.reference == "Observation/o1"
    assert lab.raw == "interpretation NEG"
    (lab,) = read(igg(7.1, "g/L")).labs
    assert lab.source.display == "IgG: 710 mg/dL (7.1 g/L) on 2025-03-02"


def test_hbv_dna_in_iu_and_in_copies() -> None:
    iu = observation("42595-9", valueQuantity=quantity(20, "[IU]/mL", comparator="<"))
    copies = observation("29615-2", oid="o2", valueQuantity=quantity(100, "{copies}/mL"))
    first, second = read(iu, copies).labs
    # "<20 IU/mL" alone cannot say whether HBV DNA was detected (SPEC §2): shown, not used.
    assert first.value == 20 and first.comparator == "<" and not first.interpretable
    # Copies do not convert to IU, but 100 copies/mL is detectable whatever the unit.
    assert second.value is None and second.interpretable
    assert second.qualitative is Qualitative.POSITIVE


@pytest.mark.parametrize(
    ("element", "expected"),
    [
        ({"value": 7, "unit": "g/L"}, QuantityValue(7.0, "", "g/L", "g/L")),
        (
            {"value": 0.5, "comparator": "<", "unit": " mg/dL ", "code": "mg/dL", "system": UCUM},
            QuantityValue(0.5, "<", "mg/dL", "mg/dL"),
        ),
        (
            {"value": -0.0, "comparator": "~", "code": "10*3/uL"},
            QuantityValue(-0.0, "", "10*3/uL", "10*3/uL"),
        ),
        ({"value": 1.5}, QuantityValue(1.5, "", None, "")),
    ],
)
def test_a_quantity_is_built_as_its_constructor_builds_it(
    element: dict[str, object], expected: QuantityValue
) -> None:
    """`read_quantity` builds its tuple without the NamedTuple's `__new__`: the same value."""
    found = read_quantity(element, "valueQuantity")
    assert type(found) is QuantityValue
    assert found == expected and repr(found) == repr(expected)
    assert found.raw() == expected.raw() and found._replace(value=2.0).value == 2.0


#: Pairs of value elements that differ only in what a type-blind or absent-blind memo key
#: would miss; each pair read together (the second from the first's memo) must read as
#: each alone.
LOOKALIKE_VALUES: list[tuple[dict[str, object], dict[str, object]]] = [
    ({"valueQuantity": quantity(0.0, "g/L")}, {"valueQuantity": quantity(-0.0, "g/L")}),
    ({"valueQuantity": quantity(7, "g/L")}, {"valueQuantity": quantity(7.0, "g/L")}),
    ({"valueQuantity": {"value": 1, "unit": "g/L"}}, {"valueQuantity": {"value": True}}),
    ({"valueQuantity": quantity(7.1, "g/L")}, {"valueQuantity": quantity(7.1, "mg/dL")}),
    (
        {"valueQuantity": quantity(7.1, "g/L")},
        {"valueQuantity": {**quantity(7.1, "g/L"), "comparator": "<"}},
    ),
    (
        {"valueQuantity": quantity(7.1, "g/L"), "referenceRange": [{"low": quantity(7, "g/L")}]},
        {"valueQuantity": quantity(7.1, "g/L"), "referenceRange": [{"low": quantity(7, "")}]},
    ),
    ({}, {"valueBoolean": None}),
    ({}, {"valueCodeableConcept": None}),
    ({"valueString": "Negative"}, {"valueString": "negative "}),
    ({"interpretation": interpretation("NEG")}, {"interpretation": interpretation("POS")}),
    ({"interpretation": interpretation("NEG")}, {"valueCodeableConcept": None}),
    ({"dataAbsentReason": concept(LOINC, "x")}, {"dataAbsentReason": {"text": "asked"}}),
]


@pytest.mark.parametrize("code", [IGG, HBSAG, ANTI_HBC, "29615-2", "2106-3", "82810-3"])
@pytest.mark.parametrize(("first", "second"), LOOKALIKE_VALUES)
def test_a_remembered_lab_value_is_only_ever_the_same_json(
    code: str, first: dict[str, object], second: dict[str, object]
) -> None:
    """labs._value remembers a result's reading by its value elements: a look-alike (0.0 and
    -0.0, 7 and 7.0, absent and null, another unit or comparator) reads as when alone."""
    mappings = Mappings()
    together = read(
        observation(code, oid="a", **first),
        observation(code, oid="b", when="2025-04-01", **second),
        mappings=mappings,
    )
    alone = read(observation(code, oid="b", when="2025-04-01", **second), mappings=Mappings())
    assert [lab for lab in together.labs if lab.source.reference == "Observation/b"] == list(
        alone.labs
    )
    again = read(observation(code, oid="a", **first), mappings=mappings)
    assert again.labs == read(observation(code, oid="a", **first), mappings=Mappings()).labs


def test_the_same_value_on_other_days_keeps_each_results_own_date_and_source() -> None:
    mappings = Mappings()
    value = {"valueQuantity": quantity(7.1, "g/L"), "referenceRange": [{"low": quantity(7, "g/L")}]}
    labs = read(
        observation(IGG, oid="a", when="2025-01-02", **value),
        observation(IGG, oid="b", when="2025-02-03", status="preliminary", **value),
        observation(IGG, oid="c", when="2025-03-04", **value),
        mappings=mappings,
    ).labs
    by_source = {lab.source.reference: lab for lab in labs}
    assert by_source["Observation/a"].source.display == "IgG: 710 mg/dL (7.1 g/L) on 2025-01-02"
    assert by_source["Observation/b"].source.display.startswith("IgG: pending (preliminary)")
    assert by_source["Observation/c"].source.display == "IgG: 710 mg/dL (7.1 g/L) on 2025-03-04"
    assert by_source["Observation/c"].lower_limit == pytest.approx(700)
    assert by_source["Observation/b"].status is ResultStatus.PENDING
