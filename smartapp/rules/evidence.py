"""Record -> Evidence, and the words findings use for values and (partial) dates.

Every finding lists each record it used, with the date as recorded. A partial date
(`2024`, `2024-05`) is shown as such, and where a rule had to place it on one day the
evidence says which day and why ("partial date 2024-05, counted as 2024-05-31 (…)").
"""

from __future__ import annotations

from datetime import date

from domain.findings import Discontinuation, Evidence
from domain.records import (
    AllergyRecord,
    ClinicalDate,
    ClinicalDateKind,
    ConditionRecord,
    Dispense,
    Dose,
    ImagingRecord,
    LabKind,
    LabResult,
    MedicationOrder,
    Qualitative,
    ResultStatus,
    TherapyStatement,
    Vaccination,
    VaccineClass,
    day_text,
)
from smartapp.rules.results import LabSeries, is_usable

LAB_LABELS: dict[LabKind, str] = {
    LabKind.HBSAG: "HBsAg",
    LabKind.ANTI_HBC_TOTAL: "anti-HBc (total)",
    LabKind.ANTI_HBC_IGM: "anti-HBc IgM",
    LabKind.HBV_DNA: "HBV DNA",
    LabKind.ANTI_HBS: "anti-HBs",
    LabKind.IGG: "IgG",
    LabKind.IGM: "IgM",
    LabKind.CBC_PANEL: "CBC",
    LabKind.WBC: "WBC",
    LabKind.LYMPHOCYTES: "lymphocytes",
    LabKind.CD19: "CD19+ B cells",
    LabKind.VARICELLA_IGG: "varicella IgG",
    LabKind.PREGNANCY_STATUS: "pregnancy status",
    LabKind.HCG: "hCG",
}

#: How canonical UCUM units read in a sentence (ASCII only: EHR frames mangle the rest).
UNIT_TEXT: dict[str, str] = {
    "mg/dL": "mg/dL",
    "10*3/uL": "x10^3/uL",
    "/uL": "cells/uL",
    "[IU]/mL": "IU/mL",
    "m[IU]/mL": "mIU/mL",
}

VACCINE_CLASS_TEXT: dict[VaccineClass, str] = {
    VaccineClass.LIVE: "live",
    VaccineClass.NON_LIVE: "non-live",
    VaccineClass.AMBIGUOUS: "live or non-live unclear",
}

# Enum members bound once: reading one off its Enum class costs ~0.1 µs in CPython 3.11
# (and `.value` more), and these run for every dose and lab of every patient (SPEC §5).
_DAY = ClinicalDateKind.DAY
_CBC_PANEL = LabKind.CBC_PANEL
_PREGNANCY_STATUS = LabKind.PREGNANCY_STATUS
_POSITIVE = Qualitative.POSITIVE
_PENDING = ResultStatus.PENDING
#: Each qualitative value's text, as `Qualitative.value` gives it.
_QUALITATIVE_TEXT: dict[Qualitative, str] = {value: value.value for value in Qualitative}


def day(value: date) -> str:
    return day_text(value)


def date_text(when: ClinicalDate | None) -> str | None:
    """The date as recorded; partial dates say so."""
    if when is None:
        return None
    if when.precision is _DAY:
        return day_text(when.earliest)
    return when.describe()


def counted_as(when: ClinicalDate | None, used: date, why: str) -> str:
    """'partial date 2024-05, counted as 2024-05-31 (why)' for partial dates, else ''."""
    if when is None or when.precision is _DAY:  # not partial
        return ""
    return f"partial date {when.text}, counted as {day_text(used)} ({why})"


def on_day(when: ClinicalDate) -> str:
    """'on 2024-05-02' or 'in 2024-05 (partial date)' for sentences."""
    if when.precision is not _DAY:  # partial
        return f"in {when.text} (partial date)"
    return f"on {day_text(when.earliest)}"


def sentence(text: str) -> str:
    """The text with its first letter capitalised, to open a sentence."""
    return text[:1].upper() + text[1:]


def number(value: float) -> str:
    """A value as recorded, without float noise: 1020, 5.234, 0.35 (the one number format of
    findings, dashboard tables and chart labels; never rounded for display)."""
    return f"{value:.0f}" if value == int(value) else f"{value:g}"


def value_text(lab: LabResult) -> str:
    """The interpreted value for a sentence: 'negative', '612 mg/dL', else the raw value."""
    kind, qualitative = lab.kind, lab.qualitative
    if kind is _CBC_PANEL:
        return "done"
    if qualitative is not None:
        if kind is _PREGNANCY_STATUS:
            return "pregnant" if qualitative is _POSITIVE else "not pregnant"
        return _QUALITATIVE_TEXT[qualitative]
    if lab.value is not None:
        unit = UNIT_TEXT.get(lab.unit or "", lab.unit or "")
        return f"{lab.comparator}{number(lab.value)} {unit}".strip()
    return f"'{lab.raw}'"


def lab_phrase(lab: LabResult) -> str:
    """'HBsAg negative on 2024-05-02'."""
    label = LAB_LABELS[lab.kind]
    when = on_day(lab.when) if lab.when is not None else "(no date recorded)"
    return f"{label} {value_text(lab)} {when}"


def _with(text: str, note: str) -> str:
    return f"{text}; {note}" if note else text


