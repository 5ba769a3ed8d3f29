"""The dose timeline: doses given and due, home records, supply, spans and the chart."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from domain.findings import NextDueBasis, Summary, Therapy
from domain.records import Dose, DoseKind, PatientRecord
from smartapp.rules.evidence import number
from smartapp.web.dashboard.charts import VaccineMark, dose_timeline
from smartapp.web.dashboard.looks import (
    EARLIEST_WORDS,
    PHASE_WORDS,
    VACCINE_LOOKS,
    iso_day,
    relative_days,
)
from smartapp.web.dashboard.views import DoseRow, HomeRecordRow, TimelineView

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


def timeline_view(summary: Summary, record: PatientRecord, therapy: Therapy) -> TimelineView:
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
        first_dose=iso_day(schedule.first_dose),
        last_dose=iso_day(schedule.last_dose),
        next_due=iso_day(schedule.next_due),
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
        earliest_start=iso_day(schedule.earliest_start),
        chart=chart,
        rows=rows,
        description="; ".join(parts) + f"; today is {as_of.isoformat()}.",
        next_due_basis=basis,
        supply=supply,
        home_records=_home_rows(therapy, record),
    )
