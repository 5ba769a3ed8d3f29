"""Summary -> the patient's one ofatumumab monitoring CarePlan (SPEC §4 "Write-back").

The CarePlan is the app's view of what is planned, rewritten whole on every write-back:
the next dose, every action the findings call for (labs, MRI, reviews), monitoring that is
not yet due but has a date, and the next non-live vaccine window. Each item is an
`activity.detail` (R4: a planned activity described inline, not a reference), coded from
the app's action CodeSystem where a code exists.
"""

from __future__ import annotations

import html
from datetime import date
from typing import Any

from domain.findings import Action, Finding, NextDueBasis, Phase, Status, Summary
from domain.records import ConditionKind, PatientRecord
from fhir_mappings.terminology import action_displays
from fhir_mappings.write.common import (
    WriteContext,
    action_concept,
    local_reference,
    validated,
)

TITLE = "Ofatumumab monitoring plan"

#: US Core CarePlan category "assess-plan": the category EHRs (US Core servers) expect on a
#: clinician's plan, and a published, checkable code (hl7.org/fhir/us/core CodeSystem
#: careplan-category). The app's own CodeSystem holds actions, not plan categories.
CATEGORY = {
    "coding": [
        {
            "system": "http://hl7.org/fhir/us/core/CodeSystem/careplan-category",
            "code": "assess-plan",
            "display": "Assessment and Plan of Treatment",
        }
    ],
    "text": "Ofatumumab (Kesimpta) safety monitoring",
}

#: Ofatumumab by ATC (L04AG12, docs/terminology-sources.md) for the dose activity's product.
OFATUMUMAB = {
    "coding": [{"system": "http://www.whocc.no/atc", "code": "L04AG12", "display": "ofatumumab"}],
    "text": "ofatumumab (Kesimpta) 20 mg subcutaneous",
}

#: Statuses whose finding is work to do now (SPEC §4: a Task per such finding with an action).
ACTIONABLE_STATUSES = frozenset({Status.DUE, Status.OVERDUE, Status.ALERT})

#: The check whose work the next-dose activity already plans (no second activity for it).
DOSE_CHECK = "dose-schedule"


def _action(code: str) -> Action:
    """An action from the app's CodeSystem (codesystems/actions.json)."""
    return Action(code, action_displays()[code])


GIVE_DOSE = _action("give-dose")
BOOK_MRI = _action("book-mri")
#: A test already done and awaiting its result (SPEC §2 "Pending results"): planned as in
#: progress, never a Task (nothing new to order).
AWAIT_PENDING = _action("await-pending-result")

#: Monitoring checks that are `ok` but carry their next due date: planned, with this action.
_PLANNED_MONITORING: dict[str, Action] = {
    "ig-monitoring": _action("order-immunoglobulins"),
    "mri-monitoring": BOOK_MRI,
}


def is_taskable(finding: Finding) -> bool:
    """Due, overdue or alert with an action: the write-back makes a Task for it (SPEC §4);
    waiting for a pending result is not a Task (SPEC §2: no new order Task)."""
    return (
        finding.status in ACTIONABLE_STATUSES
        and finding.action is not None
        and finding.action.code != AWAIT_PENDING.code
    )


def activity_kind(action: Action) -> str:
    """care-plan-activity-kind for an action: orders are ServiceRequests, the dose a
    MedicationRequest, reviews and holds are Tasks."""
    if action.code == GIVE_DOSE.code:
        return "MedicationRequest"
    if action.code.startswith("order-") or action.code == BOOK_MRI.code:
        return "ServiceRequest"
    return "Task"


def ms_conditions(record: PatientRecord, fhir_base: str | None = None) -> list[str]:
    """References of the active, not refuted MS Conditions (CarePlan.addresses)."""
    refs: list[str] = []
    for condition in record.conditions:
        if condition.kind is not ConditionKind.MULTIPLE_SCLEROSIS:
            continue
        if not condition.active or condition.refuted:
            continue
        ref = local_reference(condition.source.reference, fhir_base)
        if ref and ref not in refs:
            refs.append(ref)
    return refs


#: What the next dose asks of the team when its date comes from dispensed pens (SPEC §2).
DOSE_SOURCE_WORDS: dict[NextDueBasis, str] = {
    NextDueBasis.SUPPLY_END: (
        "Date by dispensed supply (the last dispensed pen was presumed injected): "
        "refill or confirm injection"
    ),
    NextDueBasis.PEN_IN_HAND: (
        "Date by dispensed supply (a dispensed pen is in hand): confirm injection"
    ),
}


def dose_source_words(summary: Summary) -> str | None:
    """ "…: refill or confirm injection" when the next dose's date comes from dispensed
    pens rather than a charted injection; None otherwise."""
    basis = summary.schedule.next_due_basis
    return DOSE_SOURCE_WORDS.get(basis) if basis is not None else None


#: Said of the next dose when the dose record could not all be read (SPEC §2: the schedule
#: is unknown). A dose or pen that could not be read can only move the next dose later (it
#: comes after the last one read, or makes the interval count longer; an unreadable
#: quantity is counted as one pen), so the date written is the earliest it can be.
INCOMPLETE_DOSES_WORDS = (
    "Dose record incomplete (see the app's data panel): this is the earliest date the dose "
    "can be due; confirm the last injection"
)


