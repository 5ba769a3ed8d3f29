"""infection-active, hypersensitivity, pml, pregnancy (USPI 4, 5.1, 5.2, 5.x Fetal Risk, 8)."""

from __future__ import annotations

from typing import Any

import pytest

from domain.findings import Severity, Status
from domain.records import ConditionKind, LabKind, LabResult

from .builders import allergy, check, condition, course, dose, infection, lab, record

# --- infection-active -----------------------------------------------------------------------


def test_no_active_infection_is_ok() -> None:
    f = check("infection-active", record(infection(-100, active=False)))
    assert f.status is Status.OK and f.action is None


def test_active_infection_is_a_high_alert_to_hold_the_dose() -> None:
    f = check("infection-active", record(course(-100, 6), infection(-4)))
    assert f.status is Status.ALERT and f.severity is Severity.HIGH
    assert f.action is not None and f.action.code == "hold-for-infection"
    assert "Delay the next dose" in f.detail


def test_active_infection_before_start_says_treat_it_first() -> None:
    f = check("infection-active", record(infection(-4)))
    assert f.status is Status.ALERT and "before starting" in f.detail


def test_refuted_infection_is_ignored() -> None:
    assert check("infection-active", record(infection(-4, refuted=True))).status is Status.OK


@pytest.mark.parametrize(
    ("onset", "status"), [(-29, Status.ALERT), (-30, Status.ALERT), (-31, Status.OK)]
)
def test_an_infection_without_clinical_status_is_active_for_30_days_from_onset(
    onset: int, status: Status
) -> None:
    # An encounter diagnosis of pneumonia without clinicalStatus (allowed in R4).
    f = check("infection-active", record(infection(onset, status=None)))
    assert f.status is status, f.detail


def test_the_30_day_window_uses_the_latest_day_of_a_partial_onset() -> None:
    # Onset "2025-05" may be as late as 2025-05-31, 15 days before AS_OF: still current.
    assert check("infection-active", record(infection("2025-05", status=None))).status is (
        Status.ALERT
    )
    assert check("infection-active", record(infection("2025-04", status=None))).status is (
        Status.OK
    )


def test_the_no_status_window_is_a_setting() -> None:
    from dataclasses import replace

    from .builders import SETTINGS, summary

    wider = replace(SETTINGS, infection_no_status_days=60)
    found = summary(record(infection(-45, status=None)), settings=wider).findings
    assert next(f for f in found if f.check == "infection-active").status is Status.ALERT


def test_an_infection_without_status_or_date_is_unknown_never_ok() -> None:
    f = check("infection-active", record(infection(None, status=None)))
    assert f.status is Status.UNKNOWN and f.action is None


@pytest.mark.parametrize(
    ("onset", "status"), [(-89, Status.ALERT), (-90, Status.ALERT), (-91, Status.OK)]
)
def test_an_acute_infection_recorded_active_holds_a_dose_for_90_days(
    onset: int, status: Status
) -> None:
    f = check("infection-active", record(infection(onset)))
    assert f.status is status


def test_an_old_infection_left_active_is_context_not_an_alert() -> None:
    # Synthea-style: a viral sinusitis from 2020 never closed.
    f = check("infection-active", record(course(-100, 6), infection("2020-03-01")))
    assert f.status is Status.OK and f.severity is Severity.LOW
    assert f.action is None
    assert "not counted as current" in f.detail and "close them in the record" in f.detail
    assert len(f.evidence) == 1


def test_a_chronic_infection_of_the_curated_list_counts_whatever_its_age() -> None:
    tb = infection(-20 * 365, chronic=True)
    f = check("infection-active", record(tb))
    assert f.status is Status.ALERT and "whatever its age" in f.evidence[0].display
    no_status = infection(-20 * 365, chronic=True, status=None)
    assert check("infection-active", record(no_status)).status is Status.ALERT


