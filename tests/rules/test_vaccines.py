"""vaccine-before-start, vaccine-live-on-therapy, vaccine-window (USPI 2.1, 5.1)."""

from __future__ import annotations

import pytest

from domain.findings import Finding, Severity, Status
from domain.records import LabKind, Vaccination, VaccineClass

from .builders import (
    AS_OF,
    Part,
    check,
    course,
    d,
    dose,
    lab,
    order,
    record,
    source,
    summary,
    vaccine,
    when,
)

# --- vaccine-before-start: started ---------------------------------------------------------


def before_start(days_before_first: int, cls: str) -> Finding:
    """First dose on day -10; a vaccine `days_before_first` days before it."""
    return check("vaccine-before-start", record(dose(-10), vaccine(-10 - days_before_first, cls)))


@pytest.mark.parametrize(
    ("days", "cls", "severity", "action"),
    [
        (27, "live", Severity.HIGH, "review-live-vaccine"),
        (13, "non_live", Severity.LOW, "review-vaccine-timing"),
    ],
)
def test_a_vaccine_a_day_too_close_to_the_first_dose_is_an_alert(
    days: int, cls: str, severity: Severity, action: str
) -> None:
    f = before_start(days, cls)
    assert f.status is Status.ALERT and f.severity is severity
    assert f.action is not None and f.action.code == action
    assert f"{days} days before the first dose" in f.detail


@pytest.mark.parametrize(
    ("days", "cls"), [(28, "live"), (29, "live"), (14, "non_live"), (15, "non_live")]
)
def test_a_vaccine_its_minimum_or_more_before_the_first_dose_is_ok(days: int, cls: str) -> None:
    assert before_start(days, cls).status is Status.OK


def test_ambiguous_vaccine_before_start_is_timed_as_live_and_asks_for_review() -> None:
    f = before_start(20, "ambiguous")
    assert f.status is Status.ALERT and f.severity is Severity.HIGH
    assert "review" in f.detail
    assert before_start(28, "ambiguous").status is Status.OK


def test_vaccines_on_or_after_the_first_dose_are_not_this_checks_business() -> None:
    rec = record(dose(-10), vaccine(-10, "live"), vaccine(-5, "non_live"))
    assert check("vaccine-before-start", rec).status is Status.OK


def test_partial_vaccine_date_is_read_at_its_latest_day_before_start() -> None:
    # Vaccine "2025-04" (up to 2025-04-30); first dose 2025-05-20: at least 20 days.
    first = (AS_OF.replace(month=5, day=20) - AS_OF).days
    f = check("vaccine-before-start", record(dose(first), vaccine("2025-04", "live")))
    assert f.status is Status.ALERT
    assert any("partial date 2025-04, counted as 2025-04-30" in e.display for e in f.evidence)


# --- vaccine-before-start: not started -------------------------------------------------------


def test_live_vaccine_before_start_is_due_until_the_earliest_safe_start() -> None:
    f = check("vaccine-before-start", record(vaccine(-10, "live")))
    assert f.status is Status.DUE and f.due == d(18)
    assert f.action is not None and f.action.code == "wait-for-vaccine-interval"
    assert summary(record(vaccine(-10, "live"))).schedule.earliest_start == d(18)


def test_earliest_safe_start_is_the_later_of_live_plus_28_and_non_live_plus_14() -> None:
    rec = record(vaccine(-20, "live"), vaccine(-1, "non_live"))
    assert check("vaccine-before-start", rec).due == d(13)
    rec = record(vaccine(-5, "live"), vaccine(-1, "non_live"))
    assert check("vaccine-before-start", rec).due == d(23)


def test_live_vaccine_27_days_ago_is_due_28_days_ago_is_ok_before_start() -> None:
    assert check("vaccine-before-start", record(vaccine(-27, "live"))).status is Status.DUE
    assert check("vaccine-before-start", record(vaccine(-28, "live"))).status is Status.OK
    assert check("vaccine-before-start", record(vaccine(-29, "live"))).status is Status.OK


