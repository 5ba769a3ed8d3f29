"""Write-back for therapy recorded at home: the next-dose activity and the dose Task say
when the date comes from dispensed pens ("refill or confirm injection"); a discontinued
course plans no dose."""

from __future__ import annotations

from datetime import date
from typing import Any

from fhir_mappings.read.record import read_patient_record
from fhir_mappings.site import default_mappings
from fhir_mappings.write.writeback import build_writeback
from smartapp.demo import demo_patient_resources
from smartapp.rules import evaluate
from smartapp.rules.settings import RuleSettings
from tests.writeback.factories import context, r4_roundtrip, resources

AS_OF = date(2026, 12, 3)


def plan_for(slug: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    record = read_patient_record(demo_patient_resources(AS_OF, slug), mappings=default_mappings())
    summary = evaluate(record, AS_OF, RuleSettings())
    bundle = build_writeback(summary, record, context()).bundle
    (careplan,) = resources(bundle, "CarePlan")
    return careplan, resources(bundle, "Task")


def dose_activity(careplan: dict[str, Any]) -> dict[str, Any]:
    (found,) = [
        a["detail"]
        for a in careplan.get("activity", [])
        if a["detail"].get("kind") == "MedicationRequest"
    ]
    return found


def test_supply_ran_out_says_refill_or_confirm_injection_in_plan_and_task() -> None:
    careplan, tasks = plan_for("home-supply-ran-out")
    assert "refill or confirm injection" in dose_activity(careplan)["description"]
    (dose_task,) = [t for t in tasks if t["code"]["coding"][0]["code"] == "give-dose"]
    assert dose_task["description"].startswith("Date by dispensed supply")
    assert "refill or confirm injection" in dose_task["description"]
    assert "refill or confirm injection" in dose_task["reasonCode"]["text"]
    assert r4_roundtrip(dose_task)["description"] == dose_task["description"]


def test_a_pen_in_hand_asks_to_confirm_the_injection() -> None:
    careplan, tasks = plan_for("home-starter-pens-in-hand")
    assert (
        "a dispensed pen is in hand): confirm injection" in dose_activity(careplan)["description"]
    )
    (dose_task,) = [t for t in tasks if t["code"]["coding"][0]["code"] == "give-dose"]
    assert "confirm injection" in dose_task["description"]


def test_a_charted_injection_schedule_says_nothing_about_supply() -> None:
    careplan, _ = plan_for("duplicate-dose-records")
    assert "dispensed" not in dose_activity(careplan)["description"]


def test_a_discontinued_course_plans_no_dose_and_says_precautions_continue() -> None:
    careplan, tasks = plan_for("stopped-live-vaccine-too-soon")
    assert not [
        a for a in careplan.get("activity", []) if a["detail"].get("kind") == "MedicationRequest"
    ]
    assert "discontinued phase" in careplan["description"]
    assert "precautions continue" in careplan["description"]
    assert all(t["code"]["coding"][0]["code"] != "give-dose" for t in tasks)


def test_an_unreadable_dispense_makes_the_planned_date_the_earliest_one() -> None:
    """The dose record is incomplete (the schedule says unknown): the plan keeps the date the
    pens that could be read give, and says it is the earliest, to be confirmed."""
    careplan, tasks = plan_for("home-dispense-unreadable-quantity")
    description = dose_activity(careplan)["description"]
    assert "earliest date the dose can be due; confirm the last injection" in description
    assert not [t for t in tasks if t["code"]["coding"][0]["code"] == "give-dose"]
    complete, _ = plan_for("home-supply-ran-out")
    assert "earliest date" not in dose_activity(complete)["description"]
