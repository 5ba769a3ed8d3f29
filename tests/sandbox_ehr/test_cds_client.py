"""The sandbox's CDS Hooks client page: what it sends, and that the app accepts its JWTs."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest
import responses
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from fhir_mappings.site import load_mappings
from smartapp.cds.auth import Authenticator, KeySets
from smartapp.cds.clients import CdsClient
from smartapp.cds.prefetch import prefetch_templates
from smartapp.cds.services import discovery_document
from smartapp.store import Database
from smartapp.store.cds import DatabaseReplayCache
from smartapp.store.migrate import upgrade
from tests.sandbox_ehr.conftest import PUBLIC, UPSTREAM

CDS = "https://app.test/cds-services"
SIGN = f"{CDS}/ofatumumab-order-sign"
VIEW = f"{CDS}/ofatumumab-patient-view"
CARD = {
    "uuid": "card-1",
    "summary": "Live vaccine on therapy",
    "indicator": "critical",
    "detail": "A live vaccine \\(MMR\\) on 2026\\-01\\-01",
    "source": {
        "label": "Ofatumumab safety app",
        "url": "https://app.test/docs/clinical-rules.md",
        "topic": {"code": "vaccine-live-on-therapy"},
    },
    "links": [{"label": "Open", "url": "https://app.test/launch", "type": "smart"}],
    "suggestions": [
        {
            "label": "Remove the MMR vaccine order",
            "uuid": "s-1",
            "isRecommended": True,
            "actions": [
                {"type": "delete", "description": "x", "resourceId": "MedicationRequest/draft-mmr"}
            ],
        }
    ],
    "selectionBehavior": "at-most-one",
    "overrideReasons": [
        {
            "system": "urn:r",
            "code": "patient-decision",
            "display": "Informed decision of the patient",
        }
    ],
}


@pytest.fixture
def sandbox_app(make_app: Any) -> Flask:
    app: Flask = make_app(cds_services_url=CDS)
    return app


@pytest.fixture
def sandbox(sandbox_app: Flask) -> FlaskClient:
    return sandbox_app.test_client()


@pytest.fixture
def cds_service(rsps_sandbox: responses.RequestsMock) -> list[dict[str, Any]]:
    """The app's discovery document and services, answering with one card; the calls made."""
    templates = prefetch_templates(load_mappings(None))
    rsps_sandbox.get(CDS, json=discovery_document(templates))
    rsps_sandbox.get(
        re.compile(re.escape(UPSTREAM) + r"/.*"),
        json={"resourceType": "Bundle", "type": "searchset"},
    )
    calls: list[dict[str, Any]] = []

    def answer(request: Any) -> tuple[int, dict[str, str], str]:
        calls.append(
            {"url": request.url, "headers": dict(request.headers), "body": json.loads(request.body)}
        )
        return 200, {}, json.dumps({"cards": [CARD]})

    for url in (SIGN, VIEW, f"{SIGN}/feedback"):
        rsps_sandbox.add_callback(responses.POST, url, callback=answer)
    return calls


@pytest.fixture
def rsps_sandbox() -> Any:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def app_authenticator(sandbox: FlaskClient) -> Authenticator:
    """The app's check of JWTs, with the sandbox registered by its jku (served here)."""
    jwks = sandbox.get("/cds/jwks.json").get_json()
    client = CdsClient(iss=PUBLIC, services=frozenset({"*"}), jku=f"{PUBLIC}/cds/jwks.json")
    db = Database(None)
    upgrade(db)
    fetched: list[str] = []

    def fetch(url: str) -> object:
        fetched.append(url)
        return jwks

    return Authenticator(
        {PUBLIC: client}, replay=DatabaseReplayCache(db), key_sets=KeySets(fetch=fetch)
    )


