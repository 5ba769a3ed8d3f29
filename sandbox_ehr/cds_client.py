"""The sandbox EHR as a CDS Hooks client: `/cds` calls a CDS service and shows its cards.

    GET  /cds                 choose a patient, a hook, a draft order and how data are given
    POST /cds/call            call the service (a signed JWT), show the cards
    POST /cds/feedback        accept a suggestion (applying it) or override a card (a reason)
    GET  /cds/jwks.json       the public key the CDS service verifies our JWTs with

Like an EHR, the sandbox reads the service's discovery document, then either fills its
prefetch templates from the FHIR server (prefetch) or hands the service `fhirServer` (the
sandbox's own FHIR proxy) with a short-lived patient-level token it issues for the call
(FHIR access). Every call carries a fresh JWT signed with RS384: `iss` = the sandbox's base
URL, `aud` = the endpoint, `exp` two minutes ahead, a random `jti`. Accepting a "create"
suggestion creates the resource on the FHIR server; a "delete" of a draft order just drops
the draft (drafts are never saved). The pages need no script.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from flask import Blueprint, Response, current_app, jsonify, render_template, request
from flask.blueprints import BlueprintSetupState
from itsdangerous import BadSignature, URLSafeTimedSerializer
from joserfc import jwt
from joserfc.jwk import RSAKey

from fhir_mappings.ids import is_fhir_id
from sandbox_ehr.cds_orders import DRAFT_ORDERS, draft_order
from sandbox_ehr.fhir_proxy import _Upstream, upstream_patients
from sandbox_ehr.policy import Denied
from sandbox_ehr.state import SandboxState, sandbox
from sandbox_ehr.tokens import GrantContext, TokenRecord, new_secret

bp = Blueprint("cds", __name__)

EXTENSION = "sandbox_ehr.cds"
ALG = "RS384"
JWT_LIFETIME_S = 120
TOKEN_LIFETIME_S = 300
#: The CDS service's client id at this "EHR" (fhirAuthorization.subject).
CDS_SERVICE_CLIENT = "ofatumumab-cds"
CDS_SCOPE = "patient/*.rs"
HOOKS = ("patient-view", "order-select", "order-sign")
TIMEOUT_S = 30.0
_MARKDOWN_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")


@dataclass
class CdsClientState:
    key: RSAKey
    services_url: str

    @property
    def kid(self) -> str:
        return str(self.key.kid)


def _on_register(setup: BlueprintSetupState) -> None:
    config = setup.app.extensions["sandbox_ehr"].config
    services_url = config.cds_services_url or _origin(config.app_launch_url) + "/cds-services"
    key = RSAKey.generate_key(2048, parameters={"kid": f"sandbox-cds-{new_secret(6)}"})
    setup.app.extensions[EXTENSION] = CdsClientState(key, services_url.rstrip("/"))


bp.record_once(_on_register)


def _state() -> CdsClientState:
    state: CdsClientState = current_app.extensions[EXTENSION]
    return state


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="sandbox-ehr-cds")


def issuer(st: SandboxState) -> str:
    return st.config.base_url


def jwks_url(st: SandboxState) -> str:
    """Where the CDS service finds our key (register it as the client's `jku`)."""
    return f"{st.config.base_url}/cds/jwks.json"


def signed_jwt(st: SandboxState, aud: str) -> str:
    now = int(time.time())
    claims = {
        "iss": issuer(st),
        "aud": aud,
        "exp": now + JWT_LIFETIME_S,
        "iat": now,
        "jti": uuid.uuid4().hex,
    }
    header = {
        "alg": ALG,
        "typ": "JWT",
        "kid": _state().kid,
        "jku": jwks_url(st),
    }
    return jwt.encode(header, claims, _state().key, algorithms=[ALG])


@bp.get("/cds/jwks.json")
def jwks() -> Response:
    public = _state().key.as_dict(private=False)
    public.update({"use": "sig", "alg": ALG})
    return jsonify({"keys": [public]})


# -- the form ----------------------------------------------------------------------------------


def _page(template: str, status: int = 200, **values: Any) -> Response:
    return Response(render_template(template, **values), status, mimetype="text/html")


@bp.get("/cds")
def form() -> Response:
    st = sandbox()
    try:
        patients = upstream_patients(st)
        problem = None
    except Denied as err:
        patients, problem = [], err.message
    return _page(
        "cds.html",
        patients=patients,
        users=st.config.users,
        orders=DRAFT_ORDERS,
        services_url=_state().services_url,
        problem=problem,
    )


# -- calling a service ------------------------------------------------------------------------


class CallError(Exception):
    """Why the call could not be made; shown on the page."""


def _discover(st: SandboxState, hook: str) -> dict[str, Any]:
    url = _state().services_url
    try:
        reply = st.http.get(url, headers={"Accept": "application/json"}, timeout=TIMEOUT_S)
        services = reply.json().get("services") if reply.status_code == 200 else None
    except (requests.RequestException, ValueError) as err:
        raise CallError(f"the CDS discovery document at {url} could not be read") from err
    for service in services or []:
        if isinstance(service, dict) and service.get("hook") == hook:
            return service
    raise CallError(f"{url} offers no service for the {hook} hook")


def _prefetch(st: SandboxState, templates: dict[str, str], patient_id: str) -> dict[str, Any]:
    """Each template filled and read from the FHIR server, as an EHR would."""
    upstream = _Upstream(st)
    found: dict[str, Any] = {}
    for key, template in templates.items():
        path, _, query = template.replace("{{context.patientId}}", patient_id).partition("?")
        try:
            reply = upstream.call("GET", path, query)
        except Denied:
            continue  # CDS Hooks: a key the EHR could not read is left out
        if reply.status_code == 200:
            found[key] = reply.json()
        elif reply.status_code == 404:
            found[key] = None
    return found


def _fhir_authorization(st: SandboxState, patient_id: str, user_id: str) -> dict[str, Any]:
    """A short-lived patient-level read token for the service, issued for this call only."""
    now = st.now()
    context = GrantContext(
        grant_id=new_secret(12),
        client_id=CDS_SERVICE_CLIENT,
        scope=CDS_SCOPE,
        user_id=user_id,
        patient=patient_id,
        need_patient_banner=False,
    )
    record = TokenRecord(
        access_token=new_secret(),
        scope=CDS_SCOPE,
        context=context,
        issued_at=now,
        expires_at=now + TOKEN_LIFETIME_S,
    )
    st.store.save_token(record)
    return {
        "access_token": record.access_token,
        "token_type": "Bearer",
        "expires_in": TOKEN_LIFETIME_S,
        "scope": CDS_SCOPE,
        "subject": CDS_SERVICE_CLIENT,
        "patient": patient_id,
    }


def hook_request(
    st: SandboxState,
    service: dict[str, Any],
    *,
    patient_id: str,
    user_id: str,
    order: str,
    data: str,
) -> dict[str, Any]:
    hook = str(service["hook"])
    context: dict[str, Any] = {"userId": f"Practitioner/{user_id}", "patientId": patient_id}
    if hook in ("order-select", "order-sign"):
        drafts = [draft_order(order, patient_id)] if order != "none" else []
        context["draftOrders"] = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": draft} for draft in drafts],
        }
        if hook == "order-select":
            context["selections"] = [f"MedicationRequest/{d['id']}" for d in drafts]
    body: dict[str, Any] = {"hook": hook, "hookInstance": str(uuid.uuid4()), "context": context}
    if data == "prefetch":
        templates = service.get("prefetch") or {}
        body["prefetch"] = _prefetch(st, dict(templates), patient_id)
    else:
        body["fhirServer"] = st.fhir_base
        body["fhirAuthorization"] = _fhir_authorization(st, patient_id, user_id)
    return body


