"""What every check shares: its identity (id, citation, inputs) and how it builds a Finding."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date

from domain.findings import Action, Evidence, Finding, Severity, Status
from domain.records import AREAS, PatientRecord
from smartapp.rules.schedule import TreatmentSchedule
from smartapp.rules.settings import RuleSettings

CheckFunction = Callable[[PatientRecord, date, RuleSettings, TreatmentSchedule], Finding]

#: Statuses that may carry an action (unknown only when the fix is to order a missing test).
ACTIONABLE = frozenset({Status.DUE, Status.OVERDUE, Status.ALERT, Status.UNKNOWN})


@dataclass(frozen=True)
class Rule:
    """A check's identity. `areas` are the record areas (`records.AREAS`) it reads: when one
    is incomplete the check may not say ok. `applicability_areas` are those that decide
    whether the check applies at all (the doses, for checks that need therapy started)."""

    id: str
    name: str
    citation: str
    areas: frozenset[str]
    #: Severity of `unknown` when the registry downgrades an ok for incomplete data.
    unknown_severity: Severity = Severity.MODERATE
    applicability_areas: frozenset[str] = frozenset({"doses"})

    def __post_init__(self) -> None:
        unknown = (self.areas | self.applicability_areas) - set(AREAS)
        if unknown:
            raise ValueError(f"{self.id}: unknown record areas {sorted(unknown)}")

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

    def not_applicable(self, detail: str, evidence: Iterable[Evidence] = ()) -> Finding:
        return self.finding(
            Status.NOT_APPLICABLE,
            Severity.INFO,
            f"{self.name}: not applicable",
            detail,
            evidence=evidence,
        )
