"""Brain MRI monitoring on ofatumumab (SPEC §3 mri-monitoring; clinical practice for
disease activity and PML vigilance, USPI 5.1 PML)."""

from __future__ import annotations

from datetime import date

from domain.findings import Evidence, Finding, Severity, Status
from domain.records import PatientRecord
from smartapp.rules import actions
from smartapp.rules.base import Rule
from smartapp.rules.dates import plus_days
from smartapp.rules.evidence import counted_as, imaging_evidence, on_day
from smartapp.rules.monitoring import monitoring_finding
from smartapp.rules.schedule import TreatmentSchedule
from smartapp.rules.settings import RuleSettings


def mri_monitoring(
    record: PatientRecord, as_of: date, settings: RuleSettings, schedule: TreatmentSchedule
) -> Finding:
    """On therapy a brain MRI is due 365 days after the first dose, then 365 days after the
    last MRI; an MRI before the first dose is a baseline only. SPEC §3 mri-monitoring;
    not_applicable once therapy is discontinued (SPEC §3 phase).

    A partial MRI date counts from its earliest day (and is on therapy only if that day is).
    ok (info, `due` = next MRI) more than 30 days ahead; due (low) within 30 days; overdue
    (moderate) after; not_applicable before the first dose.
    """
    first = schedule.first
    if first is None:
        return MRI_MONITORING.not_applicable(
            "Therapy not started: the yearly MRI counts from the first dose."
        )
    if schedule.discontinued is not None:
        return MRI_MONITORING.not_applicable(
            f"Therapy discontinued ({schedule.discontinued.describe()}): yearly MRI "
            "monitoring on ofatumumab no longer applies."
        )
    latest_on = None
    latest_before = None
    for image in record.imaging:
        start = image.when.earliest
        if start > as_of:
            continue
        if start >= first.earliest:
            if latest_on is None or start > latest_on.when.earliest:
                latest_on = image
        elif latest_before is None or start > latest_before.when.earliest:
            latest_before = image
    evidence: list[Evidence] = []
    if latest_before is not None:
        evidence.append(imaging_evidence(latest_before, "before the first dose: baseline only"))
    if latest_on is not None:
        when = latest_on.when
        due = plus_days(when.earliest, settings.mri_interval_days)
        basis = f"last MRI {on_day(when)}"
        evidence.append(
            imaging_evidence(latest_on, counted_as(when, when.earliest, "the MRI may be that old"))
        )
    else:
        due = plus_days(first.earliest, settings.mri_interval_days)
        basis = f"no MRI since the first dose {on_day(first)}"
    text = f"Brain MRI every {settings.mri_interval_days} days on therapy ({basis}): "
    return monitoring_finding(
        MRI_MONITORING, "Brain MRI", text, due, as_of, settings, evidence, actions.BOOK_MRI
    )


MRI_MONITORING = Rule(
    id="mri-monitoring",
    name="Brain MRI",
    short_name="MRI",
    text=(
        "On therapy, a brain MRI {mri_interval_days} days after the first dose, then "
        "{mri_interval_days} days after the last MRI; due from {monitoring_due_window_days} "
        "days before."
    ),
    citation="SPEC §3 mri-monitoring (clinical practice: yearly brain MRI on therapy)",
    areas=frozenset({"imaging", "doses"}),
    unknown_severity=Severity.LOW,
    statuses=frozenset({Status.OK, Status.DUE, Status.OVERDUE, Status.NOT_APPLICABLE}),
    settings=("mri_interval_days", "monitoring_due_window_days"),
    evaluate=mri_monitoring,
)