def _post(st: SandboxState, url: str, body: dict[str, Any]) -> requests.Response:
    headers = {"Authorization": f"Bearer {signed_jwt(st, url)}", "Accept": "application/json"}
    try:
        return st.http.post(url, json=body, headers=headers, timeout=TIMEOUT_S)
    except requests.RequestException as err:
        raise CallError(f"{url} did not answer") from err


def plain_text(markdown: str) -> str:
    """Card markdown as the text it renders (escapes removed); the page shows it as text."""
    return _MARKDOWN_ESCAPE.sub(r"\1", markdown)


def detail_lines(markdown: str) -> list[list[tuple[str, bool]]]:
    """The detail as lines of (text, bold) pieces: enough Markdown for the sandbox's page
    (bold and line breaks; links and the rest stay text). Jinja escapes every piece."""
    lines = []
    for line in markdown.splitlines():
        if not line.strip():
            continue
        pieces = re.split(r"(?<!\\)\*\*", line)
        lines.append([(plain_text(piece), n % 2 == 1) for n, piece in enumerate(pieces) if piece])
    return lines


@bp.post("/cds/call")
def call() -> Response:
    st = sandbox()
    patient_id = (request.form.get("patient_id") or request.form.get("patient") or "").strip()
    hook = request.form.get("hook", "patient-view")
    order = request.form.get("order", "none")
    data = request.form.get("data", "prefetch")
    user_id = request.form.get("user") or st.config.users[0].id
    if not is_fhir_id(patient_id) or hook not in HOOKS or st.config.user(user_id) is None:
        return _page("cds_result.html", 400, problem="Choose a patient, a hook and a user.")
    if order not in ("none", *DRAFT_ORDERS) or data not in ("prefetch", "fhir"):
        return _page("cds_result.html", 400, problem="Choose a draft order and a data source.")
    try:
        service = _discover(st, hook)
        url = f"{_state().services_url}/{service['id']}"
        body = hook_request(
            st, service, patient_id=patient_id, user_id=user_id, order=order, data=data
        )
        started = time.perf_counter()
        reply = _post(st, url, body)
        elapsed_ms = (time.perf_counter() - started) * 1000
    except CallError as err:
        return _page("cds_result.html", 502, problem=str(err))
    if reply.status_code != 200:
        return _page(
            "cds_result.html",
            502,
            problem=f"The CDS service answered HTTP {reply.status_code}: {reply.text[:300]}",
        )
    cards = reply.json().get("cards") or []
    return _page(
        "cds_result.html",
        cards=[_view(card, url, patient_id) for card in cards],
        service=service,
        service_url=url,
        patient_id=patient_id,
        user_id=user_id,
        data=data,
        prefetched=len(body.get("prefetch") or {}),
        elapsed_ms=elapsed_ms,
    )


