"""Findings -> Tasks, and the changes the write-back makes to the app's open Tasks.

A new Task is built whole (SPEC §4). A Task that already exists is changed with a FHIRPath
Patch (a `Parameters` resource, R4 "fhirpatch"), never a PUT: the app only knows a summary
of it (`AppTask`), and a PUT would erase whatever the clinician added (owner, notes,
business status). A patch touches status, statusReason, lastModified, appends a note and
cited evidence (`Task.input`; never removes any), and carries `If-Match` with the version we
read, so a change made since fails the whole transaction instead of being overwritten.

An alert has no due date, so its Task identifier ends in `none` for good. A closed alert
Task stands for the evidence it cites (`fhir_mappings.read.tasks.covers`); when the alert cites
more (a new infection, a new positive result), the same Task is reopened with a note and the
new evidence (`reopen_patch`), because SPEC §4's identifier leaves no room for a second one.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from domain.findings import Finding, Summary
from domain.records import AppTask
from fhir_mappings.read.tasks import evidence_key
from fhir_mappings.write.careplan import DOSE_CHECK, dose_source_words
from fhir_mappings.write.common import (
    OPEN_TASK_STATUSES,
    PRIORITY,
    WriteContext,
    action_concept,
    local_reference,
    task_identifier_value,
    validated,
)

#: Task.input type for the evidence after the first (Task.reasonReference is 0..1 in R4).
EVIDENCE_INPUT_TYPE = {"text": "Supporting evidence"}


def uncited(finding: Finding, task: AppTask, fhir_base: str | None) -> list[dict[str, str]]:
    """The finding's evidence that `task` does not cite yet."""
    return [
        ref
        for ref in _evidence_references(finding, fhir_base)
        if evidence_key(ref["reference"]) not in task.evidence
    ]


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
    description = finding.detail
    source = dose_source_words(summary) if finding.check == DOSE_CHECK else None
    if source is not None:
        description = f"{source}. {description}"
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
            "description": description,
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
    cite: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """A FHIRPath Patch closing a Task: status, statusReason text, lastModified (+ a note,
    + evidence it should now cite, so an acknowledgement covers what the clinician saw)."""
    operations = [_operation("replace", "Task.status", valueCode=status)]
    operations += _set("statusReason", "valueCodeableConcept", {"text": reason})
    operations += _set("lastModified", "valueDateTime", ctx.instant)
    operations += _note(ctx, note, note_by)
    operations += _citations(cite or [])
    return validated({"resourceType": "Parameters", "parameter": operations})


def reopen_patch(ctx: WriteContext, note: str, cite: list[dict[str, str]]) -> dict[str, Any]:
    """A FHIRPath Patch reopening a closed alert Task for new evidence: status requested,
    no statusReason, lastModified, a note saying why, and the new evidence cited. The
    earlier notes (the acknowledgement) stay, and so does the Task's history."""
    operations = [_operation("replace", "Task.status", valueCode="requested")]
    operations.append(_operation("delete", "Task.statusReason"))
    operations += _set("lastModified", "valueDateTime", ctx.instant)
    operations += _note(ctx, note, None)
    operations += _citations(cite)
    return validated({"resourceType": "Parameters", "parameter": operations})


def _note(ctx: WriteContext, text: str | None, by: str | None) -> list[dict[str, Any]]:
    if text is None:
        return []
    annotation: dict[str, Any] = {"time": ctx.instant, "text": text}
    if by:
        annotation["authorString"] = by
    return [_operation("add", "Task", name="note", valueAnnotation=annotation)]


def _citations(refs: list[dict[str, str]]) -> list[dict[str, Any]]:
    """`add` operations appending one evidence `Task.input` each (a BackboneElement is
    given as parts named after its elements; checked against HAPI 8)."""
    operations = []
    for ref in refs:
        operation = _operation("add", "Task", name="input")
        value = [
            {"name": "type", "valueCodeableConcept": dict(EVIDENCE_INPUT_TYPE)},
            {"name": "value", "valueReference": ref},
        ]
        operation["part"].append({"name": "value", "part": value})
        operations.append(operation)
    return operations


def acknowledgement_note(by: str, on: date, reason: str) -> str:
    """The note an acknowledgement leaves (SPEC §3: "acknowledged by … on …: reason")."""
    return f"Acknowledged by {by} on {on.isoformat()}: {reason}"


def is_open(task: AppTask) -> bool:
    return task.status in OPEN_TASK_STATUSES
