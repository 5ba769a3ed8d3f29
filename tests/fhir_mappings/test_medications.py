"""Ofatumumab recognition: Kesimpta doses and orders counted, Arzerra never (SPEC §2)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from .fhirdata import (
    ATC,
    IV,
    NDC,
    RXNORM,
    SC,
    SNOMED,
    SUBJECT,
    administration,
    concept,
    kesimpta_atc,
    medication,
    order,
    quantity,
    read,
    read_skipped,
)


def test_kesimpta_by_atc_in_medication_codeable_concept_is_a_dose() -> None:
    record = read(administration(kesimpta_atc()))
    (dose,) = record.doses
    assert dose.amount_mg == 20
    assert dose.when.earliest == date(2025, 1, 6)
    assert dose.source.matched_by == "ATC L04AG12"
    assert dose.source.reference == "MedicationAdministration/ma1"
    assert "Kesimpta 20 mg, subcutaneous" in dose.source.display


@pytest.mark.parametrize(
    "code",
    ["0078-1007-68", "00078-1007-68", "0078100768", "00078100768", "0078-1007-69", "0078-1007"],
)
def test_kesimpta_by_ndc_in_any_form(code: str) -> None:
    (dose,) = read(administration(concept(NDC, code))).doses
    assert dose.source.matched_by == f"NDC {code}"


def test_referenced_medication_is_resolved_and_counted_once() -> None:
    med = medication("m1", concept(NDC, "0078-1007-68"))
    first = administration(None, medicationReference={"reference": "Medication/m1"})
    second = administration(
        None, aid="ma2", when="2025-01-13", medicationReference={"reference": "Medication/m1"}
    )
    record = read(med, first, second)
    assert len(record.doses) == 2
    assert record.data.read == 4  # Patient, two administrations, the Medication once


def test_included_medication_referenced_by_absolute_url() -> None:
    med = medication("m1", concept(NDC, "00078100768"))
    ref = {"reference": "https://ehr.example.org/fhir/Medication/m1/_history/3"}
    (dose,) = read(med, administration(None, medicationReference=ref)).doses
    assert dose.source.matched_by == "NDC 00078100768"


def test_contained_medication_by_local_reference() -> None:
    contained = medication("k", concept(ATC, "L04AG12"))
    resource = administration(None, contained=[contained], medicationReference={"reference": "#k"})
    (dose,) = read(resource).doses
    assert dose.source.matched_by == "ATC L04AG12"


def test_unresolvable_reference_is_not_a_dose() -> None:
    record = read(administration(None, medicationReference={"reference": "Medication/missing"}))
    assert record.doses == ()
    assert record.data.skipped == 0


def test_medication_not_referenced_by_this_patient_is_not_counted() -> None:
    record = read(medication("m9", concept(NDC, "0078-1007-68")))
    assert record.data.read == 1


@pytest.mark.parametrize(
    "status", ["in-progress", "not-done", "on-hold", "stopped", "entered-in-error", "unknown"]
)
def test_only_completed_administrations_are_doses(status: str) -> None:
    assert read(administration(kesimpta_atc(), status=status)).doses == ()


def test_medication_statement_is_never_a_dose() -> None:
    statement = {
        "resourceType": "MedicationStatement",
        "id": "ms1",
        "status": "completed",
        "medicationCodeableConcept": kesimpta_atc(),
        "subject": SUBJECT,
        "effectiveDateTime": "2025-01-06",
    }
    record = read(statement)
    assert record.doses == ()
    assert record.data.read == 2


@pytest.mark.parametrize(
    ("medication_concept", "route", "reason"),
    [
        (concept(NDC, "0078-0690-61", text="Arzerra 1,000 mg/50 mL"), IV, "NDC 0078-0690-61"),
        (concept(NDC, "00078066913"), SC, "NDC 00078066913"),
        (concept(ATC, "L01FA02", "ofatumumab"), None, "ATC L01FA02"),
        (concept(ATC, "L04AG12", "ofatumumab"), IV, "intravenous route"),
        ({"text": "Arzerra (ofatumumab) injection"}, SC, "the name Arzerra"),
        ({"text": "ofatumumab 20 mg/mL vial"}, SC, "Arzerra strength (20 mg/mL vial)"),
        ({"text": "ofatumumab 1000 mg"}, None, "Arzerra strength (20 mg/mL vial)"),
        ({"text": "ofatumumab"}, {"text": "IV infusion"}, "intravenous route"),
    ],
)
def test_arzerra_is_never_counted_and_is_reported(
    medication_concept: dict[str, Any], route: dict[str, Any] | None, reason: str
) -> None:
    record = read(
        administration(medication_concept, aid="9", route=route, dose=quantity(300, "mg"))
    )
    assert record.doses == ()
    assert record.data.problems == (
        f"MedicationAdministration/9 is IV ofatumumab (Arzerra: {reason}), "
        "not counted as a Kesimpta dose",
    )


def test_arzerra_strength_from_the_medication_ingredient() -> None:
    med = medication(
        "m1",
        {"text": "ofatumumab injection"},
        ingredient=[
            {
                "itemCodeableConcept": {"text": "ofatumumab"},
                "strength": {"numerator": quantity(1000, "mg"), "denominator": quantity(50, "mL")},
            }
        ],
    )
    record = read(med, administration(None, medicationReference={"reference": "Medication/m1"}))
    assert record.doses == ()
    assert "Arzerra" in record.data.problems[0]


def test_text_fallback_with_subcutaneous_route_counts_and_says_so() -> None:
    (dose,) = read(administration({"text": "ofatumumab pen"}, route=SC)).doses
    assert dose.source.matched_by == "matched by text (route subcutaneous)"


def test_the_brand_word_alone_is_enough() -> None:
    # SPEC v2 §2: "kesimpta" needs no route or dose; its pen is the labelled 20 mg.
    record = read(administration({"text": "KESIMPTA"}, route=None, dose=quantity(1, "{pen}")))
    (dose,) = record.doses
    assert dose.source.matched_by == "matched by text (brand name Kesimpta)"
    assert dose.amount_mg == 20
    assert record.data.incomplete == frozenset()


@pytest.mark.parametrize(
    "dose", [quantity(20, "mg"), quantity(0.4, "mL"), quantity(1, None, unit="pen")]
)
def test_the_generic_word_with_the_labelled_dose_counts(dose: dict[str, Any]) -> None:
    (found,) = read(administration({"text": "ofatumumab"}, route=None, dose=dose)).doses
    assert found.source.matched_by == "matched by text (dose 20 mg)"


def test_the_generic_word_with_another_dose_is_iv_ofatumumab_listed_not_incomplete() -> None:
    record = read(
        administration({"text": "ofatumumab"}, aid="5", route=SC, dose=quantity(300, "mg"))
    )
    assert record.doses == ()
    assert record.data.incomplete == frozenset()
    assert "MedicationAdministration/5 is IV ofatumumab" in record.data.problems[0]


def test_text_fallback_with_route_words_counts() -> None:
    (dose,) = read(
        administration({"text": "ofatumumab"}, route={"text": "SC"}, dose=quantity(1, None))
    ).doses
    assert dose.source.matched_by == "matched by text (route subcutaneous)"


def test_text_fallback_with_20_mg_dose_counts() -> None:
    (dose,) = read(administration({"text": "Ofatumumab injection"}, route=None)).doses
    assert dose.source.matched_by == "matched by text (dose 20 mg)"


def test_text_without_route_or_dose_is_not_counted_and_makes_doses_incomplete() -> None:
    record = read(
        administration({"text": "ofatumumab"}, aid="7", route=None, dose=quantity(1, None))
    )
    assert record.doses == ()
    assert "MedicationAdministration/7 names ofatumumab" in record.data.problems[0]
    assert record.data.incomplete == frozenset({"doses"})
    assert record.data.reasons[0][0] == "doses"


def test_a_brand_display_alone_counts_and_an_unreadable_amount_is_kept_but_incomplete() -> None:
    coded = {"coding": [{"system": "http://local", "code": "123", "display": "Kesimpta"}]}
    record = read(administration(coded, route=None, dose=quantity(2, "mL")))
    (dose,) = record.doses
    assert dose.amount_mg == 100  # 2 mL of a 50 mg/mL product: dose-interval flags it
    odd = read(administration(coded, route=None, dose=quantity(1, "{tbl}")))
    (dose,) = odd.doses
    assert dose.amount_mg is None
    assert odd.data.incomplete == frozenset({"doses"})


def test_other_drugs_are_read_and_ignored_quietly() -> None:
    record = read(administration(concept(RXNORM, "860975", "metformin"), route=None))
    assert record.doses == () and record.data.problems == ()


@pytest.mark.parametrize(
    ("dose", "mg"),
    [
        (quantity(20, "mg"), 20.0),
        (quantity(0.02, "g"), 20.0),
        (quantity(0.4, "mL"), 20.0),
        (quantity(1, None, unit="pen"), 20.0),
        (quantity(2, "{syringe}"), 40.0),
        (quantity(40, "mg"), 40.0),
        (quantity(1, "{tbl}"), None),
    ],
)
def test_dose_amount_in_mg(dose: dict[str, Any], mg: float | None) -> None:
    (found,) = read(administration(kesimpta_atc(), dose=dose)).doses
    assert found.amount_mg == (pytest.approx(mg) if mg is not None else None)


def test_dose_volume_uses_the_medication_strength() -> None:
    med = medication(
        "k",
        concept(NDC, "0078-1007-68"),
        ingredient=[
            {"strength": {"numerator": quantity(20, "mg"), "denominator": quantity(0.4, "mL")}}
        ],
    )
    resource = administration(
        None, contained=[med], medicationReference={"reference": "#k"}, dose=quantity(0.8, "mL")
    )
    (dose,) = read(resource).doses
    assert dose.amount_mg == pytest.approx(40)


def test_dose_date_from_effective_period_start_in_its_own_offset() -> None:
    resource = administration(kesimpta_atc(), when="x")
    del resource["effectiveDateTime"]
    resource["effectivePeriod"] = {"start": "2025-01-06T23:45:00-06:00"}
    (dose,) = read(resource).doses
    assert dose.when.earliest == date(2025, 1, 6)


def test_kesimpta_administration_without_date_is_skipped_and_doses_incomplete() -> None:
    resource = administration(kesimpta_atc())
    del resource["effectiveDateTime"]
    read_skipped(resource, "doses")


def test_malformed_referenced_medication_is_skipped_with_its_administration() -> None:
    med = medication("m1", 5)
    record = read(med, administration(None, medicationReference={"reference": "Medication/m1"}))
    assert record.doses == ()
    assert record.data.skipped == 2
    assert {"doses", "orders"} <= record.data.incomplete


def test_site_rxnorm_code_makes_a_dose_count(tmp_path: Any) -> None:
    from fhir_mappings.site import load_mappings

    path = tmp_path / "site.json"
    path.write_text('{"rxnorm": {"ofatumumab": ["999001"]}}')
    resource = administration(concept(RXNORM, "999001"), route=None, dose=quantity(1, "mL"))
    assert read(resource).doses == ()
    (dose,) = read(resource, mappings=load_mappings(str(path))).doses
    assert dose.source.matched_by == "RxNorm 999001 (site)"


def request(**extra: Any) -> dict[str, Any]:
    fields = {
        "subject": SUBJECT,
        "medicationCodeableConcept": kesimpta_atc(),
        "authoredOn": "2025-01-02",
        **extra,
    }
    return order(**fields)


def test_medication_request_start_prefers_validity_then_bounds_then_authored() -> None:
    bounds = {"timing": {"repeat": {"boundsPeriod": {"start": "2025-01-20"}}}}
    validity = {"validityPeriod": {"start": "2025-01-15"}}
    (order,) = read(request(dosageInstruction=[bounds], dispenseRequest=validity)).orders
    assert order.start is not None and order.start.earliest == date(2025, 1, 15)
    (order,) = read(request(dosageInstruction=[bounds])).orders
    assert order.start is not None and order.start.earliest == date(2025, 1, 20)
    (order,) = read(request()).orders
    assert order.start is not None and order.start.earliest == date(2025, 1, 2)
    assert (order.status, order.intent) == ("active", "order")
    assert order.source.matched_by == "ATC L04AG12"


def test_entered_in_error_request_is_no_order() -> None:
    assert read(request(status="entered-in-error")).orders == ()


def test_arzerra_request_is_no_order_and_is_reported() -> None:
    arzerra = request(medicationCodeableConcept=concept(ATC, "L01FA02"))
    record = read(arzerra)
    assert record.orders == ()
    assert "MedicationRequest/mr1 is IV ofatumumab" in record.data.problems[0]


def test_request_text_fallback_needs_route_or_dose_for_the_generic_word() -> None:
    brand_only = request(medicationCodeableConcept={"text": "Kesimpta"})
    (order,) = read(brand_only).orders
    assert order.source.matched_by == "matched by text (brand name Kesimpta)"
    generic_only = read(request(medicationCodeableConcept={"text": "ofatumumab"}))
    assert generic_only.orders == ()
    assert generic_only.data.incomplete == frozenset({"orders"})
    with_route = request(
        medicationCodeableConcept={"text": "ofatumumab"},
        dosageInstruction=[{"route": concept(SNOMED, "34206005")}],
    )
    (order,) = read(with_route).orders
    assert order.source.matched_by == "matched by text (route subcutaneous)"


def _strength_administration(value: object, aid: str, when: str) -> dict[str, Any]:
    """A dose of 0.8 mL of a contained Medication whose strength is `value` mg per 0.4 mL."""
    strength = {"numerator": {"value": value, "unit": "mg"}, "denominator": quantity(0.4, "mL")}
    med = medication("k", concept(NDC, "0078-1007-68"), ingredient=[{"strength": strength}])
    return administration(
        None,
        aid=aid,
        when=when,
        contained=[med],
        medicationReference={"reference": "#k", "display": "Kesimpta"},
        dose=quantity(0.8, "mL"),
    )


def _dose_administration(value: object, aid: str, when: str) -> dict[str, Any]:
    return administration(kesimpta_atc(), aid=aid, when=when, dose={"value": value, "unit": "mg"})


@pytest.mark.parametrize("build", [_dose_administration, _strength_administration])
@pytest.mark.parametrize(
    ("first", "second"),
    [(20, True), (True, 20), (1, True), (20, 20.0), (20.0, 20), (0.0, -0.0), ("20", 20)],
)
def test_administrations_differing_only_in_a_json_type_read_as_each_alone(
    build: Any, first: object, second: object
) -> None:
    """A patient's administrations remember what all but their date reads as (`_administered`,
    keyed by `memo.json_key`): JSON true is not 1, 1 is not 1.0, "20" is not 20, 0.0 is not
    -0.0 — in the dose and in a contained Medication's strength."""
    a = build(first, "ma1", "2025-01-06T09:00:00+01:00")
    b = build(second, "ma2", "2025-02-06T09:00:00+01:00")
    together, alone = read(a, b), (read(a), read(b))
    assert together.doses == alone[0].doses + alone[1].doses
    assert together.data.skipped == alone[0].data.skipped + alone[1].data.skipped
    assert together.data.problems == tuple(sorted(alone[0].data.problems + alone[1].data.problems))
    assert together.data.incomplete == alone[0].data.incomplete | alone[1].data.incomplete
