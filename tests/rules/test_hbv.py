"""hbv-screening and hbv-serology (USPI 2.1, 4, 5.1)."""

from __future__ import annotations

from typing import Any

import pytest

from domain.findings import Finding, Severity, Status
from domain.records import ConditionKind, LabKind

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


def test_refuted_hepatitis_b_condition_is_not_an_alert() -> None:
    refuted = condition(ConditionKind.HEPATITIS_B, refuted=True)
    f = serology(refuted, hbsag(-5), anti_hbc(-5))
    assert f.status is Status.OK


@pytest.mark.parametrize("status", ["inactive", "resolved", "remission"])
def test_past_hepatitis_b_condition_is_a_high_alert(status: str) -> None:
    past = condition(ConditionKind.HEPATITIS_B, -4000, status=status)
    f = serology(past, hbsag(-5), anti_hbc(-5))
    assert f.status is Status.ALERT and f.severity is Severity.HIGH
    assert "past" in f.detail and status in f.detail
    assert f.grounds == (past.source.reference,)


def test_hbsag_negative_anti_hbc_positive_is_high_alert_for_liver_expert() -> None:
    f = serology(hbsag(-5), anti_hbc(-5, "positive"))
    assert f.status is Status.ALERT and f.severity is Severity.HIGH
    assert "liver disease expert" in f.detail and "HBV DNA" in f.detail


def test_anti_hbc_positive_with_no_hbsag_is_still_a_high_alert() -> None:
    f = serology(anti_hbc(-5, "positive"))
    assert f.status is Status.ALERT and f.severity is Severity.HIGH
    assert "HBsAg not known" in f.detail


def test_positive_anti_hbc_igm_is_critical_possible_acute_hepatitis_b() -> None:
    f = serology(hbsag(-5), lab(LabKind.ANTI_HBC_IGM, -5, qualitative="positive"))
    assert f.status is Status.ALERT and f.severity is Severity.CRITICAL
    assert "possible acute hepatitis B" in f.detail


def test_an_older_positive_anti_hbc_igm_keeps_a_high_alert_after_a_negative_one() -> None:
    old = lab(LabKind.ANTI_HBC_IGM, -400, qualitative="positive")
    new = lab(LabKind.ANTI_HBC_IGM, -5, qualitative="negative")
    f = serology(hbsag(-5), anti_hbc(-5), old, new)
    assert f.status is Status.ALERT and f.severity is Severity.HIGH


def test_hbv_dna_is_shown_with_an_anti_hbc_alert() -> None:
    dna = lab(LabKind.HBV_DNA, -3, qualitative="negative", raw="<10 IU/mL, not detected")
    f = serology(hbsag(-5), anti_hbc(-5, "positive"), dna)
    assert f.severity is Severity.HIGH
    assert any("<10 IU/mL" in e.display for e in f.evidence)


def test_both_hbv_tests_negative_is_ok() -> None:
    f = serology(hbsag(-5), anti_hbc(-5))
    assert f.status is Status.OK and f.action is None


def test_an_older_positive_hbsag_keeps_at_least_a_high_alert_whatever_later_results_say() -> None:
    f = serology(hbsag(-900, "positive"), hbsag(-5), anti_hbc(-5))
    assert f.status is Status.ALERT and f.severity is Severity.HIGH
    assert "Earlier HBsAg positive on" in f.detail and "whatever later results say" in f.detail


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
    # Newer than the negative HBsAg: a would-be ok is unknown until it is final.
    waiting = serology(pending, hbsag(-5), anti_hbc(-5))
    assert waiting.status is Status.UNKNOWN and waiting.action is None
    assert "HBsAg result pending since 2025-06-14" in waiting.detail
    # Older than the latest usable result: no longer blocks the ok.
    older = serology(hbsag(-30, None, pending=True, raw="pending"), hbsag(-5), anti_hbc(-5))
    assert older.status is Status.OK


# --- hbv-serology v2 (SPEC §2, §3) ---------------------------------------------------------


def dna(day: int, result: str | None = "positive", **kw: Any) -> Any:
    return lab(LabKind.HBV_DNA, day, qualitative=result, **kw)


def test_detectable_hbv_dna_with_negative_serology_is_critical() -> None:
    f = serology(hbsag(-5), anti_hbc(-5), dna(-2, raw="35 IU/mL"))
    assert f.status is Status.ALERT and f.severity is Severity.CRITICAL
    assert "HBV DNA positive" in f.detail and "detectable" in f.detail


def test_detectable_hbv_dna_on_therapy_is_named_reactivation() -> None:
    f = serology(course(-120, 6), hbsag(-130), anti_hbc(-130, "positive"), dna(-2))
    assert f.severity is Severity.CRITICAL and "reactivation" in f.detail


def test_an_hbv_dna_below_a_bound_alone_makes_a_negative_serology_unknown() -> None:
    unclear = dna(-2, None, value=20.0, comparator="<", interpretable=False, raw="<20 IU/mL")
    f = serology(hbsag(-5), anti_hbc(-5), unclear)
    assert f.status is Status.UNKNOWN
    assert "<20 IU/mL" in f.detail


def test_hbv_dna_not_detected_keeps_a_negative_serology_ok() -> None:
    f = serology(hbsag(-5), anti_hbc(-5), dna(-2, "negative", raw="Target not detected"))
    assert f.status is Status.OK and "HBV DNA negative" in f.detail


