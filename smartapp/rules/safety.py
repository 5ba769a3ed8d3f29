"""Safety checks that can stop a dose: active infection, hypersensitivity, PML, pregnancy."""

from __future__ import annotations

from datetime import date
from enum import Enum

from fhir_mappings.records import (
    ConditionKind,
    LabKind,
    LabResult,
    PatientRecord,
    Qualitative,
)
from smartapp.rules import actions
from smartapp.rules.base import Rule
from smartapp.rules.dates import age_on, plus_days, plus_months
from smartapp.rules.evidence import (
    allergy_evidence,
    condition_evidence,
    day,
    lab_evidence,
    lab_phrase,
    sentence,
)
from smartapp.rules.model import Finding, Severity, Status
from smartapp.rules.results import is_usable
from smartapp.rules.schedule import TreatmentSchedule
from smartapp.rules.settings import RuleSettings

INFECTION_ACTIVE = Rule(
    id="infection-active",
    name="Active infection",
    citation="Kesimpta USPI 5.1 Infections (delay in active infection until resolved)",
    areas=frozenset({"conditions"}),
)

HYPERSENSITIVITY = Rule(
    id="hypersensitivity",
    name="Hypersensitivity",
    citation="Kesimpta USPI 4 Contraindications; 5.2 Injection-Related Reactions and "
    "Hypersensitivity Reactions",
    areas=frozenset({"allergies"}),
)

PML = Rule(
    id="pml",
    name="PML",
    citation="Kesimpta USPI 5.1 Progressive Multifocal Leukoencephalopathy (withhold at first "
    "sign; discontinue if confirmed)",
    areas=frozenset({"conditions"}),
)

PREGNANCY = Rule(
    id="pregnancy",
    name="Pregnancy",
    citation="Kesimpta USPI 5.x Fetal Risk; 8.1 Pregnancy; 8.3 Females and Males of "
    "Reproductive Potential",
    areas=frozenset({"patient", "labs", "conditions"}),
    applicability_areas=frozenset({"patient"}),
)


def infection_active(
    record: PatientRecord, as_of: date, settings: RuleSettings, schedule: TreatmentSchedule
) -> Finding:
    """An active, non-refuted infection Condition -> alert high: delay the dose until it has
    resolved, or treat it before starting. USPI 5.1 Infections; SPEC §3 infection-active.
    ok (info) otherwise."""
    active = [
        c
        for c in record.conditions
        if c.kind is ConditionKind.INFECTION and c.active and not c.refuted
    ]
    if not active:
        return INFECTION_ACTIVE.finding(
            Status.OK, Severity.INFO, "No active infection", "No active infection recorded."
        )
    names = "; ".join(c.display for c in active)
    if schedule.discontinued is not None:
        advice = "Therapy is discontinued: treat it before any restart of ofatumumab."
    elif schedule.started:
        advice = "Delay the next dose until the infection has resolved."
    else:
        advice = "Treat it before starting ofatumumab."
    return INFECTION_ACTIVE.finding(
        Status.ALERT,
        Severity.HIGH,
        "Active infection",
        f"Active infection recorded: {names}. {advice}",
        evidence=[condition_evidence(c) for c in active],
        action=actions.HOLD_FOR_INFECTION,
    )


def hypersensitivity(
    record: PatientRecord, as_of: date, settings: RuleSettings, schedule: TreatmentSchedule
) -> Finding:
    """An active, non-refuted AllergyIntolerance to ofatumumab -> alert critical. USPI 4
    (hypersensitivity added 4/2024 per secondary sources), 5.2; SPEC §3 hypersensitivity.
    ok (info) otherwise; an inactive allergy record is mentioned in an ok (low)."""
    allergies = [a for a in record.allergies if not a.refuted]
    active = [a for a in allergies if a.active]
    if active:
        return HYPERSENSITIVITY.finding(
            Status.ALERT,
            Severity.CRITICAL,
            "Allergy to ofatumumab",
            "Active allergy or intolerance to ofatumumab recorded: "
            + "; ".join(a.display for a in active)
            + ". Do not give ofatumumab before this is reviewed.",
            evidence=[allergy_evidence(a) for a in active],
            action=actions.REVIEW_HYPERSENSITIVITY,
        )
    if allergies:
        return HYPERSENSITIVITY.finding(
            Status.OK,
            Severity.LOW,
            "Inactive allergy record",
            "No active allergy to ofatumumab; an inactive or resolved one is recorded: "
            + "; ".join(a.display for a in allergies)
            + ".",
            evidence=[allergy_evidence(a) for a in allergies],
        )
    return HYPERSENSITIVITY.finding(
        Status.OK, Severity.INFO, "No allergy to ofatumumab", "No allergy to ofatumumab recorded."
    )


def pml(
    record: PatientRecord, as_of: date, settings: RuleSettings, schedule: TreatmentSchedule
) -> Finding:
    """A PML Condition in any clinical or verification status but refuted/entered-in-error
    (suspected PML counts) -> alert critical. USPI 5.1 PML; SPEC §3 pml. ok (info)."""
    found = [c for c in record.conditions if c.kind is ConditionKind.PML and not c.refuted]
    if not found:
        return PML.finding(Status.OK, Severity.INFO, "No PML", "No PML recorded.")
    return PML.finding(
        Status.ALERT,
        Severity.CRITICAL,
        "PML recorded",
        "Progressive multifocal leukoencephalopathy recorded: "
        + "; ".join(c.display for c in found)
        + ". Withhold ofatumumab and evaluate; discontinue if PML is confirmed.",
        evidence=[condition_evidence(c) for c in found],
        action=actions.REVIEW_PML,
    )


