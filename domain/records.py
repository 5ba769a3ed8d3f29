"""Domain records: what the rules know about a patient, with no FHIR JSON left in them.

`fhir_mappings.read.record` builds these from FHIR resources; `smartapp.rules` evaluates them.
Every record keeps a `SourceRef` back to the resource it came from so a finding can show
its evidence. Quantities are already converted to canonical units (see `CANONICAL_UNITS`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum

from domain.fast_init import fast_init

#: `day_text` answers, by day: a patient's records repeat a few hundred days, and formatting
#: one (`date.isoformat`) costs several times a dict look-up (SPEC §5 throughput).
_DAY_TEXTS: dict[date, str] = {}
_DAY_TEXTS_MAX = 65_536


def day_text(day: date) -> str:
    """`day.isoformat()` ("2024-05-02"), remembered for plain dates (a datetime, which may
    equal another written differently, is formatted each time)."""
    if type(day) is not date:
        return day.isoformat()
    text = _DAY_TEXTS.get(day)
    if text is None:
        if len(_DAY_TEXTS) >= _DAY_TEXTS_MAX:
            _DAY_TEXTS.clear()
        text = _DAY_TEXTS[day] = day.isoformat()
    return text


class ClinicalDateKind(str, Enum):
    DAY = "day"
    MONTH = "month"
    YEAR = "year"


@fast_init
@dataclass(frozen=True)
class ClinicalDate:
    """A calendar day, or the span of days a partial FHIR date allows (SPEC §2 "Dates").

    A date-time is placed on its calendar day in its own UTC offset, so `earliest == latest`.
    A partial date (`2024`, `2024-05`) spans its whole year or month: rules use `earliest`
    for "was it before …?" questions and `latest` for "was it after …?" questions, and say
    so in the evidence (`partial` is true).
    """

    earliest: date
    latest: date
    text: str
    precision: ClinicalDateKind = ClinicalDateKind.DAY
    #: The moment a date-time gives (aware when it carries an offset, naive when not): on
    #: the same day, two results are ordered by it when both have one (SPEC §2 "Which
    #: result is the latest"). None for a plain date or a partial date.
    moment: datetime | None = None

    @property
    def partial(self) -> bool:
        return self.precision is not ClinicalDateKind.DAY

    def certainly_before(self, other: ClinicalDate) -> bool:
        """True when every day this date allows is before every day `other` allows, or both
        are the same day with times that order them (SPEC §2 "Which result is the latest").

        False when the order cannot be told: the same day without times on both, or a
        partial date whose span contains the other's days. Times are compared as instants;
        a time without an offset is compared only with another time without one.
        """
        if self.latest < other.earliest:
            return True
        if self.earliest != other.latest or self.latest != other.earliest:
            return False  # overlapping spans (or `other` is the earlier one)
        mine, theirs = self.moment, other.moment
        if mine is None or theirs is None or (mine.tzinfo is None) != (theirs.tzinfo is None):
            return False
        return mine < theirs

    def describe(self) -> str:
        """The date as a clinician reads it, flagging partial dates."""
        if not self.partial:
            return day_text(self.earliest)
        return f"{self.text} (partial date: {day_text(self.earliest)} to {day_text(self.latest)})"


@fast_init
@dataclass(frozen=True)
class SourceRef:
    """Where a record came from: the resource reference, a human display, how it was matched."""

    reference: str
    display: str
    matched_by: str


class LabKind(str, Enum):
    HBSAG = "hbsag"
    ANTI_HBC_TOTAL = "anti_hbc_total"
    ANTI_HBC_IGM = "anti_hbc_igm"
    HBV_DNA = "hbv_dna"
    ANTI_HBS = "anti_hbs"
    IGG = "igg"
    IGM = "igm"
    CBC_PANEL = "cbc_panel"
    WBC = "wbc"
    LYMPHOCYTES = "lymphocytes"
    CD19 = "cd19"
    VARICELLA_IGG = "varicella_igg"
    PREGNANCY_STATUS = "pregnancy_status"
    HCG = "hcg"


#: Canonical unit of `LabResult.value` for each quantitative kind (UCUM codes).
CANONICAL_UNITS: dict[LabKind, str] = {
    LabKind.IGG: "mg/dL",
    LabKind.IGM: "mg/dL",
    LabKind.WBC: "10*3/uL",
    LabKind.LYMPHOCYTES: "10*3/uL",
    LabKind.CD19: "/uL",
    LabKind.HBV_DNA: "[IU]/mL",
    LabKind.HBSAG: "[IU]/mL",
    LabKind.ANTI_HBS: "m[IU]/mL",
    LabKind.HCG: "m[IU]/mL",
}


class Qualitative(str, Enum):
    """An interpreted qualitative result. For pregnancy status, POSITIVE means pregnant."""

    POSITIVE = "positive"
    NEGATIVE = "negative"


class ResultStatus(str, Enum):
    FINAL = "final"  # final, amended, corrected: used by the rules
    PENDING = "pending"  # preliminary/registered: shown, never used


@fast_init
@dataclass(frozen=True)
class LabResult:
    kind: LabKind
    when: ClinicalDate | None
    status: ResultStatus
    #: Interpreted qualitative value; None when not qualitative or uninterpretable.
    qualitative: Qualitative | None
    #: Quantity in `CANONICAL_UNITS[kind]`; None when absent or not convertible.
    value: float | None
    unit: str | None
    #: The result's own referenceRange.low in canonical units, when present and convertible.
    lower_limit: float | None
    #: The value exactly as recorded ("7.1 g/L", "Reactive", "interpretation NEG").
    raw: str
    #: False when the value could not be read as this kind needs (rules then say unknown).
    interpretable: bool
    source: SourceRef
    #: "<", "<=", ">" or ">=" when `value` is known only as a bound (SPEC §2 "Comparators");
    #: "" for an exact value.
    comparator: str = ""
    #: True when `lower_limit` came from a referenceRange.low without a unit, read in the
    #: value's unit: the rules accept it only when plausible (SPEC §2 "Quantitative results").
    lower_limit_unitless: bool = False
    #: `issued`: the day to use when the effective date is after the as-of date (SPEC §2).
    issued: ClinicalDate | None = None
    #: Set by the rules, never by the reader: why a result that would have been used could
    #: not be (a date after the as-of date). Such a result is shown and never used.
    unused_because: str | None = None


class DoseKind(str, Enum):
    """Where a counted dose comes from (SPEC §2 "Therapy recorded outside the clinic")."""

    #: A completed MedicationAdministration: an injection someone recorded.
    ADMINISTRATION = "administration"
    #: A pen from a MedicationDispense placed on a due date of the schedule (presumed
    #: injected at home); built by the rules, never read from FHIR directly.
    PEN = "dispensed pen"


@fast_init
@dataclass(frozen=True)
class Dose:
    """A counted ofatumumab (Kesimpta) dose: a completed administration (Arzerra excluded),
    or, in the rules' course, a dispensed pen placed on a due date (`DoseKind.PEN`)."""

    when: ClinicalDate
    #: Recorded dose in mg; None when the administration records no convertible dose.
    amount_mg: float | None
    source: SourceRef
    kind: DoseKind = DoseKind.ADMINISTRATION


