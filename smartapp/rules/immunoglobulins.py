"""Quantitative serum immunoglobulins: baseline, periodic monitoring, low values.

Kesimpta USPI 2.1 (quantitative serum immunoglobulins before the first dose; if low,
consult immunology experts) and 5.3 Reduction in Immunoglobulins (monitor during
treatment, especially with opportunistic or recurrent infections, and after
discontinuation until B-cell repletion).
"""

from __future__ import annotations

from datetime import date

from domain.findings import Evidence, Finding, Phase, Severity, Status
from domain.records import ConditionKind, ConditionRecord, LabKind, PatientRecord
from smartapp.rules import actions
from smartapp.rules.base import Rule
from smartapp.rules.dates import plus_days
from smartapp.rules.evidence import (
    condition_evidence,
    lab_evidence,
    lab_phrase,
    number,
    on_day,
    pending_text,
    series_evidence,
)
from smartapp.rules.labs import (
    BaselineSeverities,
    baseline_finding,
    baseline_rule,
)
from smartapp.rules.monitoring import monitoring_finding
from smartapp.rules.results import below, lower_limit
from smartapp.rules.schedule import TreatmentSchedule
from smartapp.rules.settings import RuleSettings


def recent_infections(
    record: PatientRecord, as_of: date, settings: RuleSettings
) -> list[ConditionRecord]:
    """Infection Conditions (not refuted) that began within the look-back (365 days).

    Counting more infections is the safer error (a shorter interval, a higher severity):
    a partial onset counts when its latest day is in the window; an active infection with
    no onset recorded counts, an inactive one with no onset does not.
    """
    since = plus_days(as_of, -settings.infection_lookback_days)
    found = []
    for condition in record.conditions:
        if condition.kind is not ConditionKind.INFECTION or condition.refuted:
            continue
        onset = condition.onset
        if onset is None:
            if condition.active:
                found.append(condition)
        elif onset.latest >= since and onset.earliest <= as_of:
            found.append(condition)
    return found


def ig_baseline(
    record: PatientRecord, as_of: date, settings: RuleSettings, schedule: TreatmentSchedule
) -> Finding:
    """Quantitative IgG and IgM within 365 days before the first dose or reference date.
    USPI 2.1; 5.3; SPEC §3 ig-baseline.

    ok (info); due (not started, missing; moderate); overdue (started, missing;
    moderate); a missing test with a pending result stays due/overdue and awaits it (no new
    order); unknown (low) when a result could not be converted or read.
    """
    igg, igm = schedule.lab_series(LabKind.IGG), schedule.lab_series(LabKind.IGM)
    return baseline_finding(
        IG_BASELINE,
        [[("IgG", igg), ("IgM", igm)]],
        "quantitative IgG and IgM",
        settings,
        schedule,
        actions.ORDER_IMMUNOGLOBULINS,
        BaselineSeverities(due=Severity.MODERATE, overdue=Severity.MODERATE),
    )


IG_BASELINE = baseline_rule(
    id="ig-baseline",
    name="Immunoglobulin baseline",
    short_name="IgG/IgM baseline",
    text=(
        "Quantitative IgG and IgM within {baseline_lookback_days} days before the first dose "
        "(or the planned start)."
    ),
    citation="Kesimpta USPI 2.1 Assessments Prior to First Dose; 5.3 Reduction in Immunoglobulins",
    unknown_severity=Severity.LOW,
    evaluate=ig_baseline,
)