def test_a_chronic_infection_resolved_or_abated_does_not_count() -> None:
    resolved = infection(-3000, chronic=True, active=False)
    abated = infection(-3000, chronic=True, status=None, abatement=-2000)
    assert check("infection-active", record(resolved, abated)).status is Status.OK


def test_an_infection_abated_on_or_before_as_of_does_not_count() -> None:
    assert check("infection-active", record(infection(-5, abatement=0))).status is Status.OK
    undated = infection(-5, abated=True)
    assert check("infection-active", record(undated)).status is Status.OK


def test_an_infection_resolved_after_as_of_was_active_on_as_of() -> None:
    # Looking back (--as-of in the past): resolved later, still current on the as-of day.
    later = infection(-10, active=False, abatement=20)
    f = check("infection-active", record(later))
    assert f.status is Status.ALERT
    assert "still current on the as-of date" in f.evidence[0].display


def test_an_infection_that_began_after_as_of_does_not_count_yet() -> None:
    assert check("infection-active", record(infection(5))).status is Status.OK


def test_infection_alert_grounds_are_the_counted_infections_only() -> None:
    current, old = infection(-3), infection(-400)
    f = check("infection-active", record(current, old))
    assert f.status is Status.ALERT
    assert f.grounds == (current.source.reference,)
    assert {e.reference for e in f.evidence} == {current.source.reference, old.source.reference}


# --- hypersensitivity -----------------------------------------------------------------------


def test_active_ofatumumab_allergy_is_a_critical_alert() -> None:
    f = check("hypersensitivity", record(allergy()))
    assert f.status is Status.ALERT and f.severity is Severity.CRITICAL
    assert f.action is not None and f.action.code == "review-hypersensitivity"


def test_no_allergy_is_ok() -> None:
    assert check("hypersensitivity", record()).status is Status.OK


@pytest.mark.parametrize("status", ["inactive", "resolved", None])
def test_a_past_anaphylaxis_to_ofatumumab_recorded_inactive_is_still_critical(
    status: str | None,
) -> None:
    f = check("hypersensitivity", record(allergy(status=status, anaphylaxis=True)))
    assert f.status is Status.ALERT and f.severity is Severity.CRITICAL
    if status:
        assert "inactive or resolved" in f.detail and status in f.detail
    assert len(f.evidence) == 1


@pytest.mark.parametrize(
    "kw",
    [
        {"allergy_type": "allergy"},
        {"allergy_type": None},
        {"allergy_type": "intolerance", "criticality": "high"},
        {"allergy_type": "intolerance", "severe": True},
        {"allergy_type": "intolerance", "anaphylaxis": True},
    ],
)
def test_hypersensitivity_is_critical_when_allergy_high_severe_or_anaphylaxis(
    kw: dict[str, Any],
) -> None:
    f = check("hypersensitivity", record(allergy(**kw)))
    assert f.status is Status.ALERT and f.severity is Severity.CRITICAL


@pytest.mark.parametrize("criticality", ["low", "unable-to-assess", None])
def test_a_mild_intolerance_is_a_moderate_review(criticality: str | None) -> None:
    mild = allergy(allergy_type="intolerance", criticality=criticality)
    f = check("hypersensitivity", record(mild))
    assert f.status is Status.ALERT and f.severity is Severity.MODERATE
    assert "injection reactions are common and usually mild" in f.detail
    assert f.action is not None and f.action.code == "review-hypersensitivity"


def test_entered_in_error_allergy_is_ignored_whatever_its_content() -> None:
    f = check("hypersensitivity", record(allergy(refuted=True, anaphylaxis=True)))
    assert f.status is Status.OK


def test_refuted_allergy_is_ignored() -> None:
    f = check("hypersensitivity", record(allergy(refuted=True)))
    assert f.status is Status.OK and not f.evidence


# --- pml ---------------------------------------------------------------------------------------


