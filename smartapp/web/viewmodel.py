"""Summary + PatientRecord → what the dashboard template shows (SPEC §4 "Web").

Pure presentation: no Flask, no I/O, no rules. Every value here is plain text or numbers;
the template escapes all of it (FHIR text is never trusted as HTML). Status is always given
as an icon AND a word (`StatusLook`), never as a colour alone.

Section order (SPEC §4): patient banner, data-incomplete banner, alerts (critical first),
dose timeline, lab trends (IgG, IgM, HBV results), vaccines, plan and Tasks, the other
findings grouped by status, and the "data" panel.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from domain.findings import Finding, NextDueBasis, Phase, Severity, Status, Summary, Therapy
from domain.records import (
    AppTask,
    ClinicalDate,
    Dose,
    DoseKind,
    LabKind,
    LabResult,
    PatientRecord,
    Qualitative,
    ResultStatus,
    Vaccination,
    VaccineClass,
)
from smartapp.fhir.querylog import QueryLogEntry
from smartapp.rules.dates import age_on
from smartapp.rules.evidence import UNIT_TEXT, number
from smartapp.rules.registry import CHECKS_BY_ID
from smartapp.rules.results import below, lower_limit, place_on_as_of
from smartapp.rules.settings import RuleSettings
from smartapp.rules.therapy import therapy_of
from smartapp.web.charts import (
    PendingMark,
    Sample,
    Timeline,
    TrendChart,
    VaccineMark,
    dose_timeline,
    trend_chart,
)

# -- how statuses, severities and phases read -------------------------------------------


@dataclass(frozen=True)
class StatusLook:
    """A status as shown: CSS class suffix, the word, and the icon (an SVG symbol id)."""

    key: str
    word: str
    icon: str


STATUS_LOOKS: dict[Status, StatusLook] = {
    Status.ALERT: StatusLook("alert", "Alert", "icon-alert"),
    Status.OVERDUE: StatusLook("overdue", "Overdue", "icon-overdue"),
    Status.DUE: StatusLook("due", "Due", "icon-due"),
    Status.UNKNOWN: StatusLook("unknown", "Unknown", "icon-unknown"),
    Status.OK: StatusLook("ok", "OK", "icon-ok"),
    Status.NOT_APPLICABLE: StatusLook("not-applicable", "Not applicable", "icon-na"),
}

#: The order status groups are shown in after the alerts: what needs doing first.
GROUP_ORDER = (
    Status.OVERDUE,
    Status.DUE,
    Status.UNKNOWN,
    Status.OK,
    Status.NOT_APPLICABLE,
)

SEVERITY_WORDS: dict[Severity, str] = {
    Severity.CRITICAL: "Critical",
    Severity.HIGH: "High",
    Severity.MODERATE: "Moderate",
    Severity.LOW: "Low",
    Severity.INFO: "Info",
}

PHASE_WORDS: dict[Phase, str] = {
    Phase.PRE_TREATMENT: "Not started (pre-treatment)",
    Phase.LOADING: "Loading doses (weeks 0, 1, 2)",
    Phase.MAINTENANCE: "Maintenance (every 4 weeks)",
    Phase.INTERRUPTED: "Interrupted (no dose for more than 12 weeks)",
    Phase.DISCONTINUED: "Discontinued (therapy stopped; precautions continue)",
}

VACCINE_LOOKS: dict[VaccineClass, StatusLook] = {
    VaccineClass.LIVE: StatusLook("live", "Live", "icon-alert"),
    VaccineClass.NON_LIVE: StatusLook("non-live", "Non-live", "icon-ok"),
    VaccineClass.AMBIGUOUS: StatusLook("ambiguous", "Ambiguous: review", "icon-unknown"),
}

#: What each check tests, in words, with the settings in force (the "rule" a finding opens).
#: Keyed by check id; `{name}` fields are RuleSettings attributes.
OPEN_TASK_STATUSES = frozenset(
    {"draft", "requested", "received", "accepted", "ready", "in-progress", "on-hold"}
)

# -- view records ------------------------------------------------------------------------


@dataclass(frozen=True)
class EvidenceRow:
    reference: str
    date: str
    display: str
    matched_by: str


@dataclass(frozen=True)
class TaskRow:
    check: str
    check_name: str
    status: str
    is_open: bool
    owner: str
    due: str
    note: str
    last_modified: str
    reference: str


@dataclass(frozen=True)
class FindingView:
    check: str
    anchor: str
    status: StatusLook
    severity: str
    severity_word: str
    title: str
    detail: str
    due: str | None
    due_relative: str | None
    evidence: tuple[EvidenceRow, ...]
    rule_name: str
    rule_text: str
    citation: str
    action: str | None
    acknowledgement: str | None
    tasks: tuple[TaskRow, ...]


@dataclass(frozen=True)
class FindingGroup:
    status: StatusLook
    anchor: str
    findings: tuple[FindingView, ...]


@dataclass(frozen=True)
class GlanceItem:
    status: StatusLook
    count: int
    anchor: str


@dataclass(frozen=True)
class PatientBanner:
    id: str
    name: str
    birth_date: str | None
    age: int | None
    gender: str | None


@dataclass(frozen=True)
class DoseRow:
    number: int
    date: str
    amount: str
    gap: str
    reference: str
    matched_by: str
    #: Where the dose comes from, in words ("injection charted", "dispensed pen, presumed
    #: injected on its due date", "pen in hand, not yet due").
    source: str = "injection charted"


@dataclass(frozen=True)
class HomeRecordRow:
    """A dispense or a patient statement, as the doses section lists it."""

    date: str
    what: str
    reference: str
    matched_by: str


@dataclass(frozen=True)
class TimelineView:
    phase: str
    doses: int
    first_dose: str | None
    last_dose: str | None
    next_due: str | None
    next_due_relative: str | None
    next_due_late: bool
    window: tuple[str, str] | None
    earliest_start: str | None
    chart: Timeline
    rows: tuple[DoseRow, ...]
    description: str
    #: "by dispensed supply: refill or confirm injection" when the next due date comes from
    #: dispensed pens; None otherwise.
    next_due_basis: str | None = None
    #: Pens in hand and when the supply runs out ("2 pen(s), supply until 2026-01-05").
    supply: str | None = None
    #: The pharmacy's dispenses and the patient's statements behind the course.
    home_records: tuple[HomeRecordRow, ...] = ()


@dataclass(frozen=True)
class LabRow:
    date: str
    value: str
    recorded: str
    lower_limit: str
    flag: str
    flag_key: str
    reference: str
    matched_by: str


@dataclass(frozen=True)
class LabTrend:
    key: str
    name: str
    unit: str
    chart: TrendChart
    rows: tuple[LabRow, ...]
    description: str


@dataclass(frozen=True)
class HbvRow:
    date: str
    test: str
    result: str
    result_key: str
    recorded: str
    status: str
    reference: str
    matched_by: str


@dataclass(frozen=True)
class VaccineRow:
    date: str
    vaccine: str
    kind: StatusLook
    timing: str
    reference: str
    matched_by: str


@dataclass(frozen=True)
class QueryRow:
    method: str
    url: str
    outcome: str
    ok: bool
    entries: str
    ms: str
    attempt: int


@dataclass(frozen=True)
class ValueSetRow:
    id: str
    title: str
    codes: int
    prefixes: str
    site_additions: tuple[str, ...]


@dataclass(frozen=True)
class DataPanel:
    read: int
    skipped: int
    uninterpretable: int
    problems: tuple[str, ...]
    incomplete: tuple[str, ...]
    queries: tuple[QueryRow, ...]
    searches: tuple[str, ...]
    round_trips: int
    fhir_ms: float
    rules_ms: float
    site_file: str | None
    site_settings: tuple[tuple[str, str], ...]
    rxnorm: tuple[str, ...]
    valuesets: tuple[ValueSetRow, ...]
    settings: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Dashboard:
    as_of: str
    banner: PatientBanner | None
    patient_id: str
    incomplete: tuple[str, ...]
    problems: tuple[str, ...]
    read_only: bool
    can_write_plan: bool
    #: Why the launch is read-only when the app had to ask again (the EHR's code).
    scope_negotiated: str | None
    server_label: str
    open_server: bool
    launch_id: str
    glance: tuple[GlanceItem, ...]
    #: Overdue, due and unknown findings (screen order): linked from the glance bar.
    attention: tuple[FindingView, ...]
    alerts: tuple[FindingView, ...]
    critical_alerts: int
    timeline: TimelineView
    trends: tuple[LabTrend, ...]
    hbv: tuple[HbvRow, ...]
    vaccines: tuple[VaccineRow, ...]
    tasks: tuple[TaskRow, ...]
    groups: tuple[FindingGroup, ...]
    data: DataPanel


@dataclass(frozen=True)
class PageContext:
    """What the launch context contributes (kept apart so this module needs no Flask)."""

    need_patient_banner: bool = True
    can_write_plan: bool = False
    open_server: bool = False
    server_label: str = ""
    launch_id: str = ""
    #: The EHR's code when it refused the first scopes and the app asked for reads only.
    scope_negotiated: str | None = None


@dataclass(frozen=True)
class FetchInfo:
    """How the data were read: the query log, the batch's searches, and timings (ms)."""

    queries: tuple[QueryLogEntry, ...] = ()
    searches: tuple[str, ...] = ()
    fhir_ms: float = 0.0
    rules_ms: float = 0.0


