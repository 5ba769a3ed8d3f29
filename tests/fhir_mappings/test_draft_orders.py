"""CDS Hooks draft orders → stand-in resources dated on the order date."""

from __future__ import annotations

from datetime import date
from typing import Any

from fhir_mappings.read.draft_orders import read_draft_orders

from .fhirdata import ATC, CVX, order

TODAY = date(2026, 5, 10)


def bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in resources],
    }


def request(status: str = "draft", **extra: Any) -> dict[str, Any]:
    kesimpta = {"coding": [{"system": ATC, "code": "L04AG12"}], "text": "Kesimpta"}
    return order(status, **{"medicationCodeableConcept": kesimpta, **extra})


def test_medication_request_becomes_a_completed_administration_today() -> None:
    drafts = read_draft_orders(bundle(request()), "p1", TODAY)
    (order,) = drafts.orders
    assert order.reference == "MedicationRequest/mr1"
    assert order.on == TODAY
    assert order.display == "Kesimpta"
    assert order.stand_in == {
        "resourceType": "MedicationAdministration",
        "id": "cds-draft-1",
        "status": "completed",
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2026-05-10",
        "medicationCodeableConcept": {
            "coding": [{"system": ATC, "code": "L04AG12"}],
            "text": "Kesimpta",
        },
    }
    assert order.stand_in_reference == "MedicationAdministration/cds-draft-1"


def test_order_date_prefers_the_planned_day_then_authored_on() -> None:
    planned = request(
        authoredOn="2026-05-01",
        dispenseRequest={"validityPeriod": {"start": "2026-05-20"}},
        dosageInstruction=[{"timing": {"repeat": {"boundsPeriod": {"start": "2026-05-15"}}}}],
    )
    assert read_draft_orders(bundle(planned), "p1", TODAY).orders[0].on == date(2026, 5, 15)
    written = request(authoredOn="2026-05-08T10:00:00+02:00")
    assert read_draft_orders(bundle(written), "p1", TODAY).orders[0].on == date(2026, 5, 8)
    partial = request(authoredOn="2026-05")
    assert read_draft_orders(bundle(partial), "p1", TODAY).orders[0].on == TODAY


def test_cvx_coded_orders_become_immunizations() -> None:
    mmr = {"coding": [{"system": CVX, "code": "03"}], "text": "MMR"}
    service = {
        "resourceType": "ServiceRequest",
        "id": "sr1",
        "status": "draft",
        "intent": "order",
        "code": mmr,
    }
    medication = request(medicationCodeableConcept=mmr, id="mr2")
    drafts = read_draft_orders(bundle(service, medication), "p1", TODAY)
    assert [o.stand_in["resourceType"] for o in drafts.orders if o.stand_in] == [
        "Immunization",
        "Immunization",
    ]
    assert drafts.orders[0].stand_in["vaccineCode"] == mmr  # type: ignore[index]
    assert drafts.orders[0].stand_in["occurrenceDateTime"] == "2026-05-10"  # type: ignore[index]


def test_medication_in_the_bundle_is_resolved_and_a_missing_one_is_named() -> None:
    vaccine = {
        "resourceType": "Medication",
        "id": "m1",
        "code": {"coding": [{"system": CVX, "code": "03"}]},
    }
    by_reference = request(id="mr3")
    del by_reference["medicationCodeableConcept"]
    by_reference["medicationReference"] = {"reference": "Medication/m1"}
    elsewhere = request(id="mr4")
    del elsewhere["medicationCodeableConcept"]
    elsewhere["medicationReference"] = {"reference": "Medication/on-server"}
    drafts = read_draft_orders(bundle(vaccine, by_reference, elsewhere), "p1", TODAY)
    assert drafts.orders[0].stand_in["resourceType"] == "Immunization"  # type: ignore[index]
    assert drafts.orders[1].stand_in["resourceType"] == "MedicationAdministration"  # type: ignore[index]
    assert drafts.missing_medications == ("Medication/on-server",)
    assert [m["id"] for m in drafts.medications] == ["m1"]


def test_lab_orders_have_no_stand_in_and_withdrawn_drafts_are_ignored() -> None:
    lab = {
        "resourceType": "ServiceRequest",
        "id": "lab",
        "status": "draft",
        "code": {"coding": [{"system": "http://loinc.org", "code": "5196-1"}]},
    }
    drafts = read_draft_orders(bundle(lab, request(status="entered-in-error")), "p1", TODAY)
    assert [(o.reference, o.stand_in) for o in drafts.orders] == [("ServiceRequest/lab", None)]


def test_bad_drafts_are_problems_not_crashes() -> None:
    other_patient = request(subject={"reference": "Patient/p2"})
    bad_code = request(id="mr5", medicationCodeableConcept={"coding": "nope"})
    drafts = read_draft_orders(
        bundle(other_patient, bad_code, {"resourceType": "Immunization"}), "p1", TODAY
    )
    assert len(drafts.problems) == 2
    assert "not the patient in context" in drafts.problems[0]
    assert [o.reference for o in drafts.orders] == ["Immunization/#3"]
    assert read_draft_orders("junk", "p1", TODAY).problems
    assert read_draft_orders(None, "p1", TODAY).orders == ()
