"""Where a hook's data come from: the prefetch, else ONE batch read of what is missing."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
import responses
from flask.testing import FlaskClient

from smartapp.cds.cards import NOT_RUN
from smartapp.cds.views import CdsState
from smartapp.demo.situations import build_situation
from tests.cds.cds_fakes import bearer, card_checks, hook_body, prefetch_from
from tests.launch.launch_fakes import ISS, OPEN_ISS

SERVICE = "ofatumumab-patient-view"
SLUG = "recurrent-infections"


def call(client: FlaskClient, body: dict[str, Any]) -> Any:
    return client.post(f"/cds-services/{SERVICE}", json=body, headers=bearer(SERVICE))


def fhir_server(
    rsps: responses.RequestsMock, base: str, resources: list[dict[str, Any]], cds: CdsState
) -> list[list[str]]:
    """A FHIR server answering batch reads from `resources`; returns the URLs of each batch."""
    answers = {template.search_for(SLUG).url: template.key for template in cds.templates}
    every = prefetch_from(resources, cds.templates)
    batches: list[list[str]] = []

    def batch(request: Any) -> tuple[int, dict[str, str], str]:
        body = json.loads(request.body)
        urls = [entry["request"]["url"] for entry in body["entry"]]
        batches.append(urls)
        entries = []
        for url in urls:
            found = every.get(answers.get(url, ""))
            if found is None:
                found = {"resourceType": "Bundle", "type": "searchset", "entry": []}
            entries.append({"resource": found, "response": {"status": "200 OK"}})
        reply = {"resourceType": "Bundle", "type": "batch-response", "entry": entries}
        return 200, {"Content-Type": "application/fhir+json"}, json.dumps(reply)

    rsps.add_callback(responses.POST, base, callback=batch)
    return batches


@dataclass(frozen=True)
class Served:
    """The SLUG patient on the FHIR server at ISS: its resources, the batches read, and the
    prefetch a client could have sent with every search filled in."""

    resources: list[dict[str, Any]]
    batches: list[list[str]]
    prefetch: dict[str, Any]


@pytest.fixture
def served(cds: CdsState, rsps: responses.RequestsMock) -> Served:
    resources = build_situation(SLUG, date.today())
    batches = fhir_server(rsps, ISS, resources, cds)
    return Served(resources, batches, prefetch_from(resources, cds.templates))


def test_without_prefetch_one_batch_with_the_clients_token(
    client: FlaskClient, cds: CdsState, rsps: responses.RequestsMock, served: Served
) -> None:
    reply = call(client, hook_body(SERVICE, SLUG, fhir_server=ISS, token="ehr-token"))
    assert reply.status_code == 200
    assert len(rsps.calls) == 1
    assert reply.headers["Server-Timing"].endswith("fhir-requests;desc=1")
    assert rsps.calls[0].request.headers["Authorization"] == "Bearer ehr-token"
    assert len(served.batches[0]) == len(cds.templates)
    prefetched = call(client, hook_body(SERVICE, SLUG, prefetch=served.prefetch))
    assert card_checks(reply.get_json()["cards"]) == card_checks(prefetched.get_json()["cards"])
    assert card_checks(prefetched.get_json()["cards"]) == [
        "ig-low",
        "infection-active",
        "ig-monitoring",
    ]


def test_partial_prefetch_reads_only_the_missing_searches(
    client: FlaskClient, cds: CdsState, served: Served
) -> None:
    prefetch = dict(served.prefetch)
    missing = ["labs-Observation", "conditions-Condition"]
    for key in missing:
        prefetch.pop(key)
    reply = call(client, hook_body(SERVICE, SLUG, prefetch=prefetch, fhir_server=ISS, token="t"))
    assert reply.status_code == 200
    by_key = {template.key: template for template in cds.templates}
    assert served.batches == [
        [by_key[key].search_for(SLUG).url for key in ("labs-Observation", "conditions-Condition")]
    ]
    assert card_checks(reply.get_json()["cards"]) == ["ig-low", "infection-active", "ig-monitoring"]


def test_complete_prefetch_makes_no_request(
    client: FlaskClient, cds: CdsState, rsps: responses.RequestsMock
) -> None:
    resources = build_situation(SLUG, date.today())
    body = hook_body(
        SERVICE, SLUG, prefetch=prefetch_from(resources, cds.templates), fhir_server=ISS, token="t"
    )
    reply = call(client, body)
    assert reply.status_code == 200
    assert reply.headers["Server-Timing"].endswith("fhir-requests;desc=0")
    assert len(rsps.calls) == 0


def test_fhir_server_off_the_allowlist_is_refused_without_a_request(
    client: FlaskClient, rsps: responses.RequestsMock
) -> None:
    body = hook_body(SERVICE, SLUG, fhir_server="https://evil.example.org/fhir", token="t")
    reply = call(client, body)
    assert reply.status_code == 403
    assert "allowlist" in reply.get_json()["message"]
    assert len(rsps.calls) == 0


def test_open_server_is_read_without_a_token(
    client: FlaskClient, cds: CdsState, rsps: responses.RequestsMock
) -> None:
    fhir_server(rsps, OPEN_ISS, build_situation(SLUG, date.today()), cds)
    reply = call(client, hook_body(SERVICE, SLUG, fhir_server=OPEN_ISS))
    assert reply.status_code == 200
    assert "Authorization" not in rsps.calls[0].request.headers
    assert card_checks(reply.get_json()["cards"]) == ["ig-low", "infection-active", "ig-monitoring"]


def test_no_prefetch_and_no_way_to_read_says_the_checks_could_not_run(
    client: FlaskClient, rsps: responses.RequestsMock
) -> None:
    # An allowlisted, non-open server but no fhirAuthorization: nothing can be read.
    reply = call(client, hook_body(SERVICE, SLUG, fhir_server=ISS))
    cards = reply.get_json()["cards"]
    assert card_checks(cards) == [NOT_RUN]
    assert "could not run" in cards[0]["summary"]
    assert "no access token" in cards[0]["detail"]
    assert len(rsps.calls) == 0


def test_missing_labs_make_lab_checks_unknown_never_ok(client: FlaskClient, cds: CdsState) -> None:
    resources = build_situation("all-ok-maintenance", date.today())
    prefetch = prefetch_from(resources, cds.templates)
    del prefetch["labs-Observation"]
    cards = call(client, hook_body(SERVICE, "all-ok-maintenance", prefetch=prefetch)).get_json()[
        "cards"
    ]
    checks = card_checks(cards)
    assert {"hbv-screening", "hbv-serology", "ig-low"} <= set(checks)
    unknown = [
        card
        for card in cards
        if "Unknown" in card["detail"] or "unknown" in card["summary"].lower()
    ]
    assert unknown and all("labs" in card["detail"] for card in unknown)


def test_a_first_page_only_prefetch_is_read_again(client: FlaskClient, served: Served) -> None:
    prefetch = dict(served.prefetch)
    prefetch["conditions-Condition"] = dict(
        prefetch["conditions-Condition"], link=[{"relation": "next", "url": f"{ISS}/x"}]
    )
    assert (
        call(
            client, hook_body(SERVICE, SLUG, prefetch=prefetch, fhir_server=ISS, token="t")
        ).status_code
        == 200
    )
    batches = served.batches
    assert len(batches) == 1 and len(batches[0]) == 1 and batches[0][0].startswith("Condition?")


def test_server_refusing_the_token_gives_cards_not_an_error(
    client: FlaskClient, rsps: responses.RequestsMock
) -> None:
    rsps.post(ISS, status=401, json={"resourceType": "OperationOutcome", "issue": []})
    reply = call(client, hook_body(SERVICE, SLUG, fhir_server=ISS, token="stale"))
    assert reply.status_code == 200
    cards = reply.get_json()["cards"]
    assert card_checks(cards) == [NOT_RUN]
    assert "refused the access token" in cards[0]["detail"]


def test_bad_bodies_are_400_with_a_reason(client: FlaskClient) -> None:
    cases = [
        (
            {"hook": "order-sign", "hookInstance": "x", "context": {"patientId": "p"}},
            "patient-view hook",
        ),
        ({"hook": "patient-view", "hookInstance": "x", "context": {}}, "context.patientId"),
        ({"hook": "patient-view", "hookInstance": "x", "context": {"patientId": "a/b"}}, "FHIR id"),
        ({"hook": "patient-view", "context": {"patientId": "p"}}, "hookInstance"),
        (
            {
                "hook": "patient-view",
                "hookInstance": "x",
                "context": {"patientId": "p"},
                "fhirAuthorization": {"access_token": "t", "token_type": "Bearer"},
            },
            "needs fhirServer",
        ),
        (
            {
                "hook": "patient-view",
                "hookInstance": "x",
                "context": {"patientId": "p"},
                "prefetch": [],
            },
            "prefetch must be an object",
        ),
    ]
    for body, words in cases:
        reply = call(client, body)
        assert reply.status_code == 400, body
        assert words in reply.get_json()["message"]
    raw = client.post(
        f"/cds-services/{SERVICE}",
        data="{oops",
        headers={**bearer(SERVICE), "Content-Type": "application/json"},
    )
    assert raw.status_code == 400


def test_malformed_prefetch_values_never_crash(client: FlaskClient, cds: CdsState) -> None:
    resources = build_situation(SLUG, date.today())
    prefetch: dict[str, Any] = prefetch_from(resources, cds.templates)
    prefetch["conditions-Condition"] = {"resourceType": "Bundle", "entry": "nope"}
    prefetch["allergies-AllergyIntolerance"] = ["not", "a", "resource"]
    prefetch["vaccinations-Immunization"] = {"resourceType": "OperationOutcome", "issue": []}
    prefetch["labs-Observation"] = {
        "resourceType": "Bundle",
        "entry": [
            {
                "resource": {
                    "resourceType": "Observation",
                    "code": 5,
                    "subject": {"reference": f"Patient/{SLUG}"},
                }
            },
            7,
        ],
    }
    reply = call(client, hook_body(SERVICE, SLUG, prefetch=prefetch))
    assert reply.status_code == 200
    checks = card_checks(reply.get_json()["cards"])
    assert "infection-active" in checks  # conditions could not be read: unknown, not ok
