"""Safety checks that can stop a dose: active infection, hypersensitivity, PML, pregnancy."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from enum import Enum

from domain.findings import Evidence, Finding, Severity, Status
from domain.records import (
    AllergyRecord,
    ConditionKind,
    ConditionRecord,
    LabKind,
    LabResult,
    PatientRecord,
    Qualitative,
)
from smartapp.rules import actions
from smartapp.rules.base import Rule
from smartapp.rules.conditions import ConditionState, condition_state, describe_state
from smartapp.rules.dates import age_on, plus_days, plus_months
from smartapp.rules.evidence import (
    allergy_evidence,
    condition_evidence,
    date_text,
    day,
    lab_evidence,
    lab_phrase,
    pending_text,
    sentence,
)
from smartapp.rules.results import at_or_above, below, is_usable
from smartapp.rules.schedule import TreatmentSchedule
from smartapp.rules.settings import RuleSettings


def infection_active(
    record: PatientRecord, as_of: date, settings: RuleSettings, schedule: TreatmentSchedule
) -> Finding:
    """An infection that is plausibly current -> alert high: delay the dose until it has
    resolved, or treat it before starting. USPI 5.1 Infections; SPEC §2 "Conditions
    without clinicalStatus"; §3 infection-active; issue 10 (Synthea-style records).

    Counted (as of the as-of day, never refuted, not abated by then): a chronic infection
    of the curated list (tuberculosis, HIV, chronic hepatitis C…) that is active or has no
    clinicalStatus, whatever its age; an acute infection recorded active with its onset
    (else recordedDate) within 90 days, or with no clinicalStatus within 30 days (both
    settings). Infections recorded active but older are context, not an alert: ok (low)
    naming them, so someone closes them in the record. An infection with neither a status
    nor a date cannot be judged: unknown (moderate). ok (info) otherwise.
    """
    counted: list[tuple[ConditionRecord, str]] = []
    stale: list[tuple[ConditionRecord, str]] = []
    undated: list[ConditionRecord] = []
    for condition in record.conditions:
        if condition.kind is not ConditionKind.INFECTION:
            continue
        state = condition_state(condition, as_of, settings)
        if state is ConditionState.UNDATED:
            undated.append(condition)
        elif state is ConditionState.STALE:
            stale.append((condition, describe_state(condition, state)))
        elif state is ConditionState.ACTIVE:
            recent = _recent_enough(condition, as_of, settings)
            if recent is None:
                counted.append((condition, _why_counted(condition, state)))
            else:
                stale.append((condition, recent))
    context = [condition_evidence(c, note) for c, note in stale]
    if counted:
        names = "; ".join(f"{c.display} ({_since(c)})" for c, _ in counted)
        advice = (
            "Delay the next dose until the infection has resolved."
            if schedule.started
            else "Treat it before starting ofatumumab."
        )
        grounds = [condition_evidence(c, note) for c, note in counted]
        return INFECTION_ACTIVE.finding(
            Status.ALERT,
            Severity.HIGH,
            "Active infection",
            f"Active infection recorded: {names}. {advice}",
            evidence=[*grounds, *context],
            action=actions.HOLD_FOR_INFECTION,
            grounds=grounds,
        )
    if undated:
        names = "; ".join(c.display for c in undated)
        return INFECTION_ACTIVE.finding(
            Status.UNKNOWN,
            Severity.MODERATE,
            "Infection of unknown age",
            f"Infection recorded with neither a clinical status nor a date: {names}. Confirm "
            "it has resolved before the next dose.",
            evidence=[*_judged(undated, ConditionState.UNDATED), *context],
        )
    if stale:
        names = "; ".join(f"{c.display} ({note})" for c, note in stale)
        return INFECTION_ACTIVE.finding(
            Status.OK,
            Severity.LOW,
            "No current infection",
            f"No current infection. Recorded but not current, so not counted: {names}. If "
            "resolved, close them in the record.",
            evidence=context,
        )
    return INFECTION_ACTIVE.ok("No active infection", "No active infection recorded.")


INFECTION_ACTIVE = Rule(
    id="infection-active",
    name="Active infection",
    short_name="Infection",
    text=(
        "A current infection: delay the dose until it resolves (treat before starting). "
        "Current means a chronic infection that matters for anti-CD20 therapy (tuberculosis, "
        "HIV, chronic hepatitis C…) not resolved, or an acute infection recorded active with "
        "its onset within {infection_active_recent_days} days (within "
        "{infection_no_status_days} days when it has no clinical status). Older ones are shown, "
        "not counted."
    ),
    citation="Kesimpta USPI 5.1 Infections (delay in active infection until resolved)",
    areas=frozenset({"conditions"}),
    statuses=frozenset({Status.OK, Status.ALERT}),
    settings=("infection_active_recent_days", "infection_no_status_days"),
    evaluate=infection_active,
)


def _recent_enough(condition: ConditionRecord, as_of: date, settings: RuleSettings) -> str | None:
    """None when an active infection counts; else why it is context only (too old)."""
    if condition.chronic or condition.clinical_status is None:
        return None  # chronic: whatever its age; no status: the 30-day window already applied
    onset = condition.onset
    if onset is None:
        return None  # recorded active with no date to say it is old: the safe reading
    days = settings.infection_active_recent_days
    if plus_days(onset.latest, days) >= as_of:
        return None
    return (
        f"recorded {condition.clinical_status} since {date_text(onset)}, more than {days} days "
        "ago: not counted as current"
    )


def _judged(conditions: Iterable[ConditionRecord], state: ConditionState) -> list[Evidence]:
    """The evidence of Conditions all judged `state`, each saying how."""
    return [condition_evidence(c, describe_state(c, state)) for c in conditions]


def _why_counted(condition: ConditionRecord, state: ConditionState) -> str:
    if condition.chronic:
        return "a chronic infection that matters for anti-CD20 therapy: counted whatever its age"
    return describe_state(condition, state)


def _since(condition: ConditionRecord) -> str:
    status = condition.clinical_status or "no clinical status"
    when = f"since {date_text(condition.onset)}" if condition.onset else "no date"
    return f"{status}, {when}"


def hypersensitivity(
    record: PatientRecord, as_of: date, settings: RuleSettings, schedule: TreatmentSchedule
) -> Finding:
    """An AllergyIntolerance naming ofatumumab (Kesimpta or Arzerra, by code or text),
    whatever its clinicalStatus, unless refuted or entered-in-error -> alert. USPI 4
    Contraindications (history of hypersensitivity to ofatumumab or a life-threatening
    injection-related reaction), 5.2 Injection-Related Reactions and Hypersensitivity
    Reactions; SPEC §3 hypersensitivity.

    alert critical when its type is allergy or not recorded, its criticality is high, or a
    reaction is severe or anaphylaxis; otherwise (an intolerance of low or unassessed
    criticality with no severe reaction) alert moderate: review, injection reactions are
    common and usually mild. The detail says when it is recorded inactive or resolved.
    ok (info) when none is recorded.
    """
    allergies = [a for a in record.allergies if not a.refuted]
    if not allergies:
        return HYPERSENSITIVITY.ok(
            "No allergy to ofatumumab",
            "No allergy to ofatumumab recorded.",
        )
    serious = [a for a in allergies if _serious(a)]
    described = "; ".join(_allergy_text(a) for a in (serious or allergies))
    inactive = [a for a in allergies if a.clinical_status in ("inactive", "resolved")]
    history = (
        " Recorded as inactive or resolved, but a history of hypersensitivity still counts."
        if inactive
        else ""
    )
    evidence = [allergy_evidence(a) for a in allergies]
    if serious:
        return HYPERSENSITIVITY.finding(
            Status.ALERT,
            Severity.CRITICAL,
            "Hypersensitivity to ofatumumab",
            f"Hypersensitivity to ofatumumab recorded: {described}.{history} A history of "
            "hypersensitivity or a life-threatening injection reaction is a contraindication: "
            "do not give ofatumumab before this is reviewed.",
            evidence=evidence,
            action=actions.REVIEW_HYPERSENSITIVITY,
            grounds=[allergy_evidence(a) for a in serious],
        )
    return HYPERSENSITIVITY.finding(
        Status.ALERT,
        Severity.MODERATE,
        "Reaction to ofatumumab: review",
        f"Intolerance of ofatumumab recorded: {described}.{history} Review it: injection "
        "reactions are common and usually mild; only a hypersensitivity reaction is a "
        "contraindication.",
        evidence=evidence,
        action=actions.REVIEW_HYPERSENSITIVITY,
    )


HYPERSENSITIVITY = Rule(
    id="hypersensitivity",
    name="Hypersensitivity",
    text=(
        "An allergy or intolerance to ofatumumab (Kesimpta or Arzerra), even if recorded as "
        "inactive or resolved: critical when it is an allergy (or of unknown type), of high "
        "criticality, or with a severe or anaphylactic reaction; otherwise review (injection "
        "reactions are common and usually mild)."
    ),
    citation="Kesimpta USPI 4 Contraindications (history of hypersensitivity or "
    "life-threatening injection-related reaction); 5.2 Injection-Related Reactions and "
    "Hypersensitivity Reactions",
    areas=frozenset({"allergies"}),
    statuses=frozenset({Status.OK, Status.ALERT}),
    evaluate=hypersensitivity,
)


def _serious(allergy: AllergyRecord) -> bool:
    """Type allergy (or not recorded), criticality high, or a severe/anaphylactic reaction."""
    return (
        allergy.allergy_type in (None, "allergy")
        or allergy.criticality == "high"
        or allergy.severe_reaction
        or allergy.anaphylaxis
    )


def _allergy_text(allergy: AllergyRecord) -> str:
    facts = [
        allergy.clinical_status or "no clinical status",
        allergy.allergy_type or "type not recorded",
        f"criticality {allergy.criticality or 'not recorded'}",
    ]
    if allergy.anaphylaxis:
        facts.append("anaphylaxis")
    elif allergy.severe_reaction:
        facts.append("severe reaction")
    return f"{allergy.display} ({', '.join(facts)})"


def pml(
    record: PatientRecord, as_of: date, settings: RuleSettings, schedule: TreatmentSchedule
) -> Finding:
    """A PML Condition in any clinical or verification status but refuted/entered-in-error
    (suspected PML counts) -> alert critical. USPI 5.1 PML; SPEC §3 pml. ok (info)."""
    # Whatever its clinical status or age; only one recorded after the as-of day waits.
    found = [
        c
        for c in record.conditions
        if c.kind is ConditionKind.PML
        and condition_state(c, as_of, settings)
        not in (ConditionState.IGNORED, ConditionState.NOT_YET)
    ]
    if not found:
        return PML.ok("No PML", "No PML recorded.")
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


PML = Rule(
    id="pml",
    name="PML",
    text="A PML diagnosis (unless refuted): withhold ofatumumab and evaluate.",
    citation="Kesimpta USPI 5.1 Progressive Multifocal Leukoencephalopathy (withhold at first "
    "sign; discontinue if confirmed)",
    areas=frozenset({"conditions"}),
    statuses=frozenset({Status.OK, Status.ALERT}),
    evaluate=pml,
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
    if lab.value is None:
        return _Reading.EQUIVOCAL
    # A bound ("<5 mIU/mL") decides only when it settles the comparison (SPEC §2).
    if at_or_above(lab.value, lab.comparator, settings.hcg_positive_miu_ml):
        return _Reading.POSITIVE
    if below(lab.value, lab.comparator, settings.hcg_negative_below_miu_ml):
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
        """A later negative test (certainly later: on the same day without times, or within
        a partial date, the positive stands — SPEC §2, the worse result counts)."""
        when = lab.when
        return when is not None and any(
            n.when is not None and when.certainly_before(n.when) for n in negatives
        )

    def recent(lab: LabResult) -> bool:
        return lab.when is None or lab.when.latest >= since

    positive = [
        lab for lab, r in readings if r is _Reading.POSITIVE and recent(lab) and not cancelled(lab)
    ]
    # Current as of the day: active, or without clinicalStatus for 280 days (SPEC §2).
    conditions = [
        c
        for c in record.conditions
        if c.kind is ConditionKind.PREGNANCY
        and condition_state(c, as_of, settings) is ConditionState.ACTIVE
    ]
    if positive or conditions:
        reasons = [lab_phrase(lab) for lab in positive]
        reasons.extend(f"current condition '{c.display}'" for c in conditions)
        waiting = [lab for lab in tests.pending_since_latest() if recent(lab)]
        if waiting:
            reasons.append(pending_text("a pregnancy test", tuple(waiting)))
        return PREGNANCY.finding(
            Status.ALERT,
            Severity.HIGH,
            "Pregnant",
            f"Pregnancy recorded ({'; '.join(reasons)}). Ofatumumab may cause fetal B-cell "
            "depletion: review treatment with the patient before any dose.",
            evidence=[
                *(lab_evidence(lab) for lab in positive),
                *_judged(conditions, ConditionState.ACTIVE),
                *(lab_evidence(lab) for lab in tests.pending),
            ],
            action=actions.REVIEW_PREGNANCY,
            grounds=[
                *(lab_evidence(lab) for lab in positive),
                *(condition_evidence(c) for c in conditions),
            ],
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
    waiting = [lab for lab in tests.pending_since_latest() if recent(lab)]
    if waiting:
        return PREGNANCY.finding(
            Status.UNKNOWN,
            Severity.MODERATE,
            "Pregnancy test pending",
            f"No pregnancy recorded, but a newer test is not final: "
            f"{pending_text('pregnancy test', tuple(waiting))}. Check its result before the "
            f"next dose. {reminder}",
            evidence=evidence,
        )
    if gender == "female":
        detail = f"No pregnancy recorded. {reminder}"
        if birth is None:
            detail += " (Birth date not recorded.)"
        return PREGNANCY.ok("Contraception reminder", detail, evidence=evidence)
    age_text = f"aged {age}" if age is not None else "age unknown"
    return PREGNANCY.finding(
        Status.UNKNOWN,
        Severity.LOW,
        "Sex not recorded",
        f"{sentence(age_text)}, sex not recorded: pregnancy precautions may apply. No pregnancy "
        f"recorded. {reminder}",
        evidence=evidence,
    )


PREGNANCY = Rule(
    id="pregnancy",
    name="Pregnancy",
    text=(
        "Pregnant (pregnancy status within {pregnancy_lookback_days} days without a later "
        "'not pregnant', a positive hCG, or a current pregnancy condition): alert. Women aged "
        "{reproductive_age_min} to {reproductive_age_max}: contraception during treatment and "
        "for {contraception_after_last_dose_months} months after the last dose. A newer "
        "pregnancy test not yet final is awaited."
    ),
    citation="Kesimpta USPI 5.x Fetal Risk; 8.1 Pregnancy; 8.3 Females and Males of "
    "Reproductive Potential",
    areas=frozenset({"patient", "labs", "conditions"}),
    applicability_areas=frozenset({"patient"}),
    statuses=frozenset({Status.OK, Status.ALERT, Status.NOT_APPLICABLE}),
    settings=(
        "pregnancy_lookback_days",
        "contraception_after_last_dose_months",
        "reproductive_age_min",
        "reproductive_age_max",
        "hcg_positive_miu_ml",
        "hcg_negative_below_miu_ml",
    ),
    evaluate=pregnancy,
)