def _view(card: dict[str, Any], service_url: str, patient_id: str) -> dict[str, Any]:
    """The card with what the page shows, and its signed state for the feedback forms."""
    topic = (card.get("source") or {}).get("topic") or {}
    state = {
        "card": card.get("uuid"),
        "suggestions": card.get("suggestions") or [],
        "reasons": card.get("overrideReasons") or [],
        "service_url": service_url,
        "patient": patient_id,
    }
    return {
        **card,
        "check": topic.get("code", ""),
        "text": plain_text(str(card.get("detail", ""))),
        "lines": detail_lines(str(card.get("detail", ""))),
        "state": _serializer().dumps(state),
    }


# -- feedback ---------------------------------------------------------------------------------


def _apply(st: SandboxState, actions: list[dict[str, Any]]) -> list[str]:
    """What accepting the suggestion did, one line per action."""
    done = []
    for action in actions:
        kind = action.get("type")
        if kind == "create" and isinstance(action.get("resource"), dict):
            resource = action["resource"]
            reply = _Upstream(st).call(
                "POST",
                str(resource.get("resourceType")),
                body=json.dumps(resource),
                headers={"Content-Type": "application/fhir+json", "Prefer": "return=minimal"},
            )
            where = reply.headers.get("Location", "")
            done.append(
                f"created {resource.get('resourceType')} (HTTP {reply.status_code}) {where}"
            )
        elif kind == "delete":
            done.append(f"removed the draft order {action.get('resourceId')}")
        else:
            done.append(f"{kind}: not applied by the sandbox")
    return done


@bp.post("/cds/feedback")
def feedback() -> Response:
    st = sandbox()
    try:
        sent = _serializer().loads(request.form.get("card_state", ""), max_age=3600)
    except BadSignature:
        return _page(
            "cds_feedback.html", 400, problem="This card has expired; call the service again."
        )
    outcome = request.form.get("outcome")
    item: dict[str, Any] = {
        "card": sent["card"],
        "outcomeTimestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    applied: list[str] = []
    if outcome == "accepted":
        chosen = request.form.get("suggestion")
        suggestion = next((s for s in sent["suggestions"] if s.get("uuid") == chosen), None)
        if suggestion is None:
            return _page("cds_feedback.html", 400, problem="Choose a suggestion.")
        applied = _apply(st, list(suggestion.get("actions") or []))
        item.update(outcome="accepted", acceptedSuggestions=[{"id": chosen}])
    elif outcome == "overridden":
        item["outcome"] = "overridden"
        reason = next(
            (r for r in sent["reasons"] if r.get("code") == request.form.get("reason")), None
        )
        comment = (request.form.get("comment") or "").strip()
        override: dict[str, Any] = {}
        if reason is not None:
            override["reason"] = reason
        if comment:
            override["userComment"] = comment[:500]
        if override:
            item["overrideReason"] = override
    else:
        return _page("cds_feedback.html", 400, problem="Accept a suggestion or override the card.")
    url = f"{sent['service_url']}/feedback"
    try:
        reply = _post(st, url, {"feedback": [item]})
    except CallError as err:
        return _page("cds_feedback.html", 502, problem=str(err))
    return _page(
        "cds_feedback.html",
        status_code=reply.status_code,
        outcome=item["outcome"],
        applied=applied,
        patient_id=sent.get("patient"),
    )
