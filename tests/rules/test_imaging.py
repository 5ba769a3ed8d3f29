"""mri-monitoring."""

from __future__ import annotations

from domain.findings import Severity, Status

from .builders import check, course, d, mri, record


def test_mri_monitoring_does_not_apply_before_the_first_dose() -> None:
    assert check("mri-monitoring", record(mri(-10))).status is Status.NOT_APPLICABLE


def test_first_mri_on_therapy_is_due_a_year_after_the_first_dose() -> None:
    f = check("mri-monitoring", record(course(-300, 11)))
    assert f.due == d(65) and f.status is Status.OK


def test_mri_before_the_first_dose_is_a_baseline_only() -> None:
    f = check("mri-monitoring", record(mri(-320), course(-300, 11)))
    assert f.due == d(65)
    assert any("baseline only" in e.display for e in f.evidence)


def test_next_mri_is_due_a_year_after_the_last_one() -> None:
    f = check("mri-monitoring", record(course(-500, 18), mri(-130), mri(-300)))
    assert f.due == d(235) and f.status is Status.OK


def test_mri_31_days_ahead_is_ok_30_is_due() -> None:
    assert check("mri-monitoring", record(course(-500, 18), mri(-334))).status is Status.OK
    f = check("mri-monitoring", record(course(-500, 18), mri(-335)))
    assert f.status is Status.DUE and f.severity is Severity.LOW
    assert f.action is not None and f.action.code == "book-mri"


def test_mri_past_its_due_date_is_overdue() -> None:
    assert check("mri-monitoring", record(course(-500, 18), mri(-365))).status is Status.DUE
    f = check("mri-monitoring", record(course(-600, 18), mri(-400)))
    assert f.status is Status.OVERDUE and f.severity is Severity.MODERATE
    assert "35 days ago" in f.detail


def test_partial_mri_date_counts_from_its_earliest_day() -> None:
    f = check("mri-monitoring", record(course(-500, 18), mri("2025-01")))
    assert f.due is not None and f.due.isoformat() == "2026-01-01"