def test_order_sign_with_prefetch_sends_a_jwt_the_app_accepts(
    sandbox: FlaskClient, cds_service: list[dict[str, Any]]
) -> None:
    page = sandbox.post(
        "/cds/call",
        data={"patient_id": "p1", "hook": "order-sign", "order": "mmr", "data": "prefetch"},
    )
    assert page.status_code == 200, page.get_data(as_text=True)
    html = page.get_data(as_text=True)
    assert 'data-check="vaccine-live-on-therapy"' in html and "[!!] Critical" in html
    assert "A live vaccine (MMR) on 2026-01-01" in html  # markdown escapes removed for display
    (sent,) = cds_service
    body = sent["body"]
    assert body["hook"] == "order-sign"
    assert body["context"]["patientId"] == "p1"
    assert (
        body["context"]["draftOrders"]["entry"][0]["resource"]["medicationCodeableConcept"][
            "coding"
        ][0]["code"]
        == "03"
    )
    assert set(body["prefetch"]) == {t.key for t in prefetch_templates(load_mappings(None))}
    assert "fhirServer" not in body
    token = sent["headers"]["Authorization"].removeprefix("Bearer ")
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header["alg"] == "RS384" and header["jku"] == f"{PUBLIC}/cds/jwks.json"
    auth = app_authenticator(sandbox)
    caller = auth.authenticate(
        sent["headers"]["Authorization"], service_id="ofatumumab-order-sign", audiences=[SIGN]
    )
    assert caller.client.iss == PUBLIC


def test_fhir_access_gives_the_service_a_patient_token(
    sandbox_app: Flask, sandbox: FlaskClient, cds_service: list[dict[str, Any]]
) -> None:
    page = sandbox.post(
        "/cds/call", data={"patient_id": "p1", "hook": "patient-view", "data": "fhir"}
    )
    assert page.status_code == 200
    body = cds_service[0]["body"]
    assert body["fhirServer"] == f"{PUBLIC}/fhir"
    authorization = body["fhirAuthorization"]
    assert authorization["token_type"] == "Bearer" and authorization["scope"] == "patient/*.rs"
    record = sandbox_app.extensions["sandbox_ehr"].store.access_token(authorization["access_token"])
    assert record is not None and record.context.patient == "p1"
    assert "prefetch" not in body


def mmr_card_feedback(sandbox: FlaskClient, **fields: str) -> TestResponse:
    """Sign an MMR order on the page, then send its (one) card's feedback form with `fields`."""
    page = sandbox.post(
        "/cds/call", data={"patient_id": "p1", "hook": "order-sign", "order": "mmr"}
    ).get_data(as_text=True)
    state = re.search(r'name="card_state" value="([^"]+)"', page)
    assert state
    return sandbox.post("/cds/feedback", data={"card_state": state.group(1), **fields})


def test_override_with_a_reason_is_sent_as_feedback(
    sandbox: FlaskClient, cds_service: list[dict[str, Any]]
) -> None:
    done = mmr_card_feedback(sandbox, outcome="overridden", reason="patient-decision", comment="ok")
    assert done.status_code == 200
    assert 'id="cds-feedback-status">200<' in done.get_data(as_text=True)
    item = cds_service[-1]["body"]["feedback"][0]
    assert cds_service[-1]["url"] == f"{SIGN}/feedback"
    assert item["card"] == "card-1" and item["outcome"] == "overridden"
    assert item["overrideReason"] == {"reason": CARD["overrideReasons"][0], "userComment": "ok"}


def test_accepting_a_removal_reports_the_suggestion(
    sandbox: FlaskClient, cds_service: list[dict[str, Any]]
) -> None:
    done = mmr_card_feedback(sandbox, outcome="accepted", suggestion="s-1")
    assert "removed the draft order MedicationRequest/draft-mmr" in done.get_data(as_text=True)
    assert cds_service[-1]["body"]["feedback"][0]["acceptedSuggestions"] == [{"id": "s-1"}]


def test_tampered_card_state_is_refused(sandbox: FlaskClient) -> None:
    done = sandbox.post("/cds/feedback", data={"card_state": "forged", "outcome": "overridden"})
    assert done.status_code == 400


def test_bad_form_values_are_refused(sandbox: FlaskClient) -> None:
    assert (
        sandbox.post("/cds/call", data={"patient_id": "../x", "hook": "patient-view"}).status_code
        == 400
    )
    assert (
        sandbox.post(
            "/cds/call", data={"patient_id": "p1", "hook": "order-sign", "order": "rm -rf"}
        ).status_code
        == 400
    )
