"""The EHR side of a launch: `/launcher` opens the app (`iss`, `launch`); `/` lists patients."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flask import Blueprint, Response, redirect, render_template, request

from fhir_mappings.ids import is_fhir_id
from sandbox_ehr.fhir_proxy import upstream_patients
from sandbox_ehr.policy import Denied
from sandbox_ehr.state import SandboxState, sandbox

bp = Blueprint("launcher", __name__)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def allowed_launch_url(st: SandboxState, url: str) -> bool:
    """Only the registered apps' origins: the launcher must not be an open redirector."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    origins = st.clients.redirect_origins() | {_origin(st.config.app_launch_url)}
    origins |= {o.rstrip("/") for o in st.config.launch_origins}
    return _origin(url) in origins


def _bad_request(message: str) -> Response:
    html = render_template("error.html", error="invalid_request", description=message)
    return Response(html, 400, mimetype="text/html")


@bp.get("/launcher")
def launch() -> Response:
    st = sandbox()
    app_url = request.args.get("app") or st.config.app_launch_url
    if not allowed_launch_url(st, app_url):
        return _bad_request("app is not the launch URL of a registered app.")
    patient = request.args.get("patient") or None
    if patient is not None and not is_fhir_id(patient):
        return _bad_request("patient is not a FHIR id.")
    user_id = request.args.get("user") or st.config.users[0].id
    if st.config.user(user_id) is None:
        return _bad_request("user is not a sandbox user.")
    banner = request.args.get("need_patient_banner", "1").lower() in ("1", "true", "yes")
    context = st.store.create_launch(
        patient=patient,
        user_id=user_id,
        need_patient_banner=banner,
        expires_at=st.now() + st.config.launch_lifetime,
    )
    parts = urlsplit(app_url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [("iss", st.fhir_base), ("launch", context.launch_id)]
    target = urlunsplit(parts._replace(query=urlencode(query)))
    return redirect(target, 302)  # type: ignore[return-value]


@bp.get("/")
def index() -> Response:
    st = sandbox()
    app_url = request.args.get("app") or st.config.app_launch_url
    problem = None
    if not allowed_launch_url(st, app_url):
        problem, app_url = (
            "That app URL is not registered; using the default.",
            st.config.app_launch_url,
        )
    user_id = request.args.get("user") or st.config.users[0].id
    if st.config.user(user_id) is None:
        user_id = st.config.users[0].id
    try:
        patients = upstream_patients(st)
    except Denied as err:
        patients, problem = [], err.message
    html = render_template(
        "index.html",
        fhir_base=st.fhir_base,
        app_url=app_url,
        users=st.config.users,
        user_id=user_id,
        embedded=request.args.get("embedded") == "1",
        patients=patients,
        problem=problem,
    )
    return Response(html, 200, mimetype="text/html")
