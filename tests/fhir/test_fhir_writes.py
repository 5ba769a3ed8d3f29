"""transaction / create / update: never retried, errors carry the OperationOutcome."""

from __future__ import annotations

import json

import pytest
import requests
import responses
from fhir_fakes import BASE, PATIENT, TOKEN, outcome, resource

from smartapp.fhir import FhirClient, FhirError, PermissionDenied, ServerUnavailable

TRANSACTION = {
    "resourceType": "Bundle",
    "type": "transaction",
    "entry": [
        {
            "resource": {"resourceType": "CarePlan", "status": "active"},
            "request": {
                "method": "PUT",
                "url": f"CarePlan?identifier=https://app/careplan|{PATIENT}",
            },
        }
    ],
}
RESPONSE = {
    "resourceType": "Bundle",
    "type": "transaction-response",
    "entry": [{"response": {"status": "201 Created", "location": "CarePlan/1/_history/1"}}],
}


def test_transaction_posts_fhir_json_to_the_base(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    http.post(BASE, json=RESPONSE)
    assert client.transaction(TRANSACTION) == RESPONSE
    sent = http.calls[0].request
    assert sent.headers["Content-Type"] == "application/fhir+json"
    assert sent.headers["Accept"] == "application/fhir+json"
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert "Cache-Control" not in sent.headers
    assert json.loads(sent.body or b"") == TRANSACTION


def test_transaction_is_not_retried_on_500(
    client: FhirClient, http: responses.RequestsMock, sleeps: list[float]
) -> None:
    http.post(BASE, status=500, json=outcome("HAPI-0550: constraint violation", code="exception"))
    with pytest.raises(FhirError) as caught:
        client.transaction(TRANSACTION)
    assert str(caught.value) == (
        "Transaction failed: HTTP 500 Internal Server Error: "
        "error exception: HAPI-0550: constraint violation"
    )
    assert len(http.calls) == 1
    assert sleeps == []


def test_transaction_is_not_retried_on_503_either(
    client: FhirClient, http: responses.RequestsMock, sleeps: list[float]
) -> None:
    http.post(BASE, status=503, headers={"Retry-After": "1"})
    with pytest.raises(FhirError):
        client.transaction(TRANSACTION)
    assert len(http.calls) == 1 and sleeps == []


def test_transaction_timeout_is_not_retried_and_says_the_outcome_is_unknown(
    client: FhirClient, http: responses.RequestsMock, sleeps: list[float]
) -> None:
    http.post(BASE, body=requests.exceptions.ReadTimeout("read timed out"))
    with pytest.raises(ServerUnavailable, match="may or may not have been applied"):
        client.transaction(TRANSACTION)
    assert len(http.calls) == 1 and sleeps == []


def test_412_on_a_conditional_match_is_explained(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    http.post(
        BASE,
        status=412,
        json=outcome(
            "HAPI-0958: Failed to CREATE resource with match URL "
            "because this search matched 2 resources"
        ),
    )
    with pytest.raises(FhirError, match="conditional match found more than one resource") as caught:
        client.transaction(TRANSACTION)
    assert "matched 2 resources" in str(caught.value)
    assert caught.value.status == 412


def test_403_on_a_write_is_a_scope_problem(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    http.post(BASE, status=403)
    with pytest.raises(PermissionDenied, match="Transaction not permitted by the granted scopes"):
        client.transaction(TRANSACTION)


def test_transaction_requires_a_transaction_bundle(client: FhirClient) -> None:
    with pytest.raises(ValueError):
        client.transaction({"resourceType": "Bundle", "type": "batch"})


def test_conditional_create_sends_if_none_exist(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    task = {"resourceType": "Task", "status": "requested"}
    http.post(f"{BASE}/Task", status=201, json={**task, "id": "t1"})
    created = client.create(task, if_none_exist="identifier=https://app/task|p:hbv:2026-01-01")
    assert created["id"] == "t1"
    sent = http.calls[0].request
    assert sent.headers["If-None-Exist"] == "identifier=https://app/task|p:hbv:2026-01-01"
    assert sent.headers["Prefer"] == "return=representation"
    assert sent.headers["Content-Type"] == "application/fhir+json"


def test_create_without_a_body_returns_type_and_id_from_location(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    http.post(f"{BASE}/Task", status=201, headers={"Location": f"{BASE}/Task/t9/_history/1"})
    assert client.create({"resourceType": "Task"}) == resource("Task", "t9")


def test_create_is_not_retried(
    client: FhirClient, http: responses.RequestsMock, sleeps: list[float]
) -> None:
    http.post(f"{BASE}/Task", status=502)
    with pytest.raises(FhirError, match="Task create failed: HTTP 502"):
        client.create({"resourceType": "Task"})
    assert len(http.calls) == 1 and sleeps == []


def test_update_puts_with_if_match(client: FhirClient, http: responses.RequestsMock) -> None:
    plan = {"resourceType": "CarePlan", "id": "cp1", "status": "active"}
    http.put(f"{BASE}/CarePlan/cp1", json={**plan, "meta": {"versionId": "4"}})
    updated = client.update("CarePlan/cp1", plan, if_match='W/"3"')
    assert updated["meta"]["versionId"] == "4"
    assert http.calls[0].request.headers["If-Match"] == 'W/"3"'
    assert http.calls[0].request.method == "PUT"


def test_update_off_the_base_is_refused(client: FhirClient, http: responses.RequestsMock) -> None:
    with pytest.raises(FhirError):
        client.update("https://other.example.net/fhir/CarePlan/1", {"resourceType": "CarePlan"})
    assert len(http.calls) == 0
