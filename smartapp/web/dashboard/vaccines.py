"""The vaccines table: each vaccination's class and its timing against the doses."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from domain.records import Dose, PatientRecord, Vaccination
from smartapp.web.dashboard.looks import VACCINE_LOOKS, relative_days
from smartapp.web.dashboard.views import VaccineRow

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


def vaccine_rows(
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
