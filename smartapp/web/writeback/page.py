"""What the write-back pages show: the preview's rows, the "Plan saved" banner text, and
whether the dashboard offers the "Save plan" button and each finding's acknowledge form
(the template globals `writeback_permission()` and `writeback_ack(finding)`)."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import has_request_context, request, url_for

from domain.findings import Summary
from fhir_mappings.write.writeback import PlanItem, WritePlan
from smartapp.launch.context import current_context
from smartapp.rules.registry import CHECKS_BY_ID
from smartapp.web.access import filtered_write_scopes, write_refusal
from smartapp.web.look import Look
from smartapp.writeback import WriteResult

#: Flash categories the dashboard's `writeback/flash.html` shows.
FLASH_SAVED = "writeback-saved"
FLASH_ACK = "writeback-ack"

REASON_MAX = 500
#: Finding statuses (the view's `status.key`) that can be acknowledged: the taskable ones.
ACTIONABLE_KEYS = frozenset({"due", "overdue", "alert"})

DASHBOARD = "/patient"

CHANGED_NOTICE = (
    "Nothing was written: the patient's record changed since you reviewed the plan. This "
    "is the plan as it is now; review it and confirm again."
)
CHANGED_NO_TASKS_NOTICE = (
    "Nothing was written: the Tasks you reviewed are no longer to be written — most likely "
    "the plan was just saved (a second click, or another user). Nothing is left to create, "
    "complete or cancel; confirm only if you want to save the monitoring plan again."
)


def finding_anchor(check: str) -> str:
    """The dashboard, scrolled to the finding's card."""
    return f"{DASHBOARD}#finding-{check}"


ACTION_LOOKS: Mapping[str, Look] = {
    "create": Look("create", "Create", "wb-icon-create"),
    "update": Look("update", "Update", "wb-icon-update"),
    "complete": Look("complete", "Complete", "icon-ok"),
    "cancel": Look("cancel", "Cancel", "wb-icon-cancel"),
}

RESOURCE_WORDS: Mapping[str, str] = {
    "CarePlan": "Monitoring plan (CarePlan)",
    "Task": "Task",
    "Provenance": "Provenance (who saved it)",
}


@dataclass(frozen=True)
class PreviewRow:
    action: Look
    resource_type: str
    resource_word: str
    description: str
    due: str | None
    check: str | None
    reference: str | None


@dataclass(frozen=True)
class PreviewPage:
    patient_id: str
    patient_name: str | None
    as_of: str
    launch_id: str
    fingerprint: str
    rows: tuple[PreviewRow, ...]
    tasks_created: int
    tasks_completed: int
    tasks_cancelled: int
    incomplete: tuple[str, ...]
    #: Closed alert Tasks reopened because their alert rests on new evidence.
    tasks_reopened: int = 0
    #: Why the preview is shown again (the record changed since the user reviewed it).
    notice: str | None = None
    #: Random id of this rendered form: the same form posted twice is one confirmation.
    confirm_id: str = ""
    #: The saved plan and Tasks already say this: saving would write nothing.
    unchanged: bool = False

    @property
    def task_changes(self) -> int:
        return (
            self.tasks_created + self.tasks_completed + self.tasks_cancelled + self.tasks_reopened
        )


def preview_row(item: PlanItem) -> PreviewRow:
    look = ACTION_LOOKS.get(item.action) or Look(item.action, item.action.title(), "")
    return PreviewRow(
        action=look,
        resource_type=item.resource_type,
        resource_word=RESOURCE_WORDS.get(item.resource_type, item.resource_type),
        description=item.description,
        due=item.due.isoformat() if item.due else None,
        check=item.check,
        reference=item.reference,
    )


