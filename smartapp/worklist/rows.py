"""One worklist row per patient: what a care coordinator scans (SPEC §1, §4 Web).

A row is built from the patient's record and evaluated Summary: phase, next dose due, the
overdue / due / alert / unknown findings, the highest severity among them, and the app's
open Tasks with owner and due date. `Summary` stays attached for the JSON output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from domain.findings import Finding, Phase, Severity, Status, Summary
from domain.records import PatientRecord
from fhir_mappings.write.common import OPEN_TASK_STATUSES

#: Statuses that need a coordinator's attention, worst first (a row's `status`).
ATTENTION: tuple[Status, ...] = (Status.ALERT, Status.OVERDUE, Status.DUE, Status.UNKNOWN)
#: Phases in course order (for sorting).
PHASE_ORDER = tuple(phase.value for phase in Phase)
SEVERITY_ORDER = tuple(severity.value for severity in Severity)


@dataclass(frozen=True)
class FindingItem:
    """A finding as the worklist shows it (the full one is in `WorklistRow.summary`)."""

    check: str
    status: str
    severity: str
    title: str
    due: date | None

    @classmethod
    def of(cls, finding: Finding) -> FindingItem:
        return cls(
            finding.check,
            finding.status.value,
            finding.severity.value,
            finding.title,
            finding.due,
        )

    def label(self) -> str:
        """`ig-monitoring (due 2026-03-01)`: short and stable (CSV, text output)."""
        return f"{self.check} (due {self.due.isoformat()})" if self.due else self.check


@dataclass(frozen=True)
class OpenTask:
    """An open Task the app wrote for this patient (status, owner, due date)."""

    check: str
    status: str
    owner: str | None
    due: date | None
    reference: str

    def label(self) -> str:
        owner = self.owner or "unassigned"
        due = self.due.isoformat() if self.due else "no due date"
        return f"{self.check}: {self.status}, {owner}, due {due}"


@dataclass(frozen=True)
class WorklistRow:
    patient_id: str
    name: str
    birth_date: date | None
    gender: str | None
    phase: str
    next_due: date | None
    overdue: tuple[FindingItem, ...]
    due: tuple[FindingItem, ...]
    alerts: tuple[FindingItem, ...]
    unknown: tuple[FindingItem, ...]
    highest_severity: str | None
    open_tasks: tuple[OpenTask, ...]
    #: Some of the patient's data could not be read: affected checks say unknown.
    incomplete: bool
    #: Why the patient is on the worklist (e.g. "Kesimpta doses", "worklist Group").
    membership: tuple[str, ...]
    #: (check id, status) of every finding, attention or not (the filters read it).
    check_statuses: tuple[tuple[str, str], ...] = ()
    #: The evaluated Summary; None for a row read back from a stored snapshot (whose
    #: summary JSON is stored beside it).
    summary: Summary | None = field(default=None, compare=False, repr=False)

    @property
    def status(self) -> str:
        """The worst attention status of the row, else "ok"."""
        for status, items in (
            (Status.ALERT, self.alerts),
            (Status.OVERDUE, self.overdue),
            (Status.DUE, self.due),
            (Status.UNKNOWN, self.unknown),
        ):
            if items:
                return status.value
        return Status.OK.value

    @property
    def severity_rank(self) -> int:
        """0 (critical) … 4 (info); 5 when nothing needs attention."""
        if self.highest_severity is None:
            return len(SEVERITY_ORDER)
        return SEVERITY_ORDER.index(self.highest_severity)

    def findings(self) -> tuple[FindingItem, ...]:
        """Every finding that needs attention (alerts, overdue, due, unknown)."""
        return self.alerts + self.overdue + self.due + self.unknown


def _open_tasks(record: PatientRecord) -> tuple[OpenTask, ...]:
    tasks = [
        OpenTask(task.check, task.status, task.owner, task.due, task.source.reference)
        for task in record.tasks
        if task.status in OPEN_TASK_STATUSES
    ]
    tasks.sort(key=lambda t: (t.due or date.max, t.check))
    return tuple(tasks)


def row_for(
    record: PatientRecord, summary: Summary, membership: tuple[str, ...] = ()
) -> WorklistRow:
    """The worklist row of an evaluated patient."""
    by_status: dict[Status, list[FindingItem]] = {status: [] for status in ATTENTION}
    severities: list[Severity] = []
    for finding in summary.findings:
        if finding.status in by_status:
            by_status[finding.status].append(FindingItem.of(finding))
            severities.append(finding.severity)
    highest = min(severities, key=lambda s: s.rank).value if severities else None
    patient = summary.patient
    return WorklistRow(
        patient_id=patient.id,
        name=patient.name,
        birth_date=patient.birth_date,
        gender=patient.gender,
        phase=summary.phase.value,
        next_due=summary.schedule.next_due,
        overdue=tuple(by_status[Status.OVERDUE]),
        due=tuple(by_status[Status.DUE]),
        alerts=tuple(by_status[Status.ALERT]),
        unknown=tuple(by_status[Status.UNKNOWN]),
        highest_severity=highest,
        open_tasks=_open_tasks(record),
        incomplete=bool(summary.data.incomplete),
        membership=membership,
        check_statuses=tuple((finding.check, finding.status.value) for finding in summary.findings),
        summary=summary,
    )
