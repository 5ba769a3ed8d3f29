"""batch_search: one POST for every area, paging per area, per-area failures."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
import responses
from fhir_fakes import (
    BASE,
    PATIENT,
    TOKEN,
    batch_response,
    failed_entry,
    obs,
    ok_entry,
    outcome,
    page_url,
    resource,
    searchset,
)

from smartapp.fhir import FhirClient, OffServerError, TokenExpired

AREAS = [
    ("Observation", f"Observation?patient={PATIENT}&_count=200"),
    (
        "MedicationAdministration",
        f"MedicationAdministration?patient={PATIENT}&_include=MedicationAdministration:medication",
    ),
    ("Immunization", f"Immunization?patient={PATIENT}"),
]


def answer_batch(http: responses.RequestsMock, *entries: dict[str, Any]) -> None:
    """The server answers the batch POST with these entries (one per area, in order)."""
    http.post(BASE, json=batch_response(*entries))


def posted(call: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(call.request.body)
    return body


def test_all_areas_are_read_in_one_post(client: FhirClient, http: responses.RequestsMock) -> None:
    answer_batch(
        http,
        ok_entry(searchset([obs(1), obs(2)])),
        ok_entry(
            searchset(
                [resource("MedicationAdministration", "ma-1")],
                includes=[resource("Medication", "kesimpta-20mg")],
            )
        ),
        ok_entry(searchset([resource("Immunization", "imm-1")])),
    )
    result = client.batch_search(AREAS)

    assert client.round_trips == 1
    assert result.complete and result.failed_areas == frozenset() and result.problems == ()
    assert [(r["resourceType"], r["id"]) for r in result.resources] == [
        ("Observation", "obs-1"),
        ("Observation", "obs-2"),
        ("MedicationAdministration", "ma-1"),
        ("Medication", "kesimpta-20mg"),
        ("Immunization", "imm-1"),
    ]
    assert result.queries == [query for _, query in AREAS]
    sent = http.calls[0].request
    assert sent.headers["Content-Type"] == "application/fhir+json"
    assert sent.headers["Accept"] == "application/fhir+json"
    assert sent.headers["Cache-Control"] == "no-cache"
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert posted(http.calls[0]) == {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [{"request": {"method": "GET", "url": query}} for _, query in AREAS],
    }
    assert client.requests_made[0].method == "POST"
    assert client.requests_made[0].entries == 3


def test_paging_in_one_area_adds_exactly_the_extra_pages(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    answer_batch(
        http,
        ok_entry(searchset([obs(1)], next_url=page_url(2, "http://ehr.example.org/fhir"))),
        ok_entry(searchset([resource("MedicationAdministration", "ma-1")])),
        ok_entry(searchset([])),
    )
    http.get(page_url(2), json=searchset([obs(2)], next_url=page_url(3)))
    http.get(page_url(3), json=searchset([obs(3)]))
    result = client.batch_search(AREAS)
    assert result.complete
    assert client.round_trips == 3
    assert [e.method for e in client.requests_made] == ["POST", "GET", "GET"]
    assert sorted(r["id"] for r in result.resources if r["resourceType"] == "Observation") == [
        "obs-1",
        "obs-2",
        "obs-3",
    ]
    assert http.calls[1].request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_a_failed_entry_fails_only_its_area(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    answer_batch(
        http,
        ok_entry(searchset([obs(1)])),
        ok_entry(searchset([resource("MedicationAdministration", "ma-1")])),
        failed_entry("500 Internal Server Error", "HAPI-0389: database timeout"),
    )
    result = client.batch_search(AREAS)
    assert result.failed_areas == frozenset({"Immunization"})
    assert result.problems == (
        "Immunization search failed: HTTP 500 Internal Server Error: error exception: "
        "HAPI-0389: database timeout",
    )
    assert not result.complete
    assert {r["resourceType"] for r in result.resources} == {
        "Observation",
        "MedicationAdministration",
    }


def test_an_entry_holding_an_operation_outcome_fails_its_area(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    answer_batch(
        http,
        {
            "resource": outcome("Unknown search parameter 'foo'"),
            "response": {"status": "400 Bad Request"},
        },
        ok_entry(searchset([])),
        {"resource": outcome("scope"), "response": {"status": "403"}},
    )
    result = client.batch_search(AREAS)
    assert result.failed_areas == {"Observation", "Immunization"}
    assert result.problems == (
        "Observation search failed: HTTP 400 Bad Request: "
        "error processing: Unknown search parameter 'foo'",
        "Immunization search failed: not permitted by the granted scopes (HTTP 403): "
        "error processing: scope",
    )


def test_missing_entries_in_the_response_fail_those_areas(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    answer_batch(http, ok_entry(searchset([obs(1)])))
    result = client.batch_search(AREAS)
    assert result.failed_areas == {"MedicationAdministration", "Immunization"}
    assert all("no answer for this search" in problem for problem in result.problems)


def test_whole_batch_500_is_retried_with_backoff_then_every_area_fails(
    client: FhirClient, http: responses.RequestsMock, sleeps: list[float]
) -> None:
    http.post(BASE, status=500, json=outcome("OutOfMemoryError", code="exception"))
    result = client.batch_search(AREAS)
    assert sleeps == [0.5, 1.0, 2.0]
    assert len(http.calls) == 4
    assert result.failed_areas == {"Observation", "MedicationAdministration", "Immunization"}
    assert result.resources == []
    assert result.problems == (
        "Batch read failed: HTTP 500 Internal Server Error: error exception: OutOfMemoryError "
        "(after 4 attempts); no data read for: Observation, MedicationAdministration, Immunization",
    )
    assert result.queries == [query for _, query in AREAS]


def test_whole_batch_timeout_fails_every_area_without_raising(
    client: FhirClient, http: responses.RequestsMock, sleeps: list[float]
) -> None:
    http.post(BASE, body=requests.exceptions.ReadTimeout("read timed out"))
    result = client.batch_search(AREAS)
    assert len(sleeps) == 3
    assert result.failed_areas == {area for area, _ in AREAS}
    assert result.problems[0].startswith(
        "Batch read failed: no answer from the FHIR server (timeout, 4 attempts)"
    )


def test_whole_batch_503_then_success(
    client: FhirClient, http: responses.RequestsMock, sleeps: list[float]
) -> None:
    http.post(BASE, status=503, headers={"Retry-After": "1"})
    answer_batch(http, *(ok_entry(searchset([])) for _ in AREAS))
    result = client.batch_search(AREAS)
    assert result.complete
    assert sleeps == [1.0]


def test_whole_batch_401_raises_token_expired(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    http.post(BASE, status=401)
    with pytest.raises(TokenExpired):
        client.batch_search(AREAS)


def test_resources_are_deduplicated_across_areas(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    medication = resource("Medication", "kesimpta-20mg")
    answer_batch(
        http,
        ok_entry(searchset([resource("MedicationRequest", "mr-1")], includes=[medication])),
        ok_entry(searchset([resource("MedicationAdministration", "ma-1")], includes=[medication])),
    )
    result = client.batch_search(
        [
            (
                "MedicationRequest",
                f"MedicationRequest?patient={PATIENT}&_include=MedicationRequest:medication",
            ),
            ("MedicationAdministration", AREAS[1][1]),
        ]
    )
    assert [r["id"] for r in result.resources] == ["mr-1", "kesimpta-20mg", "ma-1"]


def test_expired_page_in_one_area_fails_that_area_and_keeps_its_first_page(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    answer_batch(
        http,
        ok_entry(searchset([obs(1)], next_url=page_url(2))),
        ok_entry(searchset([])),
        ok_entry(searchset([])),
    )
    http.get(page_url(2), status=410)
    result = client.batch_search(AREAS)
    assert result.failed_areas == {"Observation"}
    assert result.problems[0].startswith(
        "Observation search incomplete: page 2 of the results has expired"
    )
    assert [r["id"] for r in result.resources] == ["obs-1"]


def test_next_link_to_another_server_in_an_area_is_refused(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    foreign = http.get("https://other.example.net/fhir", json=searchset([obs("x")]))
    answer_batch(
        http,
        ok_entry(searchset([obs(1)], next_url=page_url(2, "https://other.example.net/fhir"))),
        ok_entry(searchset([])),
        ok_entry(searchset([])),
    )
    result = client.batch_search(AREAS)
    assert result.failed_areas == {"Observation"}
    assert "another server (other.example.net)" in result.problems[0]
    assert foreign.call_count == 0


def test_server_without_batch_support_is_read_one_search_at_a_time(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    http.post(BASE, status=405)
    http.get(f"{BASE}/{AREAS[0][1]}", json=searchset([obs(1)]))
    http.get(
        f"{BASE}/{AREAS[1][1]}", json=searchset([resource("MedicationAdministration", "ma-1")])
    )
    http.get(f"{BASE}/{AREAS[2][1]}", status=500)
    result = client.batch_search(AREAS)
    assert [e.method for e in client.requests_made][:4] == ["POST", "GET", "GET", "GET"]
    assert result.failed_areas == {"Immunization"}
    assert [r["id"] for r in result.resources] == ["obs-1", "ma-1"]


def test_absolute_on_server_queries_are_sent_relative(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    answer_batch(http, ok_entry(searchset([])))
    result = client.batch_search([("Observation", f"{BASE}/Observation?patient={PATIENT}")])
    assert result.queries == [f"Observation?patient={PATIENT}"]
    assert posted(http.calls[0])["entry"][0]["request"]["url"] == f"Observation?patient={PATIENT}"


def test_a_query_on_another_server_is_refused_before_anything_is_sent(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    with pytest.raises(OffServerError):
        client.batch_search([("Observation", "https://other.example.net/fhir/Observation")])
    assert len(http.calls) == 0


def test_no_searches_means_no_request(client: FhirClient, http: responses.RequestsMock) -> None:
    result = client.batch_search([])
    assert result.complete and result.resources == [] and client.round_trips == 0


def test_a_read_entry_returns_the_resource_itself(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    # HAPI answers a batch `GET Patient/1` with the Patient, not a searchset.
    answer_batch(
        http,
        ok_entry(resource("Patient", "p1")),
        ok_entry(searchset([obs(1)])),
    )
    result = client.batch_search([("patient", "Patient/p1"), ("labs", "Observation?patient=p1")])

    assert result.complete and result.failed_areas == frozenset()
    assert [(r["resourceType"], r["id"]) for r in result.resources] == [
        ("Patient", "p1"),
        ("Observation", "obs-1"),
    ]


def test_an_operation_outcome_in_a_2xx_entry_fails_that_area(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    http.post(
        BASE,
        json=batch_response(ok_entry(outcome("search too costly")), ok_entry(searchset([obs(1)]))),
    )
    result = client.batch_search([("labs", "Observation?x=1"), ("more", "Observation?y=2")])

    assert result.failed_areas == frozenset({"labs"})
    assert "search too costly" in result.problems[0]