def test_non_live_vaccine_13_days_ago_is_due_14_days_ago_is_ok_before_start() -> None:
    assert check("vaccine-before-start", record(vaccine(-13))).status is Status.DUE
    assert check("vaccine-before-start", record(vaccine(-14))).status is Status.OK
    assert check("vaccine-before-start", record(vaccine(-15))).status is Status.OK


def test_planned_start_before_the_safe_date_raises_the_severity() -> None:
    f = check("vaccine-before-start", record(vaccine(-10, "live"), order(7)))
    assert f.status is Status.DUE and f.severity is Severity.MODERATE
    assert "planned start" in f.detail
    later = check("vaccine-before-start", record(vaccine(-10, "live"), order(30)))
    assert later.severity is Severity.LOW


def test_undated_live_vaccine_before_start_is_unknown() -> None:
    f = check("vaccine-before-start", record(vaccine(None, "live", text="last spring")))
    assert f.status is Status.UNKNOWN
    assert "last spring" in f.detail


def test_undated_non_live_vaccine_does_not_block_ok() -> None:
    rec = record(vaccine(None, "non_live", text="childhood"))
    assert check("vaccine-before-start", rec).status is Status.OK


# --- vaccine-live-on-therapy --------------------------------------------------------------


def test_live_vaccine_check_does_not_apply_before_treatment() -> None:
    rec = record(vaccine(-3, "live"))
    assert check("vaccine-live-on-therapy", rec).status is Status.NOT_APPLICABLE


def test_live_vaccine_between_doses_is_a_high_alert() -> None:
    f = check("vaccine-live-on-therapy", record(course(-100, 6), vaccine(-30, "live")))
    assert f.status is Status.ALERT and f.severity is Severity.HIGH
    assert f.action is not None and f.action.code == "review-live-vaccine"


def test_live_vaccine_on_the_first_dose_day_is_on_therapy() -> None:
    f = check("vaccine-live-on-therapy", record(dose(-5), vaccine(-5, "live")))
    assert f.status is Status.ALERT


def test_live_vaccine_before_the_first_dose_is_not_on_therapy() -> None:
    f = check("vaccine-live-on-therapy", record(dose(-5), vaccine(-6, "live")))
    assert f.status is Status.OK


def _after_last_dose(days: int, *extra: Part) -> Finding:
    last = -days  # vaccine today, `days` after the last dose
    return check("vaccine-live-on-therapy", record(dose(last), vaccine(0, "live"), *extra))


def test_live_vaccine_279_and_280_days_after_the_last_dose_is_an_alert() -> None:
    assert _after_last_dose(279).status is Status.ALERT
    assert _after_last_dose(280).status is Status.ALERT


def test_live_vaccine_281_days_after_the_last_dose_is_ok() -> None:
    assert _after_last_dose(281).status is Status.OK


def _discontinued(days: int, *extra: Part) -> Finding:
    """Vaccine today; last dose `days` ago; the order stopped the day after it."""
    stopped = order(-days - 30, "stopped", end=-days + 1)
    return _after_last_dose(days, stopped, *extra)


def test_cd19_at_or_above_the_lower_limit_releases_a_discontinued_patient() -> None:
    recovered = lab(LabKind.CD19, -20, value=40.0)
    f = _discontinued(200, recovered)
    assert f.status is Status.OK
    assert "B-cell recovery" in f.detail and "discontinued" in f.detail
    assert any(e.reference == recovered.source.reference for e in f.evidence)


def test_a_cd19_count_never_releases_a_patient_still_on_therapy() -> None:
    # A normal CD19 count during the loading doses must not allow a live vaccine.
    recovered = lab(LabKind.CD19, -1, value=300.0)
    f = check(
        "vaccine-live-on-therapy",
        record(dose(-14), dose(-7), vaccine(0, "live"), recovered, order(-20)),
    )
    assert f.status is Status.ALERT and f.severity is Severity.HIGH
    assert "never releases a patient still on therapy" in f.detail
    assert _after_last_dose(200, lab(LabKind.CD19, -20, value=400.0)).status is Status.ALERT


def test_cd19_below_the_lower_limit_keeps_the_alert() -> None:
    assert _discontinued(200, lab(LabKind.CD19, -20, value=39.0)).status is Status.ALERT


