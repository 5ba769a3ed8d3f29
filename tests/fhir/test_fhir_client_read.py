"""Reads: headers, token scoping, errors, retries, timeouts, redirects, query log."""

from __future__ import annotations

import pytest
import requests
import responses
from fhir_fakes import BASE, PATIENT, TOKEN, outcome, request_kwargs, resource

from smartapp.fhir import (
    FhirClient,
    FhirError,
    OffServerError,
    PermissionDenied,
    ServerUnavailable,
    TokenExpired,
)

PATIENT_URL = f"{BASE}/Patient/{PATIENT}"


def test_read_sends_fhir_headers_and_token_and_returns_the_resource(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    http.get(PATIENT_URL, json=resource("Patient", PATIENT))
    assert client.read(f"Patient/{PATIENT}") == resource("Patient", PATIENT)
    sent = http.calls[0].request
    assert sent.headers["Accept"] == "application/fhir+json"
    assert sent.headers["Cache-Control"] == "no-cache"
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert "Content-Type" not in sent.headers


def test_every_call_has_a_connect_and_read_timeout(http: responses.RequestsMock) -> None:
    http.get(f"{BASE}/metadata", json={"resourceType": "CapabilityStatement"})
    FhirClient(BASE, timeout=7).read("metadata")
    assert request_kwargs(http.calls[0])["timeout"] == (7, 7)
    FhirClient(BASE, timeout=60).read("metadata")
    assert request_kwargs(http.calls[1])["timeout"] == (10.0, 60)


def test_no_token_means_no_authorization_header(http: responses.RequestsMock) -> None:
    http.get(f"{BASE}/metadata", json={"resourceType": "CapabilityStatement"})
    FhirClient(BASE).read("metadata")
    assert "Authorization" not in http.calls[0].request.headers


def test_a_refreshed_token_is_used_from_then_on(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    http.get(PATIENT_URL, json=resource("Patient", PATIENT))
    client.token = "tok-new"
    client.read(f"Patient/{PATIENT}")
    assert http.calls[0].request.headers["Authorization"] == "Bearer tok-new"


def test_any_requests_session_subclass_is_used(http: responses.RequestsMock) -> None:
    class TenantSession(requests.Session):
        pass

    session = TenantSession()
    session.headers["X-Tenant"] = "north"
    http.get(PATIENT_URL, json=resource("Patient", PATIENT))
    FhirClient(BASE, session).read(f"Patient/{PATIENT}")
    assert http.calls[0].request.headers["X-Tenant"] == "north"


def test_absolute_url_on_another_server_is_refused_and_nothing_is_sent(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    foreign = http.get("https://attacker.example.com/fhir/Patient/1", json={})
    with pytest.raises(OffServerError, match="another server"):
        client.read("https://attacker.example.com/fhir/Patient/1")
    assert foreign.call_count == 0
    assert len(http.calls) == 0
    assert client.round_trips == 0


def test_absolute_url_on_the_same_server_with_http_scheme_is_read_over_https(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    http.get(PATIENT_URL, json=resource("Patient", PATIENT))
    client.read(f"http://ehr.example.org/fhir/Patient/{PATIENT}")
    assert http.calls[0].request.url == PATIENT_URL


def test_401_raises_token_expired(client: FhirClient, http: responses.RequestsMock) -> None:
    http.get(PATIENT_URL, status=401, json=outcome("token expired", code="login"))
    with pytest.raises(TokenExpired, match="relaunch") as caught:
        client.read(f"Patient/{PATIENT}")
    assert caught.value.status == 401
    assert len(http.calls) == 1  # never retried


def test_403_says_not_permitted_by_the_granted_scopes(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    http.get(f"{BASE}/Task/1", status=403, json=outcome("scope", code="forbidden"))
    with pytest.raises(PermissionDenied, match="not permitted by the granted scopes"):
        client.read("Task/1")


def test_operation_outcome_diagnostics_make_the_error_message(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    http.get(
        f"{BASE}/Patient/nope",
        status=404,
        json=outcome("HAPI-2001: Resource Patient/nope is not known", code="not-found"),
    )
    with pytest.raises(FhirError) as caught:
        client.read("Patient/nope")
    message = str(caught.value)
    assert message == (
        "Patient read failed: HTTP 404 Not Found: error not-found: "
        "HAPI-2001: Resource Patient/nope is not known"
    )
    assert "\n" not in message
    assert caught.value.status == 404
    assert caught.value.outcome is not None
    assert len(http.calls) == 1  # a 404 is not retried


def test_a_non_fhir_answer_is_an_error(client: FhirClient, http: responses.RequestsMock) -> None:
    http.get(f"{BASE}/metadata", body="<html>proxy login</html>", content_type="text/html")
    with pytest.raises(FhirError, match="did not answer with a FHIR resource"):
        client.read("metadata")


def test_429_with_retry_after_2_waits_2_seconds_then_succeeds(
    client: FhirClient, http: responses.RequestsMock, sleeps: list[float]
) -> None:
    http.get(PATIENT_URL, status=429, headers={"Retry-After": "2"})
    http.get(PATIENT_URL, json=resource("Patient", PATIENT))
    assert client.read(f"Patient/{PATIENT}")["id"] == PATIENT
    assert sleeps == [2.0]
    assert [entry.status for entry in client.requests_made] == [429, 200]
    assert [entry.attempt for entry in client.requests_made] == [1, 2]


def test_503_with_retry_after_as_http_date_waits_until_that_date(
    client: FhirClient, http: responses.RequestsMock, sleeps: list[float]
) -> None:
    http.get(
        PATIENT_URL,
        status=503,
        headers={
            "Date": "Tue, 03 Nov 2026 10:00:00 GMT",
            "Retry-After": "Tue, 03 Nov 2026 10:00:05 GMT",
        },
    )
    http.get(PATIENT_URL, json=resource("Patient", PATIENT))
    client.read(f"Patient/{PATIENT}")
    assert sleeps == [5.0]


def test_retry_after_longer_than_the_cap_fails_at_once_with_the_reason(
    client: FhirClient, http: responses.RequestsMock, sleeps: list[float]
) -> None:
    http.get(PATIENT_URL, status=503, headers={"Retry-After": "600"})
    with pytest.raises(FhirError, match="asked to retry after 600") as caught:
        client.read(f"Patient/{PATIENT}")
    assert caught.value.status == 503
    assert sleeps == []


def test_retries_are_bounded_with_exponential_backoff(
    client: FhirClient, http: responses.RequestsMock, sleeps: list[float]
) -> None:
    http.get(PATIENT_URL, status=502)
    with pytest.raises(FhirError, match=r"HTTP 502 Bad Gateway \(after 4 attempts\)"):
        client.read(f"Patient/{PATIENT}")
    assert sleeps == [0.5, 1.0, 2.0]
    assert len(http.calls) == 4
    assert client.round_trips == 4


def test_max_retries_zero_means_one_attempt(http: responses.RequestsMock) -> None:
    http.get(PATIENT_URL, status=503)
    slept: list[float] = []
    with pytest.raises(FhirError):
        FhirClient(BASE, max_retries=0, sleep=slept.append).read(f"Patient/{PATIENT}")
    assert len(http.calls) == 1
    assert slept == []


def test_timeout_is_retried_then_reported(
    client: FhirClient, http: responses.RequestsMock, sleeps: list[float]
) -> None:
    http.get(PATIENT_URL, body=requests.exceptions.ReadTimeout("read timed out"))
    with pytest.raises(ServerUnavailable) as caught:
        client.read(f"Patient/{PATIENT}")
    assert str(caught.value) == (
        "Patient read failed: no answer from the FHIR server (timeout, 4 attempts)"
    )
    assert caught.value.status is None
    assert sleeps == [0.5, 1.0, 2.0]
    assert [entry.error for entry in client.requests_made] == ["timeout"] * 4
    assert all(entry.status is None for entry in client.requests_made)


def test_connection_error_then_success(
    client: FhirClient, http: responses.RequestsMock, sleeps: list[float]
) -> None:
    http.get(PATIENT_URL, body=requests.ConnectionError("refused"))
    http.get(PATIENT_URL, json=resource("Patient", PATIENT))
    assert client.read(f"Patient/{PATIENT}")["id"] == PATIENT
    assert sleeps == [0.5]
    assert client.requests_made[0].error == "connection error"


def test_redirect_on_the_same_server_is_followed_with_the_token(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    http.get(PATIENT_URL, status=301, headers={"Location": f"{BASE}/Patient/{PATIENT}-merged"})
    http.get(f"{PATIENT_URL}-merged", json=resource("Patient", f"{PATIENT}-merged"))
    assert client.read(f"Patient/{PATIENT}")["id"] == f"{PATIENT}-merged"
    assert http.calls[1].request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_redirect_to_another_server_is_not_followed(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    foreign = http.get("https://elsewhere.example.com/Patient/1", json={})
    http.get(
        PATIENT_URL, status=302, headers={"Location": "https://elsewhere.example.com/Patient/1"}
    )
    with pytest.raises(OffServerError, match="redirected to another server"):
        client.read(f"Patient/{PATIENT}")
    assert foreign.call_count == 0


def test_query_log_records_each_request_relative_to_the_base(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    http.get(PATIENT_URL, json=resource("Patient", PATIENT))
    http.get(f"{BASE}/metadata", json={"resourceType": "CapabilityStatement"})
    client.read(f"Patient/{PATIENT}")
    client.read("metadata")
    assert client.round_trips == 2
    first, second = client.requests_made
    assert (first.method, first.url, first.status, first.entries) == (
        "GET",
        f"Patient/{PATIENT}",
        200,
        None,
    )
    assert second.url == "metadata"
    assert first.elapsed_ms >= 0
    assert first.describe().startswith(f"GET Patient/{PATIENT} → 200")
    client.requests_made.clear()  # a copy: the client's own record is untouched
    assert client.round_trips == 2
