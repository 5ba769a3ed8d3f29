"""The course of ofatumumab as of a day: counted doses, phase, next dose, vaccine timing.

Computed once per evaluation and handed to every check, so no check sorts doses,
vaccinations or lab results again.

Partial dates (SPEC §2 "Dates"): the schedule places a dose on the earliest day its date
allows (`ClinicalDate.earliest`), which makes the next dose fall due no later than it
really is. Where a later day is the safer reading — the end of B-cell depletion, the start
of the non-live vaccine window, the end of contraception — the checks use `latest`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from operator import attrgetter
from typing import NamedTuple

from fhir_mappings.records import (
    ClinicalDate,
    Dose,
    LabKind,
    MedicationOrder,
    PatientRecord,
    Vaccination,
    VaccineClass,
)
from smartapp.rules.dates import plus_days
from smartapp.rules.evidence import dose_evidence
from smartapp.rules.model import Evidence, Phase, Schedule
from smartapp.rules.results import LabSeries, index_labs, series_of
from smartapp.rules.settings import RuleSettings

#: Vaccine classes timed as live: an ambiguous CVX is never silently non-live.
LIVE_LIKE = frozenset({VaccineClass.LIVE, VaccineClass.AMBIGUOUS})


class StartConstraint(NamedTuple):
    """Before the first dose: a vaccine and the first day ofatumumab may start after it."""

    vaccine: Vaccination
    safe_from: date
    live_like: bool


@dataclass(frozen=True)
class TreatmentSchedule:
    as_of: date
    #: Counted doses dated on or before as_of, oldest first.
    doses: tuple[Dose, ...]
    phase: Phase
    first: ClinicalDate | None
    last: ClinicalDate | None
    next_due: date | None
    vaccine_window: tuple[date, date] | None
    #: Pre-treatment only: the first day the vaccine intervals allow (as_of when none binds).
    earliest_start: date | None
    #: Before the first dose, baselines are judged against this day: as_of, or the start of
    #: an active MedicationRequest when later. `reference_latest` is its latest reading when
    #: the order's start is a partial date (baseline windows use it, due dates the earliest).
    reference_date: date
    reference_latest: date
    reference_order: MedicationOrder | None
    #: After the first dose: the ofatumumab order was stopped, completed or cancelled and no
    #: other order is active (therapy discontinued), so no next dose is scheduled.
    stopped_order: MedicationOrder | None
    #: Vaccinations with a usable date on or before as_of (oldest first), and those without.
    vaccinations: tuple[Vaccination, ...]
    undated_vaccinations: tuple[Vaccination, ...]
    #: Pre-treatment only: every dated vaccination's start interval.
    start_constraints: tuple[StartConstraint, ...]
    dose_evidence: tuple[Evidence, ...]
    #: Lab results by kind, dated on or before as_of (see `results`), sorted once.
    labs: Mapping[LabKind, LabSeries]

    def lab_series(self, *kinds: LabKind) -> LabSeries:
        return series_of(self.labs, *kinds)

    @property
    def started(self) -> bool:
        return bool(self.doses)

    def model(self) -> Schedule:
        return Schedule(
            first_dose=self.first.earliest if self.first else None,
            last_dose=self.last.earliest if self.last else None,
            doses=len(self.doses),
            next_due=self.next_due,
            vaccine_window=self.vaccine_window,
            earliest_start=self.earliest_start,
        )


_dose_key: Callable[[Dose], tuple[date, date]] = attrgetter("when.earliest", "when.latest")
#: Only dated vaccinations are sorted.
_vaccine_key: Callable[[Vaccination], tuple[date, date]] = attrgetter(
    "when.earliest", "when.latest"
)


def next_interval_days(count: int, settings: RuleSettings) -> int:
    """Days from the `count`-th dose to the next (USPI 2.2: weeks 0, 1, 2, then every 4
    weeks from week 4)."""
    if count < 3:
        return settings.loading_interval_days
    if count == 3:
        return settings.first_maintenance_after_third_days
    return settings.maintenance_interval_days


def next_dose_due(doses: tuple[Dose, ...], settings: RuleSettings) -> date | None:
    """The next dose counts from the day the last one was given (a late dose resets)."""
    if not doses:
        return None
    return plus_days(doses[-1].when.earliest, next_interval_days(len(doses), settings))


def days_before_start(vaccine: Vaccination, settings: RuleSettings) -> int:
    """USPI 2.1: live (and ambiguous, timed as live) 4 weeks, non-live 2 weeks before start."""
    if vaccine.vaccine_class in LIVE_LIKE:
        return settings.live_vaccine_before_start_days
    return settings.non_live_vaccine_before_start_days


def phase_of(doses: tuple[Dose, ...], as_of: date, settings: RuleSettings) -> Phase:
    count = len(doses)
    if count == 0:
        return Phase.PRE_TREATMENT
    if count < 3:
        return Phase.LOADING
    if (as_of - doses[-1].when.earliest).days > settings.interrupted_after_days:
        return Phase.INTERRUPTED
    return Phase.MAINTENANCE


def _reference(record: PatientRecord, as_of: date) -> tuple[date, date, MedicationOrder | None]:
    earliest, latest, chosen = as_of, as_of, None
    for order in record.orders:
        if order.status != "active" or order.start is None:
            continue
        if order.start.latest > latest:
            latest = order.start.latest
            chosen = order
        if order.start.earliest > earliest:
            earliest = order.start.earliest
            chosen = order
    return earliest, latest, chosen


#: Order statuses that mean the prescriber ended the course, and those that keep it going.
ENDED_ORDER_STATUSES = frozenset({"stopped", "completed", "cancelled"})
LIVE_ORDER_STATUSES = frozenset({"active", "on-hold", "draft"})


def _stopped_order(record: PatientRecord) -> MedicationOrder | None:
    """The ended order when every ofatumumab order has ended (SPEC is silent on
    discontinuation; a clinician who stopped the order is not asked for the next dose)."""
    if any(order.status in LIVE_ORDER_STATUSES for order in record.orders):
        return None
    ended = [order for order in record.orders if order.status in ENDED_ORDER_STATUSES]
    if not ended:
        return None
    return max(ended, key=lambda order: order.start.latest if order.start else date.min)


def build_schedule(record: PatientRecord, as_of: date, settings: RuleSettings) -> TreatmentSchedule:
    """Everything the checks share about the course, computed once."""
    # A dose dated after as_of had not been given as of that day (evaluating a past day).
    doses = tuple(sorted([d for d in record.doses if d.when.earliest <= as_of], key=_dose_key))
    phase = phase_of(doses, as_of, settings)
    first = doses[0].when if doses else None
    last = doses[-1].when if doses else None
    stopped = _stopped_order(record) if doses else None
    next_due = None if stopped else next_dose_due(doses, settings)

    dated = [v for v in record.vaccinations if v.when is not None and v.when.earliest <= as_of]
    vaccinations = tuple(sorted(dated, key=_vaccine_key))
    undated = tuple(v for v in record.vaccinations if v.when is None)

    window: tuple[date, date] | None = None
    if last is not None and next_due is not None and phase in (Phase.LOADING, Phase.MAINTENANCE):
        start = plus_days(last.latest, settings.non_live_after_dose_days)
        end = plus_days(next_due, -settings.non_live_before_next_dose_days)
        if start <= end:
            window = (start, end)

    constraints: tuple[StartConstraint, ...] = ()
    earliest_start: date | None = None
    if not doses:
        items = []
        for vaccine in vaccinations:
            if vaccine.when is None:  # pragma: no cover - dated by construction
                continue
            # "Was the vaccine long enough before the start?": the latest day it may have been.
            safe_from = plus_days(vaccine.when.latest, days_before_start(vaccine, settings))
            items.append(StartConstraint(vaccine, safe_from, vaccine.vaccine_class in LIVE_LIKE))
        constraints = tuple(items)
        earliest_start = max([as_of, *(c.safe_from for c in constraints)])

    reference_date, reference_latest, reference_order = _reference(record, as_of)
    return TreatmentSchedule(
        as_of=as_of,
        doses=doses,
        phase=phase,
        first=first,
        last=last,
        next_due=next_due,
        vaccine_window=window,
        earliest_start=earliest_start,
        reference_date=reference_date,
        reference_latest=reference_latest,
        reference_order=reference_order,
        stopped_order=stopped,
        vaccinations=vaccinations,
        undated_vaccinations=undated,
        start_constraints=constraints,
        dose_evidence=tuple(map(dose_evidence, doses)),
        labs=index_labs(record.labs, as_of),
    )