def _dose_activity(summary: Summary) -> dict[str, Any] | None:
    schedule = summary.schedule
    if schedule.next_due is None or summary.phase is Phase.PRE_TREATMENT:
        return None
    due = schedule.next_due.isoformat()
    status = "scheduled" if schedule.next_due > summary.as_of else "not-started"
    description = f"Ofatumumab dose {schedule.doses + 1} (20 mg subcutaneous) due {due}."
    source = dose_source_words(summary)
    if source is not None:
        description += f" {source}."
    if summary.next_due_is_earliest:
        description += f" {INCOMPLETE_DOSES_WORDS}."
    return {
        "detail": {
            "kind": "MedicationRequest",
            "code": action_concept(GIVE_DOSE),
            "status": status,
            "scheduledPeriod": {"start": due, "end": due},
            "productCodeableConcept": OFATUMUMAB,
            "description": description,
        }
    }


def _finding_activity(finding: Finding) -> dict[str, Any] | None:
    action = finding.action
    if is_taskable(finding) and action is not None:
        detail: dict[str, Any] = {
            "kind": activity_kind(action),
            "code": action_concept(action),
            "status": "not-started",
            "description": f"{finding.title}. {finding.detail}",
        }
        ack = finding.acknowledgement
        if ack is not None:
            detail["status"] = "cancelled"
            detail["statusReason"] = {"text": f"Acknowledged by {ack.by} on {ack.on}: {ack.reason}"}
    elif action is not None and action.code == AWAIT_PENDING.code:
        detail = {
            "kind": "ServiceRequest",
            "code": action_concept(action),
            "status": "in-progress",
            "description": f"{finding.title}. {finding.detail}",
        }
    elif finding.status is Status.OK and finding.due and finding.check in _PLANNED_MONITORING:
        action = _PLANNED_MONITORING[finding.check]
        detail = {
            "kind": activity_kind(action),
            "code": action_concept(action),
            "status": "not-started",
            "description": f"{action.display} by {finding.due.isoformat()}. {finding.detail}",
        }
    else:
        return None
    if finding.due is not None:
        detail["scheduledPeriod"] = {"end": finding.due.isoformat()}
    return {"detail": detail}


def _vaccine_window_activity(
    window: tuple[date, date] | None, as_of: date
) -> dict[str, Any] | None:
    if window is None or window[1] < as_of:
        return None
    start, end = (day.isoformat() for day in window)
    return {
        "detail": {
            # No action code fits a window (nothing to order): described by text only.
            "code": {"text": "Non-live vaccine window"},
            "status": "not-started",
            "scheduledPeriod": {"start": start, "end": end},
            "description": (
                f"Give any non-live vaccine between {start} and {end}, mid-cycle, for the "
                "best response. No live vaccines during treatment."
            ),
        }
    }


def careplan_activities(summary: Summary) -> list[dict[str, Any]]:
    """One activity per planned item, in the order a clinician reads them."""
    activities: list[dict[str, Any]] = []
    dose = _dose_activity(summary)
    if dose is not None:
        activities.append(dose)
    for finding in summary.findings:
        if finding.check == DOSE_CHECK and dose is not None:
            continue
        activity = _finding_activity(finding)
        if activity is not None:
            activities.append(activity)
    window = _vaccine_window_activity(summary.schedule.vaccine_window, summary.as_of)
    if window is not None:
        activities.append(window)
    return activities


def _description(summary: Summary, activities: list[dict[str, Any]]) -> str:
    schedule = summary.schedule
    parts = [
        f"Ofatumumab (Kesimpta) 20 mg subcutaneous safety monitoring as of "
        f"{summary.as_of.isoformat()}: {summary.phase.value} phase, "
        f"{schedule.doses} dose(s) recorded"
    ]
    if schedule.next_due and summary.phase is not Phase.PRE_TREATMENT:
        parts.append(f"next dose due {schedule.next_due.isoformat()}")
    if summary.phase is Phase.DISCONTINUED:
        parts.append(
            "therapy discontinued: immunoglobulin, live-vaccine, pregnancy and hepatitis B "
            "precautions continue"
        )
    open_items = sum(1 for a in activities if a["detail"]["status"] != "cancelled")
    parts.append(f"{open_items} planned item(s)")
    return "; ".join(parts) + "."


def _narrative(description: str, activities: list[dict[str, Any]]) -> dict[str, str]:
    items = "".join(
        f"<li>{html.escape(str(a['detail'].get('description', '')))}</li>" for a in activities
    )
    body = f"<p>{html.escape(description)}</p>" + (f"<ul>{items}</ul>" if items else "")
    return {
        "status": "generated",
        "div": f'<div xmlns="http://www.w3.org/1999/xhtml"><h3>{TITLE}</h3>{body}</div>',
    }


def build_careplan(
    summary: Summary, record: PatientRecord, ctx: WriteContext, resource_id: str | None
) -> dict[str, Any]:
    """The CarePlan as validated FHIR JSON; `resource_id` None for a conditional update."""
    patient_id = summary.patient.id
    activities = careplan_activities(summary)
    description = _description(summary, activities)
    start = summary.schedule.first_dose or summary.as_of
    careplan: dict[str, Any] = {
        "resourceType": "CarePlan",
        "text": _narrative(description, activities),
        "identifier": [{"system": ctx.careplan_system, "value": patient_id}],
        "status": "active",
        "intent": "plan",
        "category": [CATEGORY],
        "title": TITLE,
        "description": description,
        "subject": {"reference": f"Patient/{patient_id}"},
        "period": {"start": start.isoformat()},
    }
    if resource_id is not None:
        careplan = {"resourceType": "CarePlan", "id": resource_id, **careplan}
    author = ctx.author
    if author is not None:
        careplan["author"] = author
    addresses = ms_conditions(record, ctx.fhir_base)
    if addresses:
        careplan["addresses"] = [{"reference": ref} for ref in addresses]
    if activities:
        careplan["activity"] = activities
    return validated(careplan)
