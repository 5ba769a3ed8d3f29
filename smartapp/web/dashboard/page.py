"""Summary + PatientRecord → what the dashboard template shows (SPEC §4 "Web").

Pure presentation: no Flask, no I/O, no rules. Every value here is plain text or numbers;
the template escapes all of it (FHIR text is never trusted as HTML). Status is always given
as an icon AND a word (`smartapp.web.look.Look`), never as a colour alone.

Section order (SPEC §4): patient banner, data-incomplete banner, alerts (critical first),
dose timeline, lab trends (IgG, IgM, HBV results), vaccines, plan and Tasks, the other
findings grouped by status, and the "data" panel.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from domain.findings import Finding, Severity, Status, Summary
from domain.records import AppTask, LabKind, PatientRecord
from smartapp.rules.dates import age_on
from smartapp.rules.registry import CHECKS_BY_ID
from smartapp.rules.settings import RuleSettings
from smartapp.rules.therapy import therapy_of
from smartapp.web.dashboard.data_panel import data_panel
from smartapp.web.dashboard.labs import TREND_KINDS, hbv_rows, lab_trend
from smartapp.web.dashboard.looks import (
    GROUP_ORDER,
    OPEN_TASK_STATUSES,
    SEVERITY_WORDS,
    STATUS_LOOKS,
    iso_day,
    relative_days,
)
from smartapp.web.dashboard.timeline import timeline_view
from smartapp.web.dashboard.vaccines import vaccine_rows
from smartapp.web.dashboard.views import (
    Dashboard,
    EvidenceRow,
    FetchInfo,
    FindingGroup,
    FindingView,
    GlanceItem,
    PageContext,
    PatientBanner,
    TaskRow,
)

# -- findings -----------------------------------------------------------------------------


def task_row(task: AppTask) -> TaskRow:
    check = CHECKS_BY_ID.get(task.check)
    return TaskRow(
        check=task.check,
        check_name=check.name if check else task.check,
        status=task.status,
        is_open=task.status in OPEN_TASK_STATUSES,
        owner=task.owner or "not assigned",
        due=iso_day(task.due) or "no due date",
        note=task.status_reason or "",
        last_modified=task.last_modified or "",
        reference=task.source.reference,
    )


def finding_view(
    finding: Finding, as_of: date, settings: RuleSettings, tasks: Sequence[TaskRow] = ()
) -> FindingView:
    check = CHECKS_BY_ID.get(finding.check)
    ack = finding.acknowledgement
    return FindingView(
        check=finding.check,
        anchor=f"finding-{finding.check}",
        status=STATUS_LOOKS[finding.status],
        severity=finding.severity.value,
        severity_word=SEVERITY_WORDS[finding.severity],
        title=finding.title,
        detail=finding.detail,
        due=iso_day(finding.due),
        due_relative=relative_days(finding.due, as_of) if finding.due else None,
        evidence=tuple(
            EvidenceRow(item.reference, item.date or "no date", item.display, item.matched_by)
            for item in finding.evidence
        ),
        rule_name=check.name if check else finding.check,
        rule_text=check.describe(settings) if check else "",
        citation=finding.citation,
        action=finding.action.display if finding.action else None,
        acknowledgement=(f"Acknowledged by {ack.by} on {ack.on}: {ack.reason}" if ack else None),
        tasks=tuple(task for task in tasks if task.check == finding.check),
    )


# -- the page -----------------------------------------------------------------------------


def build_dashboard(
    summary: Summary,
    record: PatientRecord,
    *,
    settings: RuleSettings,
    mappings: Any = None,
    page: PageContext | None = None,
    fetch: FetchInfo | None = None,
) -> Dashboard:
    page = page or PageContext()
    fetch = fetch or FetchInfo()
    as_of = summary.as_of
    tasks = tuple(
        sorted(
            (task_row(task) for task in record.tasks),
            key=lambda row: (not row.is_open, row.due, row.check),
        )
    )
    views = [finding_view(f, as_of, settings, tasks) for f in summary.findings]
    alerts = tuple(
        v for v, f in zip(views, summary.findings, strict=True) if f.status is Status.ALERT
    )
    groups = tuple(
        FindingGroup(
            STATUS_LOOKS[status],
            f"findings-{STATUS_LOOKS[status].key}",
            tuple(v for v, f in zip(views, summary.findings, strict=True) if f.status is status),
        )
        for status in GROUP_ORDER
    )
    groups = tuple(group for group in groups if group.findings)
    glance = (
        GlanceItem(STATUS_LOOKS[Status.ALERT], len(alerts), "alerts"),
        *(GlanceItem(group.status, len(group.findings), group.anchor) for group in groups),
    )
    attention = tuple(
        v
        for v, f in zip(views, summary.findings, strict=True)
        if f.status in (Status.OVERDUE, Status.DUE, Status.UNKNOWN)
    )
    patient = summary.patient
    banner = None
    if page.need_patient_banner:
        banner = PatientBanner(
            id=patient.id,
            name=patient.name,
            birth_date=iso_day(patient.birth_date),
            age=age_on(patient.birth_date, as_of) if patient.birth_date else None,
            gender=patient.gender,
        )
    limits = {
        LabKind.IGG: settings.igg_lower_limit_mg_dl,
        LabKind.IGM: settings.igm_lower_limit_mg_dl,
    }
    therapy = summary.therapy or therapy_of(record, as_of, settings)
    return Dashboard(
        as_of=as_of.isoformat(),
        banner=banner,
        patient_id=patient.id,
        incomplete=tuple(sorted(summary.data.incomplete)),
        problems=tuple(summary.data.problems),
        read_only=not page.can_write_plan,
        can_write_plan=page.can_write_plan,
        scope_negotiated=page.scope_negotiated,
        server_label=page.server_label,
        open_server=page.open_server,
        launch_id=page.launch_id,
        glance=glance,
        attention=attention,
        alerts=alerts,
        critical_alerts=sum(
            1
            for f in summary.findings
            if f.status is Status.ALERT and f.severity is Severity.CRITICAL
        ),
        timeline=timeline_view(summary, record, therapy),
        trends=tuple(
            lab_trend(kind, key, name, record.labs, as_of, limits[kind])
            for kind, key, name in TREND_KINDS
        ),
        hbv=hbv_rows(record.labs, as_of),
        vaccines=vaccine_rows(record, as_of, therapy.course),
        tasks=tasks,
        groups=groups,
        data=data_panel(summary, mappings, settings, fetch),
    )
