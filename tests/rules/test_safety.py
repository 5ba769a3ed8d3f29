"""infection-active, hypersensitivity, pml, pregnancy (USPI 4, 5.1, 5.2, 5.x Fetal Risk, 8)."""

from __future__ import annotations

from typing import Any

from fhir_mappings.records import ConditionKind, LabKind, LabResult
from smartapp.rules.model import Severity, Status

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


# --- hypersensitivity -----------------------------------------------------------------------


def test_active_ofatumumab_allergy_is_a_critical_alert() -> None:
    f = check("hypersensitivity", record(allergy()))
    assert f.status is Status.ALERT and f.severity is Severity.CRITICAL
    assert f.action is not None and f.action.code == "review-hypersensitivity"


def test_no_allergy_is_ok() -> None:
    assert check("hypersensitivity", record()).status is Status.OK


def test_inactive_allergy_is_ok_but_shown() -> None:
    f = check("hypersensitivity", record(allergy(active=False)))
    assert f.status is Status.OK and f.severity is Severity.LOW
    assert len(f.evidence) == 1


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


def test_pending_pregnancy_test_is_shown_not_used() -> None:
    f = check("pregnancy", record(hcg(-1, "positive", pending=True)))
    assert f.status is Status.OK
    assert any("pending" in e.display for e in f.evidence)
