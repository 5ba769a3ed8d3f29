"""The course of ofatumumab as of a day: counted doses, phase, next dose, vaccine timing.

Computed once per evaluation and handed to every check, so no check sorts doses,
vaccinations or lab results again. What counts as a dose, the phase and discontinuation
come from the one definition of therapy (`smartapp.rules.therapy`).

Partial dates (SPEC §2 "Dates"): the schedule places a dose on the earliest day its date
allows (`ClinicalDate.earliest`), which makes the next dose fall due no later than it
really is. Where a later day is the safer reading — the end of B-cell depletion, the start
of the non-live vaccine window, the end of contraception — the checks use `latest`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from operator import attrgetter
from typing import NamedTuple

from domain.findings import Discontinuation, Evidence, Phase, Schedule, Therapy
from domain.records import (
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
from smartapp.rules.results import DataProblem, LabSeries, index_labs, series_of
from smartapp.rules.settings import RuleSettings
from smartapp.rules.therapy import planned_starts, therapy_of

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
    #: The course (`therapy.Therapy`): one counted dose per day on or before as_of,
    #: administrations and placed pens, oldest first.
    doses: tuple[Dose, ...]
    phase: Phase
    #: First evidence of therapy (dose, placed pen or statement start): the "first dose".
    first: ClinicalDate | None
    #: The last day therapy is known: last dose or pen, as_of under an active statement.
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
    #: Vaccinations with a usable date on or before as_of (oldest first), and those without.
    vaccinations: tuple[Vaccination, ...]
    undated_vaccinations: tuple[Vaccination, ...]
    #: Pre-treatment only: every dated vaccination's start interval.
    start_constraints: tuple[StartConstraint, ...]
    #: Lab results by kind, placed on or before as_of (see `results`), sorted once.
    labs: Mapping[LabKind, LabSeries]
    #: Everything the one definition of therapy worked out (`smartapp.rules.therapy`).
    therapy: Therapy
    #: Results the rules could not use because of their date (SPEC §2), for `data.problems`.
    lab_problems: tuple[DataProblem, ...] = ()

    @cached_property
    def dose_evidence(self) -> tuple[Evidence, ...]:
        """Each counted dose as evidence, oldest first. Worked out when first asked for: most
        findings cite the last dose only, and a patient in maintenance has dozens."""
        return tuple(map(dose_evidence, self.doses))

    def lab_series(self, *kinds: LabKind) -> LabSeries:
        return series_of(self.labs, *kinds)

    @property
    def started(self) -> bool:
        return self.first is not None

    @property
    def discontinued(self) -> Discontinuation | None:
        return self.therapy.discontinued

    def model(self) -> Schedule:
        therapy = self.therapy
        return Schedule(
            first_dose=self.first.earliest if self.first else None,
            last_dose=therapy.last_dose.earliest if therapy.last_dose else None,
            doses=len(self.doses),
            next_due=self.next_due,
            vaccine_window=self.vaccine_window,
            earliest_start=self.earliest_start,
            next_due_basis=therapy.next_due_basis,
            pens_in_hand=len(therapy.supply),
            supply_until=therapy.supply_until,
        )


#: Only dated vaccinations are sorted.
_vaccine_key: Callable[[Vaccination], tuple[date, date]] = attrgetter(
    "when.earliest", "when.latest"
)


def days_before_start(vaccine: Vaccination, settings: RuleSettings) -> int:
    """USPI 2.1: live (and ambiguous, timed as live) 4 weeks, non-live 2 weeks before start."""
    if vaccine.vaccine_class in LIVE_LIKE:
        return settings.live_vaccine_before_start_days
    return settings.non_live_vaccine_before_start_days


def _reference(record: PatientRecord, as_of: date) -> tuple[date, date, MedicationOrder | None]:
    """as_of, or a later planned start (an active order's, an intended statement's)."""
    earliest, latest, chosen = as_of, as_of, None
    for start, order in planned_starts(record):
        if start.latest > latest:
            latest = start.latest
            chosen = order
        if start.earliest > earliest:
            earliest = start.earliest
            chosen = order
    return earliest, latest, chosen


def build_schedule(record: PatientRecord, as_of: date, settings: RuleSettings) -> TreatmentSchedule:
    """Everything the checks share about the course, computed once."""
    therapy = therapy_of(record, as_of, settings)
    doses, phase = therapy.course, therapy.phase
    last_dose, next_due = therapy.last_dose, therapy.next_due

    dated = [v for v in record.vaccinations if v.when is not None and v.when.earliest <= as_of]
    vaccinations = tuple(sorted(dated, key=_vaccine_key))
    undated = tuple(v for v in record.vaccinations if v.when is None)

    window: tuple[date, date] | None = None
    if (
        last_dose is not None
        and next_due is not None
        and phase in (Phase.LOADING, Phase.MAINTENANCE)
    ):
        start = plus_days(last_dose.latest, settings.non_live_after_dose_days)
        end = plus_days(next_due, -settings.non_live_before_next_dose_days)
        if start <= end:
            window = (start, end)

    constraints: tuple[StartConstraint, ...] = ()
    earliest_start: date | None = None
    if not therapy.started:
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
    labs, lab_problems = index_labs(record.labs, as_of)
    return TreatmentSchedule(
        as_of=as_of,
        doses=doses,
        phase=phase,
        first=therapy.first,
        last=therapy.last,
        next_due=next_due,
        vaccine_window=window,
        earliest_start=earliest_start,
        reference_date=reference_date,
        reference_latest=reference_latest,
        reference_order=reference_order,
        vaccinations=vaccinations,
        undated_vaccinations=undated,
        start_constraints=constraints,
        labs=labs,
        therapy=therapy,
        lab_problems=lab_problems,
    )
