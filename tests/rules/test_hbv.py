"""hbv-screening and hbv-serology (USPI 2.1, 4, 5.1)."""

from __future__ import annotations

from typing import Any

from fhir_mappings.records import ConditionKind, LabKind
from smartapp.rules.model import Finding, Severity, Status

from .builders import (
    Part,
    anti_hbc,
    check,
    condition,
    course,
    d,
    dose,
    hbsag,
    lab,
    order,
    record,
)


def screening(*items: Part, **kw: Any) -> Finding:
    return check("hbv-screening", record(*items, **kw))


def serology(*items: Part, **kw: Any) -> Finding:
    return check("hbv-serology", record(*items, **kw))


# --- hbv-screening -----------------------------------------------------------------------


def test_hbv_screening_is_ok_with_both_tests_within_365_days_before_first_dose() -> None:
    f = screening(hbsag(-100), anti_hbc(-100), course(-60, 4))
    assert f.status is Status.OK and f.severity is Severity.INFO
    assert f.action is None
    assert len(f.evidence) == 2
    assert "USPI 2.1" in f.citation


def test_hbv_baseline_365_days_before_first_dose_counts_but_366_does_not() -> None:
    ok = screening(hbsag(-425), anti_hbc(-425), dose(-60))
    assert ok.status is Status.OK
    late = screening(hbsag(-426), anti_hbc(-425), dose(-60))
    assert late.status is Status.OVERDUE
    assert "HBsAg" in late.detail and "outside the window" in late.detail


def test_hbv_screening_not_started_and_missing_is_due_on_the_reference_date() -> None:
    f = screening(anti_hbc(-10))
    assert f.status is Status.DUE and f.severity is Severity.MODERATE
    assert f.due == d(0)
    assert f.action is not None and f.action.code == "order-hbv-screening"
    assert "Missing: HBsAg" in f.detail


def test_hbv_screening_before_start_is_judged_against_a_later_planned_start() -> None:
    # 340 days before today but 370 days before the planned start in 30 days.
    f = screening(hbsag(-340), anti_hbc(-340), order(30))
    assert f.status is Status.DUE
    assert f.due == d(30)
    assert "planned start" in f.detail


def test_hbv_screening_not_started_within_365_days_is_ok() -> None:
    assert screening(hbsag(-365), anti_hbc(-1)).status is Status.OK


def test_hbv_screening_started_and_missing_is_overdue_high() -> None:
    f = screening(course(-60, 4))
    assert f.status is Status.OVERDUE and f.severity is Severity.HIGH
    assert f.due == d(-60)
    assert f.action is not None and f.action.code == "order-hbv-screening"


def test_hbv_screening_after_the_first_dose_reads_ok_as_a_late_baseline() -> None:
    f = screening(course(-60, 4), hbsag(-10), anti_hbc(-10))
    assert f.status is Status.OK
    assert "after therapy started" in f.detail
    assert any("late baseline" in e.display for e in f.evidence)


def test_hbv_screening_with_a_pending_result_is_due_and_awaits_it_not_ok() -> None:
    f = screening(hbsag(-5), lab(LabKind.ANTI_HBC_TOTAL, -5, pending=True, raw="pending"))
    assert f.status is Status.DUE
    assert f.action is not None and f.action.code == "await-pending-result"
    assert "Anti-HBc (total) result pending since 2025-06-10: await it" in f.detail
    assert any("pending" in e.display for e in f.evidence)


def test_hbv_screening_started_with_a_pending_result_is_overdue_and_awaits_it() -> None:
    f = screening(course(-60, 4), hbsag(-5, pending=True), anti_hbc(-5, pending=True))
    assert f.status is Status.OVERDUE
    assert f.action is not None and f.action.code == "await-pending-result"


def test_hbv_screening_orders_what_is_missing_even_when_another_test_is_pending() -> None:
    f = screening(hbsag(-5, pending=True))
    assert f.status is Status.DUE
    assert f.action is not None and f.action.code == "order-hbv-screening"
    assert "Missing: anti-HBc (total)" in f.detail and "HBsAg result pending since" in f.detail


def test_hbv_screening_with_an_uninterpretable_result_is_unknown_not_ok() -> None:
    f = screening(hbsag(-5, None, interpretable=False, raw="see comment"), anti_hbc(-5))
    assert f.status is Status.UNKNOWN
    assert "could not be interpreted" in f.detail and "see comment" in f.detail


def test_hbv_screening_negative_anti_hbc_igm_does_not_replace_total_anti_hbc() -> None:
    igm = lab(LabKind.ANTI_HBC_IGM, -5, qualitative="negative")
    assert screening(hbsag(-5), igm).status is Status.DUE


def test_hbv_screening_positive_anti_hbc_igm_counts_as_anti_hbc() -> None:
    igm = lab(LabKind.ANTI_HBC_IGM, -5, qualitative="positive")
    assert screening(hbsag(-5), igm).status is Status.OK


