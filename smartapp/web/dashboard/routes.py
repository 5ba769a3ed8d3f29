"""The dashboard routes (package doc): `/patient` and `/launch.html`."""

from __future__ import annotations

import logging
import secrets
import time
from datetime import date
from typing import Any

from flask import Blueprint, Response, render_template, request

from smartapp.launch.context import current_context
from smartapp.launch.state import launch_state
from smartapp.web.dashboard.launch_page import launch_page_html
from smartapp.web.dashboard.page import build_dashboard
from smartapp.web.dashboard.reading import read_patient, server_timing
from smartapp.web.dashboard.views import FetchInfo, PageContext
from smartapp.web.fhir_access import app_mappings, rule_settings

log = logging.getLogger(__name__)

bp = Blueprint("dashboard", __name__)


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
        settings=rule_settings(),
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
