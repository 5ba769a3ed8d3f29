"""Write-back from the dashboard: preview, confirm, acknowledge (SPEC §3 last paragraph, §4
"Write-back", §5 CSRF and idempotence).

Routes (all need a launch with a patient in context):
- `GET  /patient/plan` — the preview: what saving will create, update, complete and cancel
  (one FHIR batch read; writes nothing), with a Confirm form and a Cancel link.
- `POST /patient/plan` — confirm: `writeback_patient(..., expected_fingerprint=…)` reads
  again and writes only if the plan is the one the user reviewed. Success → 303 to
  `/patient?saved=1` with a flashed "Plan saved: …" banner; the record changed → the new
  preview (409) saying so; the server refused → "Nothing was written: …" (502).
- `POST /patient/findings/<check>/acknowledge` — close the finding's Task with the
  clinician's reason (required, at most 500 characters) → 303 to the finding's card, which
  then shows "Acknowledged by … on …: reason". An empty or too long reason re-shows the
  form with the error (400).

Every POST is CSRF-checked by `smartapp.web.security` before it gets here, must carry the
`launch_id` of the current launch (another launch in this browser since the page was
shown → 400, nothing written) and the patient id the page was shown for. Without CarePlan,
Task and Provenance write rights (SPEC §5 "fall back gracefully") no button is rendered and
these routes answer 403. A FHIR 401 gets one forced token refresh, then the relaunch page.
Double clicks are safe: the same confirm form (each rendered preview carries a random
`confirm_id`) posted again waits for the first post and shows its "Plan saved" outcome
without writing again (in this process, for two minutes);
beyond that the write-back itself is idempotent (deterministic ids and a per-patient lock
in `smartapp.writeback`), and a confirm of a plan that someone else has just saved shows
the new preview (nothing left to create) instead of writing.

Templates (`templates/writeback/`): `preview.html`, `acknowledge.html`, `message.html`,
and the dashboard includes `plan_actions.html` (the "Save plan" button), `flash.html`
(the confirmation banner) and `ack_form.html` (the form on each actionable finding card).
The includes ask the template globals `writeback_permission()` and `writeback_ack(f)`
whether to render anything, so a read-only launch never gets a form.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from flask import (
    Blueprint,
    Response,
    flash,
    has_request_context,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.wrappers import Response as BaseResponse

from domain.findings import Summary
from fhir_mappings.errors import Malformed, UnusableInput
from fhir_mappings.names import human_name as fhir_human_name
from fhir_mappings.write.common import local_reference
from fhir_mappings.write.writeback import PlanItem, WritebackBlocked, WriteContext, WritePlan
from smartapp import patient_service
from smartapp.fhir import FhirClient, FhirError, TokenExpired
from smartapp.launch.context import (
    LaunchContext,
    current_context,
    fhir_client_for,
    require_context,
    same_launch,
    view_limits,
)
from smartapp.launch.state import launch_state
from smartapp.rules.registry import CHECKS_BY_ID
from smartapp.web.dashboard import app_mappings
from smartapp.writeback import (
    PatientPlan,
    PatientUnreadable,
    WriteResult,
    acknowledge,
    plan_for_patient,
    writeback_patient,
)

log = logging.getLogger(__name__)

bp = Blueprint("writeback", __name__)

T = TypeVar("T")

#: Flash categories the dashboard's `writeback/flash.html` shows.
FLASH_SAVED = "writeback-saved"
FLASH_ACK = "writeback-ack"

REASON_MAX = 500
#: Finding statuses (the view's `status.key`) that can be acknowledged: the taskable ones.
ACTIONABLE_KEYS = frozenset({"due", "overdue", "alert"})
#: `by` when the launch names no user (open-server mode has no sign-in).
UNNAMED_USER = "an unidentified user (open server, no sign-in)"
NAME_MAX = 120

DASHBOARD = "/patient"


# -- what the pages show -----------------------------------------------------------------


@dataclass(frozen=True)
class ActionLook:
    """A preview action as shown: CSS suffix, the word, an SVG symbol id (icon AND word)."""

    key: str
    word: str
    icon: str


ACTION_LOOKS: Mapping[str, ActionLook] = {
    "create": ActionLook("create", "Create", "wb-icon-create"),
    "update": ActionLook("update", "Update", "wb-icon-update"),
    "complete": ActionLook("complete", "Complete", "wb-icon-complete"),
    "cancel": ActionLook("cancel", "Cancel", "wb-icon-cancel"),
}

RESOURCE_WORDS: Mapping[str, str] = {
    "CarePlan": "Monitoring plan (CarePlan)",
    "Task": "Task",
    "Provenance": "Provenance (who saved it)",
}


@dataclass(frozen=True)
class PreviewRow:
    action: ActionLook
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
    look = ACTION_LOOKS.get(item.action) or ActionLook(item.action, item.action.title(), "")
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


# -- permissions and the launch -----------------------------------------------------------


def filtered_write_scopes(context: LaunchContext) -> list[str]:
    """Write grants on the plan's types that carry a filter (and so do not count)."""
    return [
        scope
        for rtype in ("CarePlan", "Task", "Provenance")
        if not context.can_write(rtype)
        for scope in context.scopes.filtered_writes(rtype)
    ]


