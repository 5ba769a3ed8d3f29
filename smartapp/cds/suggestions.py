"""Card suggestions: the follow-up Task, and removing a draft order.

The Task is the write-back's own Task for the finding (`fhir_mappings.write.tasks.
build_task`): same identifier `{canonical}/task|{patient}:{check}:{due}`, code, priority,
due date and evidence. When the EHR creates it, the dashboard's next write-back finds it by
that identifier and does not create another; when the write-back (or an earlier card) has
created it already, no suggestion is made. It is suggested for the finding as the dashboard
sees it (never for one that only a draft order would cause), it carries no id (the EHR
creates it with POST), and `basedOn` names the app's CarePlan only when it exists.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from domain.findings import Finding, Summary
from domain.records import PatientRecord
from fhir_mappings.read.draft_orders import DraftOrder
from fhir_mappings.write.careplan import is_taskable
from fhir_mappings.write.common import WriteContext, local_reference, task_identifier_value
from fhir_mappings.write.tasks import build_task


def existing_careplan(record: PatientRecord) -> str | None:
    """`CarePlan/<id>` of the app's CarePlan for the patient, when the read found it."""
    for careplan in record.careplans:
        reference = local_reference(careplan.source.reference)
        if reference is not None and reference.startswith("CarePlan/"):
            return reference
    return None


def task_suggestion(
    finding: Finding,
    summary: Summary,
    record: PatientRecord,
    *,
    now: datetime,
    fhir_base: str | None,
    careplan: str | None,
) -> dict[str, Any] | None:
    """ "Create Task: <action>" for a taskable, unacknowledged finding without its Task."""
    if not is_taskable(finding) or finding.acknowledgement is not None or finding.action is None:
        return None
    if "tasks" in record.data.incomplete:
        return None  # the Task may exist: suggesting it could duplicate it
    value = task_identifier_value(summary.patient.id, finding.check, finding.due)
    if any(task.identifier == value for task in record.tasks):
        return None
    # No requester: the EHR records who accepts the suggestion, and a reference to a user
    # the FHIR server does not hold would make the create fail (referential integrity).
    ctx = WriteContext(now=now, fhir_base=fhir_base)
    task = build_task(
        finding,
        summary,
        ctx,
        resource_id=None,
        careplan_reference=careplan or "CarePlan/none",
    )
    if careplan is None:
        task.pop("basedOn", None)
    return {
        "label": f"Create Task: {finding.action.display}",
        "uuid": str(uuid.uuid4()),
        "actions": [
            {
                "type": "create",
                "description": (
                    f"Create the follow-up Task '{finding.action.display}' "
                    f"(due {(finding.due or summary.as_of).isoformat()})"
                ),
                "resource": task,
            }
        ],
    }


def remove_draft_suggestion(draft: DraftOrder, *, recommended: bool) -> dict[str, Any] | None:
    """ "Remove the <vaccine> order" (only for a draft with an id the EHR can name)."""
    if not draft.has_id:
        return None
    suggestion: dict[str, Any] = {
        "label": f"Remove the {draft.display} order",
        "uuid": str(uuid.uuid4()),
        "actions": [
            {
                "type": "delete",
                "description": f"Remove the draft order {draft.display} ({draft.reference})",
                "resourceId": draft.reference,
            }
        ],
    }
    if recommended:
        suggestion["isRecommended"] = True
    return suggestion
