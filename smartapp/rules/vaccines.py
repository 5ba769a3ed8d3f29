"""Vaccine timing around ofatumumab. Kesimpta USPI 2.1 (vaccinations before the first dose)
and 5.1 Vaccinations: live or live-attenuated vaccines at least 4 weeks before initiation
and not during treatment or after discontinuation until B-cell repletion; non-live
vaccines, whenever possible, at least 2 weeks before initiation; during treatment the
response to non-live vaccines may be reduced (SPEC §3: best mid-cycle).

An ambiguous vaccine (a CVX that cannot tell live from non-live, e.g. unspecified zoster
or influenza, MVA smallpox) is timed as live and always asks for review.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import NamedTuple

from domain.findings import Evidence, Finding, Phase, Severity, Status
from domain.records import (
    ClinicalDate,
    LabKind,
    LabResult,
    PatientRecord,
    Vaccination,
    VaccineClass,
)
from smartapp.rules import actions
from smartapp.rules.base import Rule
from smartapp.rules.dates import plus_days
from smartapp.rules.evidence import (
    counted_as,
    day,
    lab_evidence,
    lab_phrase,
    number,
    on_day,
    pending_text,
    sentence,
    vaccine_evidence,
)
from smartapp.rules.results import at_or_above, latest_of, lower_limit
from smartapp.rules.schedule import LIVE_LIKE, TreatmentSchedule, days_before_start
from smartapp.rules.settings import SCHEDULE_SETTINGS, RuleSettings


def _kind(vaccine: Vaccination) -> str:
    if vaccine.classified_by_text:
        # SPEC §2: say the code is unknown rather than calling it live.
        if vaccine.vaccine_class is VaccineClass.LIVE:
            return "vaccine code not recognised; its name is that of a live vaccine (review)"
        return "vaccine code not recognised (timed as live; review)"
    if vaccine.vaccine_class is VaccineClass.LIVE:
        return "live vaccine"
    if vaccine.vaccine_class is VaccineClass.AMBIGUOUS:
        return "vaccine of unclear type (timed as live; review)"
    return "non-live vaccine"


def _names(vaccines: Iterable[Vaccination]) -> str:
    return ", ".join(f"{v.display} ('{v.occurrence_text or 'no date'}')" for v in vaccines)


def _latest_of_each_class(vaccines: Iterable[Vaccination]) -> list[Evidence]:
    """The latest live-like and the latest non-live vaccine: the ones that decide an ok."""
    latest: dict[bool, Vaccination] = {}
    for vaccine in vaccines:  # oldest first
        latest[vaccine.vaccine_class in LIVE_LIKE] = vaccine
    return [vaccine_evidence(v) for v in latest.values()]


def vaccine_before_start(
    record: PatientRecord, as_of: date, settings: RuleSettings, schedule: TreatmentSchedule
) -> Finding:
    """Live vaccine within 28 days, or non-live within 14 days, before the first dose.
    USPI 2.1; 5.1 Vaccinations; SPEC §3 vaccine-before-start.

    Started: alert — high when live (or ambiguous, timed as live), low when non-live only —
    e.g. live 27 days before the first dose is an alert, 28 days is ok. The gap is read at
    its shortest when a date is partial. Vaccines on or after the first dose belong to the
    on-therapy checks. Not started: due until the earliest safe start date = max(live + 28,
    non-live + 14), reported in `due` and Schedule.earliest_start (low; moderate when an
    active order plans the start before it); unknown (moderate) when a live or ambiguous
    vaccine has no usable date; ok (info) otherwise.
    """
    undated = [v for v in schedule.undated_vaccinations if v.vaccine_class in LIVE_LIKE]
    first = schedule.first
    if first is not None:
        problems: list[str] = []
        evidence: list[Evidence] = []
        live = False
        for vaccine in schedule.vaccinations:
            when = vaccine.when
            # Certainly on or after the first dose: the on-therapy checks judge it. With a
            # partial date on either side it may have come before: judged here too.
            if when is None or when.earliest >= first.latest:
                continue
            live_like = vaccine.vaccine_class in LIVE_LIKE
            minimum = days_before_start(vaccine, settings)
            gap = (first.earliest - when.latest).days
            if gap >= minimum:
                continue
            live = live or live_like
            timing = (
                f"{gap} days before the first dose {on_day(first)}"
                if gap >= 0
                else f"possibly after the first dose {on_day(first)} (partial dates)"
            )
            problems.append(
                f"{vaccine.display} ({_kind(vaccine)}) {on_day(when)}, {timing} (at least "
                f"{minimum} days needed)"
            )
            evidence.append(
                vaccine_evidence(vaccine, counted_as(when, when.latest, "the shortest gap"))
            )
        if problems:
            detail = "Given too close to the start of ofatumumab: " + "; ".join(problems) + "."
            detail += (
                " The vaccine response may be reduced; for a live vaccine, watch for "
                "vaccine-strain infection."
                if live
                else " The vaccine response may be reduced; consider checking it."
            )
            return VACCINE_BEFORE_START.finding(
                Status.ALERT,
                Severity.HIGH if live else Severity.LOW,
                "Vaccine too close to start",
                detail,
                evidence=evidence,
                action=actions.REVIEW_LIVE_VACCINE if live else actions.REVIEW_VACCINE_TIMING,
            )
        detail = f"No vaccine recorded within the intervals before the first dose {on_day(first)}."
        if undated:
            detail += (
                f" {len(undated)} live or unclear vaccine(s) have no date and cannot be timed "
                "(see the live-vaccine check)."
            )
        return VACCINE_BEFORE_START.ok(
            "Vaccine intervals kept",
            detail,
            evidence=[
                *_latest_of_each_class(
                    v
                    for v in schedule.vaccinations
                    if v.when is not None and v.when.earliest < first.latest
                ),
                *(vaccine_evidence(v) for v in undated),
            ],
        )

    binding = [c for c in schedule.start_constraints if c.safe_from > as_of]
    evidence = [
        vaccine_evidence(
            c.vaccine,
            counted_as(c.vaccine.when, c.vaccine.when.latest, "the latest day it may have been")
            if c.vaccine.when is not None
            else "",
        )
        for c in binding
    ]
    evidence.extend(vaccine_evidence(v) for v in undated)
    if binding:
        safe = max(c.safe_from for c in binding)
        parts = [
            f"{c.vaccine.display} ({_kind(c.vaccine)}) {on_day(c.vaccine.when)}: "
            f"not before {day(c.safe_from)}"
            for c in binding
            if c.vaccine.when is not None
        ]
        detail = f"Earliest safe start of ofatumumab: {day(safe)}. " + "; ".join(parts) + "."
        severity = Severity.LOW
        if schedule.reference_order is not None and schedule.reference_date < safe:
            severity = Severity.MODERATE
            detail += f" The planned start {day(schedule.reference_date)} is earlier: move it."
        if undated:
            detail += f" Also review {len(undated)} live or unclear vaccine(s) without a date."
        return VACCINE_BEFORE_START.finding(
            Status.DUE,
            severity,
            "Wait before starting",
            detail,
            due=safe,
            evidence=evidence,
            action=actions.WAIT_FOR_VACCINE_INTERVAL,
        )
    if undated:
        return VACCINE_BEFORE_START.finding(
            Status.UNKNOWN,
            Severity.MODERATE,
            "Vaccine date unknown",
            f"Live or unclear vaccine(s) without a usable date: {_names(undated)}. Confirm "
            f"they were given at least {settings.live_vaccine_before_start_days} days before "
            "the start.",
            evidence=evidence,
        )
    return VACCINE_BEFORE_START.ok(
        "No vaccine interval to wait for",
        "No live vaccine in the last "
        f"{settings.live_vaccine_before_start_days} days and no non-live vaccine in the last "
        f"{settings.non_live_vaccine_before_start_days} days: the vaccine intervals allow "
        "starting now.",
        evidence=_latest_of_each_class(schedule.vaccinations),
    )


VACCINE_BEFORE_START = Rule(
    id="vaccine-before-start",
    name="Vaccines before start",
    short_name="Vaccines",
    text=(
        "Live vaccines at least {live_vaccine_before_start_days} days, non-live vaccines at "
        "least {non_live_vaccine_before_start_days} days before the first dose."
    ),
    citation="Kesimpta USPI 2.1 Assessments Prior to First Dose (vaccinations); 5.1 Vaccinations",
    areas=frozenset({"vaccinations", "doses"}),
    statuses=frozenset({Status.OK, Status.DUE, Status.ALERT}),
    settings=("live_vaccine_before_start_days", "non_live_vaccine_before_start_days"),
    evaluate=vaccine_before_start,
)


class _Release(NamedTuple):
    """What the CD19 counts say about one live vaccine (SPEC §3 vaccine-live-on-therapy)."""

    releaser: LabResult | None  # the CD19 count that releases the vaccine (None: not released)
    note: str  # why no release, for the detail ("" when none applies)
    pending: tuple[LabResult, ...]  # a newer CD19 count not final yet: the release waits


def _cd19_release(
    schedule: TreatmentSchedule, settings: RuleSettings, after: date, before: date
) -> _Release:
    """An absolute CD19 count at or above its lower limit (the result's own when plausible,
    else 40 cells/uL), dated after `after` (the last dose) and on or before `before` (the
    vaccine), and only in a discontinued patient: a count never releases a patient still
    on therapy. The latest such count decides (a later low one means B cells were not back),
    and a bound decides only when it settles the comparison."""
    series = schedule.lab_series(LabKind.CD19)
    window = [
        lab
        for lab in series.usable
        if lab.when is not None and lab.when.earliest > after and lab.when.latest <= before
    ]
    latest = latest_of(window)
    if latest is None or latest.value is None:
        return _Release(None, "", ())
    limit = lower_limit(latest, settings.cd19_lower_limit_per_ul, "cells/uL")
    recovered = at_or_above(latest.value, latest.comparator, limit.value)
    if not recovered:
        why = "does not show" if recovered is False else "is only a bound and does not show"
        return _Release(
            None,
            f"{lab_phrase(latest)} {why} B cells at or above {number(limit.value)} cells/uL",
            (),
        )
    if schedule.discontinued is None:
        return _Release(
            None,
            f"{lab_phrase(latest)} is at or above the lower limit, but a CD19 count never "
            "releases a patient still on therapy",
            (),
        )
    newest = latest.when
    waiting = tuple(
        lab
        for lab in series.pending
        if lab.when is None
        or newest is None
        or (lab.when.earliest <= before and not lab.when.certainly_before(newest))
    )
    return _Release(latest, limit.note, waiting)


def vaccine_live_on_therapy(
    record: PatientRecord, as_of: date, settings: RuleSettings, schedule: TreatmentSchedule
) -> Finding:
    """A live vaccine on or after the first dose, while on therapy and after it until B-cell
    repletion -> alert high. USPI 5.1 Vaccinations ("not recommended during treatment and
    after discontinuation until B-cell repletion"); 12.2 (CD19+ B cells measure depletion);
    SPEC §3 vaccine-live-on-therapy.

    Repletion is presumed 280 days (a setting) after the last dose or placed pen (or the
    end of a stopped statement) — "repletion presumed", as the label gives no number — or
    earlier only when an absolute CD19 count (LOINC 8116-6) at or above its lower limit
    (default 40 cells/uL) is dated after the last dose and on or before the vaccine in a
    discontinued patient; a newer CD19 count still pending makes that release unknown. An
    ambiguous vaccine, or one whose code is not recognised, -> alert moderate asking for
    review (high when its name is that of a live vaccine). Partial dates count if any day
    they allow falls in the period. unknown (moderate) when a live or unclear vaccine has no
    usable date; ok (info); not_applicable pre-treatment.
    """
    first, last = schedule.first, schedule.last
    if first is None or last is None:
        return VACCINE_LIVE_ON_THERAPY.not_applicable(
            "Therapy not started: vaccines before the first dose are the "
            "vaccine-before-start check."
        )
    until = plus_days(last.latest, settings.b_cell_repletion_days)
    problems: list[str] = []
    released: list[str] = []
    waiting: list[str] = []
    evidence: list[Evidence] = []
    grounds: list[Evidence] = []
    live = False
    for vaccine in schedule.vaccinations:
        when = vaccine.when
        if vaccine.vaccine_class not in LIVE_LIKE or when is None:
            continue
        if when.latest < first.earliest or when.earliest > until:
            continue
        release = _cd19_release(schedule, settings, last.latest, when.earliest)
        if release.releaser is not None:
            evidence.append(vaccine_evidence(vaccine))
            evidence.append(
                lab_evidence(
                    release.releaser, release.note or "B cells at or above the lower limit"
                )
            )
            evidence.extend(lab_evidence(lab) for lab in release.pending)
            recovery = lab_phrase(release.releaser)
            text = f"{vaccine.display} {on_day(when)} after B-cell recovery ({recovery})"
            if release.pending:
                waiting.append(f"{text}, but {pending_text('a newer CD19', release.pending)}")
            else:
                released.append(text)
            continue
        live = live or (vaccine.vaccine_class is VaccineClass.LIVE)
        note = f"; {release.note}" if release.note else ""
        problems.append(f"{vaccine.display} ({_kind(vaccine)}) {on_day(when)}{note}")
        item = vaccine_evidence(vaccine)
        evidence.append(item)
        grounds.append(item)

    discontinued = schedule.discontinued
    status_text = (
        f"therapy discontinued ({discontinued.describe()}); " if discontinued is not None else ""
    )
    period = (
        f"from the first dose {on_day(first)} until {day(until)} ({status_text}B-cell repletion "
        f"presumed {settings.b_cell_repletion_days} days after the last dose {on_day(last)})"
    )
    if problems:
        detail = f"Live vaccine during B-cell depletion ({period}): " + "; ".join(problems) + "."
        if live:
            detail += " Live vaccines are not recommended: watch for vaccine-strain infection."
        else:
            detail += " Confirm from the product whether it was a live vaccine."
        if waiting:
            detail += " Also: " + "; ".join(waiting) + "."
        return VACCINE_LIVE_ON_THERAPY.finding(
            Status.ALERT,
            Severity.HIGH if live else Severity.MODERATE,
            "Live vaccine on therapy" if live else "Review vaccine type on therapy",
            detail,
            evidence=evidence,
            action=actions.REVIEW_LIVE_VACCINE,
            grounds=grounds,
        )
    undated = [v for v in schedule.undated_vaccinations if v.vaccine_class in LIVE_LIKE]
    if undated or waiting:
        parts = []
        if undated:
            parts.append(
                f"live or unclear vaccine(s) without a usable date: {_names(undated)}; confirm "
                f"none was given {period}"
            )
        parts.extend(waiting)
        return VACCINE_LIVE_ON_THERAPY.finding(
            Status.UNKNOWN,
            Severity.MODERATE,
            "Vaccine date unknown" if undated else "CD19 count pending",
            sentence("; ".join(parts)) + ".",
            evidence=[*evidence, *(vaccine_evidence(v) for v in undated)],
        )
    detail = f"No live vaccine recorded {period}."
    if released:
        detail += " Given after B-cell recovery: " + "; ".join(released) + "."
    if until >= as_of:
        detail += f" Live vaccines stay excluded until {day(until)}"
        detail += (
            " unless a CD19+ count is at or above its lower limit (default "
            f"{number(settings.cd19_lower_limit_per_ul)} cells/uL)."
            if discontinued is not None
            else " (a CD19 count releases a patient only after discontinuation)."
        )
    return VACCINE_LIVE_ON_THERAPY.ok("No live vaccine on therapy", detail, evidence=evidence)


VACCINE_LIVE_ON_THERAPY = Rule(
    id="vaccine-live-on-therapy",
    name="Live vaccines on therapy",
    short_name="Live vaccine",
    text=(
        "No live vaccine from the first dose, while on therapy and after discontinuation until "
        "B-cell repletion, presumed {b_cell_repletion_days} days after the last dose; earlier "
        "only after discontinuation, with a CD19 B-cell count at or above its lower limit "
        "(default {cd19_lower_limit_per_ul:g} cells/uL) after the last dose. Vaccines whose "
        "code cannot tell live from non-live, or is not recognised, need review."
    ),
    citation="Kesimpta USPI 5.1 Vaccinations (no live vaccines during treatment and after "
    "discontinuation until B-cell repletion); 12.2 CD19+ B cells (LOINC 8116-6); EU SmPC "
    "LLN 40 cells/uL; CDC CVX table (fhir_mappings/valuesets/cvx-*.json)",
    areas=frozenset({"vaccinations", "doses"}),
    statuses=frozenset({Status.OK, Status.ALERT, Status.NOT_APPLICABLE}),
    settings=("b_cell_repletion_days", "cd19_lower_limit_per_ul"),
    evaluate=vaccine_live_on_therapy,
)


def vaccine_window(
    record: PatientRecord, as_of: date, settings: RuleSettings, schedule: TreatmentSchedule
) -> Finding:
    """Non-live vaccines on therapy: window = [last dose + 14 days, next due - 7 days].
    A non-live vaccine given less than 14 days after a dose, or less than 7 days before
    the next dose (or the scheduled next dose) -> alert low (blunted response); every
    non-live vaccine on or after the first dose is checked against the doses around it.
    USPI 5.1 Vaccinations; SPEC §3 vaccine-window.

    Partial dates alert when any day they allow is too close. Only vaccines given within
    `vaccine_window_lookback_days` (365) of as_of are judged: SPEC is silent, and an alert
    about a years-old flu shot would stay on the screen forever with nothing to do.
    ok (info, with the window); not_applicable pre-treatment and once therapy is
    discontinued (SPEC §3 phase).
    """
    first = schedule.first
    if first is None:
        return VACCINE_WINDOW.not_applicable(
            "Therapy not started: non-live vaccines are best given at least "
            f"{settings.non_live_vaccine_before_start_days} days before the first dose."
        )
    if schedule.discontinued is not None:
        return VACCINE_WINDOW.not_applicable(
            f"Therapy discontinued ({schedule.discontinued.describe()}): no dosing cycle to "
            "time non-live vaccines around."
        )
    # Each dose as the span of days its date allows (a partial date may be any of them), as
    # day numbers: whole-day differences without a timedelta made per dose and vaccine.
    dose_spans = [
        (d.when.earliest.toordinal(), d.when.latest.toordinal(), d.when) for d in schedule.doses
    ]
    next_due = schedule.next_due
    after = settings.non_live_after_dose_days
    before = settings.non_live_before_next_dose_days
    problems: list[str] = []
    evidence: list[Evidence] = []
    well_timed: list[Evidence] = []
    for vaccine in schedule.vaccinations:
        when = vaccine.when
        if vaccine.vaccine_class is not VaccineClass.NON_LIVE or when is None:
            continue
        if when.latest < first.earliest:
            continue
        if (as_of - when.latest).days > settings.vaccine_window_lookback_days:
            continue  # a long-past mistimed vaccine is history, not something to act on
        reasons = []
        earliest, latest = when.earliest.toordinal(), when.latest.toordinal()
        # Too soon after a dose: some day the vaccine's date allows is 0..13 days after
        # some day a dose's date allows. The latest such dose is named.
        previous = [span for span in dose_spans if span[0] <= latest and earliest - span[1] < after]
        if previous:
            reasons.append(f"less than {after} days after the dose {on_day(previous[-1][2])}")
        # Too close before a dose (or the scheduled one): 1..6 days before it.
        following = [
            (span[2], "dose")
            for span in dose_spans
            if span[1] > earliest and span[0] - latest < before
        ]
        if (
            next_due is not None
            and next_due > when.earliest
            and (next_due - when.latest).days < before
        ):
            following.append(
                (ClinicalDate(next_due, next_due, next_due.isoformat()), "scheduled dose")
            )
        if following:
            closest, label = following[0]
            reasons.append(f"less than {before} days before the {label} {on_day(closest)}")
        if reasons:
            problems.append(f"{vaccine.display} {on_day(when)}: " + " and ".join(reasons))
            evidence.append(vaccine_evidence(vaccine))
        else:
            well_timed.append(vaccine_evidence(vaccine))

    window = schedule.vaccine_window
    if window is not None:
        window_text = f"Next non-live vaccine window: {day(window[0])} to {day(window[1])}."
    elif schedule.phase in (Phase.LOADING, Phase.MAINTENANCE):
        window_text = "No non-live vaccine window before the next dose."
    else:
        window_text = "No dosing cycle in progress (treatment interrupted)."
    if problems:
        return VACCINE_WINDOW.finding(
            Status.ALERT,
            Severity.LOW,
            "Non-live vaccine close to a dose",
            "The response may be reduced; consider checking it: "
            + "; ".join(problems)
            + f". {window_text}",
            evidence=evidence,
            action=actions.REVIEW_VACCINE_TIMING,
        )
    return VACCINE_WINDOW.ok(
        "Non-live vaccines well timed",
        f"No non-live vaccine recorded close to a dose. {window_text}",
        evidence=well_timed,
    )


VACCINE_WINDOW = Rule(
    id="vaccine-window",
    name="Non-live vaccine timing",
    short_name="Vaccine timing",
    text=(
        "Non-live vaccines on therapy: at least {non_live_after_dose_days} days after a dose "
        "and {non_live_before_next_dose_days} days before the next (else a blunted response)."
    ),
    citation="Kesimpta USPI 5.1 Vaccinations (response to non-live vaccines may be reduced); "
    "SPEC §3 vaccine-window",
    areas=frozenset({"vaccinations", "doses"}),
    unknown_severity=Severity.LOW,
    statuses=frozenset({Status.OK, Status.ALERT, Status.NOT_APPLICABLE}),
    settings=(
        *SCHEDULE_SETTINGS,
        "non_live_after_dose_days",
        "non_live_before_next_dose_days",
        "vaccine_window_lookback_days",
    ),
    evaluate=vaccine_window,
)
