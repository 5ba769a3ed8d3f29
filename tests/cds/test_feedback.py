"""Feedback on cards, and the clinic lead's report."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient

from smartapp.cds.feedback import (
    BadFeedback,
    CardIssued,
    CardOutcome,
    build_report,
    parse_feedback,
    week_of,
)
from smartapp.cds.views import CdsState
from smartapp.demo.fhir_builders import CVX
from smartapp.demo.situations import build_situation
from tests.cds.cds_fakes import bearer, hook_body, prefetch_from
from tests.launch.launch_fakes import OPEN_ISS
from tests.support.navigation import TYPED

SIGN = "ofatumumab-order-sign"
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
MMR = {
    "resourceType": "MedicationRequest",
    "id": "draft-vax",
    "status": "draft",
    "intent": "order",
    "medicationCodeableConcept": {"coding": [{"system": CVX, "code": "03"}], "text": "MMR vaccine"},
}


def live_vaccine_card(client: FlaskClient, cds: CdsState) -> dict[str, Any]:
    resources = build_situation("all-ok-maintenance", date.today())
    body = hook_body(
        SIGN,
        "all-ok-maintenance",
        prefetch=prefetch_from(resources, cds.templates),
        draft_orders=[MMR],
    )
    reply = client.post(f"/cds-services/{SIGN}", json=body, headers=bearer(SIGN))
    card: dict[str, Any] = reply.get_json()["cards"][0]
    return card


def send(client: FlaskClient, items: list[dict[str, Any]], service: str = SIGN) -> Any:
    return client.post(
        f"/cds-services/{service}/feedback",
        json={"feedback": items},
        headers=bearer(service, "/feedback"),
    )


def test_override_with_reason_and_acceptance_are_stored_and_reported(
    client: FlaskClient, cds: CdsState
) -> None:
    overridden = live_vaccine_card(client, cds)
    accepted = live_vaccine_card(client, cds)
    reason = overridden["overrideReasons"][1]
    now = datetime.now(UTC).isoformat()
    reply = send(
        client,
        [
            {
                "card": overridden["uuid"],
                "outcome": "overridden",
                "overrideReason": {"reason": reason, "userComment": "discussed with the patient"},
                "outcomeTimestamp": now,
            },
            {
                "card": accepted["uuid"],
                "outcome": "accepted",
                "acceptedSuggestions": [{"id": accepted["suggestions"][0]["uuid"]}],
                "outcomeTimestamp": now,
            },
        ],
    )
    assert reply.status_code == 200
    outcomes = list(cds.feedback.outcomes(EPOCH))
    assert [o.outcome for o in outcomes] == ["overridden", "accepted"]
    assert outcomes[0].reason_code == reason["code"]
    assert outcomes[0].comment == "discussed with the patient"
    (row,) = build_report(cds.feedback.issued(EPOCH), cds.feedback.outcomes(EPOCH))
    assert (row.service, row.week) == (SIGN, week_of(date.today()))
    assert (row.shown, row.critical, row.accepted, row.overridden) == (2, 2, 1, 1)
    assert row.reasons == {reason["display"]: 1}
    assert row.checks == {"vaccine-live-on-therapy": 2}


def test_feedback_needs_a_jwt_for_the_feedback_endpoint(client: FlaskClient, cds: CdsState) -> None:
    card = live_vaccine_card(client, cds)["uuid"]
    item = {"card": card, "outcome": "overridden", "outcomeTimestamp": "2026-01-01T00:00:00Z"}
    reply = client.post(f"/cds-services/{SIGN}/feedback", json={"feedback": [item]})
    assert reply.status_code == 401
    wrong = client.post(
        f"/cds-services/{SIGN}/feedback",
        json={"feedback": [item]},
        headers=bearer("ofatumumab-patient-view", "/feedback"),
    )
    assert wrong.status_code == 401
    assert list(cds.feedback.outcomes(EPOCH)) == []
    # The service URL itself is accepted as the audience too.
    assert send_with_service_audience(client, [item]).status_code == 200


def test_feedback_on_cards_the_service_never_issued_is_refused_and_nothing_stored(
    client: FlaskClient, cds: CdsState
) -> None:
    real = live_vaccine_card(client, cds)["uuid"]
    now = datetime.now(UTC).isoformat()
    made_up = "0b7d6a1e-0000-4000-8000-000000000000"
    mixed = [
        {"card": real, "outcome": "overridden", "outcomeTimestamp": now},
        {"card": made_up, "outcome": "overridden", "outcomeTimestamp": now},
    ]
    reply = send(client, mixed)
    assert reply.status_code == 400
    assert reply.get_json()["error"] == "unknown_card"
    assert "1 of its cards" in reply.get_json()["message"]
    assert made_up not in reply.get_data(as_text=True)
    # A card of order-sign sent to patient-view's feedback is not patient-view's card.
    view = "ofatumumab-patient-view"
    elsewhere = send(client, mixed[:1], service=view)
    assert elsewhere.status_code == 400
    assert list(cds.feedback.outcomes(EPOCH)) == []
    (row,) = build_report(cds.feedback.issued(EPOCH), cds.feedback.outcomes(EPOCH))
    assert (row.shown, row.accepted, row.overridden) == (1, 0, 0)
    # The card's own service takes it.
    assert send(client, mixed[:1]).status_code == 200
    assert [o.card for o in cds.feedback.outcomes(EPOCH)] == [real]


def send_with_service_audience(client: FlaskClient, items: list[dict[str, Any]]) -> Any:
    return client.post(
        f"/cds-services/{SIGN}/feedback", json={"feedback": items}, headers=bearer(SIGN)
    )


@pytest.mark.parametrize(
    ("item", "words"),
    [
        ({"outcome": "accepted", "outcomeTimestamp": "2026-01-01T00:00:00Z"}, "feedback.card"),
        ({"card": "c", "outcome": "maybe", "outcomeTimestamp": "2026-01-01T00:00:00Z"}, "outcome"),
        (
            {"card": "c", "outcome": "accepted", "outcomeTimestamp": "2026-01-01T00:00:00Z"},
            "acceptedSuggestions",
        ),
        ({"card": "c", "outcome": "overridden", "outcomeTimestamp": "yesterday"}, "ISO 8601"),
        ({"card": "c", "outcome": "overridden"}, "outcomeTimestamp"),
        (
            {
                "card": "c",
                "outcome": "accepted",
                "acceptedSuggestions": [{"id": "s"}],
                "overrideReason": {"reason": {"code": "x"}},
                "outcomeTimestamp": "2026-01-01T00:00:00Z",
            },
            "overrideReason belongs",
        ),
    ],
)
def test_bad_feedback_is_a_400(
    client: FlaskClient, cds: CdsState, item: dict[str, Any], words: str
) -> None:
    reply = send(client, [item])
    assert reply.status_code == 400
    assert words in reply.get_json()["message"]
    assert list(cds.feedback.outcomes(EPOCH)) == []


def test_feedback_body_shape() -> None:
    with pytest.raises(BadFeedback, match="feedback"):
        parse_feedback({"cards": []}, SIGN)
    with pytest.raises(BadFeedback, match="empty"):
        parse_feedback({"feedback": []}, SIGN)
    with pytest.raises(BadFeedback, match="at most"):
        parse_feedback({"feedback": [{}] * 101}, SIGN)


def test_repeated_feedback_for_one_card_counts_once() -> None:
    at = datetime(2026, 3, 4, 10, tzinfo=UTC)
    issued = [CardIssued(SIGN, "c1", "pml", "critical", at)]
    outcomes = [
        CardOutcome(SIGN, "c1", "overridden", at),
        CardOutcome(SIGN, "c1", "overridden", at),
    ]
    (row,) = build_report(issued, outcomes)
    assert (row.shown, row.overridden) == (1, 1)
    assert row.reasons == {"(no reason given)": 1}


def test_report_groups_by_service_and_week() -> None:
    monday = datetime(2026, 3, 2, 9, tzinfo=UTC)
    next_week = datetime(2026, 3, 9, 9, tzinfo=UTC)
    issued = [
        CardIssued(SIGN, "a", "pml", "critical", monday),
        CardIssued("ofatumumab-patient-view", "b", "ig-low", "warning", monday),
        CardIssued(SIGN, "c", "pml", "critical", next_week),
    ]
    rows = build_report(issued, [])
    assert [(r.week, r.service, r.shown) for r in rows] == [
        ("2026-W11", SIGN, 1),
        ("2026-W10", SIGN, 1),
        ("2026-W10", "ofatumumab-patient-view", 1),
    ]


def test_report_page_needs_a_launch(client: FlaskClient) -> None:
    reply = client.get("/cds-services/report", headers={"Accept": "text/html"})
    assert reply.status_code == 401
    assert "text/html" in reply.content_type


def test_report_page_and_json_for_a_launched_user(client: FlaskClient, cds: CdsState) -> None:
    card = live_vaccine_card(client, cds)
    send(
        client,
        [
            {
                "card": card["uuid"],
                "outcome": "overridden",
                "overrideReason": {
                    "reason": card["overrideReasons"][0],
                    "userComment": "<b>Jane Doe</b>",
                },
                "outcomeTimestamp": datetime.now(UTC).isoformat(),
            }
        ],
    )
    opened = client.get("/open", query_string={"iss": OPEN_ISS, "patient": "p1"}, headers=TYPED)
    assert opened.status_code == 302
    page = client.get("/cds-services/report")
    assert page.status_code == 200, page.get_data(as_text=True)[:300]
    html = page.get_data(as_text=True)
    assert "vaccine-live-on-therapy: 1" in html
    assert card["overrideReasons"][0]["display"] in html
    assert "Jane Doe" not in html  # comments are never shown
    data = client.get("/cds-services/report?format=json").get_json()
    assert data["rows"][0]["overridden"] == 1
