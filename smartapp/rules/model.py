"""What the rules produce: findings, the dosing schedule and the patient summary (SPEC §3)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import Enum
from typing import TYPE_CHECKING

from fhir_mappings.records import DataQuality, PatientInfo

if TYPE_CHECKING:  # the course refers back to Phase: no import cycle at run time
    from smartapp.rules.therapy import Therapy


class Status(str, Enum):
    OK = "ok"
    DUE = "due"
    OVERDUE = "overdue"
    ALERT = "alert"
    UNKNOWN = "unknown"
    NOT_APPLICABLE = "not_applicable"


class Severity(str, Enum):
    CRITICAL = "critical"
    HIGH = "high"
    MODERATE = "moderate"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        """0 for critical … 4 for info: the order findings are shown in."""
        return list(Severity).index(self)


class Phase(str, Enum):
    PRE_TREATMENT = "pre-treatment"
    LOADING = "loading"
    MAINTENANCE = "maintenance"
    INTERRUPTED = "interrupted"
    #: SPEC §2 "Discontinued": the newest order or statement stopped, nothing given after.
    DISCONTINUED = "discontinued"


@dataclass(frozen=True)
class Evidence:
    reference: str
    date: str | None
    display: str
    matched_by: str


@dataclass(frozen=True)
class Action:
    """A code from the app's action CodeSystem (fhir_mappings/codesystems/actions.json)."""

    code: str
    display: str


@dataclass(frozen=True)
class Acknowledgement:
    by: str
    on: str
    reason: str


@dataclass(frozen=True)
class Finding:
    check: str
    status: Status
    severity: Severity
    title: str
    detail: str
    due: date | None
    evidence: tuple[Evidence, ...]
    action: Action | None
    citation: str
    acknowledgement: Acknowledgement | None = None
    #: For an alert (no due date): the records it rests on, when fewer than `evidence`
    #: (which also shows context, such as every dose or the latest negative test). An
    #: acknowledgement covers an alert while its Task cites all of these; None = all of
    #: `evidence` (`fhir_mappings.tasks.covers`).
    grounds: tuple[str, ...] | None = None

    def ground_references(self) -> tuple[str, ...]:
        """What an acknowledgement of this finding must cite to cover it."""
        if self.grounds is not None:
            return self.grounds
        return tuple(item.reference for item in self.evidence)


class NextDueBasis(str, Enum):
    """Where the next due date comes from (the write-back words its activity by it)."""

    SCHEDULE = "schedule"  # the last dose + the labelled interval
    PEN_IN_HAND = "pen in hand"  # the next dispensed pen not yet due
    SUPPLY_END = "dispensed supply"  # the last dispensed pen was presumed injected


@dataclass(frozen=True)
class Schedule:
    first_dose: date | None
    last_dose: date | None
    doses: int
    next_due: date | None
    vaccine_window: tuple[date, date] | None
    earliest_start: date | None
    #: How `next_due` was found; None when there is none.
    next_due_basis: NextDueBasis | None = None
    #: Dispensed pens not yet due (supply in hand) and the day that supply runs out.
    pens_in_hand: int = 0
    supply_until: date | None = None


@dataclass(frozen=True)
class Summary:
    patient: PatientInfo
    as_of: date
    phase: Phase
    schedule: Schedule
    findings: tuple[Finding, ...]
    data: DataQuality
    #: The course the one definition of therapy worked out (doses, pens, supply,
    #: statements), for the screens that draw it and the write-back's wording.
    therapy: Therapy | None = field(default=None, compare=False, repr=False)

    @property
    def next_due_is_earliest(self) -> bool:
        """The next dose's date comes from a dose record that could not all be read (the
        next-dose check says unknown): a dose or pen that could not be read can only make
        it later, so it is the earliest date the dose can be due (SPEC is silent)."""
        return self.schedule.next_due is not None and any(
            f.check == "dose-schedule" and f.status is Status.UNKNOWN for f in self.findings
        )
