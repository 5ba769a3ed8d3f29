"""`/worklist`: the care coordinator's worklist (SPEC §1, §4 Web; docs/worklist.md).

Routes:
- `GET  /worklist` — the stored worklist (`smartapp.web.worklist_store`), one page of it:
  patient, status (icon + word), phase, next dose due, what needs attention (checks by
  their short names), highest severity, open Tasks with owner and due date. Filters, sort
  order and page are URL query parameters (`smartapp.worklist.filters`), so a link
  reproduces the view. It says how old the list is, shows a running refresh's progress
  and a failed refresh's error; the first visit (or the first on a new day) starts a
  refresh in the background. A data panel says what the last refresh cost.
- `GET  /worklist.csv` — every filtered row (all pages) as CSV, formula cells escaped.
- `POST /worklist/refresh` — "Read the server again": a background refresh. CSRF-checked.
- `GET  /worklist/refresh-status` — the refresh's progress as JSON (the page polls it).
- `POST /worklist/tasks` — create the selected patients' Tasks (write-back, one
  transaction per patient) and show what happened per patient. CSRF-checked.
- `GET  /worklist/open/<patient_id>` — put that patient in context and open `/patient`.

Who may see it (`worklist_access`):
- a launch that may list patients: a standalone launch with `user/` scopes and no patient
  in context (a coordinator), or an open server (HAPI sandbox, local HAPI);
- otherwise, when `SMARTAPP_BACKEND_ISS` is set, a person signed in with the app's own
  login (`SMARTAPP_LOGIN_*`, `smartapp.launch.login`) and on its allowlist, with the
  app's Backend Services token (`smartapp.launch.population`). Without login settings
  that mode serves no one in the browser.
A launch with a patient in context never lists other patients nor reaches the backend
token, whatever other scopes the EHR granted (patient lock): it gets a 403 page saying
how to open the worklist.

Sorting, filtering, paging and the CSV download never read the FHIR server: they read the
stored worklist.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlencode

from flask import (
    Blueprint,
    Response,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.wrappers import Response as BaseResponse

from fhir_mappings.ids import is_fhir_id
from fhir_mappings.search import population as fp
from fhir_mappings.write.writeback import WriteContext
from smartapp.fhir import FhirClient, FhirError, ReadLimits
from smartapp.launch.context import (
    LaunchContext,
    current_context,
    fhir_client_for,
    same_launch,
)
from smartapp.launch.errors import LaunchError
from smartapp.launch.login import LoginRequired, SignedInUser
from smartapp.launch.population import job_token, population_token
from smartapp.launch.scopes import GrantedScopes
from smartapp.launch.session_store import LAUNCH_KEY, TOKEN_KEY
from smartapp.launch.state import launch_state
from smartapp.launch.websession import ensure_session_id, session_id
from smartapp.rules.registry import CHECKS_BY_ID
from smartapp.web.dashboard import app_mappings
from smartapp.web.worklist_store import (
    ClientMaker,
    StoredState,
    reader_of,
    refresher_of,
    start_refresh,
    stored_rows,
    stored_state,
    target_for,
)
from smartapp.web.writeback_views import write_context, write_refusal
from smartapp.worklist import WorklistFilters, WorklistOptions
from smartapp.worklist.csvfile import write_csv
from smartapp.worklist.filters import PAGE_SIZES, STATUSES, TASK_FILTERS
from smartapp.worklist.labels import check_label
from smartapp.worklist.refresh import RefreshTarget
from smartapp.worklist.report import STATUS_LABELS
from smartapp.worklist.rows import PHASE_ORDER, WorklistRow
from smartapp.worklist.tasks import MAX_PATIENTS, PatientTasksResult, create_tasks

log = logging.getLogger(__name__)

bp = Blueprint("worklist", __name__)

#: A refresh that failed is not started again by page views for this long ("try again").
RETRY_S = 600
#: The types the worklist reads (to learn which ones the granted scopes allow).
READ_TYPES = (*fp.EXPORT_TYPES, "Group")

T = TypeVar("T")


# -- who is asking, and with which FHIR access ----------------------------------------------


@dataclass(frozen=True)
class WorklistAccess:
    #: "open" (open server), "launch" (user-level launch) or "backend" (Backend Services).
    mode: str
    fhir_base: str
    label: str
    context: LaunchContext | None
    readable: frozenset[str] | None
    #: Why Tasks cannot be created from here (None: they can).
    write_refusal: str | None
    #: The launch id the forms echo (empty in backend mode).
    launch_id: str
    #: For the cache: whose worklist this is.
    cache_key: str
    #: Who signed in with the app's own login (backend mode only).
    user: SignedInUser | None = None

    @property
    def can_write(self) -> bool:
        return self.write_refusal is None


class WorklistUnavailable(LaunchError):
    """No launch context that may list patients, and no population sign-in."""

    status = 403
    title = "The worklist is not available here"


class WorklistUnreadable(LaunchError):
    """Every population search failed: an empty table would claim "no patients"."""

    status = 502
    title = "The worklist could not be read"


def _readable(scopes: GrantedScopes) -> frozenset[str]:
    return frozenset(rtype for rtype in READ_TYPES if scopes.can_read(rtype))


def _backend_refusal(scopes: GrantedScopes) -> str | None:
    if all(scopes.can_write(rtype) for rtype in ("CarePlan", "Task", "Provenance")):
        return None
    return (
        "The app's backend credentials may read but not write CarePlan, Task and Provenance "
        "(SMARTAPP_BACKEND_SCOPES), so Tasks cannot be created from this worklist."
    )


def worklist_access() -> WorklistAccess:
    """The FHIR access for this request (module doc); WorklistUnavailable (403) or
    LoginRequired (401) if none."""
    context = current_context()
    config = launch_state().config
    if context is not None and context.patient_locked:
        raise WorklistUnavailable(
            "This launch is for one patient (patient-level access: the EHR opened the app "
            "with a patient in context), so it cannot list or open other patients. Open the "
            "worklist with a standalone launch that grants user-level access (a care "
            "coordinator's login), or with the app's own sign-in where your organisation has "
            "set it up."
        )
    if context is not None and context.user_level and not context.population:
        return WorklistAccess(
            mode="open" if context.open_server else "launch",
            fhir_base=context.fhir_base,
            label=context.tenant_label,
            context=context,
            readable=None if context.open_server else _readable(context.scopes),
            write_refusal=write_refusal(context),
            launch_id=context.launch_id,
            cache_key=f"session:{context.session_id}:{context.launch_id}",
        )
    if config.backend_iss:
        user, token = population_token()
        tenant = config.tenant(config.backend_iss)
        return WorklistAccess(
            mode="backend",
            fhir_base=config.backend_iss,
            label=tenant.display_name if tenant else config.backend_iss,
            context=None,
            readable=_readable(token.scope),
            write_refusal=_backend_refusal(token.scope),
            launch_id="",
            cache_key=f"backend:{config.backend_iss}",
            user=user,
        )
    if context is not None:
        raise WorklistUnavailable(
            "This launch cannot list patients (it has no user-level access). Open the "
            "worklist with a standalone launch that grants user-level access (a care "
            "coordinator's login)."
        )
    raise WorklistUnavailable(
        "There is no launch in this browser session. Open the app with a standalone launch "
        "(a care coordinator's login, /launch) or against an open FHIR server first."
    )


def _client(access: WorklistAccess, limits: ReadLimits) -> FhirClient:
    """A client that renews a refused token once (Backend Services or the launch's)."""
    timeout = launch_state().config.fhir_timeout_s
    if access.mode == "backend":
        _, token = population_token()
        return FhirClient(
            access.fhir_base,
            token=token.access_token,
            timeout=timeout,
            dialect=launch_state().config.dialect_for(access.fhir_base),
            limits=limits,
            reauthorize=lambda: population_token(force=True)[1].access_token,
        )
    if access.context is None:
        raise WorklistUnavailable("The launch has ended; launch the app again.")
    return fhir_client_for(access.context, limits=limits)


def _worklist_limits() -> ReadLimits:
    """The population read has its own, longer deadline (SMARTAPP_WORKLIST_DEADLINE)."""
    config = launch_state().config
    return ReadLimits.start(config.worklist_deadline_s, config.fhir_max_bytes)


def _with_fhir(access: WorklistAccess, work: Callable[[FhirClient], T]) -> T:
    """Run `work` with a client (which renews a refused token once)."""
    client = _client(access, _worklist_limits())
    try:
        return work(client)
    finally:
        client.close()


# -- building (and briefly keeping) the worklist --------------------------------------------


def _options(access: WorklistAccess) -> WorklistOptions:
    config = launch_state().config
    return WorklistOptions(
        group=config.worklist_group,
        group_only=config.worklist_group_only,
        readable=access.readable,
        timeout_s=max(config.fhir_timeout_s, 120.0),
    )


def _target(access: WorklistAccess) -> RefreshTarget:
    fhir_user = access.context.fhir_user if access.context is not None else None
    reader = reader_of(access.mode, fhir_user, access.launch_id)
    return target_for(access.fhir_base, reader, _options(access))


def _client_maker(access: WorklistAccess) -> ClientMaker:
    """FHIR clients for a background refresh, with this request's access (module doc).
    The refresh's reads share one clock, SMARTAPP_WORKLIST_DEADLINE, like the population
    read it replaced: a slow or hostile server cannot hold a web thread for ever."""
    limits = _worklist_limits()
    config = launch_state().config
    if access.mode == "backend":

        def backend() -> FhirClient:
            return FhirClient(
                access.fhir_base,
                token=job_token().access_token,
                timeout=config.fhir_timeout_s,
                dialect=config.dialect_for(access.fhir_base),
                limits=limits,
                reauthorize=lambda: job_token(force=True).access_token,
            )

        return backend
    context = access.context
    if context is None:
        raise WorklistUnavailable("The launch has ended; launch the app again.")
    return lambda: fhir_client_for(context, limits=limits)


def _start_refresh(access: WorklistAccess, target: RefreshTarget, *, full: bool = False) -> bool:
    return start_refresh(
        target,
        _client_maker(access),
        mappings=app_mappings(),
        settings=launch_state().config.rules,
        as_of=_today(),
        full=full,
    )


def _should_start(state: StoredState, today: date) -> bool:
    """Start a refresh on a page view: nothing stored yet, or stored on an earlier day —
    unless one runs, or one failed a short while ago (the page offers "try again")."""
    if state.running is not None:
        return False
    if state.failure is not None and time.time() - (state.failure.finished_at or 0) < RETRY_S:
        return False
    return state.latest is None or state.latest.as_of < today


@dataclass(frozen=True)
class WorklistView:
    access: WorklistAccess
    target: RefreshTarget
    state: StoredState
    as_of: date
    #: Every row of the stored worklist for `as_of` (unfiltered).
    rows: list[WorklistRow]
    #: A refresh runs, or this request has just started one (it may not show yet).
    refreshing: bool = False


# -- pages -------------------------------------------------------------------------------


def _today() -> date:
    return date.today()


def _view(filters: WorklistFilters) -> WorklistView:
    access = worklist_access()
    target = _target(access)
    state = stored_state(target)
    today = _today()
    started = _should_start(state, today) and _start_refresh(access, target)
    if started:
        state = stored_state(target)
    as_of = filters.as_of or today
    rows: list[WorklistRow] = []
    if state.latest is not None:
        config = launch_state().config
        rows = stored_rows(state.latest, as_of, mappings=app_mappings(), settings=config.rules)
    refreshing = (
        started or state.running is not None or refresher_of(current_app).running(target.key)
    )
    return WorklistView(access, target, state, as_of, rows, refreshing)


def _url(endpoint: str, query: str) -> str:
    base = url_for(endpoint)
    return f"{base}?{query}" if query else base


SORTABLE = (
    ("name", "Patient"),
    ("phase", "Phase"),
    ("next_due", "Next dose due"),
    ("overdue", "Overdue"),
    ("severity", "Highest severity"),
    ("tasks", "Open Tasks"),
)


def _unreadable(state: StoredState) -> WorklistUnreadable:
    return WorklistUnreadable(
        f"{state.failure.error if state.failure else ''} Try again in a few minutes; if it "
        "keeps happening, tell your administrator."
    )


def _age(seconds: float) -> str:
    minutes = int(max(seconds, 0) // 60)
    if minutes < 1:
        return "less than a minute ago"
    if minutes < 120:
        return f"{minutes} minute{'s' if minutes != 1 else ''} ago"
    return f"{minutes // 60} hours ago"


@bp.get("/worklist")
def index() -> BaseResponse:
    filters = WorklistFilters.from_query(request.args)
    try:
        view = _view(filters)
    except LoginRequired:
        # Population mode and no sign-in yet: off to the organisation's sign-in page.
        return redirect(url_for("launch.login"), code=302)
    state = view.state
    if state.latest is None and not view.refreshing and state.failure is not None:
        raise _unreadable(state)
    shown = filters.apply(view.rows)
    page = filters.paginate(shown)
    query = filters.query_string()
    latest = state.latest
    stats = latest.stats if latest is not None else {}
    read_at = datetime.fromtimestamp(
        (latest.finished_at or latest.started_at) if latest else time.time(), UTC
    )
    failed_at = datetime.fromtimestamp(
        (state.failure.finished_at or state.failure.started_at) if state.failure else 0, UTC
    )
    html = render_template(
        "worklist/index.html",
        access=view.access,
        state=state,
        refreshing=view.refreshing,
        page=page,
        all_count=len(view.rows),
        stats=stats,
        problems=list(stats.get("problems", [])),
        notes=list(stats.get("notes", [])),
        filters=filters,
        as_of=view.as_of,
        read_at=read_at,
        read_age=_age(time.time() - read_at.timestamp()),
        failed_at=failed_at,
        permalink=_url("worklist.index", query),
        csv_url=_url("worklist.csv_export", filters.query_string(page=1)),
        status_url=url_for("worklist.refresh_status"),
        return_query=query,
        sort_links={
            column: _url("worklist.index", urlencode(filters.sort_link(column)))
            for column, _ in SORTABLE
        },
        page_links={
            name: _url("worklist.index", filters.query_string(page=number))
            for name, number in (
                ("first", 1),
                ("previous", page.number - 1),
                ("next", page.number + 1),
                ("last", page.pages),
            )
        },
        statuses=STATUSES,
        status_labels=STATUS_LABELS,
        checks=[(check_id, check_label(check_id)) for check_id in CHECKS_BY_ID],
        phases=PHASE_ORDER,
        task_filters=TASK_FILTERS,
        page_sizes=PAGE_SIZES,
        max_patients=MAX_PATIENTS,
    )
    return Response(html, mimetype="text/html")


@bp.get("/worklist.csv")
def csv_export() -> Response:
    """Every filtered row (all pages) of the stored worklist."""
    filters = WorklistFilters.from_query(request.args)
    view = _view(filters)
    if view.state.latest is None:
        if view.state.failure is not None and view.state.running is None:
            raise _unreadable(view.state)
        response = _message(
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
    filters = WorklistFilters.from_query(_parse_query(request.form.get("return", "")))
    try:
        access = worklist_access()
    except LoginRequired:
        return redirect(url_for("launch.login"), code=302)
    started = _start_refresh(access, _target(access))
    log.info("worklist refresh requested (%s)", "started" if started else "already running")
    return redirect(_url("worklist.index", filters.query_string()), code=303)


@bp.get("/worklist/refresh-status")
def refresh_status() -> Response:
    """The stored worklist's refresh, for the page's progress (no patient data)."""
    access = worklist_access()
    response = jsonify(stored_state(_target(access)).status_json())
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/worklist/tasks")
def tasks() -> Response:
    access = worklist_access()
    filters = WorklistFilters.from_query(_parse_query(request.form.get("return", "")))
    back = _url("worklist.index", filters.query_string())
    if access.mode != "backend" and (
        access.context is None or not same_launch(access.context, request.form.get("launch_id"))
    ):
        return _message(
            400,
            "This form belongs to an earlier launch",
            "The app was launched again since this page was shown, so nothing was written. "
            "Reload the worklist and try again.",
            back,
        )
    if access.write_refusal:
        return _message(403, "Tasks cannot be created here", access.write_refusal, back)
    selected = list(dict.fromkeys(request.form.getlist("patient")))
    if not selected:
        return _message(400, "No patient selected", "Select at least one patient.", back)
    if len(selected) > MAX_PATIENTS or not all(is_fhir_id(pid) for pid in selected):
        return _message(
            400,
            "The selection cannot be used",
            f"Choose at most {MAX_PATIENTS} patients from the worklist.",
            back,
        )
    as_of = filters.as_of or _today()
    config = launch_state().config
    mappings = app_mappings()

    def work(client: FhirClient) -> list[PatientTasksResult]:
        ctx = _write_context(client, access)
        return create_tasks(
            client,
            selected,
            ctx,
            mappings=mappings,
            settings=config.rules,
            as_of=as_of,
            readable=access.readable,
        )

    try:
        results = _with_fhir(access, work)
    except FhirError as err:
        log.info("worklist task creation failed (HTTP %s)", err.status)
        return _message(502, "Nothing could be written", f"The FHIR server failed: {err}", back)
    # The new Tasks show once the stored worklist has read them (changes only).
    refreshing = _start_refresh(access, _target(access))
    log.info(
        "worklist tasks: %d patients, %d written, %d failed",
        len(results),
        sum(1 for r in results if r.ok),
        sum(1 for r in results if not r.ok),
    )
    html = render_template(
        "worklist/tasks_result.html",
        results=results,
        back=back,
        created=sum(r.created for r in results),
        existed=sum(r.already_existed for r in results),
        reopened=sum(r.reopened for r in results),
        failed=sum(1 for r in results if not r.ok),
        refreshing=refreshing,
    )
    return Response(html, status=200, mimetype="text/html")


def _write_context(client: FhirClient, access: WorklistAccess) -> WriteContext:
    now = datetime.now(UTC)
    if access.context is not None:
        return write_context(client, access.context, now)
    # Population mode: the person who signed in to the app is the author (by name; the
    # identity provider's user is not a FHIR resource).
    display = f"{access.user.display} (signed in to the app)" if access.user else None
    return WriteContext(now=now, fhir_base=access.fhir_base, author_display=display)


def _parse_query(text: str) -> dict[str, list[str]]:
    return parse_qs(text[:2000], keep_blank_values=False)


def _message(status: int, title: str, message: str, back: str) -> Response:
    html = render_template("worklist/message.html", title=title, message=message, back=back)
    return Response(html, status=status, mimetype="text/html")


@bp.get("/worklist/open/<patient_id>")
def open_patient(patient_id: str) -> BaseResponse:
    """Put the patient in context and open the dashboard (user-level and backend access
    only: a patient-level launch stays on its own patient). A GET because it is a link
    (new tab, keyboard); another site may not switch the patient (Fetch Metadata: only a
    same-origin or user-typed navigation; a request without the header is refused too)."""
    if request.headers.get("Sec-Fetch-Site") not in ("same-origin", "none"):
        return _message(
            403,
            "Open the patient from the worklist",
            "This link did not come from the worklist page (another site, or a browser that "
            "does not say where it came from), so the patient in context was not changed.",
            url_for(".index"),
        )
    if not is_fhir_id(patient_id):
        return _message(400, "Not a patient id", "This link is broken.", url_for(".index"))
    access = worklist_access()
    state = launch_state()
    if access.context is not None:
        sid = access.context.session_id
        record = state.store.get(sid, LAUNCH_KEY) if sid else None
        if sid is None or record is None:
            raise WorklistUnavailable("The launch has ended; launch the app again.")
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
        {
            "launch_id": secrets.token_urlsafe(12),
            "iss": access.fhir_base,
            "tenant_label": access.label,
            "open_server": False,
            "population": True,
            "patient": patient_id,
            "patient_lock": False,
            "need_patient_banner": True,
            "fhir_user": None,
            "scope": token.scope.raw,
            "started_at": time.time(),
        },
    )


bp.add_app_template_global(check_label, "check_label")


@bp.app_template_global("worklist_status")
def worklist_status(status: str) -> dict[str, Any]:
    icon, word = STATUS_LABELS.get(status, ("?", status))
    return {"icon": icon, "word": word, "key": status}