def write_refusal(context: LaunchContext) -> str | None:
    """Why this launch may not save (None when it may): CarePlan, Task and Provenance."""
    filtered = filtered_write_scopes(context)
    if filtered:
        return (
            "This launch is read-only: the EHR granted write access only to some CarePlans, "
            f"Tasks or Provenance records ({', '.join(filtered[:3])}), and the app saves its "
            "plan only with write access to all of them, so nothing can be saved from here. "
            "Nothing was written."
        )
    if not context.can_write_plan:
        return (
            "This launch is read-only: the EHR did not grant write access to CarePlan and "
            "Task, so the plan cannot be saved and findings cannot be acknowledged from this "
            "app. Nothing was written."
        )
    if not context.can_write("Provenance"):
        return (
            "The EHR did not grant write access to Provenance, which every save records "
            "(who saved what, and when), so the plan cannot be saved and findings cannot be "
            "acknowledged from this app. Nothing was written."
        )
    return None


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


@bp.app_template_global("writeback_permission")
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


@bp.app_template_global("writeback_ack")
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
    return AckForm(
        check=check,
        url=url_for("writeback.acknowledge_finding", check=check),
        launch_id=permission.launch_id,
        patient_id=permission.patient_id,
        field_id=f"ack-{check}-reason",
        hint_id=f"ack-{check}-hint",
    )


# -- pages ----------------------------------------------------------------------------------


def _html(template: str, status: int, **values: Any) -> Response:
    response = Response(render_template(template, **values), mimetype="text/html")
    response.status_code = status
    return response


def message_page(
    status: int,
    title: str,
    message: str,
    *,
    retry: bool = False,
    back: str = DASHBOARD,
) -> Response:
    """A clear page (never a traceback): what happened, that nothing was written, a way on."""
    return _html(
        "writeback/message.html", status, title=title, message=message, retry=retry, back=back
    )


def _forbidden(reason: str) -> Response:
    return message_page(403, "Saving is not allowed for this launch", reason)


def _launch_changed() -> Response:
    return message_page(
        400,
        "This page belongs to an earlier launch",
        "The app was opened again in this browser (for another patient, or in another tab) "
        "since this page was shown, so nothing was written. Go back to the dashboard of the "
        "current launch and try again.",
    )


def _no_patient() -> Response:
    return message_page(
        400,
        "No patient selected",
        "This launch has no patient in context, so there is no plan to save. Nothing was "
        "written. Open the app from a patient's chart.",
    )