def test_cd19_uses_its_own_lower_limit_when_recorded() -> None:
    own = lab(LabKind.CD19, -20, value=60.0, lower_limit=80.0)
    assert _discontinued(200, own).status is Status.ALERT


def test_cd19_implausible_unitless_limit_falls_back_to_40() -> None:
    # A low of 0.04 (meant as x10^3/uL) read as 0.04 cells/uL is implausible: 40 applies.
    odd = lab(LabKind.CD19, -20, value=60.0, lower_limit=0.04, unitless_limit=True)
    f = _discontinued(200, odd)
    assert f.status is Status.OK
    assert any("has no unit" in e.display for e in f.evidence)


def test_cd19_as_a_bound_releases_only_when_it_settles_it() -> None:
    assert _discontinued(200, lab(LabKind.CD19, -20, value=50.0, comparator=">")).status is (
        Status.OK
    )
    assert _discontinued(200, lab(LabKind.CD19, -20, value=50.0, comparator="<")).status is (
        Status.ALERT
    )


def test_a_later_low_cd19_before_the_vaccine_means_b_cells_were_not_back() -> None:
    f = _discontinued(200, lab(LabKind.CD19, -60, value=90.0), lab(LabKind.CD19, -10, value=12.0))
    assert f.status is Status.ALERT


def test_a_newer_pending_cd19_makes_the_release_unknown() -> None:
    f = _discontinued(
        200, lab(LabKind.CD19, -30, value=90.0), lab(LabKind.CD19, -5, value=10.0, pending=True)
    )
    assert f.status is Status.UNKNOWN and f.action is None
    assert "a newer CD19 result pending since 2025-06-10" in f.detail


def test_cd19_after_the_vaccine_or_before_the_last_dose_does_not_count() -> None:
    assert _discontinued(200, lab(LabKind.CD19, -201, value=300.0)).status is Status.ALERT
    rec = record(
        dose(-200),
        order(-230, "stopped", end=-199),
        vaccine(-30, "live"),
        lab(LabKind.CD19, -10, value=300.0),
    )
    assert check("vaccine-live-on-therapy", rec).status is Status.ALERT


def test_repletion_is_presumed_280_days_after_the_last_dose_and_says_so() -> None:
    for days, status in ((279, Status.ALERT), (280, Status.ALERT), (281, Status.OK)):
        f = _discontinued(days)
        assert f.status is status, days
    assert "repletion presumed 280 days after the last dose" in _discontinued(100).detail


def test_a_live_vaccine_named_only_by_text_says_the_code_was_not_recognised() -> None:
    by_text = Vaccination(
        when(-10), None, VaccineClass.LIVE, "MMR", source("Immunization", "MMR"), True
    )
    f = check("vaccine-live-on-therapy", record(course(-100, 6), by_text))
    assert f.status is Status.ALERT
    assert "vaccine code not recognised" in f.detail and "(live vaccine)" not in f.detail


def test_ambiguous_vaccine_on_therapy_is_a_moderate_alert_asking_for_review() -> None:
    f = check("vaccine-live-on-therapy", record(course(-100, 6), vaccine(-20, "ambiguous")))
    assert f.status is Status.ALERT and f.severity is Severity.MODERATE
    assert "review" in f.detail.lower() or "Confirm" in f.detail


def test_non_live_vaccine_on_therapy_is_not_a_live_alert() -> None:
    f = check("vaccine-live-on-therapy", record(course(-100, 6), vaccine(-20)))
    assert f.status is Status.OK


def test_undated_live_vaccine_on_therapy_is_unknown() -> None:
    f = check("vaccine-live-on-therapy", record(course(-100, 6), vaccine(None, "live")))
    assert f.status is Status.UNKNOWN and f.action is None


def test_partial_live_vaccine_date_overlapping_the_depletion_period_alerts() -> None:
    # Last dose on day -282: the period ends on day -2 (2025-06-13); "2025-06" may be earlier.
    f = check("vaccine-live-on-therapy", record(dose(-282), vaccine("2025-06", "live")))
    assert f.status is Status.ALERT


# --- vaccine-window -----------------------------------------------------------------------


