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

from fhir_mappings.records import (
    ConditionKind,
    LabKind,
    LabResult,
    PatientRecord,
    Qualitative,
)
from smartapp.rules import actions
from smartapp.rules.base import Rule
from smartapp.rules.evidence import (
    condition_evidence,
    lab_evidence,
    lab_phrase,
    sentence,
    series_evidence,
)
from smartapp.rules.labs import (
    BaselineSeverities,
    baseline_finding,
    baseline_item,
    baseline_window,
)
from smartapp.rules.model import Finding, Severity, Status
from smartapp.rules.results import LabSeries
from smartapp.rules.schedule import TreatmentSchedule
from smartapp.rules.settings import RuleSettings

HBV_SCREENING = Rule(
    id="hbv-screening",
    name="HBV screening",
    citation="Kesimpta USPI 2.1 Assessments Prior to First Dose; 5.1 Hepatitis B Virus",
    areas=frozenset({"labs", "doses", "orders"}),
)

HBV_SEROLOGY = Rule(
    id="hbv-serology",
    name="Hepatitis B status",
    citation="Kesimpta USPI 4 Contraindications (active HBV); 2.1; 5.1 Hepatitis B Virus",
    areas=frozenset({"labs", "conditions"}),
)


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
    (started, missing; high; due = first dose); unknown when a result is pending or could
    not be interpreted (moderate).
    """
    window = baseline_window(schedule, settings)
    hbsag = baseline_item("HBsAg", schedule.lab_series(LabKind.HBSAG), window)
    anti_hbc = baseline_item("anti-HBc (total)", anti_hbc_series(schedule), window)
    return baseline_finding(
        HBV_SCREENING,
        [[hbsag, anti_hbc]],
        "HBsAg and anti-HBc",
        window,
        schedule,
        actions.ORDER_HBV_SCREENING,
        BaselineSeverities(due=Severity.MODERATE, overdue=Severity.HIGH, unknown=Severity.MODERATE),
    )


def _state(series: LabSeries, label: str) -> tuple[Qualitative | None, str]:
    """The latest usable result, unless an unreadable one may be newer; and why not."""
    latest = series.latest
    unreadable = series.unreadable_since_latest()
    if unreadable:
        raw = ", ".join(f"'{lab.raw}'" for lab in unreadable)
        return None, f"the latest {label} could not be interpreted ({raw})"
    if latest is None:
        if series.pending:
            return None, f"{label} result pending"
        return None, f"no {label} result"
    return latest.qualitative, ""


def hbv_serology(
    record: PatientRecord, as_of: date, settings: RuleSettings, schedule: TreatmentSchedule
) -> Finding:
    """What the latest HBV results mean for ofatumumab. USPI 4 (active HBV is a
    contraindication), 2.1 and 5.1 (HBsAg-negative/anti-HBc-positive: consult a liver
    disease expert before starting and during treatment); SPEC §3 hbv-serology.

    alert critical: latest HBsAg positive, or an active, non-refuted hepatitis B Condition.
    alert high: anti-HBc positive (HBsAg negative, or HBsAg not known) — HBV DNA
    monitoring or prophylaxis with a liver disease expert. ok (info): latest HBsAg and
    anti-HBc both negative, with no newer unreadable result. unknown (moderate) otherwise;
    its action is to order the screening only when a test has no result at all.
    """
    hbsag = schedule.lab_series(LabKind.HBSAG)
    anti_hbc = anti_hbc_series(schedule)
    conditions = [
        c
        for c in record.conditions
        if c.kind is ConditionKind.HEPATITIS_B and c.active and not c.refuted
    ]
    evidence = [
        *(condition_evidence(c) for c in conditions),
        *series_evidence(hbsag),
        *series_evidence(anti_hbc),
    ]
    latest_hbsag = hbsag.latest
    latest_anti_hbc = anti_hbc.latest

    if conditions or (
        latest_hbsag is not None and latest_hbsag.qualitative is Qualitative.POSITIVE
    ):
        reasons = []
        if latest_hbsag is not None and latest_hbsag.qualitative is Qualitative.POSITIVE:
            reasons.append(lab_phrase(latest_hbsag))
        reasons.extend(f"active condition '{c.display}'" for c in conditions)
        detail = (
            f"Active hepatitis B ({'; '.join(reasons)}): ofatumumab is contraindicated. "
            "Do not start or give a dose; refer to a liver disease expert."
        )
        grounds = [condition_evidence(c) for c in conditions]
        if latest_hbsag is not None and latest_hbsag.qualitative is Qualitative.POSITIVE:
            grounds.append(lab_evidence(latest_hbsag))
        return HBV_SEROLOGY.finding(
            Status.ALERT,
            Severity.CRITICAL,
            "Active hepatitis B: contraindicated",
            detail,
            evidence=evidence,
            action=actions.REVIEW_HBV_SEROLOGY,
            grounds=grounds,
        )

    hbsag_value, hbsag_problem = _state(hbsag, "HBsAg")
    if latest_anti_hbc is not None and latest_anti_hbc.qualitative is Qualitative.POSITIVE:
        hbv_dna = schedule.lab_series(LabKind.HBV_DNA).latest
        if hbv_dna is not None:
            evidence.append(lab_evidence(hbv_dna))
        if hbsag_value is Qualitative.NEGATIVE and latest_hbsag is not None:
            first = f"{lab_phrase(latest_hbsag)} and {lab_phrase(latest_anti_hbc)}"
        else:
            first = f"{lab_phrase(latest_anti_hbc)}; HBsAg not known ({hbsag_problem})"
        detail = (
            f"{first}: past or occult hepatitis B with a risk of reactivation. Consult a liver "
            "disease expert before starting and during treatment (HBV DNA monitoring or "
            "antiviral prophylaxis)."
        )
        if latest_anti_hbc.kind is LabKind.ANTI_HBC_IGM:
            detail += " A positive anti-HBc IgM suggests recent infection: check HBV DNA."
        if hbv_dna is not None:
            detail += f" Latest {lab_phrase(hbv_dna)}."
        return HBV_SEROLOGY.finding(
            Status.ALERT,
            Severity.HIGH,
            "Anti-HBc positive: consult liver expert",
            detail,
            evidence=evidence,
            action=actions.REVIEW_HBV_SEROLOGY,
            # The positive anti-HBc: new HBsAg or HBV DNA monitoring results are what the
            # acknowledgement arranged ("HBV DNA monitoring by hepatology"), not new alerts.
            grounds=[lab_evidence(latest_anti_hbc)],
        )

    anti_hbc_value, anti_hbc_problem = _state(anti_hbc, "anti-HBc")
    if (
        hbsag_value is Qualitative.NEGATIVE
        and anti_hbc_value is Qualitative.NEGATIVE
        and latest_hbsag is not None
        and latest_anti_hbc is not None
    ):
        detail = (
            f"{sentence(lab_phrase(latest_hbsag))} and {lab_phrase(latest_anti_hbc)}: "
            "no sign of current or past hepatitis B."
        )
        return HBV_SEROLOGY.finding(
            Status.OK, Severity.INFO, "Hepatitis B negative", detail, evidence=evidence
        )

    problems = [p for p in (hbsag_problem, anti_hbc_problem) if p]
    known: list[LabResult] = [
        lab
        for lab, value in ((latest_hbsag, hbsag_value), (latest_anti_hbc, anti_hbc_value))
        if lab is not None and value is not None
    ]
    detail = f"Hepatitis B status cannot be decided: {'; '.join(problems)}."
    if known:
        detail += " Known: " + "; ".join(lab_phrase(lab) for lab in known) + "."
    nothing = any(
        not series.usable and not series.pending and not series.unusable
        for series in (hbsag, anti_hbc)
    )
    return HBV_SEROLOGY.finding(
        Status.UNKNOWN,
        Severity.MODERATE,
        "Hepatitis B status unknown",
        detail,
        evidence=evidence,
        action=actions.ORDER_HBV_SCREENING if nothing else None,
    )
