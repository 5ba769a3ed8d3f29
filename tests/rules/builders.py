"""Small builders for domain records, with dates as day offsets from AS_OF (-10 = 10 days
before). A string date ("2025-05", "2024") is a partial date; None is no date."""

from __future__ import annotations

import calendar
import itertools
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from typing import Any

from domain.findings import Finding, Summary
from domain.records import (
    AllergyRecord,
    AppTask,
    ClinicalDate,
    ClinicalDateKind,
    ConditionKind,
    ConditionRecord,
    DataQuality,
    Dispense,
    Dose,
    ImagingRecord,
    LabKind,
    LabResult,
    MedicationOrder,
    PatientInfo,
    PatientRecord,
    Qualitative,
    ResultStatus,
    SourceRef,
    TherapyStatement,
    Vaccination,
    VaccineClass,
)
from fhir_mappings.dates import parse_clinical_date
from fhir_mappings.read.tasks import evidence_keys
from smartapp.rules import evaluate
from smartapp.rules.settings import RuleSettings

AS_OF = date(2025, 6, 15)
SETTINGS = RuleSettings()

When = int | str | None
_ids = itertools.count(1)


def d(offset: int) -> date:
    return AS_OF + timedelta(days=offset)


def when(value: When) -> ClinicalDate | None:
    if value is None:
        return None
    if isinstance(value, int):
        day = d(value)
        return ClinicalDate(day, day, day.isoformat())
    if "T" in value:  # a date-time: its day and its moment, as the reader parses it
        return parse_clinical_date(value, "test")
    parts = [int(p) for p in value.split("-")]
    if len(parts) == 3:
        day = date(*parts)
        return ClinicalDate(day, day, value)
    if len(parts) == 2:
        year, month = parts
        last = calendar.monthrange(year, month)[1]
        return ClinicalDate(
            date(year, month, 1), date(year, month, last), value, ClinicalDateKind.MONTH
        )
    (year,) = parts
    return ClinicalDate(date(year, 1, 1), date(year, 12, 31), value, ClinicalDateKind.YEAR)


def source(kind: str, display: str) -> SourceRef:
    return SourceRef(f"{kind}/{next(_ids)}", display, "code")


def lab(
    kind: LabKind,
    day: When,
    *,
    qualitative: str | Qualitative | None = None,
    value: float | None = None,
    lower_limit: float | None = None,
    pending: bool = False,
    interpretable: bool = True,
    raw: str | None = None,
    comparator: str = "",
    issued: When = None,
    unitless_limit: bool = False,
    ref: str | None = None,
) -> LabResult:
    qual = Qualitative(qualitative) if isinstance(qualitative, str) else qualitative
    if raw is None:
        raw = (
            qual.value
            if qual
            else (f"{comparator}{value:g}" if value is not None else "see comment")
        )
    return LabResult(
        kind=kind,
        when=when(day),
        status=ResultStatus.PENDING if pending else ResultStatus.FINAL,
        qualitative=qual if interpretable else None,
        value=value if interpretable else None,
        unit={LabKind.IGG: "mg/dL", LabKind.IGM: "mg/dL", LabKind.CD19: "/uL"}.get(kind),
        lower_limit=lower_limit,
        raw=raw,
        interpretable=interpretable,
        source=SourceRef(ref, kind.value, "code") if ref else source("Observation", kind.value),
        comparator=comparator,
        lower_limit_unitless=unitless_limit,
        issued=when(issued),
    )


def hbsag(day: When, result: str | None = "negative", **kw: Any) -> LabResult:
    return lab(LabKind.HBSAG, day, qualitative=result, **kw)


def anti_hbc(day: When, result: str | None = "negative", **kw: Any) -> LabResult:
    return lab(LabKind.ANTI_HBC_TOTAL, day, qualitative=result, **kw)


def igg(day: When, value: float | None = 1000.0, **kw: Any) -> LabResult:
    return lab(LabKind.IGG, day, value=value, **kw)


def igm(day: When, value: float | None = 100.0, **kw: Any) -> LabResult:
    return lab(LabKind.IGM, day, value=value, **kw)


def cbc(day: When, **kw: Any) -> LabResult:
    return lab(LabKind.CBC_PANEL, day, raw="CBC panel", **kw)


def baseline(day: When) -> list[LabResult]:
    """The full pre-treatment work-up on one day, all normal."""
    return [hbsag(day), anti_hbc(day), igg(day), igm(day), cbc(day)]


def dose(day: When, amount: float | None = 20.0) -> Dose:
    clinical = when(day)
    assert clinical is not None
    return Dose(clinical, amount, source("MedicationAdministration", "Kesimpta 20 mg"))


def course(first: int, count: int) -> list[Dose]:
    """`count` doses on schedule from day `first`: weeks 0, 1, 2, 4, then every 28 days."""
    days = [first, first + 7, first + 14]
    days += [first + 28 * k for k in range(1, count - 2)]
    return [dose(day) for day in days[:count]]


def order(
    start: When, status: str = "active", *, end: When = None, authored: When = None
) -> MedicationOrder:
    return MedicationOrder(
        status,
        "order",
        when(start),
        source("MedicationRequest", "Kesimpta"),
        end=when(end),
        authored=when(authored),
    )


def dispense(day: When, pens: int = 1) -> Dispense:
    clinical = when(day)
    assert clinical is not None
    return Dispense(clinical, pens, f"{pens} pen(s)", source("MedicationDispense", "Kesimpta"))