def test_vaccine_window_does_not_apply_before_treatment() -> None:
    assert check("vaccine-window", record(vaccine(-3))).status is Status.NOT_APPLICABLE


def test_non_live_vaccine_13_days_after_a_dose_is_a_low_alert_14_is_ok() -> None:
    doses = course(-100, 6)  # last dose on day -16, next due on day 12
    f = check("vaccine-window", record(doses, vaccine(-3)))
    assert f.status is Status.ALERT and f.severity is Severity.LOW
    assert f.action is not None and f.action.code == "review-vaccine-timing"
    assert check("vaccine-window", record(doses, vaccine(-2))).status is Status.OK


def test_non_live_vaccine_6_days_before_the_next_dose_is_an_alert_7_is_ok() -> None:
    doses = course(-100, 6)  # doses on days -44 and -16
    assert check("vaccine-window", record(doses, vaccine(-22))).status is Status.ALERT
    assert check("vaccine-window", record(doses, vaccine(-23))).status is Status.OK


def test_non_live_vaccine_too_close_before_the_scheduled_next_dose_alerts() -> None:
    doses = course(-100, 6)  # next due on day 12
    f = check("vaccine-window", record(doses, vaccine(6)), as_of=d(8))
    assert f.status is Status.ALERT
    assert "scheduled dose" in f.detail
    ok = check("vaccine-window", record(doses, vaccine(5)), as_of=d(8))
    assert ok.status is Status.OK


def test_non_live_vaccine_on_a_dose_day_is_an_alert() -> None:
    assert check("vaccine-window", record(course(-100, 6), vaccine(-16))).status is Status.ALERT


def test_vaccine_window_ok_reports_the_window() -> None:
    f = check("vaccine-window", record(course(-100, 6)))
    assert f.status is Status.OK
    assert f"{d(-2).isoformat()} to {d(5).isoformat()}" in f.detail


def test_live_and_pre_start_vaccines_are_not_this_checks_business() -> None:
    rec = record(course(-100, 6), vaccine(-3, "live"), vaccine(-105))
    assert check("vaccine-window", rec).status is Status.OK


def test_every_non_live_vaccine_on_therapy_is_checked() -> None:
    rec = record(course(-100, 6), vaccine(-95))  # 5 days after the first dose
    f = check("vaccine-window", rec)
    assert f.status is Status.ALERT
    assert d(-100).isoformat() in f.detail


def test_a_mistimed_non_live_vaccine_older_than_the_lookback_is_not_alerted() -> None:
    doses = course(-800, 28)  # on therapy for over two years
    mistimed_long_ago = vaccine((doses[10].when.earliest - AS_OF).days + 3, "non_live")
    assert check("vaccine-window", record(doses, mistimed_long_ago)).status is Status.OK


def test_a_mistimed_non_live_vaccine_within_the_lookback_is_alerted() -> None:
    doses = course(-800, 28)
    recent = doses[-3].when.earliest
    mistimed = vaccine((recent - AS_OF).days + 3, "non_live")
    assert check("vaccine-window", record(doses, mistimed)).status is Status.ALERT


def test_a_partial_first_dose_date_never_hides_a_vaccine_given_before_it() -> None:
    # Found by the §3a property "a less precise date never makes ok": with the first dose
    # known only as "2025", a live vaccine on 2025-05-20 may have been before it.
    f = check("vaccine-before-start", record(dose("2025"), vaccine("2025-05-20", "live")))
    assert f.status is Status.ALERT and f.severity is Severity.HIGH
    assert "possibly after the first dose" in f.detail


def test_a_partially_dated_dose_may_be_close_to_a_non_live_vaccine() -> None:
    # Found by the §3a coarser-dates property: a dose known only as "2025-06" may have been
    # given on 2025-06-05, 5 days before the flu shot: the window check cannot say ok.
    rec = record(course(-120, 5), dose("2025-06"), vaccine("2025-06-10", "non_live"))
    f = check("vaccine-window", rec)
    assert f.status is Status.ALERT and f.severity is Severity.LOW
    assert "after the dose in 2025-06 (partial date)" in f.detail