class _Reading(Enum):
    POSITIVE = "positive"
    NEGATIVE = "negative"
    EQUIVOCAL = "equivocal"


def _reading(lab: LabResult, settings: RuleSettings) -> _Reading:
    if lab.qualitative is Qualitative.POSITIVE:
        return _Reading.POSITIVE
    if lab.qualitative is Qualitative.NEGATIVE:
        return _Reading.NEGATIVE
    value = lab.value if lab.value is not None else 0.0
    if value >= settings.hcg_positive_miu_ml:
        return _Reading.POSITIVE
    if value < settings.hcg_negative_below_miu_ml:
        return _Reading.NEGATIVE
    return _Reading.EQUIVOCAL


def pregnancy(
    record: PatientRecord, as_of: date, settings: RuleSettings, schedule: TreatmentSchedule
) -> Finding:
    """Pregnant -> alert high: a positive pregnancy status or hCG within 280 days with no
    later negative test (either kind), or an active pregnancy Condition. Otherwise a female
    aged 12-55 -> ok with the contraception reminder (during treatment and 6 months after
    the last dose, with that date). USPI 5.x Fetal Risk, 8.1, 8.3; SPEC §3 pregnancy.

    Evidence of pregnancy alerts whatever the recorded sex. male, other, or an age outside
    12-55 -> not_applicable. Sex not recorded (and age in range or unknown) -> unknown
    (low), with the reminder. An equivocal quantitative hCG, or a pregnancy test that could
    not be interpreted, within 280 days and not followed by a negative test -> unknown
    (moderate). A female without a birth date gets the ok with the reminder.
    """
    since = plus_days(as_of, -settings.pregnancy_lookback_days)
    tests = schedule.lab_series(LabKind.PREGNANCY_STATUS, LabKind.HCG)
    readings = [(lab, _reading(lab, settings)) for lab in tests.usable]
    negatives = [lab for lab, r in readings if r is _Reading.NEGATIVE]

    def cancelled(lab: LabResult) -> bool:
        when = lab.when
        return when is not None and any(
            n.when is not None and n.when.earliest > when.latest for n in negatives
        )

    def recent(lab: LabResult) -> bool:
        return lab.when is None or lab.when.latest >= since

    positive = [
        lab for lab, r in readings if r is _Reading.POSITIVE and recent(lab) and not cancelled(lab)
    ]
    conditions = [
        c
        for c in record.conditions
        if c.kind is ConditionKind.PREGNANCY and c.active and not c.refuted
    ]
    if positive or conditions:
        reasons = [lab_phrase(lab) for lab in positive]
        reasons.extend(f"active condition '{c.display}'" for c in conditions)
        return PREGNANCY.finding(
            Status.ALERT,
            Severity.HIGH,
            "Pregnant",
            f"Pregnancy recorded ({'; '.join(reasons)}). Ofatumumab may cause fetal B-cell "
            "depletion: review treatment with the patient before any dose.",
            evidence=[
                *(lab_evidence(lab) for lab in positive),
                *map(condition_evidence, conditions),
            ],
            action=actions.REVIEW_PREGNANCY,
        )

    gender = (record.patient.gender or "unknown").lower()
    birth = record.patient.birth_date
    age = age_on(birth, as_of) if birth is not None else None
    in_range = age is None or settings.reproductive_age_min <= age <= settings.reproductive_age_max
    if gender in ("male", "other") or not in_range:
        why = f"sex recorded as {gender}" if gender in ("male", "other") else f"age {age}"
        return PREGNANCY.not_applicable(f"Pregnancy precautions not applicable: {why}.")

    if schedule.last is not None:
        until = plus_months(schedule.last.latest, settings.contraception_after_last_dose_months)
        reminder = (
            "Effective contraception during treatment and for "
            f"{settings.contraception_after_last_dose_months} months after the last dose: "
            f"until at least {day(until)} if no further dose is given."
        )
    else:
        reminder = (
            "Effective contraception during treatment and for "
            f"{settings.contraception_after_last_dose_months} months after the last dose."
        )
    unresolved = [
        lab for lab, r in readings if r is _Reading.EQUIVOCAL and recent(lab) and not cancelled(lab)
    ]
    unresolved.extend(lab for lab in tests.unusable if recent(lab) and not cancelled(lab))
    evidence = [lab_evidence(lab) for lab, _ in readings if recent(lab)]
    evidence.extend(lab_evidence(lab) for lab in unresolved if not is_usable(lab))
    evidence.extend(lab_evidence(lab) for lab in tests.pending)
    if unresolved:
        raw = "; ".join(f"{lab_phrase(lab)} ('{lab.raw}')" for lab in unresolved)
        return PREGNANCY.finding(
            Status.UNKNOWN,
            Severity.MODERATE,
            "Pregnancy test unclear",
            f"A pregnancy test within {settings.pregnancy_lookback_days} days is equivocal or "
            f"could not be interpreted: {raw}. Repeat or review it. {reminder}",
            evidence=evidence,
        )
    if gender == "female":
        detail = f"No pregnancy recorded. {reminder}"
        if birth is None:
            detail += " (Birth date not recorded.)"
        return PREGNANCY.finding(
            Status.OK, Severity.INFO, "Contraception reminder", detail, evidence=evidence
        )
    age_text = f"aged {age}" if age is not None else "age unknown"
    return PREGNANCY.finding(
        Status.UNKNOWN,
        Severity.LOW,
        "Sex not recorded",
        f"{sentence(age_text)}, sex not recorded: pregnancy precautions may apply. No pregnancy "
        f"recorded. {reminder}",
        evidence=evidence,
    )