@fast_init
@dataclass(frozen=True)
class Dispense:
    """A completed Kesimpta MedicationDispense: pens handed to the patient on a day.

    `when` is whenHandedOver, else whenPrepared. `pens` is whole pens (quantity in pens or
    "each", mL / 0.4, or one when no quantity is recorded); `quantity` says how it was read.
    """

    when: ClinicalDate
    pens: int
    quantity: str
    source: SourceRef


@fast_init
@dataclass(frozen=True)
class MedicationOrder:
    """An ofatumumab MedicationRequest (planned start / active order)."""

    status: str
    intent: str
    start: ClinicalDate | None
    source: SourceRef
    #: dispenseRequest.validityPeriod.end: the stop date of a stopped order.
    end: ClinicalDate | None = None
    #: authoredOn: when the order was written (which order is the newest).
    authored: ClinicalDate | None = None


@fast_init
@dataclass(frozen=True)
class TherapyStatement:
    """A Kesimpta MedicationStatement (the patient's own report of therapy), not
    entered-in-error. `start` is effectiveDateTime / effectivePeriod.start, else
    dateAsserted (`start_asserted` says which); `end` is effectivePeriod.end."""

    status: str
    start: ClinicalDate | None
    end: ClinicalDate | None
    asserted: ClinicalDate | None
    source: SourceRef
    start_asserted: bool = False


class VaccineClass(str, Enum):
    LIVE = "live"
    NON_LIVE = "non_live"
    #: CVX that cannot tell live from non-live (unspecified zoster/influenza/…, MVA smallpox)
    #: or a vaccine code we do not recognise: a clinician must review, never silently non-live.
    AMBIGUOUS = "ambiguous"


@fast_init
@dataclass(frozen=True)
class Vaccination:
    """A completed Immunization that is a vaccine (TST, immune globulins, 998/999 excluded)."""

    #: From occurrenceDateTime; None when only occurrenceString was given.
    when: ClinicalDate | None
    occurrence_text: str | None
    vaccine_class: VaccineClass
    display: str
    source: SourceRef
    #: No recognised vaccine code: the class comes from the words of its name (SPEC §2), and
    #: findings say the code is unknown rather than that it is a live vaccine.
    classified_by_text: bool = False


class ConditionKind(str, Enum):
    MULTIPLE_SCLEROSIS = "ms"
    HEPATITIS_B = "hepatitis_b"
    INFECTION = "infection"
    PML = "pml"
    PREGNANCY = "pregnancy"