def _check_post(context: LaunchContext) -> Response | None:
    """The checks every write POST passes (after CSRF): rights, launch, patient."""
    refusal = write_refusal(context)
    if refusal is not None:
        log.info("write-back refused: the launch has no write rights")
        return _forbidden(refusal)
    if not same_launch(context, request.form.get("launch_id")):
        log.info("write-back refused: the form belongs to another launch")
        return _launch_changed()
    if not context.patient:
        return _no_patient()
    if request.form.get("patient") != context.patient:
        log.info("write-back refused: the form was shown for another patient")
        return message_page(
            400,
            "This form was for another patient",
            "The patient in context is not the one this form was shown for, so nothing was "
            "written. Go back to the dashboard and try again.",
        )
    return None


# -- FHIR access ------------------------------------------------------------------------


def with_fhir(context: LaunchContext, work: Callable[[FhirClient], T]) -> T:
    """Run `work` with a FHIR client (it renews a refused token once; see
    `fhir_client_for`). TokenExpired or RelaunchRequired reach the "relaunch" error page."""
    client = fhir_client_for(context, limits=view_limits())
    try:
        return work(client)
    finally:
        client.close()


def human_name(names: Any) -> str | None:
    """A person's name for the note (fhir_mappings.names), at most NAME_MAX characters;
    None when there is none or `name` is malformed."""
    try:
        text = fhir_human_name(names)
    except Malformed:
        return None
    return text[:NAME_MAX] if text else None


def user_display(client: FhirClient, context: LaunchContext) -> str | None:
    """The launching user's name (one GET of the fhirUser resource), or None."""
    reference = local_reference(context.fhir_user, context.fhir_base)
    if reference is None:
        return None
    try:
        resource = client.read(reference)
    except TokenExpired:
        raise
    except FhirError as err:
        log.info("fhirUser name not read (HTTP %s); the reference is used", err.status)
        return None
    return human_name(resource.get("name"))


def user_label(context: LaunchContext, display: str | None) -> str:
    """Who acknowledges, for the note: the name, else the reference, else 'unidentified'."""
    if display:
        return display
    if context.fhir_user:
        return local_reference(context.fhir_user, context.fhir_base) or context.fhir_user
    return UNNAMED_USER


def write_context(client: FhirClient, context: LaunchContext, now: datetime) -> WriteContext:
    display = user_display(client, context) if context.fhir_user else None
    return WriteContext(
        now=now,
        author_reference=context.fhir_user,
        author_display=display,
        fhir_base=context.fhir_base,
    )


def _rules() -> tuple[Any, Any]:
    return app_mappings(), launch_state().config.rules


# -- preview ------------------------------------------------------------------------------


def _preview_response(
    context: LaunchContext, patient_id: str, *, notice: str | None = None, status: int = 200
) -> Response:
    mappings, settings = _rules()
    as_of = date.today()

    def work(client: FhirClient) -> PatientPlan:
        ctx = WriteContext(
            now=datetime.now(UTC), author_reference=context.fhir_user, fhir_base=context.fhir_base
        )
        return plan_for_patient(
            client, patient_id, ctx, mappings=mappings, settings=settings, as_of=as_of
        )

    try:
        prepared = with_fhir(context, work)
    except PatientUnreadable as err:
        log.info("write-back preview: the patient could not be read")
        return message_page(
            502, "The patient could not be read", f"Nothing was written: {err}", retry=True
        )
    except WritebackBlocked as err:
        return message_page(409, "The plan cannot be prepared", f"Nothing was written: {err}")
    except UnusableInput as err:
        log.info("write-back preview: the patient could not be read (%s)", type(err).__name__)
        return message_page(
            502,
            "The patient could not be read",
            f"Nothing was written: the FHIR server did not return this patient's data ({err}).",
            retry=True,
        )
    except FhirError as err:
        log.info("write-back preview: FHIR read failed (HTTP %s)", err.status)
        return message_page(
            502, "The patient could not be read", f"Nothing was written: {err}", retry=True
        )
    view = preview_page(prepared.plan, prepared.summary, context.launch_id, notice=notice)
    return _html("writeback/preview.html", status, preview=view)