# -- small formatting helpers -------------------------------------------------------------


#: After the next dose's date when the dose record could not all be read.
EARLIEST_WORDS = "; at the earliest: the dose record is incomplete"


def relative_days(day: date, as_of: date) -> str:
    delta = (day - as_of).days
    if delta == 0:
        return "today"
    if delta == 1:
        return "tomorrow"
    if delta == -1:
        return "yesterday"
    return f"in {delta} days" if delta > 0 else f"{-delta} days ago"


def clinical_date(when: ClinicalDate | None) -> str:
    return when.describe() if when is not None else "no date"


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


# -- findings -----------------------------------------------------------------------------


def task_row(task: AppTask) -> TaskRow:
    check = CHECKS_BY_ID.get(task.check)
    return TaskRow(
        check=task.check,
        check_name=check.name if check else task.check,
        status=task.status,
        is_open=task.status in OPEN_TASK_STATUSES,
        owner=task.owner or "not assigned",
        due=_iso(task.due) or "no due date",
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
        due=_iso(finding.due),
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


# -- dose timeline ------------------------------------------------------------------------


#: How each kind of counted dose reads in the doses table and on the timeline.
DOSE_SOURCE_WORDS: dict[DoseKind, str] = {
    DoseKind.ADMINISTRATION: "injection charted",
    DoseKind.PEN: "dispensed pen, presumed injected on its due date",
}
SUPPLY_WORDS = "pen in hand, not yet due"
BASIS_WORDS: dict[NextDueBasis, str] = {
    NextDueBasis.PEN_IN_HAND: "by dispensed supply: the next pen in hand",
    NextDueBasis.SUPPLY_END: "by dispensed supply: refill or confirm injection",
}


def _dose_rows(doses: Sequence[Dose], supply: Sequence[Dose] = ()) -> tuple[DoseRow, ...]:
    rows = []
    previous: date | None = None
    ordered = [*sorted(doses, key=lambda d: d.when.earliest), *supply]
    for index, dose in enumerate(ordered, 1):
        day = dose.when.earliest
        gap = f"{(day - previous).days} days" if previous else "first dose"
        amount = f"{number(dose.amount_mg)} mg" if dose.amount_mg is not None else "not recorded"
        in_hand = index > len(doses)
        rows.append(
            DoseRow(
                index,
                dose.when.describe(),
                amount,
                gap,
                dose.source.reference,
                dose.source.matched_by,
                SUPPLY_WORDS if in_hand else DOSE_SOURCE_WORDS[dose.kind],
            )
        )
        previous = day
    return tuple(rows)


def _home_rows(therapy: Therapy, record: PatientRecord) -> tuple[HomeRecordRow, ...]:
    rows = [
        HomeRecordRow(d.when.describe(), d.source.display, d.source.reference, d.source.matched_by)
        for d in therapy.dispenses
    ]
    for statement in record.statements:
        when = statement.start.describe() if statement.start else "no start recorded"
        rows.append(
            HomeRecordRow(
                when,
                f"Patient statement: {statement.source.display}",
                statement.source.reference,
                statement.source.matched_by,
            )
        )
    return tuple(rows)


def _spans(
    therapy: Therapy, record: PatientRecord, as_of: date
) -> list[tuple[date, date, str, str]]:
    """The days each dispense's pens cover, and the days each statement says therapy ran."""
    spans: list[tuple[date, date, str, str]] = []
    pens = [*therapy.course, *therapy.supply]
    for dispense in therapy.dispenses:
        placed = [p.when.earliest for p in pens if p.source.reference == dispense.source.reference]
        handed = dispense.when.earliest
        last = max([handed, *placed])
        spans.append(
            (
                handed,
                last,
                f"Dispensed {dispense.when.describe()}: {dispense.pens} pen(s), "
                f"placed until {last.isoformat()}",
                "dispense",
            )
        )
    for statement in record.statements:
        if statement.start is None or statement.start.earliest > as_of:
            continue
        shows = statement.status in ("active", "on-hold")
        end = as_of if shows or statement.end is None else statement.end.latest
        spans.append(
            (
                statement.start.earliest,
                max(end, statement.start.earliest),
                f"Patient statement ({statement.status}) from {statement.start.describe()}",
                "statement",
            )
        )
    return spans


def _timeline(summary: Summary, record: PatientRecord, therapy: Therapy) -> TimelineView:
    schedule = summary.schedule
    as_of = summary.as_of
    rows = _dose_rows(therapy.course, therapy.supply)
    marks = [
        VaccineMark(
            v.when.earliest,
            f"{v.display} ({VACCINE_LOOKS[v.vaccine_class].word})",
            v.vaccine_class.value,
        )
        for v in record.vaccinations
        if v.when is not None
    ]

    def label(row: DoseRow) -> str:
        return f"Dose {row.number}: {row.date}, {row.amount} ({row.source})"

    counted = rows[: len(therapy.course)]
    chart = dose_timeline(
        [
            (d.when.earliest, label(r))
            for d, r in zip(therapy.course, counted, strict=True)
            if d.kind is DoseKind.ADMINISTRATION
        ],
        pens=[
            (d.when.earliest, label(r))
            for d, r in zip(therapy.course, counted, strict=True)
            if d.kind is DoseKind.PEN
        ],
        supply=[
            (d.when.earliest, label(r))
            for d, r in zip(therapy.supply, rows[len(counted) :], strict=True)
        ],
        spans=_spans(therapy, record, as_of),
        as_of=as_of,
        next_due=schedule.next_due,
        window=schedule.vaccine_window,
        vaccines=marks,
        earliest_start=schedule.earliest_start,
    )
    basis = BASIS_WORDS.get(schedule.next_due_basis) if schedule.next_due_basis else None
    supply = None
    if therapy.supply or schedule.supply_until:
        supply = f"{len(therapy.supply)} pen(s) in hand"
        if schedule.supply_until:
            supply += f", supply until {schedule.supply_until.isoformat()} (refill due)"
    parts = [f"{schedule.doses} dose(s) counted"]
    pens = sum(1 for d in therapy.course if d.kind is DoseKind.PEN)
    if pens:
        parts.append(f"{pens} of them dispensed pens presumed injected")
    if schedule.first_dose:
        parts.append(f"first on {schedule.first_dose.isoformat()}")
    if schedule.last_dose:
        parts.append(f"last on {schedule.last_dose.isoformat()}")
    if schedule.next_due:
        parts.append(f"next due {schedule.next_due.isoformat()}" + (f" ({basis})" if basis else ""))
    if supply:
        parts.append(supply)
    if therapy.statement is not None:
        parts.append("a patient statement says Kesimpta is taken at home")
    if schedule.vaccine_window:
        start, end = schedule.vaccine_window
        parts.append(f"non-live vaccine window {start.isoformat()} to {end.isoformat()}")
    if schedule.earliest_start:
        parts.append(f"vaccine intervals allow a start from {schedule.earliest_start.isoformat()}")
    if chart.hidden_doses:
        parts.append(f"{chart.hidden_doses} earlier dose(s) not drawn, listed in the table")
    return TimelineView(
        phase=PHASE_WORDS[summary.phase],
        doses=schedule.doses,
        first_dose=_iso(schedule.first_dose),
        last_dose=_iso(schedule.last_dose),
        next_due=_iso(schedule.next_due),
        next_due_relative=(
            relative_days(schedule.next_due, as_of)
            + (EARLIEST_WORDS if summary.next_due_is_earliest else "")
            if schedule.next_due
            else None
        ),
        next_due_late=bool(schedule.next_due and schedule.next_due < as_of),
        window=(
            (schedule.vaccine_window[0].isoformat(), schedule.vaccine_window[1].isoformat())
            if schedule.vaccine_window
            else None
        ),
        earliest_start=_iso(schedule.earliest_start),
        chart=chart,
        rows=rows,
        description="; ".join(parts) + f"; today is {as_of.isoformat()}.",
        next_due_basis=basis,
        supply=supply,
        home_records=_home_rows(therapy, record),
    )


# -- labs ---------------------------------------------------------------------------------

TREND_KINDS: tuple[tuple[LabKind, str, str], ...] = (
    (LabKind.IGG, "igg", "IgG"),
    (LabKind.IGM, "igm", "IgM"),
)

HBV_TESTS: dict[LabKind, str] = {
    LabKind.HBSAG: "HBsAg",
    LabKind.ANTI_HBC_TOTAL: "Anti-HBc (total)",
    LabKind.ANTI_HBC_IGM: "Anti-HBc IgM",
    LabKind.HBV_DNA: "HBV DNA",
    LabKind.ANTI_HBS: "Anti-HBs",
}


def _lab_day(lab: LabResult) -> date:
    return lab.when.earliest if lab.when else date.min


def _bound_text(lab: LabResult) -> str:
    """The value as written, comparator included ("<30", "710")."""
    return f"{lab.comparator}{number(lab.value)}" if lab.value is not None else "no value"


def _trend(
    kind: LabKind, key: str, name: str, labs: Iterable[LabResult], as_of: date, limit: float
) -> LabTrend:
    results = sorted((lab for lab in labs if lab.kind is kind), key=_lab_day, reverse=True)
    rows = []
    samples = []
    pending: list[PendingMark] = []
    for lab in results:
        chosen = lower_limit(lab, limit, "mg/dL")
        own_limit = chosen.value if chosen.source != "default" else None
        used_limit = chosen.value
        limit_text = (
            f"{number(own_limit)} (laboratory)"
            if own_limit is not None
            else f"{number(limit)} (default)"
        )
        if chosen.note:
            limit_text += f"; {chosen.note}"
        placed = place_on_as_of(lab, as_of)
        usable = (
            lab.status is ResultStatus.FINAL
            and lab.interpretable
            and lab.value is not None
            and placed.when is not None
            and placed.unused_because is None
        )
        verdict = below(lab.value, lab.comparator, used_limit) if lab.value is not None else None
        if lab.status is ResultStatus.PENDING:
            flag, flag_key = "Pending: not used", "pending"
            if lab.when is not None and lab.when.earliest <= as_of:
                pending.append(
                    PendingMark(lab.when.earliest, f"{name} pending since {lab.when.describe()}")
                )
        elif placed.unused_because is not None:
            flag, flag_key = f"Not used: {placed.unused_because}", "unusable"
        elif not lab.interpretable or lab.value is None:
            flag, flag_key = "Cannot be converted to mg/dL: not used", "unusable"
        elif verdict is None:
            flag, flag_key = (
                f"Known only as a bound ({lab.comparator}): may or may not be below the limit",
                "bound",
            )
        elif verdict:
            flag, flag_key = "Below lower limit", "low"
        else:
            flag, flag_key = "At or above lower limit", "normal"
        if usable and lab.value is not None and placed.when is not None:
            samples.append(
                Sample(
                    placed.when.earliest,
                    lab.value,
                    own_limit,
                    f"{name} {_bound_text(lab)} mg/dL on {lab.when.describe() if lab.when else ''}",
                    lab.comparator,
                )
            )
        rows.append(
            LabRow(
                date=clinical_date(lab.when),
                value=_bound_text(lab),
                recorded=lab.raw,
                lower_limit=limit_text,
                flag=flag,
                flag_key=flag_key,
                reference=lab.source.reference,
                matched_by=lab.source.matched_by,
            )
        )
    chart = trend_chart(samples, as_of=as_of, default_limit=limit, pending=pending)
    if samples:
        latest = max(samples, key=lambda s: s.day)
        low = sum(1 for point in chart.points if point.below_limit)
        bounds = sum(1 for point in chart.points if point.bound)
        description = (
            f"{len(samples)} {name} result(s) in mg/dL from {min(s.day for s in samples)} to "
            f"{latest.day}; latest {latest.comparator}{number(latest.value)} mg/dL; {low} below "
            f"the lower limit (dashed line; default {number(limit)} mg/dL)"
        )
        if bounds:
            description += f"; {bounds} known only as a bound (drawn as a bar with an arrow)"
        if pending:
            description += f"; {len(pending)} pending (marked on the time axis, no value)"
        description += "."
    else:
        description = f"No usable {name} result."
    return LabTrend(key, name, "mg/dL", chart, tuple(rows), description)


def _hbv_rows(labs: Iterable[LabResult], as_of: date) -> tuple[HbvRow, ...]:
    rows = []
    for lab in sorted((lab for lab in labs if lab.kind in HBV_TESTS), key=_lab_day, reverse=True):
        placed = place_on_as_of(lab, as_of)
        if not lab.interpretable:
            result, key = "Cannot be interpreted", "unusable"
        elif lab.qualitative is Qualitative.POSITIVE:
            word = "Detectable" if lab.kind is LabKind.HBV_DNA else "Positive"
            result, key = word, "positive"
        elif lab.qualitative is Qualitative.NEGATIVE:
            word = "Not detectable" if lab.kind is LabKind.HBV_DNA else "Negative"
            result, key = word, "negative"
        elif lab.value is not None:
            unit = UNIT_TEXT.get(lab.unit or "", lab.unit or "")
            result, key = f"{_bound_text(lab)} {unit}".strip(), "value"
        else:
            result, key = "No result", "unusable"
        if lab.status is ResultStatus.PENDING:
            status = "Pending: not used"
        elif placed.unused_because is not None:
            status = f"Not used: {placed.unused_because}"
        else:
            status = "Final"
        rows.append(
            HbvRow(
                date=clinical_date(lab.when),
                test=HBV_TESTS[lab.kind],
                result=result,
                result_key=key,
                recorded=lab.raw,
                status=status,
                reference=lab.source.reference,
                matched_by=lab.source.matched_by,
            )
        )
    return tuple(rows)


# -- vaccines -----------------------------------------------------------------------------


def _vaccine_timing(vaccination: Vaccination, dose_days: Sequence[date], as_of: date) -> str:
    if vaccination.when is None:
        return "no usable date"
    day = vaccination.when.earliest
    if not dose_days:
        return f"{relative_days(day, as_of)}; therapy not started"
    if day < dose_days[0]:
        return f"{(dose_days[0] - day).days} days before the first dose"
    previous = max(d for d in dose_days if d <= day)
    later = [d for d in dose_days if d > day]
    text = f"{(day - previous).days} days after the dose of {previous.isoformat()}"
    if later:
        text += f", {(later[0] - day).days} days before the next"
    return text


def _vaccine_rows(
    record: PatientRecord, as_of: date, course: Sequence[Dose]
) -> tuple[VaccineRow, ...]:
    dose_days = sorted(d.when.earliest for d in course)
    rows = []
    ordered = sorted(
        record.vaccinations,
        key=lambda v: v.when.earliest if v.when else date.min,
        reverse=True,
    )
    for vaccination in ordered:
        if vaccination.when is not None:
            when = vaccination.when.describe()
        elif vaccination.occurrence_text:
            when = f'"{vaccination.occurrence_text}" (not a date)'
        else:
            when = "no date"
        rows.append(
            VaccineRow(
                date=when,
                vaccine=vaccination.display,
                kind=VACCINE_LOOKS[vaccination.vaccine_class],
                timing=_vaccine_timing(vaccination, dose_days, as_of),
                reference=vaccination.source.reference,
                matched_by=vaccination.source.matched_by,
            )
        )
    return tuple(rows)


# -- data panel ---------------------------------------------------------------------------


def query_row(entry: QueryLogEntry, searches: int) -> QueryRow:
    url = entry.url or "/"
    if entry.method == "POST" and not entry.url:
        url = f"/ (batch of {searches} searches)"
    outcome = str(entry.status) if entry.status is not None else (entry.error or "no answer")
    return QueryRow(
        method=entry.method,
        url=url,
        outcome=outcome,
        ok=entry.status is not None and 200 <= entry.status < 300,
        entries=str(entry.entries) if entry.entries is not None else "",
        ms=f"{entry.elapsed_ms:.0f}",
        attempt=entry.attempt,
    )


def _setting_rows(values: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple((str(key), str(value)) for key, value in sorted(values.items()))


def data_panel(
    summary: Summary, mappings: Any, settings: RuleSettings, fetch: FetchInfo
) -> DataPanel:
    described: Mapping[str, Any] = mappings.describe() if mappings is not None else {}
    valuesets = tuple(
        ValueSetRow(
            id=str(vs.get("id", "")),
            title=str(vs.get("title", "")),
            codes=int(vs.get("codes", 0)),
            prefixes=", ".join(str(p) for p in vs.get("prefixes", [])),
            site_additions=tuple(
                f"{add.get('system')}|{add.get('code')} {add.get('display') or ''}".strip()
                for add in vs.get("site_additions", [])
            ),
        )
        for vs in described.get("valuesets", [])
    )
    data = summary.data
    return DataPanel(
        read=data.read,
        skipped=data.skipped,
        uninterpretable=data.uninterpretable,
        problems=tuple(data.problems),
        incomplete=tuple(sorted(data.incomplete)),
        queries=tuple(query_row(entry, len(fetch.searches)) for entry in fetch.queries),
        searches=tuple(fetch.searches),
        round_trips=len(fetch.queries),
        fhir_ms=fetch.fhir_ms,
        rules_ms=fetch.rules_ms,
        site_file=described.get("site_file"),
        site_settings=_setting_rows(described.get("settings", {})),
        rxnorm=tuple(str(code) for code in described.get("rxnorm_ofatumumab", [])),
        valuesets=valuesets,
        settings=_setting_rows(dataclasses.asdict(settings)),
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
            birth_date=_iso(patient.birth_date),
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
        timeline=_timeline(summary, record, therapy),
        trends=tuple(
            _trend(kind, key, name, record.labs, as_of, limits[kind])
            for kind, key, name in TREND_KINDS
        ),
        hbv=_hbv_rows(record.labs, as_of),
        vaccines=_vaccine_rows(record, as_of, therapy.course),
        tasks=tasks,
        groups=groups,
        data=data_panel(summary, mappings, settings, fetch),
    )