def test_hbv_screening_partial_date_that_may_follow_the_first_dose_is_not_a_baseline() -> None:
    # First dose 2025-05-20; a result dated only "2025-05" may be after it.
    first = (d(0).replace(month=5, day=20) - d(0)).days
    f = screening(hbsag("2025-05"), anti_hbc("2025-05"), dose(first))
    assert f.status is Status.OVERDUE
    assert any("partial date 2025-05" in e.display for e in f.evidence)


def test_hbv_screening_partial_date_wholly_inside_the_window_counts() -> None:
    f = screening(hbsag("2025-03"), anti_hbc("2025-03"), dose(-20))
    assert f.status is Status.OK
    assert all("partial date" in (e.date or "") for e in f.evidence)


# --- hbv-serology -------------------------------------------------------------------------


def test_hbsag_positive_is_critical_contraindication() -> None:
    f = serology(hbsag(-5, "positive"), anti_hbc(-5, "positive"))
    assert f.status is Status.ALERT and f.severity is Severity.CRITICAL
    assert f.action is not None and f.action.code == "review-hbv-serology"
    assert "contraindicated" in f.detail


def test_active_hepatitis_b_condition_is_critical_contraindication() -> None:
    f = serology(condition(ConditionKind.HEPATITIS_B, -400))
    assert f.status is Status.ALERT and f.severity is Severity.CRITICAL
    assert f.evidence[0].reference.startswith("Condition/")


def test_refuted_or_inactive_hepatitis_b_condition_is_not_an_alert() -> None:
    refuted = condition(ConditionKind.HEPATITIS_B, refuted=True)
    inactive = condition(ConditionKind.HEPATITIS_B, active=False)
    f = serology(refuted, inactive, hbsag(-5), anti_hbc(-5))
    assert f.status is Status.OK


def test_hbsag_negative_anti_hbc_positive_is_high_alert_for_liver_expert() -> None:
    f = serology(hbsag(-5), anti_hbc(-5, "positive"))
    assert f.status is Status.ALERT and f.severity is Severity.HIGH
    assert "liver disease expert" in f.detail and "HBV DNA" in f.detail


def test_anti_hbc_positive_with_no_hbsag_is_still_a_high_alert() -> None:
    f = serology(anti_hbc(-5, "positive"))
    assert f.status is Status.ALERT and f.severity is Severity.HIGH
    assert "HBsAg not known" in f.detail


def test_positive_anti_hbc_igm_is_a_high_alert_suggesting_recent_infection() -> None:
    f = serology(hbsag(-5), lab(LabKind.ANTI_HBC_IGM, -5, qualitative="positive"))
    assert f.status is Status.ALERT and f.severity is Severity.HIGH
    assert "recent infection" in f.detail


def test_hbv_dna_is_shown_with_an_anti_hbc_alert() -> None:
    dna = lab(LabKind.HBV_DNA, -3, value=10.0, raw="<10 IU/mL")
    f = serology(hbsag(-5), anti_hbc(-5, "positive"), dna)
    assert any(e.display.endswith("<10 IU/mL") for e in f.evidence)


def test_both_hbv_tests_negative_is_ok() -> None:
    f = serology(hbsag(-5), anti_hbc(-5))
    assert f.status is Status.OK and f.action is None


def test_latest_hbsag_decides_over_an_older_positive() -> None:
    f = serology(hbsag(-900, "positive"), hbsag(-5), anti_hbc(-5))
    assert f.status is Status.OK


def test_missing_anti_hbc_makes_serology_unknown_with_an_order_action() -> None:
    f = serology(hbsag(-5))
    assert f.status is Status.UNKNOWN
    assert f.action is not None and f.action.code == "order-hbv-screening"


def test_no_hbv_results_at_all_is_unknown_never_ok() -> None:
    assert serology().status is Status.UNKNOWN


def test_newer_uninterpretable_hbsag_makes_serology_unknown() -> None:
    unreadable = hbsag(-2, None, interpretable=False, raw="see comment")
    f = serology(hbsag(-50), anti_hbc(-50), unreadable)
    assert f.status is Status.UNKNOWN
    assert f.action is None
    assert "see comment" in f.detail


def test_older_uninterpretable_hbsag_does_not_block_ok() -> None:
    unreadable = hbsag(-90, None, interpretable=False, raw="see comment")
    assert serology(unreadable, hbsag(-50), anti_hbc(-50)).status is Status.OK


def test_pending_hbsag_is_shown_but_never_used() -> None:
    pending = hbsag(-1, None, pending=True, raw="pending")
    f = serology(pending, anti_hbc(-5))
    assert f.status is Status.UNKNOWN and f.action is None
    assert any("pending" in e.display for e in f.evidence)
    ok = serology(pending, hbsag(-5), anti_hbc(-5))
    assert ok.status is Status.OK