def preview_page(
    plan: WritePlan,
    summary: Summary,
    launch_id: str,
    *,
    notice: str | None = None,
) -> PreviewPage:
    return PreviewPage(
        patient_id=plan.patient_id,
        patient_name=summary.patient.name or None,
        as_of=summary.as_of.isoformat(),
        launch_id=launch_id,
        fingerprint=plan.fingerprint,
        rows=tuple(preview_row(item) for item in plan.preview),
        tasks_created=plan.count("create"),
        tasks_completed=plan.count("complete"),
        tasks_cancelled=plan.count("cancel"),
        tasks_reopened=plan.count("update"),
        incomplete=tuple(sorted(summary.data.incomplete)),
        notice=notice,
        confirm_id=secrets.token_urlsafe(12),
        unchanged=plan.unchanged,
    )


def saved_message(result: WriteResult) -> str:
    """ "Plan saved: N created, M updated, K completed" (Tasks), and what else happened."""
    if result.plan is not None and result.plan.unchanged:
        return result.message
    created = len(result.with_outcome("created"))
    updated = len(result.with_outcome("updated"))
    completed = len(result.with_outcome("completed"))
    parts = [f"{created} created", f"{updated} updated", f"{completed} completed"]
    cancelled = len(result.with_outcome("cancelled"))
    if cancelled:
        parts.append(f"{cancelled} cancelled")
    existed = len(result.with_outcome("already existed"))
    if existed:
        parts.append(f"{existed} already existed")
    text = "Plan saved: " + ", ".join(parts) + " (Tasks)."
    careplan = next((e for e in result.entries if e.item.resource_type == "CarePlan"), None)
    if careplan is not None and careplan.outcome in ("created", "updated", "unchanged"):
        text += f" Monitoring plan (CarePlan) {careplan.outcome}."
    unknown = sum(1 for e in result.entries if e.outcome == "unknown")
    if unknown:
        text += (
            f" The server did not report the outcome of {unknown} entr"
            f"{'y' if unknown == 1 else 'ies'}: check the Tasks below."
        )
    return text


# -- what the dashboard offers ----------------------------------------------------------------


@dataclass(frozen=True)
class WritePermission:
    allowed: bool
    reason: str | None
    launch_id: str
    patient_id: str | None
    #: Filtered write grants that did not count (shown on the read-only banner).
    filtered: tuple[str, ...] = ()


@dataclass(frozen=True)
class AckForm:
    check: str
    url: str
    launch_id: str
    patient_id: str
    field_id: str
    hint_id: str


def ack_form(check: str, launch_id: str, patient_id: str) -> AckForm:
    return AckForm(
        check=check,
        url=url_for("writeback.acknowledge_finding", check=check),
        launch_id=launch_id,
        patient_id=patient_id,
        field_id=f"ack-{check}-reason",
        hint_id=f"ack-{check}-hint",
    )


def writeback_permission() -> WritePermission | None:
    """For the dashboard includes: may this launch save? None outside a launch."""
    context = current_context()
    if context is None:
        return None
    reason = write_refusal(context)
    return WritePermission(
        reason is None,
        reason,
        context.launch_id,
        context.patient,
        tuple(filtered_write_scopes(context)),
    )


def writeback_ack(finding: Any) -> AckForm | None:
    """The acknowledge form for a finding card (a dashboard `FindingView`), or None: only on
    the patient's own dashboard, with write rights, for a due/overdue/alert finding with an
    action that is not acknowledged yet."""
    if not has_request_context() or request.endpoint != "dashboard.patient":
        return None  # e.g. a worklist: its cards are other patients' findings
    permission = writeback_permission()
    if permission is None or not permission.allowed or not permission.patient_id:
        return None
    check = getattr(finding, "check", None)
    status = getattr(getattr(finding, "status", None), "key", None)
    if not isinstance(check, str) or check not in CHECKS_BY_ID:
        return None
    if status not in ACTIONABLE_KEYS or not getattr(finding, "action", None):
        return None
    if getattr(finding, "acknowledgement", None):
        return None
    return ack_form(check, permission.launch_id, permission.patient_id)
