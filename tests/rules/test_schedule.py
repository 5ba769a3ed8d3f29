"""Phase, next dose, vaccine window, earliest start, reference date and the Summary."""

from __future__ import annotations

from typing import Any

from domain.findings import Phase, Severity, Status
from smartapp.rules import CHECKS, TreatmentSchedule, build_schedule

from .builders import (
    AS_OF,
    SETTINGS,
    Part,
    baseline,
    course,
    d,
    dose,
    hbsag,
    order,
    record,
    summary,
    vaccine,
)

SPEC_ORDER = (
    "hbv-screening",
    "hbv-serology",
    "ig-baseline",
    "ig-monitoring",
    "ig-low",
    "cbc-baseline",
    "dose-schedule",
    "dose-interval",
    "vaccine-before-start",
    "vaccine-live-on-therapy",
    "vaccine-window",
    "infection-active",
    "hypersensitivity",
    "pml",
    "pregnancy",
    "mri-monitoring",
)


def schedule_of(*items: Part, **kw: Any) -> TreatmentSchedule:
    return build_schedule(record(*items, **kw), AS_OF, SETTINGS)


def test_no_counted_dose_is_pre_treatment_without_next_due() -> None:
    s = summary(record())
    assert s.phase is Phase.PRE_TREATMENT
    assert s.schedule.doses == 0
    assert s.schedule.first_dose is None and s.schedule.next_due is None
    assert s.schedule.vaccine_window is None
    assert s.schedule.earliest_start == AS_OF


def test_one_and_two_doses_are_loading_with_next_dose_seven_days_later() -> None:
    one = schedule_of(dose(-2))
    assert one.phase is Phase.LOADING and one.next_due == d(5)
    two = schedule_of(dose(-9), dose(-2))
    assert two.phase is Phase.LOADING and two.next_due == d(5)


def test_third_dose_makes_maintenance_with_first_monthly_dose_fourteen_days_later() -> None:
    s = schedule_of(course(-16, 3))
    assert s.phase is Phase.MAINTENANCE
    assert s.next_due == d(-2 + 14)


def test_maintenance_next_dose_is_28_days_after_the_last() -> None:
    s = summary(record(course(-100, 6)))
    assert s.schedule.doses == 6
    assert s.schedule.last_dose == d(-100 + 28 * 3)
    assert s.schedule.next_due == d(-100 + 28 * 4)


def test_late_dose_resets_the_schedule_from_the_day_it_was_given() -> None:
    doses = [*course(-200, 5), dose(-60)]  # 5th dose was due long before day -60
    assert schedule_of(doses).next_due == d(-60 + 28)


def test_doses_are_sorted_by_date_whatever_the_input_order() -> None:
    s = schedule_of(dose(-2), dose(-16), dose(-9))
    assert s.first is not None and s.first.earliest == d(-16)
    assert s.next_due == d(12)


def test_84_days_without_a_dose_is_still_maintenance_85_is_interrupted() -> None:
    assert schedule_of(course(-84 - 56, 5)).phase is Phase.MAINTENANCE
    assert schedule_of(course(-85 - 56, 5)).phase is Phase.INTERRUPTED


def test_loading_that_stalls_is_interrupted_after_84_days() -> None:
    # SPEC v2 §3: "loading or maintenance with more than 84 days without a dose".
    assert schedule_of(dose(-84)).phase is Phase.LOADING
    assert schedule_of(dose(-85)).phase is Phase.INTERRUPTED


def test_doses_dated_after_as_of_are_not_counted() -> None:
    s = schedule_of(dose(-9), dose(-2), dose(5))
    assert len(s.doses) == 2


def test_reference_date_is_a_later_active_order_start() -> None:
    s = schedule_of(order(30))
    assert s.reference_date == d(30)
    assert schedule_of(order(30, status="draft")).reference_date == AS_OF
    assert schedule_of(order(-30)).reference_date == AS_OF


def test_reference_date_of_a_partial_order_start_spans_the_month() -> None:
    s = schedule_of(order("2025-08"))
    assert s.reference_date == d(0).replace(month=8, day=1)
    assert s.reference_latest == d(0).replace(month=8, day=31)


def test_vaccine_window_in_maintenance_is_last_dose_plus_14_to_next_due_minus_7() -> None:
    s = summary(record(course(-100, 6)))
    last = d(-100 + 84)
    assert s.schedule.vaccine_window == (d(-16 + 14), d(-16 + 28 - 7))
    assert s.schedule.last_dose == last


def test_vaccine_window_is_none_in_loading_and_when_interrupted() -> None:
    assert summary(record(dose(-3))).schedule.vaccine_window is None
    assert summary(record(course(-16, 3))).schedule.vaccine_window is None
    assert summary(record(course(-300, 6))).schedule.vaccine_window is None


def test_earliest_start_is_reported_before_treatment_only() -> None:
    pre = summary(record(vaccine(-10, "live")))
    assert pre.schedule.earliest_start == d(18)
    on = summary(record(dose(-1), vaccine(-10, "live")))
    assert on.schedule.earliest_start is None


def test_summary_lists_every_check_exactly_once() -> None:
    s = summary(record(baseline(-20), course(-60, 4)))
    assert sorted(f.check for f in s.findings) == sorted(SPEC_ORDER)
    assert tuple(c.id for c in CHECKS) == SPEC_ORDER


def test_summary_orders_by_severity_then_status_then_check_id() -> None:
    s = summary(record(hbsag(-5, "positive"), course(-60, 4)))
    ranks = [(f.severity.rank, f.status, f.check) for f in s.findings]
    assert s.findings[0].severity is Severity.CRITICAL
    status_rank = {
        Status.ALERT: 0,
        Status.OVERDUE: 1,
        Status.DUE: 2,
        Status.UNKNOWN: 3,
        Status.OK: 4,
        Status.NOT_APPLICABLE: 5,
    }
    keys = [(r, status_rank[st], c) for r, st, c in ranks]
    assert keys == sorted(keys)


def test_summary_carries_patient_as_of_and_data_quality() -> None:
    rec = record(incomplete=("imaging",))
    s = summary(rec)
    assert s.patient == rec.patient and s.as_of == AS_OF and s.data == rec.data
