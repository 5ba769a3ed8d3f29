"""dose-schedule and dose-interval (USPI 2.2)."""

from __future__ import annotations

from domain.findings import Finding, Severity, Status
from smartapp.rules import evaluate
from smartapp.rules.evidence import dose_evidence

from .builders import AS_OF, SETTINGS, check, course, d, dispense, dose, order, record, vaccine


def schedule_finding(days_until_due: int) -> Finding:
    """A maintenance patient (6 doses) whose next dose is due `days_until_due` after as_of."""
    last = days_until_due - 28
    f = check("dose-schedule", record(course(last - 84, 6)))
    assert f.due == d(days_until_due)
    return f


def test_dose_schedule_does_not_apply_before_the_first_dose() -> None:
    f = check("dose-schedule", record())
    assert f.status is Status.NOT_APPLICABLE and f.action is None and f.due is None


def test_dose_8_days_before_due_is_ok() -> None:
    f = schedule_finding(8)
    assert f.status is Status.OK and f.severity is Severity.INFO and f.action is None


def test_dose_7_days_before_due_is_due() -> None:
    f = schedule_finding(7)
    assert f.status is Status.DUE and f.severity is Severity.LOW
    assert f.action is not None and f.action.code == "give-dose"


def test_dose_due_today_is_due() -> None:
    f = schedule_finding(0)
    assert f.status is Status.DUE and f.severity is Severity.MODERATE
    assert "due today" in f.detail


def test_dose_exactly_3_days_late_is_still_due() -> None:
    f = schedule_finding(-3)
    assert f.status is Status.DUE and f.severity is Severity.MODERATE


def test_dose_4_days_late_is_overdue() -> None:
    f = schedule_finding(-4)
    assert f.status is Status.OVERDUE and f.severity is Severity.MODERATE
    assert f.action is not None and f.action.code == "give-dose"
    assert "4 days late" in f.detail


def test_dose_28_days_late_is_moderate_29_is_high_interruption() -> None:
    assert schedule_finding(-28).severity is Severity.MODERATE
    f = schedule_finding(-29)
    assert f.status is Status.OVERDUE and f.severity is Severity.HIGH
    assert "interruption" in f.detail.lower()


def test_loading_dose_is_due_seven_days_after_the_previous() -> None:
    f = check("dose-schedule", record(dose(-3)))
    assert f.due == d(4) and f.status is Status.DUE
    assert "2nd dose" in f.detail


def test_first_monthly_dose_is_due_14_days_after_the_third() -> None:
    f = check("dose-schedule", record(course(-20, 3)))
    assert f.due == d(-6 + 14) and f.status is Status.OK


def test_interrupted_course_is_overdue_high_and_says_interrupted() -> None:
    f = check("dose-schedule", record(course(-300, 8)))
    assert f.status is Status.OVERDUE and f.severity is Severity.HIGH
    assert "interrupted" in f.detail
    assert f.title == "Treatment interrupted"


def test_partial_last_dose_date_is_counted_from_its_earliest_day() -> None:
    doses = [*course(-200, 5), dose("2025-06")]
    f = check("dose-schedule", record(doses))
    assert f.due == AS_OF.replace(day=1) + (d(28) - d(0))
    assert any("partial date 2025-06, counted as 2025-06-01" in e.display for e in f.evidence)


def test_evidence_holds_every_dose_during_loading_and_the_last_dose_after() -> None:
    assert len(check("dose-schedule", record(course(-16, 3))).evidence) == 3
    assert len(check("dose-schedule", record(course(-100, 6))).evidence) == 1


# --- dose-interval -----------------------------------------------------------------------


def test_dose_interval_does_not_apply_without_doses() -> None:
    assert check("dose-interval", record()).status is Status.NOT_APPLICABLE


def test_loading_doses_4_days_apart_are_an_alert_5_are_ok() -> None:
    f = check("dose-interval", record(dose(-10), dose(-6)))
    assert f.status is Status.ALERT and f.severity is Severity.MODERATE
    assert f.action is not None and f.action.code == "review-dose-record"
    assert check("dose-interval", record(dose(-10), dose(-5))).status is Status.OK


def test_second_to_third_dose_4_days_apart_is_an_alert() -> None:
    assert check("dose-interval", record(dose(-20), dose(-13), dose(-9))).status is Status.ALERT


def test_third_to_fourth_dose_9_days_apart_is_an_alert_10_is_ok() -> None:
    base = [dose(-40), dose(-33), dose(-26)]
    assert check("dose-interval", record(base, dose(-17))).status is Status.ALERT
    assert check("dose-interval", record(base, dose(-16))).status is Status.OK


def test_later_doses_20_days_apart_are_an_alert_21_are_ok() -> None:
    base = course(-100, 4)  # last on day -72
    assert check("dose-interval", record(base, dose(-52))).status is Status.ALERT
    assert check("dose-interval", record(base, dose(-51))).status is Status.OK


