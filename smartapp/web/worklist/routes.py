"""The worklist routes (package doc)."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from fhir_mappings.ids import is_fhir_id
from smartapp.fhir import FhirClient
from smartapp.launch.context import new_launch_record
from smartapp.launch.population import population_token
from smartapp.launch.session_store import LAUNCH_KEY, TOKEN_KEY
from smartapp.launch.state import launch_state
from smartapp.launch.websession import ensure_session_id, session_id
from smartapp.web.access import (
    WorklistAccess,
    check_worklist_post,
    launch_ended,
    worklist_access,
)
from smartapp.web.errors import PageError
from smartapp.web.fhir_access import app_mappings, rule_settings
from smartapp.web.worklist import reading
from smartapp.web.worklist.errors import (
    back_link,
    message_page,
    register_error_handlers,
    return_filters,
)
from smartapp.web.worklist.page import index_values, url, worklist_status
from smartapp.web.worklist.reading import (
    author_context,
    build_view,
    refresh_in_background,
    refresh_target,
    unreadable,
    with_fhir,
)
from smartapp.web.worklist.store import stored_state
from smartapp.worklist import WorklistFilters
from smartapp.worklist.csvfile import write_csv
from smartapp.worklist.labels import check_label
from smartapp.worklist.tasks import MAX_PATIENTS, PatientTasksResult, create_tasks

log = logging.getLogger(__name__)

bp = Blueprint("worklist", __name__)
register_error_handlers(bp)
bp.add_app_template_global(check_label, "check_label")
bp.add_app_template_global(worklist_status, "worklist_status")


@bp.get("/worklist")
def index() -> BaseResponse:
    filters = WorklistFilters.from_query(request.args)
    view = build_view(filters)
    state = view.state
    if state.latest is None and not view.refreshing and state.failure is not None:
        raise unreadable(state)
    html = render_template("worklist/index.html", **index_values(filters, view))
    return Response(html, mimetype="text/html")


@bp.get("/worklist.csv")
def csv_export() -> Response:
    """Every filtered row (all pages) of the stored worklist."""
    filters = WorklistFilters.from_query(request.args)
    view = build_view(filters)
    if view.state.latest is None:
        if view.state.failure is not None and view.state.running is None:
            raise unreadable(view.state)
        response = message_page(
            503,
            "The worklist is not ready yet",
            "The worklist is being read from the server for the first time. Try again when "
            "the worklist page shows it.",
            url_for("worklist.index"),
        )
        response.headers["Retry-After"] = "30"
        return response
    response = Response(write_csv(filters.apply(view.rows)), mimetype="text/csv")
    filename = f"ofatumumab-worklist-{view.as_of.isoformat()}.csv"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@bp.post("/worklist/refresh")
def refresh() -> BaseResponse:
    """ "Read the server again": start a background refresh (CSRF-checked) and go back."""
    filters = return_filters()
    access = worklist_access()
    started = refresh_in_background(access, refresh_target(access))
    log.info("worklist refresh requested (%s)", "started" if started else "already running")
    return redirect(url("worklist.index", filters.query_string()), code=303)


@bp.get("/worklist/refresh-status")
def refresh_status() -> Response:
    """The stored worklist's refresh, for the page's progress (no patient data)."""
    access = worklist_access()
    response = jsonify(stored_state(refresh_target(access)).status_json())
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/worklist/tasks")
def tasks() -> Response:
    access = worklist_access()
    filters = return_filters()
    check_worklist_post(access, request.form)
    selected = list(dict.fromkeys(request.form.getlist("patient")))
    if not selected:
        raise PageError(400, "No patient selected", "Select at least one patient.")
    if len(selected) > MAX_PATIENTS or not all(is_fhir_id(pid) for pid in selected):
        raise PageError(
            400,
            "The selection cannot be used",
            f"Choose at most {MAX_PATIENTS} patients from the worklist.",
        )
    as_of = filters.as_of or reading.today()
    mappings, settings = app_mappings(), rule_settings()

    def work(client: FhirClient) -> list[PatientTasksResult]:
        ctx = author_context(client, access)
        return create_tasks(
            client,
            selected,
            ctx,
            mappings=mappings,
            settings=settings,
            as_of=as_of,
            readable=access.readable,
        )

    results = with_fhir(access, work)
    # The new Tasks show once the stored worklist has read them (changes only).
    refreshing = refresh_in_background(access, refresh_target(access))
    log.info(
        "worklist tasks: %d patients, %d written, %d failed",
        len(results),
        sum(1 for r in results if r.ok),
        sum(1 for r in results if not r.ok),
    )
    html = render_template(
        "worklist/tasks_result.html",
        results=results,
        back=back_link(),
        created=sum(r.created for r in results),
        existed=sum(r.already_existed for r in results),
        reopened=sum(r.reopened for r in results),
        failed=sum(1 for r in results if not r.ok),
        refreshing=refreshing,
    )
    return Response(html, status=200, mimetype="text/html")


@bp.get("/worklist/open/<patient_id>")
def open_patient(patient_id: str) -> BaseResponse:
    """Put the patient in context and open the dashboard (user-level and backend access
    only: a patient-level launch stays on its own patient). A GET because it is a link
    (new tab, keyboard); another site may not switch the patient (Fetch Metadata: only a
    same-origin or user-typed navigation; a request without the header is refused too)."""
    if request.headers.get("Sec-Fetch-Site") not in ("same-origin", "none"):
        raise PageError(
            403,
            "Open the patient from the worklist",
            "This link did not come from the worklist page (another site, or a browser that "
            "does not say where it came from), so the patient in context was not changed.",
        )
    if not is_fhir_id(patient_id):
        raise PageError(400, "Not a patient id", "This link is broken.")
    access = worklist_access()
    state = launch_state()
    if access.context is not None:
        sid = access.context.session_id
        record = state.store.get(sid, LAUNCH_KEY) if sid else None
        if sid is None or record is None:
            raise launch_ended()
        record = {**record, "patient": patient_id, "patient_lock": False}
        state.store.set(sid, LAUNCH_KEY, record)
    else:
        _open_with_backend_token(access, patient_id)
    return redirect(url_for("dashboard.patient"), code=303)


def _open_with_backend_token(access: WorklistAccess, patient_id: str) -> None:
    """Population mode has no launch: start a dashboard session for the patient that
    borrows the app's token on every read while the sign-in lasts (no token is copied into
    the session; `smartapp.launch.population`)."""
    _, token = population_token()
    state = launch_state()
    sid = session_id() or ensure_session_id()
    state.store.discard(sid, TOKEN_KEY)
    state.store.set(
        sid,
        LAUNCH_KEY,
        new_launch_record(
            iss=access.fhir_base,
            tenant_label=access.label,
            patient=patient_id,
            scope=token.scope.raw,
            population=True,
        ),
    )
