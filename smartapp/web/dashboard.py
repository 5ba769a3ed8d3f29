"""`/patient`: the neurologist's dashboard for the patient in the launch context (SPEC §4).

Thin: the launch context and a FHIR client come from `smartapp.launch.context`, the read
and the checks from `smartapp.patient_service`, the page data from `viewmodel`. The page
is rendered on the server and needs no script (CSP: no inline script or style).

Failures never show a traceback:
- no launch in this browser → a 401 page telling how to launch;
- the FHIR server fails or refuses part of the read → the page still renders, with a
  visible "data incomplete" banner; the affected checks say unknown (the rules do that);
- the token expired and cannot be refreshed → the "relaunch" page (RelaunchRequired).

Timing: `Server-Timing: fhir;dur=…, rules;dur=…, render;dur=…` (milliseconds). `rules`
covers reading the FHIR JSON into records and evaluating the checks; `render` covers the
view model and the template. The data panel shows the same numbers.

`/launch.html` serves the repository's launch page with its forms pointed at this app.
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, render_template, request
from markupsafe import escape

from domain.findings import Summary
from domain.records import AREAS, PatientRecord
from fhir_mappings.site import Mappings
from smartapp import patient_service
from smartapp.fhir import FhirClient, FhirError, TokenExpired
from smartapp.launch.context import (
    LaunchContext,
    current_context,
    fhir_client_for,
    view_limits,
)
from smartapp.launch.state import launch_state
from smartapp.web.viewmodel import FetchInfo, PageContext, build_dashboard

log = logging.getLogger(__name__)

bp = Blueprint("dashboard", __name__)


#: The launch page at the repository root (also opened as a file by developers).
#: launch.html lives at the repository root; an installed app (the Docker image) keeps a
#: copy in its working directory.
LAUNCH_PAGES = (Path(__file__).resolve().parents[2] / "launch.html", Path("launch.html"))
#: The app origin written into launch.html for use as a file; replaced when served here.
LAUNCH_PAGE_DEFAULT_APP = "http://127.0.0.1:8000"
#: Stylesheet path of launch.html as a file (relative to the repository root).
LAUNCH_PAGE_FILE_CSS = "smartapp/web/static/"


# -- mappings: parsed once, by load_config ---------------------------------------------------


def app_mappings() -> Mappings:
    """The mappings in force (`AppConfig.mappings`)."""
    return launch_state().config.mappings


# -- reading and evaluating one patient ----------------------------------------------------


@dataclass(frozen=True)
class PatientRead:
    record: PatientRecord
    summary: Summary
    fetched: patient_service.FetchedPatient
    queries: tuple[Any, ...]
    fhir_ms: float
    rules_ms: float


def _fetch(
    context: LaunchContext, patient_id: str, mappings: Mappings
) -> tuple[patient_service.FetchedPatient, FhirClient]:
    """One batch read (the client renews a refused token once; see `fhir_client_for`)."""
    partial = {} if context.open_server else {"partial_types": context.scopes.reads_only_part}
    client = fhir_client_for(context, limits=view_limits())
    try:
        return patient_service.fetch_patient(client, patient_id, mappings, **partial), client
    except TokenExpired:
        client.close()
        raise
    except FhirError as err:
        # batch_search reports server trouble as values; anything raised here (a query
        # off the base, …) still must not hide the page: everything is unknown.
        log.info("FHIR read failed (status %s)", err.status)
        failed = patient_service.FetchedPatient(
            resources=[], incomplete=frozenset(AREAS), problems=(f"FHIR read failed: {err}",)
        )
        return failed, client


def read_patient(context: LaunchContext, patient_id: str, as_of: date) -> PatientRead:
    """Read one patient from the context's server and evaluate the checks (never raises
    for server trouble; RelaunchRequired/TokenExpired propagate to the relaunch page)."""
    mappings = app_mappings()
    settings = launch_state().config.rules
    started = time.perf_counter()
    fetched, client = _fetch(context, patient_id, mappings)
    try:
        queries = tuple(client.requests_made)
    finally:
        client.close()
    fetched_at = time.perf_counter()
    fetched, record, summary = patient_service.evaluate_fetched(
        fetched, patient_id, as_of, mappings, settings
    )
    done = time.perf_counter()
    return PatientRead(
        record=record,
        summary=summary,
        fetched=fetched,
        queries=queries,
        fhir_ms=(fetched_at - started) * 1000,
        rules_ms=(done - fetched_at) * 1000,
    )


def server_timing(*metrics: tuple[str, float]) -> str:
    return ", ".join(f"{name};dur={ms:.1f}" for name, ms in metrics)


# -- pages -----------------------------------------------------------------------------------


def _page(template: str, status: int, **values: Any) -> Response:
    response = Response(render_template(template, **values), mimetype="text/html")
    response.status_code = status
    return response


@bp.get("/patient")
def patient() -> Response:
    context = current_context()
    if context is None:
        return _page("dashboard/no_context.html", 401)
    if not context.patient:
        return _page("dashboard/no_patient.html", 400, open_server=context.open_server)
    as_of = date.today()
    read = read_patient(context, context.patient, as_of)

    started = time.perf_counter()
    marker = f"render-ms-{secrets.token_hex(8)}"
    view = build_dashboard(
        read.summary,
        read.record,
        settings=launch_state().config.rules,
        mappings=app_mappings(),
        page=PageContext(
            need_patient_banner=context.need_patient_banner,
            can_write_plan=context.can_write_plan,
            open_server=context.open_server,
            server_label=context.tenant_label,
            launch_id=context.launch_id,
            scope_negotiated=context.scope_negotiated,
        ),
        fetch=FetchInfo(
            queries=read.queries,
            searches=read.fetched.queries,
            fhir_ms=read.fhir_ms,
            rules_ms=read.rules_ms,
        ),
    )
    html = render_template("dashboard/patient.html", view=view, render_ms=marker)
    render_ms = (time.perf_counter() - started) * 1000
    html = html.replace(marker, f"{render_ms:.1f}")
    response = Response(html, mimetype="text/html")
    response.headers["Server-Timing"] = server_timing(
        ("fhir", read.fhir_ms), ("rules", read.rules_ms), ("render", render_ms)
    )
    log.info(
        "dashboard: %d round trip(s), fhir %.0f ms, rules %.1f ms, render %.1f ms%s",
        len(read.queries),
        read.fhir_ms,
        read.rules_ms,
        render_ms,
        ", data incomplete" if read.summary.data.incomplete else "",
    )
    return response


#: The local open server launch.html offers when opened as a file.
LAUNCH_PAGE_DEFAULT_FHIR = "http://127.0.0.1:8080/fhir"
LAUNCH_PAGE_DEFAULT_EHR = "http://127.0.0.1:9090"


def launch_page_html(
    app_origin: str, local_fhir: str | None = None, sandbox_ehr: str | None = None
) -> str:
    """launch.html with its forms pointed at `app_origin` and its CSS at /static/; the local
    open server field defaults to `local_fhir` (the configured default server), and the
    sandbox EHR form and link point at `sandbox_ehr`, when given."""
    page = next((path for path in LAUNCH_PAGES if path.is_file()), LAUNCH_PAGES[0])
    text = page.read_text(encoding="utf-8")
    origin = str(escape(app_origin.rstrip("/")))
    text = text.replace(LAUNCH_PAGE_DEFAULT_APP, origin)
    if local_fhir:
        text = text.replace(LAUNCH_PAGE_DEFAULT_FHIR, str(escape(local_fhir)))
    if sandbox_ehr:
        text = text.replace(LAUNCH_PAGE_DEFAULT_EHR, str(escape(sandbox_ehr.rstrip("/"))))
    text = text.replace(f'href="{LAUNCH_PAGE_FILE_CSS}', 'href="/static/')
    # The note for readers of the file copy does not apply when the app serves the page.
    start, end = "<!-- file-only -->", "<!-- /file-only -->"
    while start in text and end in text.split(start, 1)[1]:
        head, rest = text.split(start, 1)
        text = head + rest.split(end, 1)[1]
    return text


@bp.get("/launch.html")
def launch_page() -> Response:
    config = launch_state().config
    origin = config.public_url or request.url_root
    local = config.fhir_base if config.fhir_base in config.open_servers else None
    try:
        html = launch_page_html(origin, local, config.sandbox_ehr)
    except OSError:
        return _page("dashboard/no_launch_page.html", 404)
    response = Response(html, mimetype="text/html")
    response.headers["Cache-Control"] = "no-cache"
    return response
