"""ig-baseline, ig-monitoring and ig-low (USPI 2.1, 5.3)."""

from __future__ import annotations

from datetime import timedelta

from domain.findings import Severity, Status
from domain.records import ConditionKind

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


def test_ig_baseline_pending_is_due_awaiting_the_result_not_ok() -> None:
    f = check("ig-baseline", record(igg(-3, pending=True), igm(-3)))
    assert f.status is Status.DUE
    assert f.action is not None and f.action.code == "await-pending-result"


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


def test_a_newer_pending_igg_turns_ok_into_unknown_and_is_never_a_value() -> None:
    rec = record(igg(-50, 900), igm(-50), igg(-1, 300, pending=True))
    f = check("ig-low", rec)
    assert f.status is Status.UNKNOWN and f.action is None
    assert "IgG result pending since 2025-06-14" in f.detail
    assert any("pending" in e.display for e in f.evidence)


def test_an_older_pending_igg_does_not_block_ok() -> None:
    rec = record(igg(-5, 900), igm(-5), igg(-50, 300, pending=True))
    assert check("ig-low", rec).status is Status.OK


def test_a_pending_igg_on_the_same_day_as_the_latest_may_be_newer() -> None:
    rec = record(igg(-5, 900), igm(-5), igg(-5, 300, pending=True))
    assert check("ig-low", rec).status is Status.UNKNOWN


def test_a_pending_result_never_creates_a_low_alert_and_an_alert_names_it() -> None:
    only_pending = check("ig-low", record(igg(-1, 100, pending=True), igm(-1, 10, pending=True)))
    assert only_pending.status is Status.UNKNOWN
    alert = check("ig-low", record(igg(-30, 500), igm(-30), igg(-1, 900, pending=True)))
    assert alert.status is Status.ALERT
    assert "IgG result pending since 2025-06-14" in alert.detail


# --- comparators (SPEC §2) ---------------------------------------------------------------


def test_a_bound_below_the_limit_is_low() -> None:
    # <0.3 g/L = <30 mg/dL, under the IgM default 40 mg/dL.
    f = check("ig-low", record(igg(-5), igm(-5, 30.0, comparator="<")))
    assert f.status is Status.ALERT
    assert "<30 mg/dL" in f.detail


def test_a_bound_that_does_not_settle_the_comparison_is_unknown_as_written() -> None:
    # <0.5 g/L = <50 mg/dL: may be 45 (not low) or 30 (low).
    f = check("ig-low", record(igg(-5), igm(-5, 50.0, comparator="<")))
    assert f.status is Status.UNKNOWN
    assert "<50 mg/dL" in f.detail and "bound" in f.detail


def test_bounds_at_the_exact_limit() -> None:
    at = {
        c: check("ig-low", record(igg(-5), igm(-5, 40.0, comparator=c))).status
        for c in ("<", "<=", ">", ">=", "")
    }
    assert at == {
        "<": Status.ALERT,  # below 40
        "<=": Status.UNKNOWN,  # may be exactly 40, which is not low
        ">": Status.OK,
        ">=": Status.OK,
        "": Status.OK,  # exactly at the limit is not low
    }
    assert check("ig-low", record(igg(-5), igm(-5, 39.0, comparator=">"))).status is (
        Status.UNKNOWN
    )
    assert check("ig-low", record(igg(-5), igm(-5, 40.5, comparator="<="))).status is (
        Status.UNKNOWN
    )


# --- unit-less reference ranges (SPEC §2) ------------------------------------------------


def test_a_plausible_unitless_lower_limit_is_used() -> None:
    # IgG default 700 mg/dL: 600 read in the value's unit lies within 175..2800.
    f = check("ig-low", record(igg(-5, 650.0, lower_limit=600.0, unitless_limit=True), igm(-5)))
    assert f.status is Status.OK
    assert "600 mg/dL" in f.detail


def test_an_implausible_unitless_lower_limit_falls_back_to_the_default_and_says_why() -> None:
    # A low of 7 (meant as 7 g/L) read as 7 mg/dL is implausible: the default 700 is used.
    f = check("ig-low", record(igg(-5, 650.0, lower_limit=7.0, unitless_limit=True), igm(-5)))
    assert f.status is Status.ALERT
    assert "700 mg/dL, default" in f.detail
    assert any("has no unit" in e.display for e in f.evidence)


def test_unitless_lower_limit_plausibility_boundaries() -> None:
    def status(limit: float) -> Status:
        rec = record(igg(-5, 1000.0), igm(-5, 30.0, lower_limit=limit, unitless_limit=True))
        return check("ig-low", rec).status

    # IgM default 40: accepted from 10 to 160 inclusive; outside, the default 40 applies.
    assert status(10.0) is Status.OK  # 30 >= 10: not low
    assert status(9.99) is Status.ALERT  # default 40: 30 is low
    assert status(160.0) is Status.ALERT  # 30 < 160: low by the laboratory's limit
    assert status(160.01) is Status.ALERT  # default 40: low
    assert (
        check(
            "ig-low", record(igg(-5), igm(-5, 45.0, lower_limit=160.01, unitless_limit=True))
        ).status
        is Status.OK
    )  # default 40: 45 is not low


def test_pregnancy_condition_is_not_counted_as_an_infection() -> None:
    rec = record(igg(-5, 600), igm(-5), condition(ConditionKind.PREGNANCY), infection(-30))
    assert check("ig-low", rec).severity is Severity.MODERATE


def test_ig_monitoring_overdue_with_a_pending_result_awaits_it_instead_of_ordering() -> None:
    rec = record(course(-800, 30), igg(-400), igm(-400), igg(-2, pending=True))
    f = check("ig-monitoring", rec)
    assert f.status is Status.OVERDUE
    assert f.action is not None and f.action.code == "await-pending-result"
    assert "IgG result pending since 2025-06-13: await it" in f.detail
    without = check("ig-monitoring", record(course(-800, 30), igg(-400), igm(-400)))
    assert without.action is not None and without.action.code == "order-immunoglobulins"