def test_pml_condition_is_a_critical_alert_whatever_its_clinical_status() -> None:
    for active in (True, False):
        f = check("pml", record(condition(ConditionKind.PML, -25, active=active)))
        assert f.status is Status.ALERT and f.severity is Severity.CRITICAL
        assert f.action is not None and f.action.code == "review-pml"


def test_refuted_pml_is_ok() -> None:
    assert check("pml", record(condition(ConditionKind.PML, refuted=True))).status is Status.OK


# --- pregnancy -----------------------------------------------------------------------------


def status(day: int, result: str) -> LabResult:
    return lab(LabKind.PREGNANCY_STATUS, day, qualitative=result)


def hcg(day: int, result: str | None = None, value: float | None = None, **kw: Any) -> LabResult:
    return lab(LabKind.HCG, day, qualitative=result, value=value, **kw)


def test_pregnancy_status_positive_within_280_days_is_a_high_alert() -> None:
    f = check("pregnancy", record(status(-280, "positive")))
    assert f.status is Status.ALERT and f.severity is Severity.HIGH
    assert f.action is not None and f.action.code == "review-pregnancy"


def test_pregnancy_status_positive_281_days_ago_is_no_longer_an_alert() -> None:
    assert check("pregnancy", record(status(-281, "positive"))).status is Status.OK


def test_a_later_negative_test_ends_a_positive_one() -> None:
    assert check("pregnancy", record(status(-60, "positive"), status(-5, "negative"))).status is (
        Status.OK
    )
    assert check("pregnancy", record(hcg(-60, "positive"), hcg(-5, "negative"))).status is (
        Status.OK
    )
    assert check("pregnancy", record(hcg(-60, "positive"), status(-5, "negative"))).status is (
        Status.OK
    )


def test_a_negative_test_on_the_same_day_does_not_cancel_a_positive() -> None:
    rec = record(hcg(-5, "positive"), status(-5, "negative"))
    assert check("pregnancy", rec).status is Status.ALERT


def test_positive_hcg_within_280_days_is_a_high_alert() -> None:
    assert check("pregnancy", record(hcg(-30, "positive"))).status is Status.ALERT


def test_quantitative_hcg_is_read_with_the_cut_offs() -> None:
    assert check("pregnancy", record(hcg(-3, value=30.0))).status is Status.ALERT
    assert check("pregnancy", record(hcg(-3, value=25.0))).status is Status.ALERT
    equivocal = check("pregnancy", record(hcg(-3, value=10.0)))
    assert equivocal.status is Status.UNKNOWN and equivocal.severity is Severity.MODERATE
    assert check("pregnancy", record(hcg(-3, value=2.0))).status is Status.OK


def test_active_pregnancy_condition_is_a_high_alert() -> None:
    f = check("pregnancy", record(condition(ConditionKind.PREGNANCY, -40)))
    assert f.status is Status.ALERT
    ended = condition(ConditionKind.PREGNANCY, -400, active=False)
    assert check("pregnancy", record(ended)).status is Status.OK


def test_woman_of_reproductive_age_gets_the_contraception_reminder_with_its_date() -> None:
    f = check("pregnancy", record(dose(-10), age=30))
    assert f.status is Status.OK and f.severity is Severity.INFO and f.action is None
    assert "6 months after the last dose" in f.detail
    assert "2025-12-05" in f.detail  # last dose 2025-06-05 + 6 months


def test_contraception_reminder_before_treatment_has_no_date() -> None:
    f = check("pregnancy", record(age=30))
    assert f.status is Status.OK and "until at least" not in f.detail


def test_pregnancy_ages_12_and_55_apply_11_and_56_do_not() -> None:
    assert check("pregnancy", record(age=12)).status is Status.OK
    assert check("pregnancy", record(age=55)).status is Status.OK
    assert check("pregnancy", record(age=11)).status is Status.NOT_APPLICABLE
    assert check("pregnancy", record(age=56)).status is Status.NOT_APPLICABLE


