"""Findings -> Tasks, and the changes the write-back makes to the app's open Tasks.

A new Task is built whole (SPEC §4). A Task that already exists is changed with a FHIRPath
Patch (a `Parameters` resource, R4 "fhirpatch"), never a PUT: the app only knows a summary
of it (`AppTask`), and a PUT would erase whatever the clinician added (owner, notes,
business status). A patch touches status, statusReason, lastModified and appends a note,
and carries `If-Match` with the version we read, so a change made since fails the whole
transaction instead of being overwritten.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fhir_mappings.records import AppTask
from fhir_mappings.write_common import (
    OPEN_TASK_STATUSES,
    PRIORITY,
    WriteContext,
    action_concept,
    local_reference,
    task_identifier_value,
    validated,
)
from smartapp.rules.model import Finding, Summary

#: Task.input type for the evidence after the first (Task.reasonReference is 0..1 in R4).
EVIDENCE_INPUT_TYPE = {"text": "Supporting evidence"}


def _evidence_references(finding: Finding, fhir_base: str | None) -> list[dict[str, str]]:
    refs: list[dict[str, str]] = []
    seen: set[str] = set()
    for item in finding.evidence:
        ref = local_reference(item.reference, fhir_base)
        if ref is None or ref in seen:
            continue
        seen.add(ref)
        display = f"{item.display} ({item.date})" if item.date else item.display
        refs.append({"reference": ref, "display": display})
    return refs


def build_task(
    finding: Finding,
    summary: Summary,
    ctx: WriteContext,
    *,
    resource_id: str | None,
    careplan_reference: str,
) -> dict[str, Any]:
    """The Task for an actionable finding, as validated FHIR JSON (SPEC §4).

    `careplan_reference` is `CarePlan/{id}` or the CarePlan entry's `urn:uuid:` fullUrl.
    The due date (restriction.period.end) is the finding's, else the as-of day: an alert
    without a date is due now.
    """
    if finding.action is None:
        raise ValueError(f"{finding.check}: a finding without an action gets no Task")
    patient_id = summary.patient.id
    due = finding.due or summary.as_of
    task: dict[str, Any] = {"resourceType": "Task"}
    if resource_id is not None:
        task["id"] = resource_id
    task.update(
        {
            "identifier": [
                {
                    "system": ctx.task_system,
                    "value": task_identifier_value(patient_id, finding.check, finding.due),
                }
            ],
            "basedOn": [{"reference": careplan_reference}],
            "status": "requested",
            "intent": "order",
            "priority": PRIORITY[finding.severity],
            "code": action_concept(finding.action),
            "description": finding.detail,
            "for": {"reference": f"Patient/{patient_id}"},
            "authoredOn": ctx.instant,
            "lastModified": ctx.instant,
            "reasonCode": {"text": finding.title},
            "restriction": {"period": {"end": due.isoformat()}},
        }
    )
    author = ctx.author
    if author is not None:
        task["requester"] = author
    owner = ctx.owner
    if owner is not None:
        task["owner"] = owner
    evidence = _evidence_references(finding, ctx.fhir_base)
    if evidence:
        task["reasonReference"] = evidence[0]
    if len(evidence) > 1:
        task["input"] = [
            {"type": EVIDENCE_INPUT_TYPE, "valueReference": ref} for ref in evidence[1:]
        ]
    return validated(task)


# -- FHIRPath Patch (R4 fhirpatch.html) ---------------------------------------------------


def _operation(kind: str, path: str, **parts: Any) -> dict[str, Any]:
    part: list[dict[str, Any]] = [
        {"name": "type", "valueCode": kind},
        {"name": "path", "valueString": path},
    ]
    for name, value in parts.items():
        if name == "name":
            part.append({"name": "name", "valueString": value})
        else:
            part.append({"name": "value", name: value})
    return {"name": "operation", "part": part}


def _set(element: str, value_key: str, value: Any) -> list[dict[str, Any]]:
    """Set a singleton Task element whether or not it is present: delete, then add (a
    `replace` fails on an absent element; a `delete` of nothing is a no-op)."""
    return [
        _operation("delete", f"Task.{element}"),
        _operation("add", "Task", name=element, **{value_key: value}),
    ]


def status_patch(
    status: str,
    reason: str,
    ctx: WriteContext,
    *,
    note: str | None = None,
    note_by: str | None = None,
) -> dict[str, Any]:
    """A FHIRPath Patch closing a Task: status, statusReason text, lastModified (+ a note)."""
    operations = [_operation("replace", "Task.status", valueCode=status)]
    operations += _set("statusReason", "valueCodeableConcept", {"text": reason})
    operations += _set("lastModified", "valueDateTime", ctx.instant)
    if note is not None:
        annotation: dict[str, Any] = {"time": ctx.instant, "text": note}
        if note_by:
            annotation["authorString"] = note_by
        operations.append(_operation("add", "Task", name="note", valueAnnotation=annotation))
    return validated({"resourceType": "Parameters", "parameter": operations})


def acknowledgement_note(by: str, on: date, reason: str) -> str:
    """The note an acknowledgement leaves (SPEC §3: "acknowledged by … on …: reason")."""
    return f"Acknowledged by {by} on {on.isoformat()}: {reason}"


def is_open(task: AppTask) -> bool:
    return task.status in OPEN_TASK_STATUSES
