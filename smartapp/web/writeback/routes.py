"""The write-back routes (package doc): preview, confirm, acknowledge."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import TypeVar

from flask import Blueprint, Response, flash, redirect, render_template, request
from werkzeug.wrappers import Response as BaseResponse

from fhir_mappings.write.writeback import WriteContext
from smartapp import patient_service
from smartapp.fhir import FhirClient
from smartapp.launch.context import (
    LaunchContext,
    fhir_client_for,
    require_context,
    view_limits,
)
from smartapp.rules.registry import CHECKS_BY_ID
from smartapp.web.access import check_write, check_write_post
from smartapp.web.errors import PageError
from smartapp.web.fhir_access import app_mappings, rule_settings, run_with
from smartapp.web.writeback.author import user_label, write_context
from smartapp.web.writeback.confirmations import confirmation
from smartapp.web.writeback.errors import begin, message_page, register_error_handlers
from smartapp.web.writeback.page import (
    CHANGED_NO_TASKS_NOTICE,
    CHANGED_NOTICE,
    DASHBOARD,
    FLASH_ACK,
    FLASH_SAVED,
    REASON_MAX,
    ack_form,
    finding_anchor,
    preview_page,
    saved_message,
    writeback_ack,
    writeback_permission,
)
from smartapp.writeback import (
    PatientPlan,
    WriteResult,
    acknowledge,
    plan_for_patient,
    writeback_patient,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

bp = Blueprint("writeback", __name__)
register_error_handlers(bp)
bp.add_app_template_global(writeback_permission, "writeback_permission")
bp.add_app_template_global(writeback_ack, "writeback_ack")


def with_fhir(context: LaunchContext, work: Callable[[FhirClient], T]) -> T:
    """Run `work` with a FHIR client (it renews a refused token once; see
    `fhir_client_for`). TokenExpired or RelaunchRequired reach the "relaunch" error page."""
    return run_with(fhir_client_for(context, limits=view_limits()), work)


def _html(template: str, status: int, **values: object) -> Response:
    return Response(render_template(template, **values), status=status, mimetype="text/html")


# -- preview ------------------------------------------------------------------------------


def _preview_response(
    context: LaunchContext, patient_id: str, *, notice: str | None = None, status: int = 200
) -> Response:
    begin("preview")
    mappings, settings = app_mappings(), rule_settings()
    as_of = date.today()

    def work(client: FhirClient) -> PatientPlan:
        ctx = WriteContext(
            now=datetime.now(UTC), author_reference=context.fhir_user, fhir_base=context.fhir_base
        )
        return plan_for_patient(
            client, patient_id, ctx, mappings=mappings, settings=settings, as_of=as_of
        )

    prepared = with_fhir(context, work)
    view = preview_page(prepared.plan, prepared.summary, context.launch_id, notice=notice)
    return _html("writeback/preview.html", status, preview=view)


@bp.get("/patient/plan")
def preview() -> Response:
    context = require_context()
    return _preview_response(context, check_write(context))


# -- confirm --------------------------------------------------------------------------------


@bp.post("/patient/plan")
def save_plan() -> BaseResponse:
    context = require_context()
    patient_id = check_write_post(context, request.form)
    fingerprint = (request.form.get("fingerprint") or "").strip()
    if not fingerprint:
        raise PageError(
            400,
            "The form was incomplete",
            "The confirmation did not say which plan you reviewed, so nothing was written. "
            "Open the preview again and confirm from there.",
            retry=True,
        )
    mappings, settings = app_mappings(), rule_settings()
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
    confirmed = confirmation((context.launch_id, patient_id, f"{fingerprint}:{confirm_id}"))
    with confirmed.lock:
        if confirmed.message is not None:
            log.info("write-back: this plan was just saved by this launch; not written again")
            flash(confirmed.message, FLASH_SAVED)
            return redirect(f"{DASHBOARD}?saved=1", code=303)
        result = with_fhir(context, work)
        if result.ok:
            confirmed.message = saved_message(result)
    if result.ok and confirmed.message is not None:
        log.info(
            "write-back saved: %d entries, %d attempt(s)", len(result.entries), result.attempts
        )
        flash(confirmed.message, FLASH_SAVED)
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
    return _html(
        "writeback/acknowledge.html",
        status,
        ack=ack_form(check, context.launch_id, str(context.patient or "")),
        check_name=CHECKS_BY_ID[check].name,
        reason=reason,
        error=error,
        reason_max=REASON_MAX,
        back=finding_anchor(check),
    )


@bp.post("/patient/findings/<check>/acknowledge")
def acknowledge_finding(check: str) -> BaseResponse:
    context = require_context()
    patient_id = check_write_post(context, request.form)
    if check not in CHECKS_BY_ID:
        raise PageError(
            404, "No such check", "There is no check with that name; nothing was written."
        )
    submitted = request.form.get("reason") or ""
    reason = " ".join(submitted.split())
    error = _reason_error(reason)
    if error is not None:
        return _ack_form_page(context, check, submitted[: REASON_MAX * 2], error, 400)
    mappings, settings = app_mappings(), rule_settings()
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

    result = with_fhir(context, work)
    if not result.ok:
        log.info("acknowledge failed (HTTP %s)", result.status)
        blocked = result.status is None and result.attempts == 0
        return message_page(
            409 if blocked else 502,
            "The acknowledgement was not saved",
            result.message,
            back=finding_anchor(check),
        )
    log.info("finding acknowledged: %s", check)
    flash(
        f"Acknowledged “{CHECKS_BY_ID[check].name}”: the Task is closed with your reason.",
        FLASH_ACK,
    )
    return redirect(finding_anchor(check), code=303)
