"""What every check is: one `Rule` (id, names, text, citation, statuses, settings, the
function that evaluates it) and how it builds a Finding.

Adding a check is one module that defines its `Rule` and one line in `registry.CHECKS`.

The rule also owns what every check shares: when an area a check reads may be incomplete
(`record.data.incomplete`: a failed search, an unreadable resource), the check cannot say
`ok`, nor `not_applicable` when that area decided applicability (no doses because the dose
search failed). Such findings become `unknown` with "Data incomplete: …". An alert, overdue
or due computed from the data present stands, with a note.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import date

from domain.findings import Action, Evidence, Finding, Severity, Status
from domain.records import AREAS, DataQuality, PatientRecord
from smartapp.rules.schedule import TreatmentSchedule
from smartapp.rules.settings import RuleSettings

CheckFunction = Callable[[PatientRecord, date, RuleSettings, TreatmentSchedule], Finding]

#: Statuses that may carry an action (unknown only when the fix is to order a missing test).
ACTIONABLE = frozenset({Status.DUE, Status.OVERDUE, Status.ALERT, Status.UNKNOWN})

_SETTING_NAMES = frozenset(field.name for field in dataclasses.fields(RuleSettings))


@dataclass(frozen=True, kw_only=True)
class Rule:
    """One check. `areas` are the record areas (`records.AREAS`) it reads: when one is
    incomplete the check may not say ok. `applicability_areas` are those that decide
    whether the check applies at all (the doses, for checks that need therapy started)."""

    id: str
    #: What the dashboard, the CDS cards and docs/clinical-rules.md call it.
    name: str
    #: What it decides, in a clinician's words; `{name}` placeholders are `RuleSettings`
    #: fields (the dashboard shows it under each finding, docs/clinical-rules.md under the
    #: check's heading).
    text: str
    citation: str
    areas: frozenset[str]
    #: The pure function that evaluates it (its docstring is the rule in detail in
    #: docs/clinical-rules.md).
    evaluate: CheckFunction
    #: The statuses of its row in SPEC §3; every check may also say `unknown` (§3). A
    #: property test holds every finding to them; docs/clinical-rules.md lists them.
    statuses: frozenset[Status] = frozenset(Status)
    #: The `RuleSettings` it reads (docs/clinical-rules.md shows them with their defaults).
    settings: tuple[str, ...] = ()
    #: A word or two for the worklist's column (the name when empty).
    short_name: str = ""
    #: Severity of `unknown` when an ok is downgraded for incomplete data.
    unknown_severity: Severity = Severity.MODERATE
    applicability_areas: frozenset[str] = frozenset({"doses"})

    def __post_init__(self) -> None:
        unknown = (self.areas | self.applicability_areas) - set(AREAS)
        if unknown:
            raise ValueError(f"{self.id}: unknown record areas {sorted(unknown)}")
        if not self.name.strip() or not self.text.strip():
            raise ValueError(f"{self.id}: a rule needs its name and its text")
        if not self.citation.strip():
            raise ValueError(f"{self.id}: a rule cites its source")
        strangers = set(self.settings) - _SETTING_NAMES
        if strangers:
            raise ValueError(f"{self.id}: unknown settings {sorted(strangers)}")
        try:
            self.describe(RuleSettings())
        except (KeyError, IndexError, ValueError) as error:
            raise ValueError(f"{self.id}: its text does not format ({error!r})") from error

    @property
    def allowed(self) -> frozenset[Status]:
        return self.statuses | {Status.UNKNOWN}

    @property
    def label(self) -> str:
        """The short name for a column of checks (the name when it has none)."""
        return self.short_name or self.name

    def describe(self, settings: RuleSettings) -> str:
        """The rule's text with `settings` filled in."""
        return self.text.format(**dataclasses.asdict(settings))

    def run(
        self,
        record: PatientRecord,
        as_of: date,
        settings: RuleSettings,
        schedule: TreatmentSchedule,
    ) -> Finding:
        finding = self.evaluate(record, as_of, settings, schedule)
        data = record.data
        return guard_incomplete(self, finding, data) if data.incomplete else finding

    def finding(
        self,
        status: Status,
        severity: Severity,
        title: str,
        detail: str,
        *,
        due: date | None = None,
        evidence: Iterable[Evidence] = (),
        action: Action | None = None,
        grounds: Iterable[Evidence] | None = None,
    ) -> Finding:
        if action is not None and status not in ACTIONABLE:
            raise ValueError(f"{self.id}: a {status.value} finding carries no action")
        return Finding(
            check=self.id,
            status=status,
            severity=severity,
            title=title,
            detail=detail,
            due=due,
            evidence=tuple(evidence),
            action=action,
            citation=self.citation,
            grounds=None if grounds is None else tuple(item.reference for item in grounds),
        )

    def ok(
        self,
        title: str,
        detail: str,
        *,
        due: date | None = None,
        evidence: Iterable[Evidence] = (),
    ) -> Finding:
        """An ok is information: it carries no action and needs no attention."""
        return self.finding(Status.OK, Severity.INFO, title, detail, due=due, evidence=evidence)

    def not_applicable(self, detail: str, evidence: Iterable[Evidence] = ()) -> Finding:
        return self.finding(
            Status.NOT_APPLICABLE,
            Severity.INFO,
            f"{self.name}: not applicable",
            detail,
            evidence=evidence,
        )


#: How many of the records behind an incomplete area a finding names (the data panel
#: lists them all).
REASONS_SHOWN = 2


def guard_incomplete(rule: Rule, finding: Finding, data: DataQuality) -> Finding:
    """Never `ok` (or `not_applicable` for lack of data) from an incomplete record. The
    finding says why when a record made the area incomplete (SPEC §2 "unusable records")."""
    incomplete = data.incomplete
    missing = rule.areas & incomplete
    if finding.status is Status.OK and missing:
        blocked = missing
    elif finding.status is Status.NOT_APPLICABLE and rule.applicability_areas & incomplete:
        blocked = rule.applicability_areas & incomplete
    else:
        if not missing:
            return finding
        note = f" Data may be incomplete ({', '.join(sorted(missing))})."
        return replace(finding, detail=finding.detail + note)
    areas = ", ".join(sorted(blocked))
    reasons = list(dict.fromkeys(text for area, text in data.reasons if area in blocked))
    why = ""
    if reasons:
        why = " (" + "; ".join(reasons[:REASONS_SHOWN])
        why += (
            f"; {len(reasons) - REASONS_SHOWN} more in the data panel)"
            if len(reasons) > REASONS_SHOWN
            else ")"
        )
    return replace(
        finding,
        status=Status.UNKNOWN,
        severity=rule.unknown_severity,
        title=f"{rule.name}: data incomplete",
        detail=(
            f"Data incomplete: {areas} could not all be read{why}, so this cannot be "
            f"confirmed. From the data read: {finding.detail}"
        ),
        action=None,
    )
