"""ig-baseline, ig-monitoring and ig-low (USPI 2.1, 5.3)."""

from __future__ import annotations

from datetime import timedelta

from fhir_mappings.records import ConditionKind
from smartapp.rules.model import Severity, Status

from .builders import (
    AS_OF,
    check,
    condition,
    course,
    d,
    dose,
    igg,
    igm,
    infection,
    record,
)

# --- ig-baseline ---------------------------------------------------------------------------


def test_ig_baseline_is_ok_with_igg_and_igm_before_the_first_dose() -> None:
    f = check("ig-baseline", record(igg(-400), igm(-400), dose(-40)))
    assert f.status is Status.OK


def test_ig_baseline_365_days_before_counts_366_does_not() -> None:
    assert check("ig-baseline", record(igg(-365), igm(-365), dose(0))).status is Status.OK
    f = check("ig-baseline", record(igg(-366), igm(-365), dose(0)))
    assert f.status is Status.OVERDUE
    assert "IgG" in f.detail


def test_ig_baseline_not_started_and_missing_is_due() -> None:
    f = check("ig-baseline", record(igg(-3)))
    assert f.status is Status.DUE and f.due == AS_OF
    assert f.action is not None and f.action.code == "order-immunoglobulins"
    assert "Missing: IgM" in f.detail


def test_ig_baseline_started_and_missing_is_overdue() -> None:
    f = check("ig-baseline", record(course(-30, 3)))
    assert f.status is Status.OVERDUE and f.severity is Severity.MODERATE
    assert f.due == d(-30)


def test_ig_baseline_pending_is_unknown_not_ok() -> None:
    f = check("ig-baseline", record(igg(-3, pending=True), igm(-3)))
    assert f.status is Status.UNKNOWN


def test_ig_baseline_unconvertible_value_is_unknown_not_ok() -> None:
    f = check("ig-baseline", record(igg(-3, None, raw="7.1 furlongs"), igm(-3)))
    assert f.status is Status.UNKNOWN
    assert "7.1 furlongs" in f.detail


# --- ig-monitoring ---------------------------------------------------------------------------


def test_ig_monitoring_does_not_apply_before_the_first_dose() -> None:
    f = check("ig-monitoring", record(igg(-3), igm(-3)))
    assert f.status is Status.NOT_APPLICABLE and f.action is None


def _monitoring_due_in(days: int) -> Status:
    """IgG 300 days ago, IgM older: due = IgM date + 365, `days` after as_of."""
    igm_day = days - 365
    f = check("ig-monitoring", record(course(-500, 18), igg(-300), igm(igm_day)))
    assert f.due == d(days)
    return f.status


def test_ig_monitoring_31_days_before_due_is_ok() -> None:
    assert _monitoring_due_in(31) is Status.OK


def test_ig_monitoring_30_and_29_days_before_due_is_due() -> None:
    assert _monitoring_due_in(30) is Status.DUE
    assert _monitoring_due_in(29) is Status.DUE
    assert _monitoring_due_in(0) is Status.DUE


def test_ig_monitoring_day_after_due_is_overdue() -> None:
    assert _monitoring_due_in(-1) is Status.OVERDUE
    f = check("ig-monitoring", record(course(-500, 18), igg(-400), igm(-400)))
    assert f.severity is Severity.MODERATE
    assert f.action is not None and f.action.code == "order-immunoglobulins"


def test_ig_monitoring_every_180_days_with_two_infections_this_year() -> None:
    rec = record(course(-500, 18), igg(-200), igm(-200), infection(-100), infection(-20))
    f = check("ig-monitoring", rec)
    assert f.status is Status.OVERDUE and f.due == d(-20)
    assert "180 days" in f.detail
    one = check("ig-monitoring", record(course(-500, 18), igg(-200), igm(-200), infection(-20)))
    assert one.status is Status.OK and one.due == d(165)


def test_ig_monitoring_counts_infections_that_began_within_365_days_only() -> None:
    rec = record(course(-500, 18), igg(-200), igm(-200), infection(-366), infection(-20))
    assert check("ig-monitoring", rec).due == d(165)
    refuted = infection(-30, refuted=True)
    rec = record(course(-500, 18), igg(-200), igm(-200), refuted, infection(-20))
    assert check("ig-monitoring", rec).due == d(165)


def test_ig_monitoring_without_any_result_counts_from_the_first_dose() -> None:
    f = check("ig-monitoring", record(course(-340, 13)))
    assert f.due == d(25) and f.status is Status.DUE
    assert "counted from the first dose" in f.detail


