"""`/cds-services`: discovery, the three services, feedback and the report (CDS Hooks 2.0).

    GET  /cds-services                      discovery (no PHI; open)
    POST /cds-services/<id>                 a hook call → {"cards": [...]}
    POST /cds-services/<id>/feedback        accepted / overridden outcomes
    GET  /cds-services/report               the clinic lead's counts (needs a launch)
    GET  /docs/clinical-rules.md            the rules document cards link to

Order of work for a call: authenticate the JWT (401, nothing else happens), read the body
(400), check `fhirServer` against the allowlist (403, no request to it), then read
(prefetch + at most one batch), evaluate and answer. Server trouble is never an error
here: the affected checks say unknown, or a card says the checks could not run.

CORS: every response of the CDS endpoints allows any origin (`*`) without credentials:
the calls are authenticated by the bearer JWT, never by cookies, so a browser-based CDS
client on any origin may call, and no other page can borrow a user's session.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, render_template, request
from flask.blueprints import BlueprintSetupState
from flask.sansio.app import App

from fhir_mappings.read.draft_orders import DraftOrders, read_draft_orders
from fhir_mappings.search.table import SearchSpec
from smartapp import patient_service
from smartapp.cds.auth import Authenticator, CdsAuthError
from smartapp.cds.cards import Card, CardLinks
from smartapp.cds.clients import load_cds_clients
from smartapp.cds.feedback import (
    REPORT_WEEKS,
    BadFeedback,
    CardIssued,
    FeedbackStore,
    build_report,
    parse_feedback,
)
from smartapp.cds.hooks import Evaluation, HookContext, OrderCall, order_cards, patient_view_cards
from smartapp.cds.prefetch import PrefetchTemplate, prefetch_templates
from smartapp.cds.read import HookData, allowed_server, read_hook_data
from smartapp.cds.request import BadHookRequest, HookRequest, parse_hook_request
from smartapp.cds.services import SERVICES, SERVICES_BY_ID, Service, discovery_document
from smartapp.fhir import ReadLimits
from smartapp.launch.context import current_context
from smartapp.launch.login import current_login
from smartapp.launch.state import launch_state
from smartapp.store.cds import DatabaseFeedbackStore, DatabaseReplayCache
from smartapp.store.database import Database
from smartapp.store.startup import token_cipher
from smartapp.web.dashboard.reading import server_timing as timing_header
from smartapp.web.database import EXTENSION as DATABASE_EXTENSION
from smartapp.web.errors import TITLES, render_error
from smartapp.web.security import csrf_exempt_blueprint

log = logging.getLogger(__name__)

bp = csrf_exempt_blueprint(Blueprint("cds", __name__))

EXTENSION = "smartapp.cds"
RULES_DOC = "clinical-rules.md"
#: The rules document: in the repository, or next to an installed app (the Docker image).
RULES_PATHS = (
    Path(__file__).resolve().parents[2] / "docs" / RULES_DOC,
    Path("docs") / RULES_DOC,
)
#: A draft's Medication read from the server: its failure taints no record area.
DRAFT_AREA = "draft-orders"


@dataclass
class CdsState:
    templates: tuple[PrefetchTemplate, ...]
    authenticator: Authenticator
    feedback: FeedbackStore


def install_cds(app: App) -> CdsState:
    """Load the CDS clients and the prefetch templates once (a bad file stops start-up)."""
    state = app.extensions.get(EXTENSION)
    if isinstance(state, CdsState):
        return state
    config = app.extensions["smartapp.launch"].config
    clients = load_cds_clients(config.cds_clients_path, [service.id for service in SERVICES])
    # In the app's database, shared by every process: one report, and a JWT replayed to
    # another worker is refused too.
    db: Database = app.extensions[DATABASE_EXTENSION]
    state = CdsState(
        templates=prefetch_templates(config.mappings),
        authenticator=Authenticator(clients, replay=DatabaseReplayCache(db)),
        feedback=DatabaseFeedbackStore(db, token_cipher(config)),
    )
    app.extensions[EXTENSION] = state
    return state


def _on_register(setup: BlueprintSetupState) -> None:
    install_cds(setup.app)


bp.record_once(_on_register)


def cds_state() -> CdsState:
    return install_cds(current_app._get_current_object())  # type: ignore[attr-defined]


# -- CORS and small helpers --------------------------------------------------------------------


@bp.after_request
def _cors(response: Response) -> Response:
    if request.endpoint == "cds.report":
        return response
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
    response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
    response.headers["Access-Control-Expose-Headers"] = "Server-Timing"
    response.headers["Access-Control-Max-Age"] = "600"
    return response


def _error(status: int, error: str, message: str) -> Response:
    response = jsonify({"error": error, "message": message})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return response


def app_base() -> str:
    config = launch_state().config
    return (config.public_url or request.url_root).rstrip("/")


def service_url(service: Service) -> str:
    return f"{app_base()}/cds-services/{service.id}"


def _links() -> CardLinks:
    base = app_base()
    return CardLinks(launch_url=f"{base}/launch", rules_url=f"{base}/docs/{RULES_DOC}")


def _authenticate(service: Service, *audiences: str) -> Response | None:
    try:
        cds_state().authenticator.authenticate(
            request.headers.get("Authorization"), service_id=service.id, audiences=audiences
        )
    except CdsAuthError as err:
        log.warning("CDS call to %s refused: %s", service.id, err)
        return _error(401, "unauthorized", f"CDS client authentication failed: {err}")
    return None


# -- discovery -----------------------------------------------------------------------------


@bp.get("/cds-services")
def discovery() -> Response:
    return jsonify(discovery_document(cds_state().templates))


# -- the services ----------------------------------------------------------------------------


def _evaluate(
    data: HookData, patient_id: str, as_of: date, extra: list[Any] | None = None
) -> Evaluation:
    fetched = data.fetched
    if extra:
        fetched = replace(fetched, resources=[*fetched.resources, *extra])
    fetched, record, summary = patient_service.evaluate_fetched(
        fetched, patient_id, as_of, launch_state().config.mappings, launch_state().config.rules
    )
    return Evaluation(fetched, record, summary)


def _order_call(
    service: Service, hook: HookRequest, data: HookData, drafts: DraftOrders, today: date
) -> OrderCall:
    as_of = max([today, *(order.on for order in drafts.orders)])
    base = _evaluate(data, hook.patient_id, as_of)
    with_drafts = _evaluate(
        data, hook.patient_id, as_of, [*drafts.medications, *drafts.stand_ins()]
    )
    focus = drafts.orders
    if service.hook == "order-select" and hook.selections:
        chosen = set(hook.selections)
        focus = tuple(order for order in drafts.orders if order.reference in chosen) or focus
    return OrderCall(base=base, with_drafts=with_drafts, drafts=drafts, focus=focus)


@bp.post("/cds-services/<service_id>")
def call_service(service_id: str) -> Response:
    service = SERVICES_BY_ID.get(service_id)
    if service is None:
        return _error(404, "not_found", f"There is no CDS service '{service_id}' here.")
    refused = _authenticate(service, service_url(service))
    if refused is not None:
        return refused
    try:
        hook = parse_hook_request(request.get_json(silent=True), service)
    except BadHookRequest as err:
        return _error(400, "bad_request", f"This call cannot be used: {err}.")
    config = launch_state().config
    tenant = allowed_server(hook, config)
    if hook.fhir_server is not None and tenant is None:
        log.warning("CDS call to %s names a FHIR server not on the allowlist", service.id)
        return _error(
            403,
            "fhir_server_not_allowed",
            "fhirServer is not on this app's allowlist (SMARTAPP_ISSUERS); nothing was read.",
        )
    started = time.perf_counter()
    today = date.today()
    drafts = read_draft_orders(hook.draft_orders, hook.patient_id, today)
    extra = [SearchSpec(DRAFT_AREA, reference) for reference in drafts.missing_medications]
    state = cds_state()
    data = read_hook_data(
        hook,
        state.templates,
        tenant=tenant,
        timeout_s=config.fhir_timeout_s,
        extra=extra,
        limits=ReadLimits.start(config.fhir_deadline_s, config.fhir_max_bytes),
    )
    read_at = time.perf_counter()
    context = HookContext(links=_links(), now=datetime.now(UTC), fhir_base=hook.fhir_server)
    if service.orders:
        cards = order_cards(_order_call(service, hook, data, drafts, today), context)
    else:
        cards = patient_view_cards(_evaluate(data, hook.patient_id, today), context)
    done = time.perf_counter()
    _remember(service, cards, context.now)
    log.info(
        "CDS %s: %d card(s), %d FHIR request(s), %d of %d prefetch keys, fhir %.0f ms, "
        "rules %.1f ms",
        service.id,
        len(cards),
        data.fhir_requests,
        data.prefetched_keys,
        len(state.templates),
        (read_at - started) * 1000,
        (done - read_at) * 1000,
    )
    response = jsonify({"cards": [card.json for card in cards]})
    timing = timing_header(("fhir", (read_at - started) * 1000), ("rules", (done - read_at) * 1000))
    # How many FHIR requests the call cost (0 with a complete prefetch): for benchmarks.
    response.headers["Server-Timing"] = f"{timing}, fhir-requests;desc={data.fhir_requests}"
    return response


def _remember(service: Service, cards: list[Card], now: datetime) -> None:
    issued = [CardIssued(service.id, card.uuid, card.check, card.indicator, now) for card in cards]
    if issued:
        cds_state().feedback.cards_issued(issued)


# -- feedback and report ----------------------------------------------------------------------


@bp.post("/cds-services/<service_id>/feedback")
def feedback(service_id: str) -> Response:
    service = SERVICES_BY_ID.get(service_id)
    if service is None:
        return _error(404, "not_found", f"There is no CDS service '{service_id}' here.")
    url = service_url(service)
    refused = _authenticate(service, f"{url}/feedback", url)
    if refused is not None:
        return refused
    try:
        outcomes = parse_feedback(request.get_json(silent=True), service.id)
    except BadFeedback as err:
        return _error(400, "bad_request", f"This feedback cannot be used: {err}.")
    store = cds_state().feedback
    # Only cards this service returned count: the report's numbers stay the cards shown.
    # The unknown ids are not repeated back (they are the client's text).
    named = {item.card for item in outcomes}
    unknown = named - store.issued_by(service.id, named)
    if unknown:
        log.warning("CDS %s: feedback names %d card(s) it never issued", service.id, len(unknown))
        return _error(
            400,
            "unknown_card",
            f"This feedback cannot be used: {len(unknown)} of its cards were not issued by "
            f"{service.id}; nothing was stored.",
        )
    store.outcomes_received(outcomes)
    log.info("CDS %s: %d feedback item(s) stored", service.id, len(outcomes))
    return Response(status=200)


@bp.get("/cds-services/report")
def report() -> Response:
    if current_context() is None and current_login() is None:
        return render_error(
            401,
            TITLES[401],
            "Sign in to see the CDS report: launch the app from your EHR (or launch.html), "
            "or sign in for the worklist, first.",
        )
    store = cds_state().feedback
    since = datetime.now(UTC) - timedelta(weeks=REPORT_WEEKS)
    rows = build_report(store.issued(since), store.outcomes(since))
    if request.args.get("format") == "json":
        return jsonify({"rows": [row.to_json() for row in rows]})
    services = {service.id: service.title for service in SERVICES}
    html = render_template("cds/report.html", rows=rows, services=services)
    return Response(html, mimetype="text/html")


@bp.get(f"/docs/{RULES_DOC}")
def rules_document() -> Response:
    page = next((path for path in RULES_PATHS if path.is_file()), None)
    if page is None:
        return _error(404, "not_found", "The clinical rules document is not installed.")
    response = Response(page.read_text(encoding="utf-8"), mimetype="text/plain")
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
