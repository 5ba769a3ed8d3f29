"""The dosing schedule and the dose record. Kesimpta USPI 2.2 Recommended Dosage: 20 mg SC
at weeks 0, 1 and 2, then 20 mg monthly from week 4; a missed dose is given as soon as
possible, and later doses follow at the recommended intervals from it (section 2).
"""

from __future__ import annotations

from datetime import date
from itertools import pairwise

from fhir_mappings.records import PatientRecord
from smartapp.rules import actions
from smartapp.rules.base import Rule
from smartapp.rules.evidence import counted_as, day, dose_evidence, number, on_day, order_evidence
from smartapp.rules.model import Evidence, Finding, Phase, Severity, Status
from smartapp.rules.schedule import TreatmentSchedule, next_interval_days
from smartapp.rules.settings import RuleSettings

DOSE_SCHEDULE = Rule(
    id="dose-schedule",
    name="Next dose",
    citation="Kesimpta USPI 2.2 Recommended Dosage; missed dose (section 2)",
    areas=frozenset({"doses"}),
)

DOSE_INTERVAL = Rule(
    id="dose-interval",
    name="Dose record",
    citation="Kesimpta USPI 2.2 Recommended Dosage (20 mg; weeks 0, 1, 2, then monthly)",
    areas=frozenset({"doses"}),
    unknown_severity=Severity.LOW,
)


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def dose_schedule(
    record: PatientRecord, as_of: date, settings: RuleSettings, schedule: TreatmentSchedule
) -> Finding:
    """Next dose due = previous + 7 days while fewer than 3 doses; third + 14 days for the
    first monthly dose; then previous + 28 days, always from the day the last dose was given
    (a late dose resets the schedule). USPI 2.2; SPEC §3 dose-schedule.

    ok (info, `due` = next dose) while more than 7 days ahead; due from 7 days before
    through 3 days after the due date (low before it, moderate from it); overdue from the
    4th day late (moderate; high when more than 28 days late: an interruption). In the
    `interrupted` phase (no dose for more than 12 weeks) the finding stays overdue/high and
    says so: the label's missed-dose advice is to give it as soon as possible, and whether
    to reload is the prescriber's decision. not_applicable before the first dose.
    """
    last, next_due = schedule.last, schedule.next_due
    if last is not None and schedule.stopped_order is not None:
        order = schedule.stopped_order
        return DOSE_SCHEDULE.not_applicable(
            f"The ofatumumab order is {order.status}: no further dose is scheduled (last dose "
            f"{on_day(last)}). Live-vaccine and contraception precautions continue after the "
            "last dose.",
            evidence=[order_evidence(order), schedule.dose_evidence[-1]],
        )
    if last is None or next_due is None:
        return DOSE_SCHEDULE.not_applicable("No ofatumumab dose recorded: therapy not started.")
    count = len(schedule.doses)
    number_next = _ordinal(count + 1)
    interval = next_interval_days(count, settings)
    evidence: list[Evidence] = list(schedule.dose_evidence[:-1]) if count <= 3 else []
    evidence.append(
        dose_evidence(
            schedule.doses[-1],
            counted_as(last, last.earliest, "the next dose falls due no later than it may be"),
        )
    )
    basis = (
        f"{count} dose(s) counted; the {number_next} dose is due {interval} days after the "
        f"last dose {on_day(last)}, on {day(next_due)}"
    )
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
        detail += (
            " Give the missed dose as soon as possible and continue at the recommended "
            "intervals from it; confirm the plan with the prescriber."
        )
        return DOSE_SCHEDULE.finding(
            Status.OVERDUE,
            Severity.HIGH if interrupted else Severity.MODERATE,
            "Treatment interrupted" if interrupted else "Dose overdue",
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
        return DOSE_SCHEDULE.finding(
            Status.DUE,
            Severity.MODERATE if late_days >= 0 else Severity.LOW,
            "Dose due",
            f"{basis}: {when}.",
            due=next_due,
            evidence=evidence,
            action=actions.GIVE_DOSE,
        )
    return DOSE_SCHEDULE.finding(
        Status.OK,
        Severity.INFO,
        "Next dose scheduled",
        f"{basis}.",
        due=next_due,
        evidence=evidence,
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
    doses 1->2 and 2->3, 10 days for 3->4, 21 days later), or a recorded amount other than
    20 mg -> alert moderate (possible double or wrong dose). USPI 2.2; SPEC §3 dose-interval.

    Partial dates are read at their closest (the gap may be that short) and say so. A dose
    with no recorded amount is mentioned, never alerted. ok (info); not_applicable with no
    dose.
    """
    doses = schedule.doses
    if not doses:
        return DOSE_INTERVAL.not_applicable("No ofatumumab dose recorded: therapy not started.")
    problems: list[str] = []
    flagged: dict[int, str] = {}
    maintenance_gap = settings.min_gap_maintenance_days
    whens = [dose.when for dose in doses]
    for index, (earlier, later) in enumerate(pairwise(whens)):
        gap = (later.earliest - earlier.latest).days
        minimum = _min_gap(index + 1, settings) if index < 3 else maintenance_gap
        if gap < minimum:
            partial = (
                " (partial date: the gap may be this short)"
                if (earlier.partial or later.partial)
                else ""
            )
            problems.append(
                f"doses {index + 1} and {index + 2} ({on_day(earlier)} and {on_day(later)}) "
                f"are {gap} days apart, less than {minimum}{partial}"
            )
            flagged.setdefault(index, "too close to the next dose")
            flagged.setdefault(index + 1, "too close to the previous dose")
    unrecorded = 0
    labelled = settings.dose_mg
    for index, dose in enumerate(doses):
        if dose.amount_mg is None:
            unrecorded += 1
        elif abs(dose.amount_mg - labelled) > 1e-6:
            problems.append(
                f"dose {index + 1} {on_day(dose.when)} was {number(dose.amount_mg)} mg, "
                f"not {number(settings.dose_mg)} mg"
            )
            flagged.setdefault(index, "not the labelled dose")
    evidence = list(schedule.dose_evidence)
    for index, note in flagged.items():
        evidence[index] = dose_evidence(doses[index], note)
    note = f" {unrecorded} of {len(doses)} dose(s) have no recorded amount." if unrecorded else ""
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
            grounds=[evidence[index] for index in sorted(flagged)],
        )
    return DOSE_INTERVAL.finding(
        Status.OK,
        Severity.INFO,
        "Dose record consistent",
        f"{len(doses)} dose(s) at the labelled intervals and amount.{note}",
        evidence=evidence,
    )
