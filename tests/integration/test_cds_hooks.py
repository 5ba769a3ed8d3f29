"""CDS Hooks against the real HAPI server: the service reads what was not prefetched in one
batch, a CDS client that fills the prefetch templates from the same server gets the same
cards with no request at all, and both equal the dashboard's findings."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from domain.findings import Status
from fhir_mappings.site import Mappings
from smartapp import patient_service
from smartapp.cds.read import read_hook_data
from smartapp.cds.request import HookRequest
from smartapp.cds.views import CdsState, install_cds
from smartapp.config import AppConfig
from smartapp.fhir import FhirClient
from smartapp.rules.settings import RuleSettings
from smartapp.web import create_app
from tests.cds.cds_fakes import bearer, card_checks, cds_config, hook_body, write_clients
from tests.support.seeded import SeededCohort

pytestmark = pytest.mark.integration

SERVICE = "ofatumumab-patient-view"
SIGN = "ofatumumab-order-sign"
CARD_STATUSES = {Status.ALERT, Status.OVERDUE, Status.DUE, Status.UNKNOWN}
MMR = {
    "resourceType": "MedicationRequest",
    "id": "draft-mmr",
    "status": "draft",
    "intent": "order",
    "medicationCodeableConcept": {
        "coding": [{"system": "http://hl7.org/fhir/sid/cvx", "code": "03"}],
        "text": "MMR vaccine",
    },
}


@pytest.fixture(scope="module")
def app(hapi_base: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    config = AppConfig(
        secret_key="test-secret-key-0123456789abcdef",
        issuers=(hapi_base,),
        open_servers=(hapi_base,),
    )
    flask_app = create_app(cds_config(config, write_clients(Path(tmp_path_factory.mktemp("cds")))))
    flask_app.testing = True
    yield flask_app


@pytest.fixture(scope="module")
def cds(app: Flask) -> CdsState:
    return install_cds(app)


def prefetch_like_an_ehr(base: str, patient_id: str, cds: CdsState) -> dict[str, Any]:
    """What a CDS client does with the discovery document: each template, filled and run."""
    prefetch: dict[str, Any] = {}
    with requests.Session() as http:
        for template in cds.templates:
            url = f"{base}/{template.template.replace('{{context.patientId}}', patient_id)}"
            reply = http.get(url, headers={"Accept": "application/fhir+json"}, timeout=30)
            assert reply.status_code == 200, (url, reply.text[:200])
            prefetch[template.key] = reply.json()
    return prefetch


def dashboard_checks(base: str, patient_id: str, mappings: Mappings) -> list[str]:
    with FhirClient(base) as fhir:
        fetched = patient_service.fetch_patient(fhir, patient_id, mappings)
    _, _, summary = patient_service.evaluate_fetched(
        fetched, patient_id, date.today(), mappings, RuleSettings()
    )
    return [
        f.check for f in summary.findings if f.status in CARD_STATUSES and f.acknowledgement is None
    ]


def test_patient_view_reads_hapi_and_matches_the_dashboard(
    client: FlaskClient, seeded_demo: SeededCohort, mappings: Mappings
) -> None:
    base = seeded_demo.base
    for slug, patient_id in sorted(seeded_demo.patient_ids.items()):
        body = hook_body(SERVICE, patient_id, fhir_server=base)
        reply = client.post(f"/cds-services/{SERVICE}", json=body, headers=bearer(SERVICE))
        assert reply.status_code == 200, reply.get_data(as_text=True)
        cards = reply.get_json()["cards"]
        assert card_checks(cards) == dashboard_checks(base, patient_id, mappings), slug


def test_one_batch_without_prefetch_and_none_with_it(
    app: Flask, cds: CdsState, seeded_demo: SeededCohort
) -> None:
    base = seeded_demo.base
    patient_id = seeded_demo.patient_ids["recurrent-infections"]
    config = app.extensions["smartapp.launch"].config
    tenant = config.tenant(base)
    fetched = read_hook_data(
        HookRequest("patient-view", "x", patient_id, fhir_server=base),
        cds.templates,
        tenant=tenant,
        timeout_s=30,
    )
    assert fetched.fhir_requests == 1
    assert fetched.fetched.incomplete == frozenset()
    prefetched = read_hook_data(
        HookRequest(
            "patient-view",
            "x",
            patient_id,
            fhir_server=base,
            prefetch=prefetch_like_an_ehr(base, patient_id, cds),
        ),
        cds.templates,
        tenant=tenant,
        timeout_s=30,
    )
    assert prefetched.fhir_requests == 0
    assert prefetched.prefetched_keys == len(cds.templates)

    def keys(resources: list[Any]) -> set[tuple[str, str]]:
        return {(r["resourceType"], r["id"]) for r in resources}

    assert keys(prefetched.fetched.resources) == keys(fetched.fetched.resources)


def test_prefetch_from_hapi_gives_the_same_cards(
    client: FlaskClient, cds: CdsState, seeded_demo: SeededCohort
) -> None:
    base = seeded_demo.base
    for slug in ("hbsag-positive", "recurrent-infections", "live-vaccine-on-therapy", "messy-data"):
        patient_id = seeded_demo.patient_ids[slug]
        fetched = client.post(
            f"/cds-services/{SERVICE}",
            json=hook_body(SERVICE, patient_id, fhir_server=base),
            headers=bearer(SERVICE),
        ).get_json()["cards"]
        prefetch = prefetch_like_an_ehr(base, patient_id, cds)
        prefetched = client.post(
            f"/cds-services/{SERVICE}",
            json=hook_body(SERVICE, patient_id, prefetch=prefetch),
            headers=bearer(SERVICE),
        ).get_json()["cards"]
        assert card_checks(prefetched) == card_checks(fetched), slug
        assert [c["summary"] for c in prefetched] == [c["summary"] for c in fetched]


def test_live_vaccine_order_read_from_hapi(client: FlaskClient, seeded_demo: SeededCohort) -> None:
    patient_id = seeded_demo.patient_ids["all-ok-maintenance"]
    body = hook_body(SIGN, patient_id, fhir_server=seeded_demo.base, draft_orders=[MMR])
    cards = client.post(f"/cds-services/{SIGN}", json=body, headers=bearer(SIGN)).get_json()[
        "cards"
    ]
    assert [(c["source"]["topic"]["code"], c["indicator"]) for c in cards] == [
        ("vaccine-live-on-therapy", "critical")
    ]