def statement(
    start: When, status: str = "active", *, end: When = None, asserted: When = None
) -> TherapyStatement:
    return TherapyStatement(
        status,
        when(start),
        when(end),
        when(asserted),
        source("MedicationStatement", f"Kesimpta statement ({status})"),
    )


def vaccine(
    day: When, cls: str = "non_live", display: str | None = None, text: str | None = None
) -> Vaccination:
    vaccine_class = VaccineClass(cls)
    name = (
        display or {"live": "MMR", "non_live": "Influenza", "ambiguous": "Zoster, unspecified"}[cls]
    )
    return Vaccination(when(day), text, vaccine_class, name, source("Immunization", name))


AUTO = "auto"


def condition(
    kind: ConditionKind,
    onset: When = -10,
    *,
    active: bool = True,
    refuted: bool = False,
    status: str | None = AUTO,
    abatement: When = None,
    abated: bool = False,
    chronic: bool = False,
) -> ConditionRecord:
    """A Condition; `status` defaults to "active" (or "resolved" when `active` is False);
    pass None for a Condition without clinicalStatus."""
    clinical = ("active" if active else "resolved") if status == AUTO else status
    return ConditionRecord(
        kind,
        when(onset),
        clinical in ("active", "recurrence", "relapse"),
        refuted,
        kind.value,
        source("Condition", kind.value),
        clinical_status=clinical,
        abatement=when(abatement),
        abated=abated or abatement is not None,
        chronic=chronic,
    )


def infection(onset: When = -10, **kw: Any) -> ConditionRecord:
    return condition(ConditionKind.INFECTION, onset, **kw)


def allergy(
    *,
    active: bool = True,
    refuted: bool = False,
    status: str | None = AUTO,
    allergy_type: str | None = "allergy",
    criticality: str | None = None,
    severe: bool = False,
    anaphylaxis: bool = False,
) -> AllergyRecord:
    clinical = ("active" if active else "resolved") if status == AUTO else status
    return AllergyRecord(
        clinical not in ("inactive", "resolved"),
        refuted,
        "Ofatumumab",
        source("AllergyIntolerance", "ofatumumab"),
        clinical_status=clinical,
        allergy_type=allergy_type,
        criticality=criticality,
        severe_reaction=severe,
        anaphylaxis=anaphylaxis,
    )


def mri(day: When) -> ImagingRecord:
    clinical = when(day)
    assert clinical is not None
    return ImagingRecord(clinical, "MRI brain", source("DiagnosticReport", "MRI brain"))


def task(
    check: str,
    due: date | None,
    *,
    status: str = "cancelled",
    reason: str | None = "Arranged by hepatology",
    owner: str | None = "Practitioner/7",
    modified: str | None = "2025-06-10T09:00:00Z",
    acknowledged_by: str | None = "Dr Rivera",
    acknowledged_on: str | None = None,
    cites: Iterable[LabResult | ConditionRecord | Dose | SourceRef] = (),
) -> AppTask:
    return AppTask(
        identifier=f"p1:{check}:{due}",
        check=check,
        due=due,
        status=status,
        owner=owner,
        status_reason=reason,
        last_modified=modified,
        source=source("Task", check),
        acknowledged_by=acknowledged_by,
        acknowledged_on=acknowledged_on,
        # Normalised as fhir_mappings.read.tasks.read_task does.
        evidence=evidence_keys(
            (item if isinstance(item, SourceRef) else item.source).reference for item in cites
        ),
    )


Item = (
    LabResult
    | Dose
    | MedicationOrder
    | Dispense
    | TherapyStatement
    | Vaccination
    | ConditionRecord
    | AllergyRecord
    | ImagingRecord
    | AppTask
)


Part = Item | Sequence[Item]


def record(
    *items: Part,
    gender: str | None = "female",
    age: int | None = 40,
    incomplete: tuple[str, ...] = (),
) -> PatientRecord:
    flat: list[Item] = []
    for item in items:
        if isinstance(item, Sequence):
            flat.extend(item)
        else:
            flat.append(item)
    birth = date(AS_OF.year - age, 1, 1) if age is not None else None
    return PatientRecord(
        patient=PatientInfo("p1", "Test Patient", birth, gender),
        labs=tuple(i for i in flat if isinstance(i, LabResult)),
        doses=tuple(i for i in flat if isinstance(i, Dose)),
        orders=tuple(i for i in flat if isinstance(i, MedicationOrder)),
        dispenses=tuple(i for i in flat if isinstance(i, Dispense)),
        statements=tuple(i for i in flat if isinstance(i, TherapyStatement)),
        vaccinations=tuple(i for i in flat if isinstance(i, Vaccination)),
        conditions=tuple(i for i in flat if isinstance(i, ConditionRecord)),
        allergies=tuple(i for i in flat if isinstance(i, AllergyRecord)),
        imaging=tuple(i for i in flat if isinstance(i, ImagingRecord)),
        tasks=tuple(i for i in flat if isinstance(i, AppTask)),
        data=DataQuality(read=len(flat), incomplete=frozenset(incomplete)),
    )


def summary(rec: PatientRecord, as_of: date = AS_OF, settings: RuleSettings = SETTINGS) -> Summary:
    return evaluate(rec, as_of, settings)


def check(
    check_id: str, rec: PatientRecord, as_of: date = AS_OF, settings: RuleSettings = SETTINGS
) -> Finding:
    """The finding of one check from a full evaluation."""
    found = [f for f in evaluate(rec, as_of, settings).findings if f.check == check_id]
    assert len(found) == 1, check_id
    return found[0]
