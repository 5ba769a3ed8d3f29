"""The dosing schedule and the dose record. Kesimpta USPI 2.2 Recommended Dosage: 20 mg SC
at weeks 0, 1 and 2, then 20 mg monthly from week 4; a missed dose is given as soon as
possible, and later doses follow at the recommended intervals from it (section 2).
"""

from __future__ import annotations

from datetime import date
from itertools import pairwise

from domain.findings import Evidence, Finding, NextDueBasis, Phase, Severity, Status
from domain.records import Dose, DoseKind, PatientRecord
from smartapp.rules import actions
from smartapp.rules.base import Rule
from smartapp.rules.evidence import (
    counted_as,
    day,
    discontinuation_evidence,
    dose_evidence,
    number,
    on_day,
    statement_evidence,
)
from smartapp.rules.schedule import TreatmentSchedule
from smartapp.rules.settings import SCHEDULE_SETTINGS, RuleSettings
from smartapp.rules.therapy import next_interval_days

_ADMINISTRATION = DoseKind.ADMINISTRATION  # bound once: reading it off the Enum class is slow
_PEN = DoseKind.PEN


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _statement_only(schedule: TreatmentSchedule) -> Finding | None:
    """An active statement with no dated dose or pen: therapy, but no dates (SPEC §2)."""
    statement = schedule.therapy.statement
    if schedule.doses or statement is None or statement.start is None:
        return None
    return DOSE_SCHEDULE.finding(
        Status.UNKNOWN,
        Severity.MODERATE,
        "Doses taken at home are not recorded",
        f"A MedicationStatement says Kesimpta is taken at home since "
        f"{statement.start.describe()}, but no injection or dispense is recorded: doses taken "
        "at home are not recorded, so the next dose cannot be dated. Ask the patient for the "
        "date of the last injection, or record the pharmacy's dispenses.",
        evidence=[statement_evidence(statement)],
    )


def _basis(schedule: TreatmentSchedule, settings: RuleSettings) -> str:
    """How the next due date was found, in words."""
    therapy = schedule.therapy
    doses, last, next_due = schedule.doses, schedule.doses[-1].when, schedule.next_due
    if next_due is None:  # pragma: no cover - callers check
        return f"{len(doses)} dose(s) counted"
    count = len(doses)
    pens = sum(1 for dose in doses if dose.kind is _PEN)
    counted = f"{count} dose(s) counted" + (f" ({pens} from dispensed pens)" if pens else "")
    number_next = _ordinal(count + 1)
    basis = therapy.next_due_basis
    if basis is NextDueBasis.PEN_IN_HAND:
        return (
            f"{counted}; {len(therapy.supply)} dispensed pen(s) in hand: the {number_next} dose "
            f"is due on {day(next_due)} (by dispensed supply; supply lasts until "
            f"{day(therapy.supply_until) if therapy.supply_until else 'unknown'})"
        )
    interval = next_interval_days(count, settings)
    text = (
        f"{counted}; the {number_next} dose is due {interval} days after the last dose "
        f"{on_day(last)}, on {day(next_due)}"
    )
    if basis is NextDueBasis.SUPPLY_END:
        text += (
            " (by dispensed supply: the last dispensed pen was presumed injected "
            f"{on_day(last)}; refill due {day(next_due)})"
        )
    return text


