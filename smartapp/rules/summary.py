"""evaluate(record, as_of, settings) -> Summary: every check once, in screen order."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from domain.findings import Finding, Severity, Status, Summary
from domain.records import PatientRecord
from smartapp.rules.acknowledgements import find_acknowledgement
from smartapp.rules.base import ACTIONABLE
from smartapp.rules.registry import CHECKS
from smartapp.rules.schedule import build_schedule
from smartapp.rules.settings import RuleSettings

#: Within a severity: alert, overdue, due, unknown, ok, not_applicable (SPEC §3 screen order).
STATUS_ORDER: dict[Status, int] = {
    Status.ALERT: 0,
    Status.OVERDUE: 1,
    Status.DUE: 2,
    Status.UNKNOWN: 3,
    Status.OK: 4,
    Status.NOT_APPLICABLE: 5,
}
_SEVERITY_ORDER: dict[Severity, int] = {severity: severity.rank for severity in Severity}


def finding_order(finding: Finding) -> tuple[int, int, str]:
    """Severity rank, then status, then check id."""
    return _SEVERITY_ORDER[finding.severity], STATUS_ORDER[finding.status], finding.check


def evaluate(record: PatientRecord, as_of: date, settings: RuleSettings) -> Summary:
    """Run every check in `CHECKS` on one patient as of a day. Pure: no I/O, no clock."""
    schedule = build_schedule(record, as_of, settings)
    findings = [check.run(record, as_of, settings, schedule) for check in CHECKS]
    if record.tasks:
        for index, finding in enumerate(findings):
            if finding.status not in ACTIONABLE:
                continue
            ack = find_acknowledgement(
                record.tasks,
                finding.check,
                finding.due,
                finding.ground_references(),
            )
            if ack is not None:
                findings[index] = replace(finding, acknowledgement=ack)
    findings.sort(key=finding_order)
    data = record.data
    if schedule.lab_problems:
        data = replace(
            data, problems=(*data.problems, *(p.sentence() for p in schedule.lab_problems))
        )
    return Summary(
        patient=record.patient,
        as_of=as_of,
        phase=schedule.phase,
        schedule=schedule.model(),
        findings=tuple(findings),
        data=data,
    )