def test_ig_monitoring_uses_the_baseline_when_no_result_on_therapy() -> None:
    f = check("ig-monitoring", record(igg(-350), igm(-350), course(-300, 12)))
    assert f.due == d(15) and f.status is Status.DUE


def test_ig_monitoring_partial_date_counts_from_its_earliest_day() -> None:
    f = check("ig-monitoring", record(course(-500, 18), igg("2025-01"), igm(-10)))
    assert f.due == (AS_OF.replace(month=1, day=1) + timedelta(days=365))


def test_ig_monitoring_stops_280_days_after_the_last_dose_of_an_interrupted_course() -> None:
    f = check("ig-monitoring", record(course(-600, 6), igg(-500), igm(-500)))
    assert f.status is Status.NOT_APPLICABLE
    still = check("ig-monitoring", record(course(-350, 6), igg(-500), igm(-500)))
    assert still.status is Status.OVERDUE


# --- ig-low ----------------------------------------------------------------------------------


def test_igg_exactly_at_the_lower_limit_is_not_low() -> None:
    f = check("ig-low", record(igg(-5, 700), igm(-5, 40)))
    assert f.status is Status.OK and f.severity is Severity.INFO


def test_igg_one_below_the_lower_limit_is_a_moderate_alert() -> None:
    f = check("ig-low", record(igg(-5, 699), igm(-5, 40)))
    assert f.status is Status.ALERT and f.severity is Severity.MODERATE
    assert f.action is not None and f.action.code == "review-low-immunoglobulins"
    assert "699 mg/dL" in f.detail and "700 mg/dL" in f.detail
    assert "immunology" in f.detail  # not started: USPI 2.1 advice


def test_igm_below_the_lower_limit_is_a_moderate_alert() -> None:
    f = check("ig-low", record(igg(-5), igm(-5, 39.9), course(-100, 5)))
    assert f.status is Status.ALERT and f.severity is Severity.MODERATE
    assert "USPI 5.3" in f.detail


def test_the_result_own_lower_limit_wins_over_the_default() -> None:
    f = check("ig-low", record(igg(-5, 750, lower_limit=800), igm(-5)))
    assert f.status is Status.ALERT
    assert "laboratory" in f.detail
    assert check("ig-low", record(igg(-5, 650, lower_limit=600), igm(-5))).status is Status.OK


def test_low_igg_with_two_infections_in_a_year_is_a_high_alert() -> None:
    rec = record(igg(-5, 600), igm(-5), infection(-200), infection(-30, active=False))
    assert check("ig-low", rec).severity is Severity.HIGH


def test_low_igm_with_two_infections_stays_moderate() -> None:
    rec = record(igg(-5), igm(-5, 20), infection(-200), infection(-30))
    assert check("ig-low", rec).severity is Severity.MODERATE


def test_only_the_latest_value_counts() -> None:
    assert check("ig-low", record(igg(-100, 500), igg(-5, 900), igm(-5))).status is Status.OK
    assert check("ig-low", record(igg(-100, 900), igg(-5, 500), igm(-5))).status is Status.ALERT


def test_missing_immunoglobulins_are_unknown_with_an_order_action() -> None:
    f = check("ig-low", record(igg(-5)))
    assert f.status is Status.UNKNOWN
    assert f.action is not None and f.action.code == "order-immunoglobulins"


def test_unconvertible_igg_is_unknown_and_never_compared_raw() -> None:
    f = check("ig-low", record(igg(-5, None, raw="5.2 g/furlong"), igm(-5)))
    assert f.status is Status.UNKNOWN and f.action is None
    assert "5.2 g/furlong" in f.detail


def test_newer_unreadable_igg_after_a_normal_one_is_unknown() -> None:
    rec = record(igg(-50), igg(-5, None, interpretable=False, raw="haemolysed"), igm(-5))
    assert check("ig-low", rec).status is Status.UNKNOWN


def test_low_value_alerts_even_when_the_other_is_missing() -> None:
    assert check("ig-low", record(igg(-5, 400))).status is Status.ALERT


def test_pending_igg_is_shown_but_not_used() -> None:
    rec = record(igg(-50, 900), igm(-50), igg(-1, 300, pending=True))
    f = check("ig-low", rec)
    assert f.status is Status.OK
    assert any("pending" in e.display for e in f.evidence)


def test_pregnancy_condition_is_not_counted_as_an_infection() -> None:
    rec = record(igg(-5, 600), igm(-5), condition(ConditionKind.PREGNANCY), infection(-30))
    assert check("ig-low", rec).severity is Severity.MODERATE