def test_a_dose_other_than_20_mg_is_an_alert() -> None:
    f = check("dose-interval", record(dose(-10), dose(-3, amount=40.0)))
    assert f.status is Status.ALERT
    assert "40 mg" in f.detail
    assert any("not the labelled dose" in e.display for e in f.evidence)


def test_unknown_dose_amount_is_mentioned_not_alerted() -> None:
    f = check("dose-interval", record(dose(-10), dose(-3, amount=None)))
    assert f.status is Status.OK
    assert "1 of 2 dose(s) have no recorded amount" in f.detail


def test_partial_dose_dates_alert_when_the_gap_may_be_too_short() -> None:
    f = check("dose-interval", record(course(-100, 5), dose("2025-06"), dose(-10)))
    assert f.status is Status.ALERT
    assert "partial date" in f.detail


def test_all_doses_are_evidence_for_the_dose_record() -> None:
    assert len(check("dose-interval", record(course(-100, 6))).evidence) == 6


def test_unflagged_doses_are_the_same_evidence_as_flagged_ones_without_a_note() -> None:
    """With nothing flagged the evidence is built without looking notes up: it is each
    dose's evidence with the empty note the flagged path would give it."""
    doses = course(-100, 6)
    clean = check("dose-interval", record(doses))
    assert clean.status is Status.OK
    assert clean.evidence == tuple(dose_evidence(item, "") for item in doses)
    flagged = check("dose-interval", record(*doses, dose(-100)))  # a same-day duplicate
    assert flagged.status is Status.ALERT
    assert flagged.evidence[2:] == clean.evidence[1:]  # the unflagged ones, unchanged


# --- discontinued therapy (SPEC silent: a stopped order schedules no next dose) -----------


def test_stopped_order_means_no_next_dose_is_due() -> None:
    rec = record(course(-300, 10), order(-300, status="stopped"))
    f = check("dose-schedule", rec)
    assert f.status is Status.NOT_APPLICABLE
    assert "stopped" in f.detail
    assert f.evidence[0].reference.startswith("MedicationRequest/")
    assert evaluate(rec, AS_OF, SETTINGS).schedule.next_due is None


def test_an_active_order_beside_a_stopped_one_keeps_the_schedule() -> None:
    rec = record(course(-300, 10), order(-300, status="stopped"), order(-20, status="active"))
    assert check("dose-schedule", rec).status is Status.OVERDUE


def test_stopped_therapy_still_alerts_on_a_live_vaccine_before_b_cell_repletion() -> None:
    rec = record(course(-300, 10), order(-300, status="stopped"), vaccine(-10, "live"))
    assert check("vaccine-live-on-therapy", rec).status is Status.ALERT


# --- home therapy: pens, statements, same-day records (SPEC §2, §3) --------------------------


def test_two_administration_records_on_one_day_are_a_duplicate_alert() -> None:
    rec = record(course(-100, 5), dose(-44))
    f = check("dose-interval", rec)
    assert f.status is Status.ALERT
    assert "2 administration records on" in f.detail
    assert f.grounds is not None and len(f.grounds) == 2
    # ...but they are one dose for the schedule.
    assert evaluate(rec, AS_OF, SETTINGS).schedule.doses == 5


def test_a_dispense_and_an_administration_on_one_day_are_mentioned_not_alerted() -> None:
    f = check("dose-interval", record(course(-100, 5), dispense(-44)))
    assert f.status is Status.OK
    assert "counted as one dose" in f.detail


def test_dose_interval_judges_administrations_only() -> None:
    # Pens placed on due dates between two administrations are not judged.
    f = check("dose-interval", record(dispense(-30, pens=2), dose(-28)))
    assert f.status is Status.OK
    assert check("dose-interval", record(dispense(-60, pens=3))).status is Status.NOT_APPLICABLE


def test_next_dose_on_the_next_pen_in_hand_says_by_dispensed_supply() -> None:
    f = check("dose-schedule", record(dispense(-10, pens=3)))
    assert f.status is Status.DUE  # the third pen falls due in 4 days
    assert f.due == d(4)
    assert "by dispensed supply" in f.detail
    assert "in hand" in f.evidence[-1].display


def test_refill_due_when_the_last_pen_was_presumed_injected() -> None:
    f = check("dose-schedule", record(dispense(-100, pens=3), dispense(-72), dispense(-44)))
    assert f.status is Status.OVERDUE
    assert f.due == d(-16)
    assert "refill or confirm injection" in f.title
    assert "refill due" in f.detail


def test_a_discontinued_course_schedules_no_dose() -> None:
    rec = record(course(-300, 8), order(-300, status="stopped", end=-100))
    f = check("dose-schedule", rec)
    assert f.status is Status.NOT_APPLICABLE
    assert "discontinued" in f.detail
    assert evaluate(rec, AS_OF, SETTINGS).phase.value == "discontinued"
