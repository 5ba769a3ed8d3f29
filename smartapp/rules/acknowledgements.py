"""Acknowledged findings (SPEC §3, last paragraph).

A clinician acknowledges a finding by closing its Task with a reason. The finding keeps its
status and shows "acknowledged by ... on ...: reason"; the write-back does not task it
again while the finding's due date is the one the Task was closed for. An alert has no due
date: the acknowledgement covers the evidence the Task cites, and an alert citing anything
more (a new infection, a new positive result) is not acknowledged
(`fhir_mappings.read.tasks.covers`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from domain.findings import Acknowledgement
from domain.records import AppTask
from fhir_mappings.read.tasks import covers

#: Task statuses that close a Task; with a `statusReason` they acknowledge the finding.
CLOSED_STATUSES = frozenset({"cancelled", "rejected", "completed"})

#: When an acknowledgement note names nobody.
UNKNOWN_ACTOR = "clinician"


def find_acknowledgement(
    tasks: Iterable[AppTask], check: str, due: date | None, evidence: Iterable[str] = ()
) -> Acknowledgement | None:
    """The latest closed-with-a-reason Task for `check` that covers the finding: the same
    due date, and for a finding without one, every record in `evidence` cited."""
    cited = tuple(evidence)
    best: AppTask | None = None
    for task in tasks:
        if task.check != check or not covers(task, due, cited):
            continue
        if task.status not in CLOSED_STATUSES or not (task.status_reason or "").strip():
            continue
        if task.acknowledged_by is None:
            continue  # closed by the app itself ("Requirement met", "Superseded"), not a clinician
        if best is None or (task.last_modified or "") > (best.last_modified or ""):
            best = task
    if best is None or best.status_reason is None:
        return None
    on = best.acknowledged_on or (best.last_modified or "")[:10] or "date not recorded"
    by = best.acknowledged_by or UNKNOWN_ACTOR
    return Acknowledgement(by=by, on=on, reason=best.status_reason.strip())