def test_a_detectable_hbv_dna_ever_recorded_keeps_a_high_alert() -> None:
    f = serology(hbsag(-5), anti_hbc(-5), dna(-400), dna(-5, "negative"))
    assert f.status is Status.ALERT and f.severity is Severity.HIGH


@pytest.mark.parametrize(
    ("value", "comparator", "status", "severity"),
    [
        (0.049, "", Status.OK, Severity.INFO),
        (0.05, "", Status.ALERT, Severity.CRITICAL),
        (0.051, "", Status.ALERT, Severity.CRITICAL),
        (0.05, "<", Status.OK, Severity.INFO),  # below 0.05: negative
        (0.06, "<", Status.UNKNOWN, Severity.MODERATE),  # may be either side of 0.05
        (0.05, ">=", Status.ALERT, Severity.CRITICAL),
    ],
)
def test_quantitative_hbsag_threshold_at_0_05_iu_per_ml(
    value: float, comparator: str, status: Status, severity: Severity
) -> None:
    quantitative = lab(LabKind.HBSAG, -5, value=value, comparator=comparator)
    f = serology(quantitative, anti_hbc(-5))
    assert (f.status, f.severity) == (status, severity), f.detail


def test_the_hbsag_threshold_is_a_setting() -> None:
    from dataclasses import replace

    from .builders import SETTINGS, summary

    rec = record(lab(LabKind.HBSAG, -5, value=0.03), anti_hbc(-5))
    lower = replace(SETTINGS, hbsag_positive_iu_ml=0.02)
    found = next(f for f in summary(rec, settings=lower).findings if f.check == "hbv-serology")
    assert found.severity is Severity.CRITICAL


def test_hepatitis_b_condition_without_clinical_status_counts_whatever_its_age() -> None:
    old = condition(ConditionKind.HEPATITIS_B, -20 * 365, status=None)
    f = serology(old, hbsag(-5), anti_hbc(-5))
    assert f.status is Status.ALERT and f.severity is Severity.CRITICAL
    assert any("no clinical status: counted as current" in e.display for e in f.evidence)


def test_hepatitis_b_condition_without_status_but_abated_is_past_high() -> None:
    abated = condition(ConditionKind.HEPATITIS_B, -3000, status=None, abatement=-2000)
    f = serology(abated, hbsag(-5), anti_hbc(-5))
    assert f.status is Status.ALERT and f.severity is Severity.HIGH


def test_a_hepatitis_b_resolved_after_as_of_was_still_active_then() -> None:
    # Evaluated as of a day before it was resolved: it does not travel back in time.
    later = condition(ConditionKind.HEPATITIS_B, -400, status="resolved", abatement=30)
    f = serology(later, hbsag(-5), anti_hbc(-5))
    assert f.status is Status.ALERT and f.severity is Severity.CRITICAL
    assert any("still current on the as-of date" in e.display for e in f.evidence)


def test_a_hepatitis_b_condition_recorded_after_as_of_does_not_count_yet() -> None:
    future = condition(ConditionKind.HEPATITIS_B, 10)
    assert serology(future, hbsag(-5), anti_hbc(-5)).status is Status.OK


def test_a_pending_result_never_raises_an_hbv_alert_and_an_alert_names_it() -> None:
    only_pending = serology(hbsag(-1, "positive", pending=True), anti_hbc(-1, pending=True))
    assert only_pending.status is Status.UNKNOWN
    alert = serology(hbsag(-30), anti_hbc(-30, "positive"), dna(-1, pending=True))
    assert alert.status is Status.ALERT and "HBV DNA result pending since" in alert.detail


@pytest.mark.parametrize(
    ("total_ref", "igm_ref"),
    [("Observation/a-total", "Observation/b-igm"), ("Observation/b-total", "Observation/a-igm")],
)
def test_same_day_positive_anti_hbc_and_igm_show_each_record_once_whatever_their_ids(
    total_ref: str, igm_ref: str
) -> None:
    """Found on real HAPI: which of a same-day total anti-HBc and IgM was 'the latest'
    followed the server's ids, and the other was shown as an earlier positive — the IgM
    twice. Neither is earlier than the other: each is shown once, as recorded."""
    total = anti_hbc(-10, "positive", ref=total_ref)
    igm = lab(LabKind.ANTI_HBC_IGM, -10, qualitative="positive", ref=igm_ref)
    f = serology(hbsag(-10), total, igm)
    assert f.severity is Severity.CRITICAL
    references = [e.reference for e in f.evidence]
    assert sorted(references) == sorted({*references})
    assert {total_ref, igm_ref} <= set(references) and len(references) == 3
    assert not any("counts whatever later results say" in e.display for e in f.evidence)


def test_an_earlier_positive_is_still_marked_as_counting_whatever_later_results_say() -> None:
    old = lab(LabKind.ANTI_HBC_IGM, -400, qualitative="positive", ref="Observation/old-igm")
    new = lab(LabKind.ANTI_HBC_IGM, -5, qualitative="negative", ref="Observation/new-igm")
    f = serology(hbsag(-5), anti_hbc(-5), old, new)
    marked = [e for e in f.evidence if "counts whatever later results say" in e.display]
    assert [e.reference for e in marked] == ["Observation/old-igm"]
