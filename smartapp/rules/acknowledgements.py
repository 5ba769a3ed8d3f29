"""Acknowledged findings (SPEC §3, last paragraph).

A clinician acknowledges a finding by closing its Task with a reason. The finding keeps its
status and shows "acknowledged by ... on ...: reason"; the write-back does not task it
again while the finding's due date is the one the Task was closed for.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from fhir_mappings.records import AppTask
from smartapp.rules.model import Acknowledgement

#: Task statuses that close a Task; with a `statusReason` they acknowledge the finding.
CLOSED_STATUSES = frozenset({"cancelled", "rejected", "completed"})

#: AppTask has no "closed by" field: the owner stands in, else this word.
UNKNOWN_ACTOR = "clinician"


def find_acknowledgement(
    tasks: Iterable[AppTask], check: str, due: date | None
) -> Acknowledgement | None:
    """The latest closed-with-a-reason Task for `check` whose due date equals `due`."""
    best: AppTask | None = None
    for task in tasks:
        if task.check != check or task.due != due:
            continue
        if task.status not in CLOSED_STATUSES or not (task.status_reason or "").strip():
            continue
        if best is None or (task.last_modified or "") > (best.last_modified or ""):
            best = task
    if best is None or best.status_reason is None:
        return None
    on = best.last_modified[:10] if best.last_modified else "date not recorded"
    return Acknowledgement(by=best.owner or UNKNOWN_ACTOR, on=on, reason=best.status_reason.strip())
