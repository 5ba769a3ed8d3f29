"""SPEC §4 "Write-back": one CarePlan per patient, with one activity per planned item."""

from __future__ import annotations

from datetime import date
from typing import Any

from domain.findings import Acknowledgement, Finding, Phase, Status
from fhir_mappings.canonical import ACTION_SYSTEM, CANONICAL
from fhir_mappings.write.common import careplan_id
from fhir_mappings.write.writeback import build_writeback
from tests.writeback.factories import (
    PATIENT,
    USER,
    context,
    finding,
    ms,
    ok,
    r4_roundtrip,
    record,
    resources,
    summary,
)


def careplan(*findings: Finding, **kw: Any) -> dict[str, Any]:
    rec = kw.pop("rec", record())
    ctx = kw.pop("ctx", context())
    plan = build_writeback(summary(*findings, **kw), rec, ctx)
    (found,) = resources(plan.bundle, "CarePlan")
    return found


def codes(plan: dict[str, Any]) -> list[str | None]:
    out: list[str | None] = []
    for activity in plan.get("activity", []):
        coding = activity["detail"]["code"].get("coding")
        out.append(coding[0]["code"] if coding else None)
    return out


def test_careplan_has_the_spec_fields() -> None:
    plan = careplan(rec=record(conditions=[ms("Condition/ms-1")]))
    assert plan["status"] == "active"
    assert plan["intent"] == "plan"
    assert plan["title"] == "Ofatumumab monitoring plan"
    assert plan["subject"] == {"reference": f"Patient/{PATIENT}"}
    assert plan["identifier"] == [{"system": f"{CANONICAL}/careplan", "value": PATIENT}]
    assert plan["id"] == careplan_id(context(), PATIENT)
    assert plan["addresses"] == [{"reference": "Condition/ms-1"}]
    assert plan["category"][0]["coding"][0] == {
        "system": "http://hl7.org/fhir/us/core/CodeSystem/careplan-category",
        "code": "assess-plan",
        "display": "Assessment and Plan of Treatment",
    }
    assert plan["period"] == {"start": "2024-01-02"}
    assert plan["author"] == {"reference": USER, "display": "Dr Who"}
    assert "maintenance phase" in plan["description"]
    assert plan["text"]["status"] == "generated"
    r4_roundtrip(plan)


def test_careplan_id_is_stable_and_patient_specific() -> None:
    assert careplan_id(context(), "a") == careplan_id(context(), "a")
    assert careplan_id(context(), "a") != careplan_id(context(), "b")
    assert careplan_id(context(), "a") != careplan_id(context(canonical="https://x.org/fhir"), "a")
    assert len(careplan_id(context(), "a")) <= 64


def test_addresses_only_active_ms_condition() -> None:
    plan = careplan(rec=record(conditions=[ms("Condition/old", active=False)]))
    assert "addresses" not in plan
    plan = careplan(rec=record(conditions=[ms("urn:uuid:1234")]))
    assert "addresses" not in plan


def test_pre_treatment_plan_starts_as_of_and_has_no_dose_activity() -> None:
    plan = careplan(
        phase=Phase.PRE_TREATMENT,
        first_dose=None,
        last_dose=None,
        doses=0,
        next_due=None,
        vaccine_window=None,
    )
    assert plan["period"] == {"start": "2025-06-15"}
    assert "activity" not in plan
    r4_roundtrip(plan)


def test_next_dose_activity() -> None:
    plan = careplan(next_due=date(2025, 6, 17), doses=10, vaccine_window=None)
    (dose,) = plan["activity"]
    detail = dose["detail"]
    assert detail["kind"] == "MedicationRequest"
    assert detail["code"]["coding"][0] == {
        "system": ACTION_SYSTEM,
        "code": "give-dose",
        "display": "Give the ofatumumab dose",
    }
    assert detail["status"] == "scheduled"
    assert detail["scheduledPeriod"] == {"start": "2025-06-17", "end": "2025-06-17"}
    assert detail["productCodeableConcept"]["coding"][0]["code"] == "L04AG12"
    assert "dose 11" in detail["description"]


def test_overdue_dose_is_not_started_and_not_listed_twice() -> None:
    plan = careplan(
        finding("dose-schedule", Status.OVERDUE, action_code="give-dose", due=date(2025, 6, 1)),
        next_due=date(2025, 6, 1),
        vaccine_window=None,
    )
    assert codes(plan) == ["give-dose"]
    assert plan["activity"][0]["detail"]["status"] == "not-started"


def test_one_activity_per_planned_item() -> None:
    plan = careplan(
        finding(
            "ig-baseline", Status.OVERDUE, action_code="order-immunoglobulins", due=date(2025, 1, 1)
        ),
        finding("mri-monitoring", Status.DUE, action_code="book-mri", due=date(2025, 7, 1)),
        finding("hbv-serology", Status.ALERT, action_code="review-hbv-serology", due=None),
        ok("ig-monitoring", due=date(2026, 1, 1)),
        ok("pml"),
        finding("hbv-screening", Status.UNKNOWN, action_code="order-hbv-screening"),
        next_due=date(2025, 6, 17),
        vaccine_window=(date(2025, 6, 20), date(2025, 7, 8)),
    )
    assert codes(plan) == [
        "give-dose",
        "order-immunoglobulins",
        "book-mri",
        "review-hbv-serology",
        "order-immunoglobulins",  # planned IgG/IgM monitoring, not due yet
        None,  # the vaccine window
    ]
    details = [a["detail"] for a in plan["activity"]]
    assert [d.get("kind") for d in details] == [
        "MedicationRequest",
        "ServiceRequest",
        "ServiceRequest",
        "Task",
        "ServiceRequest",
        None,
    ]
    assert details[1]["scheduledPeriod"] == {"end": "2025-01-01"}
    assert "scheduledPeriod" not in details[3]
    assert details[4]["scheduledPeriod"] == {"end": "2026-01-01"}
    assert details[5]["scheduledPeriod"] == {"start": "2025-06-20", "end": "2025-07-08"}
    assert details[5]["code"] == {"text": "Non-live vaccine window"}
    assert all(d["status"] in ("scheduled", "not-started") for d in details)
    r4_roundtrip(plan)


def test_past_vaccine_window_is_not_planned() -> None:
    plan = careplan(next_due=None, vaccine_window=(date(2025, 5, 1), date(2025, 5, 20)))
    assert "activity" not in plan


def test_acknowledged_finding_is_a_cancelled_activity_with_the_reason() -> None:
    ack = Acknowledgement("Dr Who", "2025-06-01", "HBV DNA monitoring arranged by hepatology")
    plan = careplan(
        finding(
            "hbv-serology", Status.ALERT, action_code="review-hbv-serology", acknowledgement=ack
        ),
        next_due=None,
        vaccine_window=None,
    )
    (activity,) = plan["activity"]
    assert activity["detail"]["status"] == "cancelled"
    assert activity["detail"]["statusReason"] == {
        "text": "Acknowledged by Dr Who on 2025-06-01: HBV DNA monitoring arranged by hepatology"
    }


def test_narrative_escapes_text() -> None:
    plan = careplan(
        finding("pml", Status.ALERT, action_code="review-pml", detail="<script>alert(1)</script>"),
    )
    assert "<script>" not in plan["text"]["div"]
    assert "&lt;script&gt;" in plan["text"]["div"]
