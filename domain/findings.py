"""What the rules produce: findings, the dosing schedule and the patient summary (SPEC §3)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import Enum

from domain.fast_init import fast_init
from domain.records import (
    ClinicalDate,
    DataQuality,
    Dispense,
    Dose,
    DoseKind,
    MedicationOrder,
    PatientInfo,
    SourceRef,
    TherapyStatement,
)


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


@fast_init
@dataclass(frozen=True)
class Evidence:
    reference: str
    date: str | None
    display: str
    matched_by: str


@fast_init
@dataclass(frozen=True)
class Action:
    """A code from the app's action CodeSystem (fhir_mappings/codesystems/actions.json)."""

    code: str
    display: str


@fast_init
@dataclass(frozen=True)
class Acknowledgement:
    by: str
    on: str
    reason: str


@fast_init
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
    #: `evidence` (`fhir_mappings.read.tasks.covers`).
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


@fast_init
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


@fast_init
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


# -- the course of therapy (built by smartapp.rules.therapy) --------------------------------


@fast_init
@dataclass(frozen=True)
class Discontinuation:
    """The order or statement that discontinued therapy, and its stop date (None: not given)."""

    record: MedicationOrder | TherapyStatement
    stop: ClinicalDate | None

    @property
    def source(self) -> SourceRef:
        return self.record.source

    def describe(self) -> str:
        """'MedicationRequest/7 stopped on 2025-03-01' / '… completed (no stop date)'."""
        kind = "statement" if isinstance(self.record, TherapyStatement) else "order"
        when = f"on {self.stop.describe()}" if self.stop else "(no stop date recorded)"
        return f"Kesimpta {kind} {self.record.status} {when} ({self.source.reference})"


@fast_init
@dataclass(frozen=True)
class Therapy:
    """The course of ofatumumab as of a day (module doc)."""

    as_of: date
    #: Counted doses dated on or before as_of, one per day, oldest first: administrations
    #: and placed pens (`Dose.kind`).
    course: tuple[Dose, ...]
    #: Every administration record dated on or before as_of, oldest first (duplicates kept:
    #: dose-interval reports them).
    administrations: tuple[Dose, ...]
    #: Dispenses dated on or before as_of, oldest first.
    dispenses: tuple[Dispense, ...]
    #: Pens placed after as_of: supply in hand, oldest first.
    supply: tuple[Dose, ...]
    #: When pens were dispensed: the due date after the last placed pen (refill due).
    supply_until: date | None
    #: Dispensed pens never placed because therapy was stopped before their due date.
    unused_pens: int
    #: The active (or on-hold) statement with the earliest start, when one shows therapy.
    statement: TherapyStatement | None
    #: First evidence of therapy: the earliest counted dose, placed pen or statement start.
    first: ClinicalDate | None
    #: The last counted dose or placed pen (None when there is none).
    last_dose: ClinicalDate | None
    #: The last day the patient is known to have been on therapy: the last dose or pen, as_of
    #: while an active statement says it is taken, a stopped statement's end.
    last: ClinicalDate | None
    discontinued: Discontinuation | None
    phase: Phase
    next_due: date | None
    next_due_basis: NextDueBasis | None

    @property
    def started(self) -> bool:
        """Therapy has begun (a dose, a placed pen or a statement): "first dose" exists."""
        return self.first is not None

    def sources(self) -> tuple[str, ...]:
        """The kinds of record therapy rests on ("administrations", "dispensed pens",
        "statement"), for the worklist's reasons and the evidence."""
        kinds: list[str] = []
        if any(dose.kind is DoseKind.ADMINISTRATION for dose in self.course):
            kinds.append("administrations")
        if any(dose.kind is DoseKind.PEN for dose in (*self.course, *self.supply)):
            kinds.append("dispensed pens")
        if self.statement is not None or stopped_by_statement(self.discontinued):
            kinds.append("statement")
        return tuple(kinds)


def stopped_by_statement(discontinued: Discontinuation | None) -> bool:
    return discontinued is not None and isinstance(discontinued.record, TherapyStatement)