def test_male_or_other_sex_is_not_applicable() -> None:
    assert check("pregnancy", record(gender="male")).status is Status.NOT_APPLICABLE
    assert check("pregnancy", record(gender="other")).status is Status.NOT_APPLICABLE


def test_unknown_sex_of_reproductive_age_is_unknown_with_the_reminder() -> None:
    for gender in (None, "unknown"):
        f = check("pregnancy", record(gender=gender, age=30))
        assert f.status is Status.UNKNOWN and f.severity is Severity.LOW
        assert "contraception" in f.detail
    assert check("pregnancy", record(gender=None, age=None)).status is Status.UNKNOWN
    assert check("pregnancy", record(gender=None, age=70)).status is Status.NOT_APPLICABLE


def test_female_without_birth_date_gets_the_reminder() -> None:
    f = check("pregnancy", record(age=None))
    assert f.status is Status.OK and "Birth date not recorded" in f.detail


def test_evidence_of_pregnancy_alerts_whatever_the_recorded_sex() -> None:
    assert check("pregnancy", record(hcg(-3, "positive"), gender="male")).status is Status.ALERT


def test_uninterpretable_pregnancy_test_is_unknown_not_ok() -> None:
    unreadable = hcg(-3, interpretable=False, raw="faint line")
    f = check("pregnancy", record(unreadable))
    assert f.status is Status.UNKNOWN
    assert "faint line" in f.detail
    later_negative = check("pregnancy", record(unreadable, hcg(-1, "negative")))
    assert later_negative.status is Status.OK


def test_a_pending_pregnancy_test_never_alerts_and_blocks_the_reassurance() -> None:
    f = check("pregnancy", record(hcg(-1, "positive", pending=True)))
    assert f.status is Status.UNKNOWN and f.action is None
    assert "pregnancy test result pending since 2025-06-14" in f.detail
    assert any("pending" in e.display for e in f.evidence)


def test_a_pending_pregnancy_test_older_than_a_final_negative_does_not_block() -> None:
    f = check("pregnancy", record(hcg(-10, "positive", pending=True), hcg(-2, "negative")))
    assert f.status is Status.OK


def test_a_pregnancy_alert_names_a_newer_pending_test() -> None:
    f = check("pregnancy", record(hcg(-10, "positive"), hcg(-1, "negative", pending=True)))
    assert f.status is Status.ALERT and "pending since 2025-06-14" in f.detail


def test_same_day_positive_and_negative_without_times_pregnant_counts() -> None:
    f = check("pregnancy", record(hcg(-3, "negative"), hcg(-3, "positive")))
    assert f.status is Status.ALERT


def test_a_later_negative_on_the_same_day_by_time_clears_a_positive() -> None:
    positive = hcg("2025-06-12T08:00:00+02:00", "positive")
    negative = hcg("2025-06-12T15:00:00+02:00", "negative")
    assert check("pregnancy", record(positive, negative)).status is Status.OK


def test_quantitative_hcg_bounds() -> None:
    def status(value: float, comparator: str) -> Status:
        return check(
            "pregnancy", record(lab(LabKind.HCG, -2, value=value, comparator=comparator))
        ).status

    assert status(5.0, "<") is Status.OK  # below 5: negative
    assert status(30.0, "<") is Status.UNKNOWN  # may be anything under 30
    assert status(25.0, ">=") is Status.ALERT
    assert status(25.0, "") is Status.ALERT and status(24.9, "") is Status.UNKNOWN


@pytest.mark.parametrize(
    ("onset", "status"), [(-279, Status.ALERT), (-280, Status.ALERT), (-281, Status.OK)]
)
def test_a_pregnancy_condition_without_clinical_status_counts_for_280_days(
    onset: int, status: Status
) -> None:
    f = check("pregnancy", record(condition(ConditionKind.PREGNANCY, onset, status=None)))
    assert f.status is status