def ig_monitoring(
    record: PatientRecord, as_of: date, settings: RuleSettings, schedule: TreatmentSchedule
) -> Finding:
    """On therapy, IgG and IgM are repeated every 365 days (180 when at least 2 infection
    Conditions began in the last 365 days). USPI 5.3; SPEC §3 ig-monitoring.

    Due date = the older of (latest IgG, latest IgM) + interval; a test never done counts
    from the first dose. Partial dates count from their earliest day (the test may be that
    old). ok (info, `due` = next test) more than 30 days ahead; due (low) within 30 days;
    overdue (moderate) after. not_applicable before the first dose, and once more than
    280 days have passed since the last dose of an interrupted or discontinued course
    (B-cell repletion presumed; USPI 5.3 "after discontinuation until B-cell repletion").
    Timing uses usable results only; due or overdue with a newer pending result awaits it
    (action "await the pending result", no new order; SPEC §2 "Pending results").
    """
    first, last = schedule.first, schedule.last
    if first is None or last is None:
        return IG_MONITORING.not_applicable(
            "Therapy not started: immunoglobulins before the first dose are the ig-baseline check."
        )
    repleted = plus_days(last.latest, settings.b_cell_repletion_days)
    if schedule.phase in (Phase.INTERRUPTED, Phase.DISCONTINUED) and as_of > repleted:
        return IG_MONITORING.not_applicable(
            f"Last dose {on_day(last)}, more than {settings.b_cell_repletion_days} days ago: "
            "B cells are expected to have recovered, so monitoring after discontinuation ends.",
            schedule.dose_evidence[-1:],
        )

    infections = recent_infections(record, as_of, settings)
    frequent = len(infections) >= settings.frequent_infections_count
    interval = (
        settings.ig_interval_frequent_infections_days if frequent else settings.ig_interval_days
    )
    evidence: list[Evidence] = []
    bases: list[tuple[date, str]] = []
    waiting: list[str] = []
    for kind, label in ((LabKind.IGG, "IgG"), (LabKind.IGM, "IgM")):
        series = schedule.lab_series(kind)
        evidence.extend(series_evidence(series))
        if series.pending_since_latest():
            waiting.append(pending_text(label, series.pending_since_latest()))
        latest = series.latest
        if latest is not None and latest.when is not None:
            bases.append((latest.when.earliest, f"last {label} {on_day(latest.when)}"))
        else:
            bases.append(
                (first.earliest, f"no readable {label} result, counted from the first dose")
            )
    basis_day, _ = min(bases)
    due = plus_days(basis_day, interval)
    why = f"every {interval} days"
    if frequent:
        why += (
            f" because of {len(infections)} infections in the last "
            f"{settings.infection_lookback_days} days"
        )
    evidence.extend(condition_evidence(c) for c in infections)
    basis = "; ".join(text for _, text in bases)
    # Timing uses usable results only; a pending one means the test is done: await it.
    action = actions.AWAIT_PENDING_RESULT if waiting else actions.ORDER_IMMUNOGLOBULINS
    wait_text = f" {'; '.join(waiting)}: await it." if waiting else ""
    text = f"IgG and IgM are repeated {why} ({basis}): "
    return monitoring_finding(
        IG_MONITORING, "IgG/IgM", text, due, as_of, settings, evidence, action, wait_text
    )


IG_MONITORING = Rule(
    id="ig-monitoring",
    name="Immunoglobulin monitoring",
    short_name="IgG/IgM",
    text=(
        "On therapy, and after it until B-cell repletion, IgG and IgM are repeated every "
        "{ig_interval_days} days (every {ig_interval_frequent_infections_days} days with "
        "{frequent_infections_count} or more infections in {infection_lookback_days} days); "
        "due from {monitoring_due_window_days} days before."
    ),
    citation="Kesimpta USPI 5.3 Reduction in Immunoglobulins (monitor during treatment)",
    areas=frozenset({"labs", "doses", "conditions"}),
    unknown_severity=Severity.LOW,
    statuses=frozenset({Status.OK, Status.DUE, Status.OVERDUE, Status.NOT_APPLICABLE}),
    settings=(
        "ig_interval_days",
        "ig_interval_frequent_infections_days",
        "frequent_infections_count",
        "infection_lookback_days",
        "monitoring_due_window_days",
        "b_cell_repletion_days",
    ),
    evaluate=ig_monitoring,
)


