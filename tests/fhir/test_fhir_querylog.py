"""The query log (data panel, benchmarks) and the rule: no PHI in INFO logs."""

from __future__ import annotations

import logging

import pytest
import requests
import responses
from fhir_fakes import BASE, PATIENT, batch_response, obs, ok_entry, page_url, resource, searchset

from smartapp.fhir import FhirClient


def test_round_trips_count_every_request_including_retries_and_pages(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    http.get(f"{BASE}/Patient/{PATIENT}", status=503)
    http.get(f"{BASE}/Patient/{PATIENT}", json=resource("Patient", PATIENT))
    http.get(
        f"{BASE}/Observation?patient={PATIENT}", json=searchset([obs(1)], next_url=page_url(2))
    )
    http.get(page_url(2), json=searchset([obs(2)]))
    client.read(f"Patient/{PATIENT}")
    client.search_all(f"Observation?patient={PATIENT}")
    assert client.round_trips == 4
    assert [(e.method, e.url, e.status, e.attempt) for e in client.requests_made] == [
        ("GET", f"Patient/{PATIENT}", 503, 1),
        ("GET", f"Patient/{PATIENT}", 200, 2),
        ("GET", f"Observation?patient={PATIENT}", 200, 1),
        ("GET", "?_getpages=abc-123&_getpagesoffset=20&_count=20&_bundletype=searchset", 200, 1),
    ]
    assert client.requests_made[1].describe().endswith("(retry 1)")


def test_no_patient_id_in_logs_at_info_or_above(
    client: FhirClient, http: responses.RequestsMock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="smartapp.fhir")
    http.get(f"{BASE}/Patient/{PATIENT}", status=429, headers={"Retry-After": "1"})
    http.get(f"{BASE}/Patient/{PATIENT}", json=resource("Patient", PATIENT))
    http.get(
        f"{BASE}/Observation?patient={PATIENT}",
        json=searchset([obs(1)], next_url=f"https://other.example.net/fhir?patient={PATIENT}"),
    )
    http.get(f"{BASE}/Patient/{PATIENT}/$everything", body=requests.ConnectionError("reset"))
    http.post(BASE, json=batch_response(ok_entry(searchset([obs(1)], next_url=page_url(2)))))
    http.get(page_url(2), status=410)

    client.read(f"Patient/{PATIENT}")
    client.search_all(f"Observation?patient={PATIENT}")
    client.everything(PATIENT)
    client.batch_search([("Observation", f"Observation?patient={PATIENT}")])

    loud = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    quiet = [r.getMessage() for r in caplog.records if r.levelno < logging.INFO]
    assert loud, "operations are summarised at INFO"
    assert any("retry" in message for message in loud)
    assert not [message for message in loud if PATIENT in message]
    assert any(PATIENT in message for message in quiet), "URLs are available at DEBUG"


def test_info_summaries_give_counts_and_status(
    client: FhirClient, http: responses.RequestsMock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="smartapp.fhir")
    http.post(BASE, json=batch_response(ok_entry(searchset([obs(1), obs(2)]))))
    client.batch_search([("Observation", f"Observation?patient={PATIENT}")])
    assert caplog.messages == [
        "FHIR batch read: 1 searches, 1 request(s), 2 resources, 0 failed area(s)"
    ]
