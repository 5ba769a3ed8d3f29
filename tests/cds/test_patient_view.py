"""patient-view: the dashboard's findings as cards, from the prefetch (no FHIR request)."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from domain.findings import Status, Summary
from fhir_mappings.site import load_mappings
from smartapp import patient_service
from smartapp.cds.cards import INDICATOR
from smartapp.cds.views import CdsState
from smartapp.demo.situations import DEMO_SLUGS, build_situation
from smartapp.rules.settings import RuleSettings
from tests.cds.cds_fakes import bearer, card_checks, hook_body, prefetch_from

SERVICE = "ofatumumab-patient-view"
#: The demo's dates are relative to its anchor: moving the anchor back is opening the chart
#: that many days later.
DAYS_LATER = (0, 10, 45, 120, 300)
CARD_STATUSES = {Status.ALERT, Status.OVERDUE, Status.DUE, Status.UNKNOWN}


def dashboard_summary(resources: list[dict[str, Any]], patient_id: str) -> Summary:
    fetched = patient_service.FetchedPatient(resources=resources)
    _, _, summary = patient_service.evaluate_fetched(
        fetched, patient_id, date.today(), load_mappings(None), RuleSettings()
    )
    return summary


def call(client: FlaskClient, body: dict[str, Any], service: str = SERVICE) -> Any:
    reply = client.post(f"/cds-services/{service}", json=body, headers=bearer(service))
    assert reply.status_code == 200, reply.get_data(as_text=True)
    return reply.get_json()["cards"]


@pytest.mark.parametrize("later", DAYS_LATER)
def test_cards_are_the_dashboard_findings_for_every_demo_patient(
    client: FlaskClient, cds: CdsState, later: int
) -> None:
    anchor = date.today() - timedelta(days=later)
    for slug in DEMO_SLUGS:
        resources = build_situation(slug, anchor)
        cards = call(
            client, hook_body(SERVICE, slug, prefetch=prefetch_from(resources, cds.templates))
        )
        summary = dashboard_summary(resources, slug)
        expected = [
            f for f in summary.findings if f.status in CARD_STATUSES and f.acknowledgement is None
        ]
        assert card_checks(cards) == [f.check for f in expected], (slug, later)
        for card, finding in zip(cards, expected, strict=True):
            assert card["summary"] == finding.title
            assert card["indicator"] == INDICATOR[finding.severity]
            assert "**Status:** " in card["detail"]
            if finding.due:
                assert f"**Due:** {finding.due.isoformat()}" in card["detail"]
            for item in finding.evidence:
                assert re.escape(item.reference.split("/")[0]) in card["detail"]


def test_a_patient_who_never_had_ofatumumab_gets_no_cards(
    client: FlaskClient, cds: CdsState
) -> None:
    patient = {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1990-01-01"}
    cards = call(client, hook_body(SERVICE, "p1", prefetch=prefetch_from([patient], cds.templates)))
    assert cards == []