@bp.get("/patient/plan")
def preview() -> Response:
    context = require_context()
    refusal = write_refusal(context)
    if refusal is not None:
        return _forbidden(refusal)
    if not context.patient:
        return _no_patient()
    return _preview_response(context, context.patient)


# -- confirm --------------------------------------------------------------------------------


#: How long a confirmed plan is remembered, so that a double click (the same form posted
#: again) shows the first click's outcome instead of writing again.
CONFIRM_MEMORY_S = 120.0


@dataclass
class _Confirmation:
    """One posted confirm form (launch, patient, fingerprint and the form's own random id)
    in this process: its lock, so a second click waits for the first, and the first's
    "Plan saved" message once written. A new preview is a new form: it writes again."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    started: float = field(default_factory=time.monotonic)
    message: str | None = None


_confirmations: dict[tuple[str, str, str], _Confirmation] = {}
_confirmations_guard = threading.Lock()


def _confirmation(key: tuple[str, str, str]) -> _Confirmation:
    now = time.monotonic()
    with _confirmations_guard:
        for old in [k for k, c in _confirmations.items() if now - c.started > CONFIRM_MEMORY_S]:
            if not _confirmations[old].lock.locked():
                del _confirmations[old]
        entry = _confirmations.get(key)
        if entry is None:
            entry = _confirmations[key] = _Confirmation()
        return entry


CHANGED_NOTICE = (
    "Nothing was written: the patient's record changed since you reviewed the plan. This "
    "is the plan as it is now; review it and confirm again."
)
CHANGED_NO_TASKS_NOTICE = (
    "Nothing was written: the Tasks you reviewed are no longer to be written — most likely "
    "the plan was just saved (a second click, or another user). Nothing is left to create, "
    "complete or cancel; confirm only if you want to save the monitoring plan again."
)


@bp.post("/patient/plan")
def save_plan() -> BaseResponse:
    context = require_context()
    refused = _check_post(context)
    if refused is not None:
        return refused
    patient_id = str(context.patient)
    fingerprint = (request.form.get("fingerprint") or "").strip()
    if not fingerprint:
        return message_page(
            400,
            "The form was incomplete",
            "The confirmation did not say which plan you reviewed, so nothing was written. "
            "Open the preview again and confirm from there.",
            retry=True,
        )
    mappings, settings = _rules()
    as_of = date.today()

    def work(client: FhirClient) -> WriteResult:
        ctx = write_context(client, context, datetime.now(UTC))
        return writeback_patient(
            client,
            patient_id,
            ctx,
            mappings=mappings,
            settings=settings,
            as_of=as_of,
            expected_fingerprint=fingerprint,
        )

    # A double click posts the same form twice: the second waits for the first and shows
    # its outcome. (Across processes the write itself stays idempotent: deterministic ids.)
    confirm_id = (request.form.get("confirm_id") or "").strip()[:64] or secrets.token_hex(8)
    confirmation = _confirmation((context.launch_id, patient_id, f"{fingerprint}:{confirm_id}"))
    with confirmation.lock:
        if confirmation.message is not None:
            log.info("write-back: this plan was just saved by this launch; not written again")
            flash(confirmation.message, FLASH_SAVED)
            return redirect(f"{DASHBOARD}?saved=1", code=303)
        try:
            result = with_fhir(context, work)
        except UnusableInput as err:
            log.info("write-back: the patient could not be read (%s)", type(err).__name__)
            return message_page(
                502,
                "The plan was not saved",
                f"Nothing was written: the FHIR server did not return this patient's data ({err}).",
                retry=True,
            )
        if result.ok:
            confirmation.message = saved_message(result)
    if result.ok and confirmation.message is not None:
        log.info(
            "write-back saved: %d entries, %d attempt(s)", len(result.entries), result.attempts
        )
        flash(confirmation.message, FLASH_SAVED)
        return redirect(f"{DASHBOARD}?saved=1", code=303)
    if result.changed:
        log.info("write-back not written: the record changed since the preview")
        tasks_left = result.plan is not None and any(
            item.resource_type == "Task" for item in result.plan.preview
        )
        notice = CHANGED_NOTICE if tasks_left else CHANGED_NO_TASKS_NOTICE
        return _preview_response(context, patient_id, notice=notice, status=409)
    log.info("write-back failed (HTTP %s, %d attempt(s))", result.status, result.attempts)
    return message_page(502, "The plan was not saved", result.message, retry=True)


# -- acknowledge ----------------------------------------------------------------------------


def _reason_error(reason: str) -> str | None:
    if not reason:
        return (
            "Enter the reason for acknowledging this finding (for example: HBV DNA "
            "monitoring arranged by hepatology)."
        )
    if len(reason) > REASON_MAX:
        return f"The reason is {len(reason)} characters long; keep it to {REASON_MAX}."
    return None


def _ack_form_page(
    context: LaunchContext, check: str, reason: str, error: str, status: int
) -> Response:
    rule = CHECKS_BY_ID[check]
    form = AckForm(
        check=check,
        url=url_for("writeback.acknowledge_finding", check=check),
        launch_id=context.launch_id,
        patient_id=str(context.patient or ""),
        field_id=f"ack-{check}-reason",
        hint_id=f"ack-{check}-hint",
    )
    return _html(
        "writeback/acknowledge.html",
        status,
        ack=form,
        check_name=rule.name,
        reason=reason,
        error=error,
        reason_max=REASON_MAX,
        back=f"{DASHBOARD}#finding-{check}",
    )


@bp.post("/patient/findings/<check>/acknowledge")
def acknowledge_finding(check: str) -> BaseResponse:
    context = require_context()
    refused = _check_post(context)
    if refused is not None:
        return refused
    if check not in CHECKS_BY_ID:
        return message_page(
            404, "No such check", "There is no check with that name; nothing was written."
        )
    submitted = request.form.get("reason") or ""
    reason = " ".join(submitted.split())
    error = _reason_error(reason)
    if error is not None:
        return _ack_form_page(context, check, submitted[: REASON_MAX * 2], error, 400)
    patient_id = str(context.patient)
    mappings, settings = _rules()
    as_of = date.today()

    def work(client: FhirClient) -> WriteResult:
        now = datetime.now(UTC)
        ctx = write_context(client, context, now)
        fetched = patient_service.fetch_patient(client, patient_id, mappings)
        record, summary = patient_service.summarize_fetched(
            fetched, patient_id, as_of, mappings, settings
        )
        by = user_label(context, ctx.author_display)
        return acknowledge(client, record, check, reason, by, now, summary=summary, context=ctx)

    try:
        result = with_fhir(context, work)
    except UnusableInput as err:
        log.info("acknowledge: the patient could not be read (%s)", type(err).__name__)
        return message_page(
            502,
            "The acknowledgement was not saved",
            f"Nothing was written: the FHIR server did not return this patient's data ({err}).",
            back=f"{DASHBOARD}#finding-{check}",
        )
    except FhirError as err:
        log.info("acknowledge: FHIR read failed (HTTP %s)", err.status)
        return message_page(
            502,
            "The acknowledgement was not saved",
            f"Nothing was written: {err}",
            back=f"{DASHBOARD}#finding-{check}",
        )
    if not result.ok:
        log.info("acknowledge failed (HTTP %s)", result.status)
        blocked = result.status is None and result.attempts == 0
        return message_page(
            409 if blocked else 502,
            "The acknowledgement was not saved",
            result.message,
            back=f"{DASHBOARD}#finding-{check}",
        )
    log.info("finding acknowledged: %s", check)
    flash(
        f"Acknowledged “{CHECKS_BY_ID[check].name}”: the Task is closed with your reason.",
        FLASH_ACK,
    )
    return redirect(f"{DASHBOARD}#finding-{check}", code=303)
