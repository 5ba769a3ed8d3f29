"""`/auth/authorize` (login, patient picker, consent) and `/auth/token`.

The pages keep no server session: every form carries the original OAuth parameters
plus a signed `_txn` holding what was chosen so far, so the flow also works inside an
EHR iframe where third-party cookies are blocked.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from authlib.oauth2.rfc6749 import OAuth2Error
from flask import Blueprint, Response, current_app, render_template, request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from fhir_mappings.ids import is_fhir_id
from sandbox_ehr.config import SandboxUser
from sandbox_ehr.fhir_proxy import upstream_patients
from sandbox_ehr.grants import Approval, SmartAuthorization
from sandbox_ehr.policy import Denied
from sandbox_ehr.server import oauth
from sandbox_ehr.state import SandboxState, sandbox

bp = Blueprint("auth", __name__)

OAUTH_PARAMS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "aud",
    "launch",
    "code_challenge",
    "code_challenge_method",
    "nonce",
)
TXN_MAX_AGE_S = 900


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="sandbox-ehr-authorize")


def _fingerprint(params: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(sorted(params.items())).encode()).hexdigest()


def _load_txn(fingerprint: str) -> dict[str, Any]:
    token = request.form.get("_txn")
    if not token:
        return {}
    try:
        data = _serializer().loads(token, max_age=TXN_MAX_AGE_S)
    except BadSignature:
        return {}
    if not isinstance(data, dict) or data.get("fp") != fingerprint:
        return {}
    return data


class _Page:
    """One step of the authorize flow, carrying the request and the choices so far."""

    def __init__(self, params: dict[str, str], txn: dict[str, Any], smart: SmartAuthorization):
        self.params = params
        self.txn = txn
        self.smart = smart

    def render(self, template: str, **context: Any) -> Response:
        signed = _serializer().dumps(self.txn)
        html = render_template(
            template,
            hidden={**self.params, "_txn": signed},
            client=self.smart.client.registration,
            smart=self.smart,
            **context,
        )
        return Response(html, 200, mimetype="text/html")


@bp.route("/auth/authorize", methods=["GET", "POST"])
def authorize() -> Any:
    st = sandbox()
    server = oauth()
    try:
        grant = server.get_consent_grant()
    except OAuth2Error as error:
        if error.redirect_uri:
            return server.handle_error_response(None, error)
        return _error_page(error.error, error.description, error.status_code or 400)
    except ValueError:
        # authlib quotes some parameters in its error text and refuses to build the error
        # when they hold characters OAuth forbids there (e.g. a '"' in redirect_uri).
        return _error_page("invalid_request", "The request has malformed parameters.", 400)

    smart: SmartAuthorization = grant.smart
    params = {k: request.values[k] for k in OAUTH_PARAMS if k in request.values}
    fingerprint = _fingerprint(params)
    txn = _load_txn(fingerprint) if request.method == "POST" else {}
    txn["fp"] = fingerprint
    page = _Page(params, txn, smart)
    action = request.form.get("action") if request.method == "POST" else None
    problem = None

    if action == "deny":
        return server.create_authorization_response(grant=grant, grant_user=None)
    if action == "login":
        if st.config.user(request.form.get("user")):
            txn["user"] = request.form["user"]
        else:
            problem = "Choose a user."
    if action == "patient":
        chosen = (request.form.get("patient_id") or "").strip() or request.form.get("patient", "")
        if is_fhir_id(chosen):
            txn["patient"] = chosen
        else:
            problem = "Choose a patient."

    runtime = st.runtime.snapshot()
    launch = smart.launch
    user = st.config.user(launch.user_id if launch else txn.get("user") or runtime.auto_login_user)
    if user is None:
        return page.render("login.html", users=st.config.users, problem=problem)

    patient = launch.patient if launch and launch.patient else txn.get("patient")
    if smart.needs_patient and not patient:
        return _patient_page(st, page, user, problem)

    if (action == "approve" and txn.get("consent_shown")) or runtime.auto_approve:
        approval = Approval(
            user=user,
            patient=patient,
            need_patient_banner=launch.need_patient_banner if launch else True,
        )
        return server.create_authorization_response(grant=grant, grant_user=approval)
    txn["consent_shown"] = True
    return page.render("consent.html", user=user, patient=patient)


def _error_page(error: str, description: str | None, status: int) -> Response:
    html = render_template("error.html", error=error, description=description)
    return Response(html, status, mimetype="text/html")


def _patient_page(
    st: SandboxState, page: _Page, user: SandboxUser, problem: str | None
) -> Response:
    try:
        patients = upstream_patients(st)
        unavailable = False
    except Denied:
        patients, unavailable = [], True
    return page.render(
        "patient.html", user=user, patients=patients, unavailable=unavailable, problem=problem
    )


@bp.post("/auth/token")
def token() -> Response:
    response: Response = oauth().create_token_response()
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response
