"""Domain -> one atomic transaction Bundle: the plan, its Tasks and their Provenance (SPEC §4).

    plan = build_writeback(summary, record, WriteContext(now=now, author_reference=user))
    plan.preview   # what the user confirms: one PlanItem per bundle entry, same order
    plan.bundle    # POST it with smartapp.writeback.write_plan (one transaction)

What a write-back contains:
- the CarePlan (one per patient, rewritten whole);
- one new Task per actionable finding (due/overdue/alert with an action) whose Task
  (identifier `{canonical}/task|{patient}:{check}:{due}`) does not exist yet, and that is
  not acknowledged for that due date;
- reopening of a closed alert Task (no due date, identifier `…:none`) whose alert now cites
  evidence the Task does not (a new infection, a new positive result; write.tasks);
- completion of the app's open Tasks whose finding is now ok, cancellation of those whose
  finding no longer applies, or whose due date moved on (superseded), or that duplicate
  another open Task with the same identifier (FHIRPath Patch with If-Match; see write.tasks);
- one Provenance whose targets are all of the above.
When the CarePlan on the server already says what the new one would (careplans.py: same
content, whoever saved it) and no Task changes, the plan is `unchanged`: nothing at all is
written, so saving an unchanged plan leaves no second Provenance behind.

Concurrency and idempotence (why ids are derived from identifiers). SPEC §4 asks for a
conditional update of the CarePlan and conditional creates of Tasks. Two transactions
running at once can both find "no match" and both create: the spec's own identifiers then
match twice, and every later conditional write fails with 412 for good. HAPI 8 happens to
guard conditional *creates* with a unique index, but older HAPI, Smile and other servers
do not, and a conditional *update* that creates is not guarded. So by default
(`id_strategy="client"`) every resource we create has an id derived from its identifier
(`ofa-cp-<sha256(system|patient)>`, `ofa-task-<sha256(system|patient:check:due)>`) and is
written with `PUT {type}/{id}`: however many write-backs race, there is only one id to
create, so there is only one CarePlan and one Task per identifier. Racing creates of the
same new id may make the losing transactions fail (HAPI: 409 "client-assigned ID
constraint"); nothing of them is written, and a retry (`smartapp.writeback.write_plan`
retries 409 once more) is a plain update of identical content.
A PUT of an existing Task would overwrite the clinician's changes, so a Task is PUT only
when the record shows no Task with its identifier (the record's `tasks` must have been read
completely, else `WritebackBlocked`); changes to existing Tasks are patches guarded by
If-Match. The remaining window — a Task created by a concurrent write-back and changed by
a clinician within the same second, before our PUT of identical content lands — is
accepted: it needs two app sessions and a clinician acting within one round trip.
`id_strategy="conditional"` writes exactly what SPEC §4 says (PUT CarePlan?identifier=…,
POST Task + ifNoneExist, urn:uuid references) for servers that refuse client ids.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from domain.findings import Finding, Status, Summary
from domain.records import AppTask, PatientRecord
from fhir_mappings.read.careplans import careplan_content_key
from fhir_mappings.read.tasks import evidence_key, uncited_keys
from fhir_mappings.write.careplan import build_careplan, is_taskable
from fhir_mappings.write.common import (
    WriteContext,
    careplan_id,
    if_match,
    reference_parts,
    task_id,
    task_identifier_value,
    task_version,
    validated,
)
from fhir_mappings.write.provenance import build_provenance
from fhir_mappings.write.tasks import (
    acknowledgement_note,
    build_task,
    is_open,
    reopen_patch,
    status_patch,
    uncited,
)

__all__ = [
    "PlanAction",
    "PlanItem",
    "WriteContext",
    "WritePlan",
    "WritebackBlocked",
    "build_acknowledgement",
    "build_writeback",
]

PlanAction = Literal["create", "update", "complete", "cancel"]

#: Entries are named by deterministic urn:uuids (uuid5 in this namespace), so the same plan
#: gives the same bundle: tests and previews are stable.
_URN_NAMESPACE = uuid.UUID("8f3c2b7e-1d4a-5e6f-9a0b-0c1d2e3f4a5b")


class WritebackBlocked(ValueError):
    """The write-back cannot be built safely; `str(err)` says why, for a person."""


@dataclass(frozen=True)
class PlanItem:
    """One line of the preview, describing the bundle entry at the same position."""

    action: PlanAction
    resource_type: str
    description: str
    due: date | None
    check: str | None = None
    #: `Type/id` when known before writing (ids we assign, Tasks being changed).
    reference: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "resource_type": self.resource_type,
            "description": self.description,
            "due": self.due.isoformat() if self.due else None,
            "check": self.check,
            "reference": self.reference,
        }


@dataclass(frozen=True)
class WritePlan:
    """A transaction Bundle and its human preview (`preview[i]` describes `entry[i]`)."""

    patient_id: str
    bundle: dict[str, Any]
    preview: tuple[PlanItem, ...]
    #: Nothing to write: the saved CarePlan already says this and no Task changes. The
    #: bundle is then empty and `smartapp.writeback.write_plan` sends nothing (no
    #: transaction, no Provenance).
    unchanged: bool = False

    def count(self, action: PlanAction, resource_type: str = "Task") -> int:
        return sum(
            1 for i in self.preview if i.action == action and i.resource_type == resource_type
        )

    def describe(self) -> list[str]:
        """The preview as lines a person reads before confirming."""
        lines = []
        for item in self.preview:
            due = f" (due {item.due.isoformat()})" if item.due else ""
            lines.append(f"{item.action:<8} {item.resource_type:<10} {item.description}{due}")
        return lines

    @property
    def fingerprint(self) -> str:
        """A short hash of what the preview promises (not of the bundle's timestamps): the
        confirm step compares it to tell whether the user saw what will be written."""
        items = [item.to_json() for item in self.preview]
        text = json.dumps(items, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def to_json(self) -> dict[str, Any]:
        return {
            "patient": self.patient_id,
            "fingerprint": self.fingerprint,
            "preview": [item.to_json() for item in self.preview],
            "bundle": self.bundle,
        }


@dataclass
class _Builder:
    """Collects entries, preview items and Provenance targets in bundle order."""

    ctx: WriteContext
    entries: list[dict[str, Any]] = field(default_factory=list)
    preview: list[PlanItem] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)
    updates_existing: bool = False

    def urn(self, key: str) -> str:
        return f"urn:uuid:{uuid.uuid5(_URN_NAMESPACE, f'{self.ctx.instant}|{key}')}"

    def add(
        self,
        item: PlanItem,
        resource: dict[str, Any],
        request: dict[str, str],
        *,
        full_url: str | None,
        target: str,
    ) -> None:
        entry: dict[str, Any] = {}
        if full_url is not None:
            entry["fullUrl"] = full_url
        entry["resource"] = resource
        entry["request"] = request
        self.entries.append(entry)
        self.preview.append(item)
        self.targets.append(target)

    def put_careplan(self, summary: Summary, record: PatientRecord) -> str:
        """Adds the CarePlan entry; returns the reference Tasks use for `basedOn`."""
        patient_id = summary.patient.id
        identifier = f"{self.ctx.careplan_system}|{patient_id}"
        if self.ctx.id_strategy == "client":
            resource_id = careplan_id(self.ctx, patient_id)
            reference = f"CarePlan/{resource_id}"
            careplan = build_careplan(summary, record, self.ctx, resource_id)
            request = {"method": "PUT", "url": reference}
            full_url = None
        else:
            reference = self.urn(identifier)
            careplan = build_careplan(summary, record, self.ctx, None)
            request = {"method": "PUT", "url": f"CarePlan?identifier={identifier}"}
            full_url = reference
        planned = len(careplan.get("activity", []))
        item = PlanItem(
            "update",
            "CarePlan",
            f"Save the ofatumumab monitoring plan ({planned} planned item(s)); "
            "created if new, else replaced",
            None,
            reference=reference if not reference.startswith("urn:") else None,
        )
        self.add(item, careplan, request, full_url=full_url, target=reference)
        return reference

    def new_task(
        self,
        finding: Finding,
        summary: Summary,
        careplan_reference: str,
        *,
        closed: tuple[str, str, str, str] | None = None,
    ) -> None:
        """A Task for `finding`; `closed` = (status, reason, note, note author) writes it
        already closed (an acknowledgement of a finding that has no Task yet)."""
        value = task_identifier_value(summary.patient.id, finding.check, finding.due)
        identifier = f"{self.ctx.task_system}|{value}"
        if self.ctx.id_strategy == "client":
            resource_id: str | None = task_id(self.ctx, value)
            reference = f"Task/{resource_id}"
            request = {"method": "PUT", "url": reference}
            full_url = None
        else:
            resource_id = None
            reference = self.urn(identifier)
            request = {"method": "POST", "url": "Task", "ifNoneExist": f"identifier={identifier}"}
            full_url = reference
        task = build_task(
            finding,
            summary,
            self.ctx,
            resource_id=resource_id,
            careplan_reference=careplan_reference,
        )
        action = finding.action
        label = f"{action.display}: {finding.title}" if action else finding.title
        if closed is not None:
            status, reason, note, note_by = closed
            task["status"] = status
            task["statusReason"] = {"text": reason}
            task["note"] = [{"authorString": note_by, "time": self.ctx.instant, "text": note}]
            task = validated(task)
            label = f"{label}: recorded as {status} ({reason})"
        item = PlanItem(
            "create",
            "Task",
            label,
            finding.due or summary.as_of,
            check=finding.check,
            reference=reference if resource_id else None,
        )
        self.add(item, task, request, full_url=full_url, target=reference)

    def close_task(
        self,
        task: AppTask,
        action: Literal["complete", "cancel"],
        reason: str,
        *,
        note: str | None = None,
        note_by: str | None = None,
        cite: list[dict[str, str]] | None = None,
    ) -> None:
        status = "completed" if action == "complete" else "cancelled"
        patch = status_patch(status, reason, self.ctx, note=note, note_by=note_by, cite=cite)
        self._patch(task, patch, PlanItem(action, "Task", reason, task.due, check=task.check))

    def reopen_task(self, task: AppTask, finding: Finding, cite: list[dict[str, str]]) -> None:
        """Reopen a closed alert Task whose alert now cites evidence it does not (module
        write.tasks): the identifier ends in `none`, so there can be no second Task."""
        shown = ", ".join(ref.get("display") or ref["reference"] for ref in cite)
        note = f"Reopened: the alert now also rests on {shown}"
        label = f"Reopen: {finding.title} (new evidence: {shown})"
        item = PlanItem("update", "Task", label, None, check=finding.check)
        self._patch(task, reopen_patch(self.ctx, note, cite), item)

    def _patch(self, task: AppTask, patch: dict[str, Any], item: PlanItem) -> None:
        parts = reference_parts(task.source.reference)
        if parts is None or parts[0] != "Task":
            return  # not a server Task (e.g. read from a file): nothing to change
        reference = f"Task/{parts[1]}"
        request = {"method": "PATCH", "url": reference}
        match = if_match(task_version(task))
        if match:
            request["ifMatch"] = match
        item = PlanItem(
            item.action, item.resource_type, item.description, item.due, item.check, reference
        )
        self.add(item, patch, request, full_url=None, target=reference)
        self.updates_existing = True

    def finish(self, patient_id: str, reason: str | None = None) -> WritePlan:
        provenance = build_provenance(
            self.targets, self.ctx, updates_existing=self.updates_existing, reason=reason
        )
        urn = self.urn(f"Provenance|{patient_id}")
        item = PlanItem(
            "create", "Provenance", "Record who saved this, when, and with which app", None
        )
        self.add(
            item, provenance, {"method": "POST", "url": "Provenance"}, full_url=urn, target=urn
        )
        bundle = {"resourceType": "Bundle", "type": "transaction", "entry": self.entries}
        return WritePlan(patient_id, bundle, tuple(self.preview))


def _require_tasks_read(record: PatientRecord) -> None:
    if "tasks" in record.data.incomplete:
        raise WritebackBlocked(
            "the app's existing Tasks could not be read completely, so saving now could "
            "duplicate or overwrite them; nothing was written — reload and try again"
        )


def _findings_by_check(summary: Summary) -> dict[str, Finding]:
    return {finding.check: finding for finding in summary.findings}


def _open_tasks_by_identifier(tasks: Iterable[AppTask]) -> dict[str, list[AppTask]]:
    grouped: dict[str, list[AppTask]] = {}
    for task in tasks:
        if is_open(task):
            grouped.setdefault(task.identifier, []).append(task)
    return grouped


def _duplicates(ctx: WriteContext, tasks: Sequence[AppTask]) -> tuple[AppTask, list[AppTask]]:
    """Which of several open Tasks with one identifier to keep (ours by id, else the oldest)."""
    preferred = f"Task/{task_id(ctx, tasks[0].identifier)}"

    def rank(task: AppTask) -> tuple[int, str]:
        parts = reference_parts(task.source.reference)
        mine = parts is not None and f"{parts[0]}/{parts[1]}" == preferred
        return (0 if mine else 1, task.last_modified or "")

    ordered = sorted(tasks, key=rank)
    return ordered[0], ordered[1:]


def _close_reason(task: AppTask, finding: Finding | None) -> tuple[str, str] | None:
    """(action, reason) for an open app Task given its check's finding now, or None."""
    if finding is None:
        return None  # a check we no longer run: leave the Task to people
    if finding.status is Status.OK:
        return "complete", f"Requirement met: {finding.detail}"
    if finding.status is Status.NOT_APPLICABLE:
        return "cancel", f"No longer applicable: {finding.detail}"
    if is_taskable(finding) and finding.due != task.due:
        new_due = finding.due.isoformat() if finding.due else "now"
        return "cancel", f"Superseded by the task due {new_due}"
    return None


def _alert_task_to_reopen(
    tasks: Sequence[AppTask], value: str, finding: Finding, ctx: WriteContext
) -> tuple[AppTask, list[dict[str, str]]] | None:
    """For an alert (no due date) whose Tasks with identifier `value` are all closed: the
    latest of them and the evidence to cite, when it does not cite all the alert rests on.

    None for dated findings, an open Task, a closed one that already covers the alert, or
    when none of the missing grounds can be cited (a record on another server): the Task
    could then never cover the alert and would be reopened for good.
    """
    if finding.due is not None:
        return None
    same = [task for task in tasks if task.identifier == value]
    if not same or any(is_open(task) for task in same):
        return None
    latest = max(same, key=lambda task: task.last_modified or "")
    missing = uncited_keys(latest, finding.ground_references())  # empty: `covers` holds
    cite = uncited(finding, latest, ctx.fhir_base)
    if not any(evidence_key(ref["reference"]) in missing for ref in cite):
        return None
    return latest, cite


def build_writeback(summary: Summary, record: PatientRecord, ctx: WriteContext) -> WritePlan:
    """The write-back for one evaluated patient: CarePlan, new Tasks, closed Tasks,
    Provenance, as one transaction Bundle with its preview. Pure: reads nothing.

    Raises WritebackBlocked when the record's Tasks were not read completely.
    """
    _require_tasks_read(record)
    patient_id = summary.patient.id
    builder = _Builder(ctx)
    careplan_reference = builder.put_careplan(summary, record)

    known = {task.identifier for task in record.tasks}
    for finding in summary.findings:
        if not is_taskable(finding) or finding.acknowledgement is not None:
            continue
        value = task_identifier_value(patient_id, finding.check, finding.due)
        if value in known:
            # Exists: never re-created, and reopened only for an alert with new evidence.
            stale = _alert_task_to_reopen(record.tasks, value, finding, ctx)
            if stale is not None:
                task, cite = stale
                builder.reopen_task(task, finding, cite)
            continue
        known.add(value)
        builder.new_task(finding, summary, careplan_reference)

    findings = _findings_by_check(summary)
    for tasks in _open_tasks_by_identifier(record.tasks).values():
        keep, extras = _duplicates(ctx, tasks) if len(tasks) > 1 else (tasks[0], [])
        for extra in extras:
            builder.close_task(extra, "cancel", f"Duplicate of {keep.source.reference}")
        decision = _close_reason(keep, findings.get(keep.check))
        if decision is not None:
            action, reason = decision
            builder.close_task(keep, "complete" if action == "complete" else "cancel", reason)

    if _nothing_changes(builder, record):
        return WritePlan(patient_id, _empty_transaction(), (), unchanged=True)
    return builder.finish(patient_id)


def _nothing_changes(builder: _Builder, record: PatientRecord) -> bool:
    """Only the CarePlan would be written, and the one on the server says the same."""
    if [item.resource_type for item in builder.preview] != ["CarePlan"]:
        return False
    if len(record.careplans) != 1:
        return False
    new_key = careplan_content_key(builder.entries[0]["resource"])
    return record.careplans[0].content_key == new_key


def _empty_transaction() -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "transaction", "entry": []}