def dose_schedule(
    record: PatientRecord, as_of: date, settings: RuleSettings, schedule: TreatmentSchedule
) -> Finding:
    """Next dose due = previous + 7 days while fewer than 3 doses; third + 14 days for the
    first monthly dose; then previous + 28 days, always from the day the last dose was given
    (a late dose resets the schedule). USPI 2.2; SPEC §3 dose-schedule.

    Doses are counted per day, and dispensed pens placed on due dates count as doses
    (`smartapp.rules.therapy`): the next dose is due on the next pen in hand, else when the
    supply runs out ("by dispensed supply"; "refill or confirm injection"). An active
    statement alone gives no dates: unknown ("doses taken at home are not recorded").

    ok (info, `due` = next dose) while more than 7 days ahead; due from 7 days before
    through 3 days after the due date (low before it, moderate from it); overdue from the
    4th day late (moderate; high when more than 28 days late: an interruption). In the
    `interrupted` phase (no dose for more than 12 weeks) the finding stays overdue/high and
    says so: the label's missed-dose advice is to give it as soon as possible, and whether
    to reload is the prescriber's decision. not_applicable before the first dose and once
    therapy is discontinued (SPEC §2).
    """
    discontinued = schedule.discontinued
    if discontinued is not None:
        last = schedule.therapy.last_dose or schedule.last
        since = f" (last dose {on_day(last)})" if last is not None else ""
        return DOSE_SCHEDULE.not_applicable(
            f"Therapy discontinued: {discontinued.describe()}. No further dose is "
            f"scheduled{since}. Live-vaccine, immunoglobulin, pregnancy and hepatitis B "
            "precautions continue after the last dose.",
            evidence=[discontinuation_evidence(discontinued), *schedule.dose_evidence[-1:]],
        )
    unknown = _statement_only(schedule)
    if unknown is not None:
        return unknown
    next_due = schedule.next_due
    if not schedule.doses or next_due is None:
        return DOSE_SCHEDULE.not_applicable("No ofatumumab dose recorded: therapy not started.")
    last = schedule.doses[-1].when
    count = len(schedule.doses)
    evidence: list[Evidence] = list(schedule.dose_evidence[:-1]) if count <= 3 else []
    evidence.append(
        dose_evidence(
            schedule.doses[-1],
            counted_as(last, last.earliest, "the next dose falls due no later than it may be"),
        )
    )
    evidence.extend(dose_evidence(pen, "in hand") for pen in schedule.therapy.supply[:1])
    basis = _basis(schedule, settings)
    by_supply = schedule.therapy.next_due_basis is NextDueBasis.SUPPLY_END
    pen_in_hand = schedule.therapy.next_due_basis is NextDueBasis.PEN_IN_HAND
    late_days = (as_of - next_due).days

    if late_days > settings.dose_overdue_after_days:
        interrupted = late_days > settings.dose_interruption_after_days
        detail = f"{basis}: {late_days} days late."
        if schedule.phase is Phase.INTERRUPTED:
            gap = (as_of - last.earliest).days
            detail += (
                f" No dose for {gap} days (more than {settings.interrupted_after_days} days): "
                "treatment interrupted."
            )
        elif interrupted:
            detail += " Treatment interruption."
        if by_supply:
            detail += " Refill or confirm the injection: no dispensed pen is left."
        detail += (
            " Give the missed dose as soon as possible and continue at the recommended "
            "intervals from it; confirm the plan with the prescriber."
        )
        title = "Treatment interrupted" if interrupted else "Dose overdue"
        if by_supply:
            title += ": refill or confirm injection"
        elif pen_in_hand:
            title += " (pen in hand): confirm injection"
        return DOSE_SCHEDULE.finding(
            Status.OVERDUE,
            Severity.HIGH if interrupted else Severity.MODERATE,
            title,
            detail,
            due=next_due,
            evidence=evidence,
            action=actions.GIVE_DOSE,
        )
    if late_days >= -settings.dose_due_before_days:
        if late_days > 0:
            when = f"{late_days} day(s) late; give it now"
        elif late_days == 0:
            when = "due today"
        else:
            when = f"due in {-late_days} day(s)"
        if by_supply:
            title = "Refill due: refill or confirm injection"
        elif pen_in_hand:
            title = "Dose due (pen in hand): confirm injection"
        else:
            title = "Dose due"
        return DOSE_SCHEDULE.finding(
            Status.DUE,
            Severity.MODERATE if late_days >= 0 else Severity.LOW,
            title,
            f"{basis}: {when}.",
            due=next_due,
            evidence=evidence,
            action=actions.GIVE_DOSE,
        )
    return DOSE_SCHEDULE.ok(
        "Next dose scheduled",
        f"{basis}.",
        due=next_due,
        evidence=evidence,
    )


DOSE_SCHEDULE = Rule(
    id="dose-schedule",
    name="Next dose",
    short_name="Dose",
    text=(
        "{dose_mg:g} mg at weeks 0, 1 and 2, then every 4 weeks from week 4: the next dose is "
        "due {loading_interval_days} days after each loading dose, "
        "{first_maintenance_after_third_days} days after the third, then "
        "{maintenance_interval_days} days after the previous dose (a late dose restarts the "
        "count). Due from {dose_due_before_days} days before; overdue more than "
        "{dose_overdue_after_days} days after (high after {dose_interruption_after_days} days)."
    ),
    citation="Kesimpta USPI 2.2 Recommended Dosage; missed dose (section 2)",
    areas=frozenset({"doses"}),
    statuses=frozenset({Status.OK, Status.DUE, Status.OVERDUE, Status.NOT_APPLICABLE}),
    settings=(
        *SCHEDULE_SETTINGS,
        "dose_due_before_days",
        "dose_overdue_after_days",
        "dose_interruption_after_days",
    ),
    evaluate=dose_schedule,
)


def _min_gap(position: int, settings: RuleSettings) -> int:
    """Minimum days between dose `position` and the next (1-based)."""
    if position <= 2:
        return settings.min_gap_loading_days
    if position == 3:
        return settings.min_gap_first_maintenance_days
    return settings.min_gap_maintenance_days