@fast_init
@dataclass(frozen=True)
class ConditionRecord:
    kind: ConditionKind
    #: onsetDateTime / onsetPeriod.start, else recordedDate.
    onset: ClinicalDate | None
    #: clinicalStatus active/recurrence/relapse (absent clinicalStatus counts as not active
    #: here; the rules apply SPEC §2 "Conditions without clinicalStatus").
    active: bool
    #: verificationStatus refuted or entered-in-error.
    refuted: bool
    display: str
    source: SourceRef
    #: The clinicalStatus code as recorded ("active", "resolved", …); None when absent.
    clinical_status: str | None = None
    #: abatementDateTime / abatementPeriod.end (start when no end) as a date.
    abatement: ClinicalDate | None = None
    #: True when an abatement is recorded at all (also abatementString, abatementAge,
    #: abatementRange, abatementBoolean true), dated or not.
    abated: bool = False
    #: In the curated list of chronic infections that matter for anti-CD20 therapy
    #: (value set condition-infection-chronic): counted whatever their age.
    chronic: bool = False


@fast_init
@dataclass(frozen=True)
class AllergyRecord:
    """An AllergyIntolerance whose substance is ofatumumab."""

    active: bool
    refuted: bool
    display: str
    source: SourceRef
    #: The clinicalStatus code as recorded; None when absent.
    clinical_status: str | None = None
    #: AllergyIntolerance.type ("allergy", "intolerance"); None when absent.
    allergy_type: str | None = None
    #: AllergyIntolerance.criticality ("low", "high", "unable-to-assess"); None when absent.
    criticality: str | None = None
    #: Any reaction recorded as severe.
    severe_reaction: bool = False
    #: Any reaction manifestation that is anaphylaxis (code or text).
    anaphylaxis: bool = False


@fast_init
@dataclass(frozen=True)
class ImagingRecord:
    """A brain MRI (DiagnosticReport, ImagingStudy or Procedure)."""

    when: ClinicalDate
    display: str
    source: SourceRef


@fast_init
@dataclass(frozen=True)
class AppTask:
    """A Task this app wrote earlier (recognised by its identifier system)."""

    identifier: str  # "{patient}:{check}:{due}"
    check: str
    due: date | None
    status: str
    owner: str | None
    #: Why it was closed without being done (acknowledgement), when it was.
    status_reason: str | None
    last_modified: str | None
    source: SourceRef
    #: meta.versionId, so an update can say If-Match and never overwrite a newer edit.
    version_id: str | None = None
    #: Set only when a clinician acknowledged the finding (a note "Acknowledged by …"):
    #: the note's author and the day. Closures the app made itself leave these None.
    acknowledged_by: str | None = None
    acknowledged_on: str | None = None
    #: `Type/id` of the records the Task cites (reasonReference, input valueReference):
    #: for a finding without a due date, what a closed Task has already dealt with.
    evidence: frozenset[str] = frozenset()


@fast_init
@dataclass(frozen=True)
class AppCarePlan:
    """The monitoring CarePlan this app wrote earlier (fhir_mappings.read.careplans)."""

    #: Hash of the plan's content, without what every save changes (careplans module doc).
    content_key: str
    version_id: str | None
    source: SourceRef


@fast_init
@dataclass(frozen=True)
class PatientInfo:
    id: str
    name: str
    birth_date: date | None
    gender: str | None


@fast_init
@dataclass(frozen=True)
class DataQuality:
    """What was read, what could not be, and which areas of the record may be incomplete."""

    read: int = 0
    skipped: int = 0
    uninterpretable: int = 0
    #: One plain sentence per problem ("Observation/7 could not be read: no code").
    problems: tuple[str, ...] = ()
    #: Areas (see `AREAS`) where data may be missing: a failed search, an unreadable
    #: resource of that type. Checks that need such an area never say `ok`.
    incomplete: frozenset[str] = frozenset()
    #: (area, sentence) for records that made an area incomplete, so a check that cannot
    #: decide can say why ("MedicationDispense/4: the quantity … cannot be read").
    reasons: tuple[tuple[str, str], ...] = ()


#: Record areas, used by `DataQuality.incomplete` and by each check's declared inputs.
#: "doses" holds every record of therapy given: administrations, dispenses, statements.
AREAS = (
    "patient",
    "labs",
    "doses",
    "orders",
    "vaccinations",
    "conditions",
    "allergies",
    "imaging",
    "tasks",
)


@fast_init
@dataclass(frozen=True)
class PatientRecord:
    patient: PatientInfo
    labs: tuple[LabResult, ...] = ()
    doses: tuple[Dose, ...] = ()
    orders: tuple[MedicationOrder, ...] = ()
    dispenses: tuple[Dispense, ...] = ()
    statements: tuple[TherapyStatement, ...] = ()
    vaccinations: tuple[Vaccination, ...] = ()
    conditions: tuple[ConditionRecord, ...] = ()
    allergies: tuple[AllergyRecord, ...] = ()
    imaging: tuple[ImagingRecord, ...] = ()
    tasks: tuple[AppTask, ...] = ()
    #: The app's own CarePlan(s) as read (normally one; more only after a duplicate).
    careplans: tuple[AppCarePlan, ...] = ()
    data: DataQuality = field(default_factory=DataQuality)