def build_acknowledgement(
    record: PatientRecord,
    check: str,
    reason: str,
    by: str,
    ctx: WriteContext,
    *,
    summary: Summary | None = None,
) -> WritePlan:
    """Close the open app Task(s) for `check` as cancelled with the clinician's reason and a
    note "Acknowledged by {by} on {date}: {reason}", plus a Provenance (SPEC §3).

    With `summary`, the acknowledgement also covers the finding as it is now: when no Task
    exists for its current due date (never saved, or only an older one is open), that Task
    is created already cancelled with the reason (and the CarePlan it is based on is saved),
    so the rules see the acknowledgement and the finding is not tasked again until its due
    date changes. Raises WritebackBlocked when there is nothing to acknowledge.
    """
    reason = " ".join(reason.split())
    by = " ".join(by.split())
    if not reason:
        raise WritebackBlocked("an acknowledgement needs a reason")
    if not by:
        raise WritebackBlocked("an acknowledgement needs the name of who acknowledges it")
    _require_tasks_read(record)
    patient_id = summary.patient.id if summary else record.patient.id
    note = acknowledgement_note(by, ctx.now.date(), reason)
    builder = _Builder(ctx)
    finding = _findings_by_check(summary).get(check) if summary else None
    value = (
        task_identifier_value(patient_id, check, finding.due)
        if finding is not None and is_taskable(finding)
        else None
    )
    for task in record.tasks:
        if task.check == check and is_open(task):
            # The Task of the finding on screen also cites its evidence now, so the
            # acknowledgement covers exactly what the clinician saw (tasks.covers).
            cite = (
                uncited(finding, task, ctx.fhir_base)
                if finding is not None and task.identifier == value
                else None
            )
            builder.close_task(task, "cancel", reason, note=note, note_by=by, cite=cite)
    if summary is not None and finding is not None and value is not None:
        stale = _alert_task_to_reopen(record.tasks, value, finding, ctx)
        if all(task.identifier != value for task in record.tasks):
            careplan_reference = builder.put_careplan(summary, record)
            builder.new_task(
                finding, summary, careplan_reference, closed=("cancelled", reason, note, by)
            )
        elif stale is not None:
            # An alert with new evidence whose Task is closed: acknowledge it again, citing
            # the new evidence (no reopen in between: the clinician has just dealt with it).
            task, cite = stale
            builder.close_task(task, "cancel", reason, note=note, note_by=by, cite=cite)
    if not builder.entries:
        raise WritebackBlocked(f"there is no open task for '{check}' to acknowledge")
    return builder.finish(patient_id, reason=f"Acknowledged: {reason}")
