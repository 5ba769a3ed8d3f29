"""How statuses, severities, phases and dates read on the dashboard (icon AND word,
never a colour alone)."""

from __future__ import annotations

from datetime import date

from domain.findings import Phase, Severity, Status
from domain.records import ClinicalDate, VaccineClass
from smartapp.web.look import Look

# -- how statuses, severities and phases read -------------------------------------------


STATUS_LOOKS: dict[Status, Look] = {
    Status.ALERT: Look("alert", "Alert", "icon-alert"),
    Status.OVERDUE: Look("overdue", "Overdue", "icon-overdue"),
    Status.DUE: Look("due", "Due", "icon-due"),
    Status.UNKNOWN: Look("unknown", "Unknown", "icon-unknown"),
    Status.OK: Look("ok", "OK", "icon-ok"),
    Status.NOT_APPLICABLE: Look("not-applicable", "Not applicable", "icon-na"),
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

VACCINE_LOOKS: dict[VaccineClass, Look] = {
    VaccineClass.LIVE: Look("live", "Live", "icon-alert"),
    VaccineClass.NON_LIVE: Look("non-live", "Non-live", "icon-ok"),
    VaccineClass.AMBIGUOUS: Look("ambiguous", "Ambiguous: review", "icon-unknown"),
}

#: What each check tests, in words, with the settings in force (the "rule" a finding opens).
#: Keyed by check id; `{name}` fields are RuleSettings attributes.
OPEN_TASK_STATUSES = frozenset(
    {"draft", "requested", "received", "accepted", "ready", "in-progress", "on-hold"}
)


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


def iso_day(day: date | None) -> str | None:
    return day.isoformat() if day else None
