"""Hepatitis B: screening before the first dose, and what the serology means.

Kesimpta USPI 2.1 (Assessments Prior to First Dose: HBV screening), 4 (Contraindications:
active HBV infection) and 5.1 (Infections: Hepatitis B Virus reactivation).

anti-HBc: the screening needs *total* anti-HBc (IgG + IgM), because resolved infection —
HBsAg negative, anti-HBc IgG positive, the group at risk of reactivation — is invisible to
an IgM-only test. A negative anti-HBc IgM therefore does not count as screening; a
positive one does (total anti-HBc is then positive too) and is read as anti-HBc positive.
"""

from __future__ import annotations

from datetime import date
from typing import NamedTuple

from domain.findings import Evidence, Finding, Severity, Status
from domain.records import (
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
from smartapp.rules.evidence import (
    condition_evidence,
    lab_evidence,
    lab_phrase,
    pending_text,
    sentence,
    series_evidence,
)
from smartapp.rules.labs import (
    BaselineSeverities,
    baseline_finding,
    baseline_rule,
)
from smartapp.rules.results import LabSeries, at_or_above
from smartapp.rules.schedule import TreatmentSchedule
from smartapp.rules.settings import RuleSettings


def anti_hbc_series(schedule: TreatmentSchedule) -> LabSeries:
    """Total anti-HBc results, plus positive anti-HBc IgM results (see module docstring)."""
    total = schedule.lab_series(LabKind.ANTI_HBC_TOTAL)
    igm = schedule.lab_series(LabKind.ANTI_HBC_IGM)
    positive_igm = [lab for lab in igm.usable if lab.qualitative is Qualitative.POSITIVE]
    if not positive_igm:
        return total
    return LabSeries.of([*total.usable, *positive_igm], total.unusable, total.pending)


def hbv_screening(
    record: PatientRecord, as_of: date, settings: RuleSettings, schedule: TreatmentSchedule
) -> Finding:
    """HBsAg and anti-HBc dated within 365 days before the first dose (or before the
    reference date when not started). USPI 2.1, 5.1; SPEC §3 hbv-screening.

    ok (info); due (not started, missing; moderate; due = reference date); overdue
    (started, missing; high; due = first dose). Only usable results count: while a missing
    test has a pending result, it stays due/overdue with the action "await the pending
    result" (no new order; SPEC §2 "Pending results"). unknown (moderate) when a result
    could not be interpreted. A positive anti-HBc IgM counts as anti-HBc; a negative one
    does not (total anti-HBc is needed).
    """
    hbsag = ("HBsAg", schedule.lab_series(LabKind.HBSAG))
    return baseline_finding(
        HBV_SCREENING,
        [[hbsag, ("anti-HBc (total)", anti_hbc_series(schedule))]],
        "HBsAg and anti-HBc",
        settings,
        schedule,
        actions.ORDER_HBV_SCREENING,
        BaselineSeverities(due=Severity.MODERATE, overdue=Severity.HIGH),
    )


HBV_SCREENING = baseline_rule(
    id="hbv-screening",
    name="HBV screening",
    short_name="HBV screen",
    text=(
        "HBsAg and anti-HBc results dated within {baseline_lookback_days} days before the "
        "first dose (before the planned start when therapy has not started). A test whose "
        "result is pending is awaited, not ordered again."
    ),
    citation="Kesimpta USPI 2.1 Assessments Prior to First Dose; 5.1 Hepatitis B Virus",
    evaluate=hbv_screening,
)


def hbv_reading(lab: LabResult, settings: RuleSettings) -> Qualitative | None:
    """A usable HBV result as positive/negative; quantitative HBsAg in IU/mL is positive at
    or above the threshold (SPEC §2; setting `hbsag_positive_iu_ml`), None when its bound
    does not settle it."""
    if lab.qualitative is not None or lab.value is None or lab.kind is not LabKind.HBSAG:
        return lab.qualitative
    verdict = at_or_above(lab.value, lab.comparator, settings.hbsag_positive_iu_ml)
    if verdict is None:
        return None
    return Qualitative.POSITIVE if verdict else Qualitative.NEGATIVE


class _Analyte(NamedTuple):
    """One HBV analyte: its latest reading, what blocks a reassuring answer, its history."""

    label: str
    series: LabSeries
    latest: LabResult | None
    value: Qualitative | None  # of the latest, None when unreadable / none
    problem: str  # why the latest is not known ("" when it is)
    pending: tuple[LabResult, ...]  # newer than the latest usable result
    ever_positive: tuple[LabResult, ...]

    @property
    def positive(self) -> bool:
        return self.value is Qualitative.POSITIVE and self.latest is not None

    @property
    def negative(self) -> bool:
        return self.value is Qualitative.NEGATIVE and self.latest is not None and not self.pending

    @property
    def never_tested(self) -> bool:
        series = self.series
        return not series.usable and not series.pending and not series.unusable


def _analyte(label: str, series: LabSeries, settings: RuleSettings) -> _Analyte:
    latest = series.latest
    value = hbv_reading(latest, settings) if latest is not None else None
    problem = ""
    unreadable = series.unreadable_since_latest()
    if unreadable:
        raw = ", ".join(f"'{lab.raw}'" for lab in unreadable)
        problem = f"the latest {label} could not be used ({raw})"
        value = None
    elif latest is not None and value is None:
        problem = f"the latest {label} ({lab_phrase(latest)}) does not settle it"
    elif latest is None and not series.pending:
        problem = f"no {label} result"
    pending = series.pending_since_latest()
    if pending and value is not Qualitative.POSITIVE:
        problem = "; ".join(p for p in (problem, pending_text(label, pending)) if p)
    ever = tuple(lab for lab in series.usable if hbv_reading(lab, settings) is Qualitative.POSITIVE)
    return _Analyte(label, series, latest, value, problem, pending, ever)


EVER_POSITIVE_NOTE = "positive or detectable: counts whatever later results say"


def _before(lab: LabResult, latest: LabResult | None) -> bool:
    return (
        latest is not None
        and lab.when is not None
        and latest.when is not None
        and lab.when.certainly_before(latest.when)
    )


def hbv_serology(
    record: PatientRecord, as_of: date, settings: RuleSettings, schedule: TreatmentSchedule
) -> Finding:
    """What the HBV results and Conditions mean for ofatumumab. USPI 4 (active HBV is a
    contraindication), 2.1 and 5.1 (HBsAg negative and anti-HBc positive: consult a liver
    disease expert before starting and during treatment; HBV reactivation); SPEC §2, §3
    hbv-serology.

    alert critical: the latest HBsAg positive (quantitative: >= 0.05 IU/mL), the latest HBV
    DNA detectable (on therapy: reactivation), the latest anti-HBc IgM positive (possible
    acute hepatitis B), or a hepatitis B Condition that is current (active; or without
    clinicalStatus and not abated, whatever its age). alert high: total anti-HBc positive
    (HBsAg negative or not known), a hepatitis B Condition inactive, resolved or in
    remission, or any positive HBsAg or anti-HBc, or detectable HBV DNA, ever recorded —
    whatever later results say. ok (info): HBsAg and total anti-HBc negative, no detectable
    HBV DNA, no hepatitis B Condition and nothing newer pending or unreadable. unknown
    (moderate) otherwise; its action is to order the screening only when a test was never
    done. An alert names any newer pending result; a pending result never raises one.
    """
    hbsag = _analyte("HBsAg", schedule.lab_series(LabKind.HBSAG), settings)
    total = _analyte("anti-HBc (total)", anti_hbc_series(schedule), settings)
    igm = _analyte("anti-HBc IgM", schedule.lab_series(LabKind.ANTI_HBC_IGM), settings)
    dna = _analyte("HBV DNA", schedule.lab_series(LabKind.HBV_DNA), settings)
    analytes = (hbsag, total, igm, dna)

    current: list[ConditionRecord] = []
    past: list[ConditionRecord] = []
    notes: dict[str, str] = {}
    for condition in record.conditions:
        if condition.kind is not ConditionKind.HEPATITIS_B:
            continue
        state = condition_state(condition, as_of, settings)
        if state is ConditionState.ACTIVE:
            current.append(condition)
        elif state in (ConditionState.PAST, ConditionState.STALE, ConditionState.UNDATED):
            past.append(condition)
        else:
            continue
        notes[condition.source.reference] = describe_state(condition, state)

    def cond_evidence(condition: ConditionRecord) -> Evidence:
        return condition_evidence(condition, notes.get(condition.source.reference, ""))

    evidence: list[Evidence] = [*map(cond_evidence, current), *map(cond_evidence, past)]
    # Each record once: a positive anti-HBc IgM is in both the IgM and the anti-HBc series.
    seen: set[str] = set()

    def add(item: Evidence) -> None:
        if item.reference not in seen:
            seen.add(item.reference)
            evidence.append(item)

    for analyte in analytes:
        for item in series_evidence(analyte.series):
            add(item)
        for lab in analyte.ever_positive:
            if lab is analyte.latest:
                continue
            # Only a result certainly before the latest one is "earlier"; one whose order
            # cannot be told (same day) is shown as it is. Otherwise which of two same-day
            # positives got the note would depend on the servers' ids for them.
            add(
                lab_evidence(lab, EVER_POSITIVE_NOTE)
                if _before(lab, analyte.latest)
                else lab_evidence(lab)
            )
    waiting = [pending_text(a.label, a.pending) for a in analytes if a.pending]
    waiting_text = f" Also {'; '.join(waiting)}." if waiting else ""

    critical: list[str] = []
    grounds: list[Evidence] = [cond_evidence(c) for c in current]
    if hbsag.positive and hbsag.latest is not None:
        critical.append(lab_phrase(hbsag.latest))
        grounds.append(lab_evidence(hbsag.latest))
    if dna.positive and dna.latest is not None:
        critical.append(
            f"{lab_phrase(dna.latest)} (detectable"
            + ("; on therapy this means HBV reactivation)" if schedule.started else ")")
        )
        grounds.append(lab_evidence(dna.latest))
    if igm.positive and igm.latest is not None:
        critical.append(f"{lab_phrase(igm.latest)} (possible acute hepatitis B)")
        grounds.append(lab_evidence(igm.latest))
    critical.extend(f"current condition '{c.display}'" for c in current)

    def alert(severity: Severity, title: str, detail: str, grounds: list[Evidence]) -> Finding:
        return HBV_SEROLOGY.finding(
            Status.ALERT,
            severity,
            title,
            detail + waiting_text,
            evidence=evidence,
            action=actions.REVIEW_HBV_SEROLOGY,
            grounds=grounds,
        )

    if critical:
        detail = (
            f"Active hepatitis B ({'; '.join(critical)}): ofatumumab is contraindicated. "
            "Do not start or give a dose; refer to a liver disease expert."
        )
        return alert(Severity.CRITICAL, "Active hepatitis B: contraindicated", detail, grounds)

    high: list[str] = []
    high_grounds: list[Evidence] = []
    if total.positive and total.latest is not None:
        if hbsag.negative and hbsag.latest is not None:
            high.append(f"{lab_phrase(hbsag.latest)} and {lab_phrase(total.latest)}")
        else:
            high.append(f"{lab_phrase(total.latest)}; HBsAg not known ({hbsag.problem})")
        high_grounds.append(lab_evidence(total.latest))
    for condition in past:
        high.append(f"hepatitis B recorded as past ('{condition.display}', {_status(condition)})")
        high_grounds.append(cond_evidence(condition))
    for analyte in analytes:
        earlier = [lab for lab in analyte.ever_positive if lab is not analyte.latest]
        if earlier and not (analyte is total and total.positive):
            first = earlier[0]
            high.append(f"earlier {lab_phrase(first)} (counts whatever later results say)")
            high_grounds.append(lab_evidence(first))
    if high:
        detail = (
            f"{sentence('; '.join(high))}: past or occult hepatitis B with a risk of "
            "reactivation. Consult a liver disease expert before starting and during "
            "treatment (HBV DNA monitoring or antiviral prophylaxis)."
        )
        if dna.latest is not None:
            detail += f" Latest {lab_phrase(dna.latest)}."
        # What the alert rests on: new HBsAg or HBV DNA monitoring results are what the
        # acknowledgement arranged ("HBV DNA monitoring by hepatology"), not new alerts.
        return alert(Severity.HIGH, "Past hepatitis B: consult liver expert", detail, high_grounds)

    problems = [a.problem for a in (hbsag, total) if not a.negative and a.problem]
    # IgM and HBV DNA are not required, but a newer one that cannot be used (or is
    # pending) may say what the serology does not.
    problems.extend(a.problem for a in (igm, dna) if a.problem and not a.never_tested)
    negative = [a.latest for a in (hbsag, total) if a.negative and a.latest is not None]
    if len(negative) == 2 and not problems:
        found = " and ".join(lab_phrase(lab) for lab in negative)
        if dna.latest is not None:
            found += f"; {lab_phrase(dna.latest)}"
        detail = f"{sentence(found)}: no sign of current or past hepatitis B."
        return HBV_SEROLOGY.ok("Hepatitis B negative", detail, evidence=evidence)
    known = [lab_phrase(a.latest) for a in analytes if a.latest is not None and a.value]
    detail = f"Hepatitis B status cannot be decided: {'; '.join(problems)}."
    if known:
        detail += " Known: " + "; ".join(known) + "."
    nothing = hbsag.never_tested or total.never_tested
    return HBV_SEROLOGY.finding(
        Status.UNKNOWN,
        Severity.MODERATE,
        "Hepatitis B status unknown",
        detail,
        evidence=evidence,
        action=actions.ORDER_HBV_SCREENING if nothing else None,
    )


HBV_SEROLOGY = Rule(
    id="hbv-serology",
    name="Hepatitis B status",
    short_name="Hepatitis B",
    text=(
        "Contraindicated (critical): the latest HBsAg positive (quantitative: at least "
        "{hbsag_positive_iu_ml:g} IU/mL), the latest HBV DNA detectable (on therapy: "
        "reactivation), the latest anti-HBc IgM positive (possible acute hepatitis B), or a "
        "current hepatitis B condition. Consult a liver disease expert (high): total anti-HBc "
        "positive, a hepatitis B condition that is inactive, resolved or in remission, or any "
        "positive HBsAg or anti-HBc, or detectable HBV DNA, ever recorded. OK only when HBsAg "
        "and anti-HBc are negative, no HBV DNA is detectable, no hepatitis B is recorded and "
        "no newer result is pending."
    ),
    citation="Kesimpta USPI 4 Contraindications (active HBV); 2.1; 5.1 Hepatitis B Virus "
    "reactivation; LOINC HBV DNA and HBsAg codes (fhir_mappings/valuesets/hbv-dna.json, "
    "hbsag.json)",
    areas=frozenset({"labs", "conditions"}),
    statuses=frozenset({Status.OK, Status.ALERT}),
    settings=("hbsag_positive_iu_ml",),
    evaluate=hbv_serology,
)


def _status(condition: ConditionRecord) -> str:
    if condition.abatement is not None:
        return f"abated {condition.abatement.text}"
    return condition.clinical_status or "no clinical status, too old or undated"