def lab_evidence(lab: LabResult, note: str = "") -> Evidence:
    # The date and the match are their own Evidence fields: the display is what was recorded.
    text = f"{LAB_LABELS[lab.kind]}: {lab.raw}"
    if lab.unused_because is not None:
        text += f"; {lab.unused_because}"
    elif lab.status is _PENDING:
        text += "; pending, not used"
    elif lab.when is None:
        text += "; no date recorded, not used"
    elif not is_usable(lab):
        text += "; could not be interpreted, not used"
    elif lab.kind is not _CBC_PANEL:
        # Say how the value was read when the recorded text does not ("Reactive", "7.1 g/L").
        read = value_text(lab)
        if read.lower() not in lab.raw.lower():
            text += f"; read as {read}"
    if note:
        text = f"{text}; {note}"
    source = lab.source
    return Evidence(source.reference, date_text(lab.when), text, source.matched_by)


def pending_text(label: str, pending: tuple[LabResult, ...]) -> str:
    """'IgG result pending since 2025-06-10' (the oldest of those waiting; SPEC §2)."""
    dated = [lab.when for lab in pending if lab.when is not None]
    if not dated:
        return f"{label} result pending (no date recorded)"
    oldest = min(dated, key=lambda when: (when.earliest, when.latest))
    return f"{label} result pending since {date_text(oldest)}"


def series_evidence(series: LabSeries) -> list[Evidence]:
    """The latest usable result, unreadable ones that may be newer, and pending ones."""
    items = [lab_evidence(series.latest)] if series.latest is not None else []
    items.extend(lab_evidence(lab) for lab in series.unreadable_since_latest())
    items.extend(lab_evidence(lab) for lab in series.pending)
    return items


def dose_evidence(dose: Dose, note: str = "") -> Evidence:
    source = dose.source
    text = source.display
    if dose.amount_mg is None:
        text = f"{text}; dose amount not recorded"
    if note:
        text = f"{text}; {note}"
    when = dose.when  # date_text, inline: this runs for every dose of every patient
    day = day_text(when.earliest) if when.precision is _DAY else when.describe()
    return Evidence(source.reference, day, text, source.matched_by)


def vaccine_evidence(vaccine: Vaccination, note: str = "") -> Evidence:
    display = _with(f"{vaccine.display} ({VACCINE_CLASS_TEXT[vaccine.vaccine_class]})", note)
    when = date_text(vaccine.when)
    if when is None and vaccine.occurrence_text:
        when = f"as recorded: '{vaccine.occurrence_text}' (not a date, not used for timing)"
    return Evidence(vaccine.source.reference, when, display, vaccine.source.matched_by)


def condition_evidence(condition: ConditionRecord, note: str = "") -> Evidence:
    state = condition.clinical_status or "no clinical status"
    if condition.refuted:
        state += ", refuted or entered in error"
    if condition.abatement is not None:
        state += f", abated {date_text(condition.abatement)}"
    elif condition.abated:
        state += ", abated (no date)"
    display = _with(f"{condition.display} ({state})", note)
    return Evidence(
        condition.source.reference, date_text(condition.onset), display, condition.source.matched_by
    )


def allergy_evidence(allergy: AllergyRecord) -> Evidence:
    state = allergy.clinical_status or "no clinical status"
    if allergy.refuted:
        state += ", refuted or entered in error"
    facts = [
        f"type {allergy.allergy_type or 'not recorded'}",
        f"criticality {allergy.criticality or 'not recorded'}",
    ]
    if allergy.anaphylaxis:
        facts.append("anaphylaxis")
    elif allergy.severe_reaction:
        facts.append("severe reaction")
    display = f"{allergy.display} ({state}; {', '.join(facts)})"
    return Evidence(allergy.source.reference, None, display, allergy.source.matched_by)


def imaging_evidence(image: ImagingRecord, note: str = "") -> Evidence:
    display = _with(image.display, note)
    return Evidence(image.source.reference, date_text(image.when), display, image.source.matched_by)


def order_evidence(order: MedicationOrder, note: str = "") -> Evidence:
    display = _with(f"{order.source.display} ({order.status}, {order.intent})", note)
    return Evidence(
        order.source.reference, date_text(order.start), display, order.source.matched_by
    )


def statement_evidence(statement: TherapyStatement, note: str = "") -> Evidence:
    """A MedicationStatement: the patient's report, with its status and period."""
    source = statement.source
    start = statement.start
    when = date_text(start)
    if start is not None and statement.start_asserted:
        note = _with("start taken from when it was asserted", note)
    display = _with(source.display, note)
    return Evidence(source.reference, when, display, source.matched_by)


def dispense_evidence(dispense: Dispense, note: str = "") -> Evidence:
    source = dispense.source
    return Evidence(
        source.reference, date_text(dispense.when), _with(source.display, note), source.matched_by
    )


def discontinuation_evidence(discontinued: Discontinuation) -> Evidence:
    """The order or statement that discontinued therapy, dated by its stop date."""
    record, stop = discontinued.record, discontinued.stop
    if isinstance(record, TherapyStatement):
        item = statement_evidence(record, "discontinued therapy")
    else:
        item = order_evidence(record, "discontinued therapy")
    if stop is not None:
        return Evidence(item.reference, date_text(stop), item.display, item.matched_by)
    return item
