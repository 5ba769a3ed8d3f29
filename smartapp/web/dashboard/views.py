"""The dashboard's view records: plain text and numbers the template shows (it escapes
all of it; FHIR text is never trusted as HTML)."""

from __future__ import annotations

from dataclasses import dataclass

from smartapp.fhir.querylog import QueryLogEntry
from smartapp.web.dashboard.charts import Timeline, TrendChart
from smartapp.web.look import Look

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
    status: Look
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
    status: Look
    anchor: str
    findings: tuple[FindingView, ...]


@dataclass(frozen=True)
class GlanceItem:
    status: Look
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
    kind: Look
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