def ig_low(
    record: PatientRecord, as_of: date, settings: RuleSettings, schedule: TreatmentSchedule
) -> Finding:
    """Latest IgG or IgM below its lower limit -> alert. USPI 2.1 (if low, consult immunology
    experts), 5.3; SPEC §2 "Quantitative results", "Comparators", "Pending results"; §3 ig-low.

    The limit is the result's own referenceRange.low, else the setting (IgG 700, IgM 40
    mg/dL); a low without a unit is read in the value's unit only when it lies between a
    quarter and four times the default, else the default is used and the evidence says why.
    A value exactly at the limit is not low. A value known only as a bound decides only when
    the bound settles it (`<0.3 g/L` is below 40 mg/dL; `<0.5 g/L` is not known to be).
    alert moderate; high when IgG is low and at least 2 infections began in 365 days; an
    alert names any newer pending result. ok (info) when both latest values are at or above
    their limits, with no newer unreadable or pending result; unknown (moderate) otherwise
    (action: order, when a test was never done).
    """
    defaults = {
        LabKind.IGG: settings.igg_lower_limit_mg_dl,
        LabKind.IGM: settings.igm_lower_limit_mg_dl,
    }
    evidence: list[Evidence] = []
    low: list[str] = []
    low_results: list[Evidence] = []
    normal: list[str] = []
    problems: list[str] = []
    pending_notes: list[str] = []
    never_done = False
    igg_low = False
    for kind, label in ((LabKind.IGG, "IgG"), (LabKind.IGM, "IgM")):
        series = schedule.lab_series(kind)
        latest = series.latest
        waiting = series.pending_since_latest()
        if waiting:
            pending_notes.append(pending_text(label, waiting))
        if latest is not None and latest.value is not None:
            limit = lower_limit(latest, defaults[kind], "mg/dL")
            evidence.append(lab_evidence(latest, limit.note))
            evidence.extend(lab_evidence(lab) for lab in series.unreadable_since_latest())
            evidence.extend(lab_evidence(lab) for lab in series.pending)
            text = f"{lab_phrase(latest)} (lower limit {number(limit.value)} mg/dL, {limit.source})"
            verdict = below(latest.value, latest.comparator, limit.value)
            if verdict:
                low.append(text)
                low_results.append(lab_evidence(latest))
                igg_low = igg_low or kind is LabKind.IGG
                continue
            if verdict is None:
                problems.append(
                    f"the latest {label} is known only as a bound: {text}; it may or may not be "
                    "below the limit"
                )
            else:
                normal.append(text)
        else:
            evidence.extend(series_evidence(series))
        unreadable = series.unreadable_since_latest()
        if unreadable:
            raw = ", ".join(f"'{lab.raw}'" for lab in unreadable)
            problems.append(f"the latest {label} could not be converted or used ({raw})")
        elif latest is None and not waiting:
            problems.append(f"no {label} result")
            never_done = never_done or not series.unusable

    if low:
        infections = recent_infections(record, as_of, settings)
        severe = igg_low and len(infections) >= settings.frequent_infections_count
        detail = "Below the lower limit: " + "; ".join(low) + "."
        if problems or pending_notes:
            detail += " Also: " + "; ".join([*problems, *pending_notes]) + "."
        if severe:
            detail += (
                f" With {len(infections)} infections in the last "
                f"{settings.infection_lookback_days} days."
            )
            evidence.extend(condition_evidence(c) for c in infections)
            low_results.extend(condition_evidence(c) for c in infections)
        if schedule.started:
            detail += (
                " Consider whether to continue ofatumumab, especially with serious, "
                "opportunistic or recurrent infections (USPI 5.3)."
            )
        else:
            detail += " Consult immunology experts before starting ofatumumab (USPI 2.1)."
        return IG_LOW.finding(
            Status.ALERT,
            Severity.HIGH if severe else Severity.MODERATE,
            "Low immunoglobulins",
            detail,
            evidence=evidence,
            action=actions.REVIEW_LOW_IMMUNOGLOBULINS,
            # Each new low result (or infection making it severe) is worth a new review; a
            # normal result of the other immunoglobulin is not.
            grounds=low_results,
        )
    problems.extend(pending_notes)
    if not problems:
        return IG_LOW.ok(
            "IgG and IgM not low",
            "Latest values at or above the lower limit: " + "; ".join(normal) + ".",
            evidence=evidence,
        )
    detail = "Cannot tell whether immunoglobulins are low: " + "; ".join(problems) + "."
    if normal:
        detail += " Not low: " + "; ".join(normal) + "."
    return IG_LOW.finding(
        Status.UNKNOWN,
        Severity.MODERATE,
        "Immunoglobulins unknown",
        detail,
        evidence=evidence,
        action=actions.ORDER_IMMUNOGLOBULINS if never_done else None,
    )


IG_LOW = Rule(
    id="ig-low",
    name="Low immunoglobulins",
    short_name="Low IgG/IgM",
    text=(
        "Latest IgG or IgM below its lower limit (the laboratory's own range, else IgG "
        "{igg_lower_limit_mg_dl:g} mg/dL, IgM {igm_lower_limit_mg_dl:g} mg/dL; a range without "
        "a unit only when plausible): alert, high when IgG is low with "
        "{frequent_infections_count} or more infections in {infection_lookback_days} days. A "
        "value written as a bound ('<0.5 g/L') decides only when the bound settles it."
    ),
    citation="Kesimpta USPI 2.1 (if low, consult immunology experts); 5.3",
    areas=frozenset({"labs"}),
    statuses=frozenset({Status.OK, Status.ALERT}),
    settings=(
        "igg_lower_limit_mg_dl",
        "igm_lower_limit_mg_dl",
        "frequent_infections_count",
        "infection_lookback_days",
    ),
    evaluate=ig_low,
)