def dose_interval(
    record: PatientRecord, as_of: date, settings: RuleSettings, schedule: TreatmentSchedule
) -> Finding:
    """Two counted doses closer than the minimum for their place in the course (5 days for
    doses 1->2 and 2->3, 10 days for 3->4, 21 days later), two administration records on
    the same day, or a recorded amount other than 20 mg -> alert moderate (possible double
    or wrong dose, or a duplicate record). USPI 2.2; SPEC §3 dose-interval.

    Judges administrations only (SPEC §2): dispensed pens are placed on due dates, so their
    intervals say nothing. A dispense and an administration on the same day are one dose,
    mentioned. Partial dates are read at their closest (the gap may be that short) and say
    so. A dose with no recorded amount is mentioned, never alerted. ok (info);
    not_applicable with no administration.
    """
    therapy = schedule.therapy
    administrations = therapy.administrations
    if not administrations:
        if schedule.started:
            return DOSE_INTERVAL.not_applicable(
                "No injection recorded as an administration: doses known from dispenses or "
                "statements have no recorded dates to compare."
            )
        return DOSE_INTERVAL.not_applicable("No ofatumumab dose recorded: therapy not started.")
    problems: list[str] = []
    flagged: dict[str, str] = {}
    by_day: dict[date, list[Dose]] = {}
    admin_days = {dose.when.earliest for dose in administrations}
    if len(admin_days) < len(administrations):  # some day has several records
        for dose in administrations:
            by_day.setdefault(dose.when.earliest, []).append(dose)
    for same_day in by_day.values():
        if len(same_day) > 1:
            refs = ", ".join(dose.source.reference for dose in same_day)
            problems.append(
                f"{len(same_day)} administration records {on_day(same_day[0].when)} ({refs}): "
                "a duplicate entry or a double dose"
            )
            for dose in same_day:
                flagged.setdefault(dose.source.reference, "same day as another administration")
    course = schedule.doses
    # `_min_gap` of every place in the course, looked up rather than called per pair.
    gaps = (_min_gap(1, settings), _min_gap(2, settings), _min_gap(3, settings))
    later_gap = _min_gap(4, settings)
    for index, (earlier, later) in enumerate(pairwise(course)):
        if earlier.kind is not _ADMINISTRATION or later.kind is not _ADMINISTRATION:
            continue
        gap = (later.when.earliest - earlier.when.latest).days
        minimum = gaps[index] if index < 3 else later_gap
        if gap < minimum:
            partial = (
                " (partial date: the gap may be this short)"
                if (earlier.when.partial or later.when.partial)
                else ""
            )
            problems.append(
                f"doses {index + 1} and {index + 2} ({on_day(earlier.when)} and "
                f"{on_day(later.when)}) are {gap} days apart, less than {minimum}{partial}"
            )
            flagged.setdefault(earlier.source.reference, "too close to the next dose")
            flagged.setdefault(later.source.reference, "too close to the previous dose")
    unrecorded = 0
    labelled = settings.dose_mg
    for dose in administrations:
        if dose.amount_mg is None:
            unrecorded += 1
        elif abs(dose.amount_mg - labelled) > 1e-6:
            problems.append(
                f"the administration {on_day(dose.when)} was {number(dose.amount_mg)} mg, "
                f"not {number(settings.dose_mg)} mg"
            )
            flagged.setdefault(dose.source.reference, "not the labelled dose")
    evidence = (
        [dose_evidence(dose, flagged.get(dose.source.reference, "")) for dose in administrations]
        if flagged
        else list(map(dose_evidence, administrations))
    )
    count = len(administrations)
    note = f" {unrecorded} of {count} dose(s) have no recorded amount." if unrecorded else ""
    dispensed_days = {dispense.when.earliest for dispense in therapy.dispenses}
    shared = sorted(admin_days & dispensed_days)
    if shared:
        days = ", ".join(map(day, shared))
        note += f" A dispense and an administration on the same day counted as one dose: {days}."
    if problems:
        return DOSE_INTERVAL.finding(
            Status.ALERT,
            Severity.MODERATE,
            "Possible double or wrong dose",
            "Check the dose record: " + "; ".join(problems) + "." + note,
            evidence=evidence,
            action=actions.REVIEW_DOSE_RECORD,
            # Every dose is shown; only the flagged ones make the alert, so next month's
            # dose does not undo an acknowledgement.
            grounds=[item for item in evidence if item.reference in flagged],
        )
    return DOSE_INTERVAL.ok(
        "Dose record consistent",
        f"{count} dose(s) at the labelled intervals and amount.{note}",
        evidence=evidence,
    )


DOSE_INTERVAL = Rule(
    id="dose-interval",
    name="Dose record",
    text=(
        "Doses closer than {min_gap_loading_days} days (doses 1 to 3), "
        "{min_gap_first_maintenance_days} days (dose 3 to 4) or {min_gap_maintenance_days} "
        "days (later doses), or a recorded dose other than {dose_mg:g} mg: possible double or "
        "wrong dose."
    ),
    citation="Kesimpta USPI 2.2 Recommended Dosage (20 mg; weeks 0, 1, 2, then monthly)",
    areas=frozenset({"doses"}),
    unknown_severity=Severity.LOW,
    statuses=frozenset({Status.OK, Status.ALERT, Status.NOT_APPLICABLE}),
    settings=(
        "dose_mg",
        "min_gap_loading_days",
        "min_gap_first_maintenance_days",
        "min_gap_maintenance_days",
    ),
    evaluate=dose_interval,
)
