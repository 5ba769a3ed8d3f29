"""The FHIR proxy enforces tokens, scopes and the patient compartment; the upstream is mocked."""

import json
from collections.abc import Callable
from typing import Any

import pytest
import requests
import responses
from flask import Flask
from flask.testing import FlaskClient
from responses import matchers

from tests.sandbox_ehr.conftest import (
    FHIR_BASE,
    RS_KEY,
    UPSTREAM,
    Clock,
    assertion,
    backend_token,
    searchset,
    token_for,
)

FHIR_JSON = {"Content-Type": "application/fhir+json"}


def bearer(token: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {token['access_token']}"}


def observation(oid: str, patient: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"text": "IgG"},
        "subject": {"reference": f"Patient/{patient}"},
    }


@pytest.fixture
def patient_token(client: FlaskClient) -> dict[str, Any]:
    return token_for(client, patient="p1")


@pytest.fixture
def upstream() -> Any:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


# -- authentication -----------------------------------------------------------------------------


def test_no_token_is_401_with_operation_outcome(client: FlaskClient, upstream: Any) -> None:
    response = client.get("/fhir/Patient/p1")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="sandbox-ehr"'
    body = response.get_json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["code"] == "login"
    assert not upstream.calls


def test_unknown_token_is_401_invalid_token(client: FlaskClient, upstream: Any) -> None:
    response = client.get("/fhir/Patient/p1", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_expired_token_is_401(
    client: FlaskClient, clock: Clock, patient_token: dict[str, Any], upstream: Any
) -> None:
    upstream.get(f"{UPSTREAM}/Patient/p1", json={"resourceType": "Patient", "id": "p1"})
    assert client.get("/fhir/Patient/p1", headers=bearer(patient_token)).status_code == 200
    clock.advance(3600)
    response = client.get("/fhir/Patient/p1", headers=bearer(patient_token))
    assert response.status_code == 401
    assert "expired" in response.get_json()["issue"][0]["diagnostics"]


def test_metadata_needs_no_token_and_advertises_oauth(client: FlaskClient, upstream: Any) -> None:
    upstream.get(
        f"{UPSTREAM}/metadata",
        json={
            "resourceType": "CapabilityStatement",
            "implementation": {"url": UPSTREAM},
            "rest": [{"mode": "server"}],
        },
        headers=FHIR_JSON,
    )
    statement = client.get("/fhir/metadata").get_json()
    assert statement["implementation"]["url"] == FHIR_BASE
    uris = statement["rest"][0]["security"]["extension"][0]["extension"]
    assert {"url": "token", "valueUri": "http://sandbox.test/auth/token"} in uris


# -- scopes --------------------------------------------------------------------------------------


def test_read_without_scope_is_403(client: FlaskClient, upstream: Any) -> None:
    token = token_for(client, scope="launch patient/Patient.r")
    response = client.get("/fhir/Observation?patient=p1", headers=bearer(token))
    assert response.status_code == 403
    assert response.get_json()["issue"][0]["code"] == "forbidden"
    assert not upstream.calls


def test_read_scope_does_not_allow_search(client: FlaskClient, upstream: Any) -> None:
    token = token_for(client, scope="launch patient/Observation.r")
    assert client.get("/fhir/Observation?patient=p1", headers=bearer(token)).status_code == 403


def test_write_without_create_scope_is_403(client: FlaskClient, upstream: Any) -> None:
    token = token_for(client, scope="launch patient/CarePlan.rs")
    careplan = {"resourceType": "CarePlan", "subject": {"reference": "Patient/p1"}}
    response = client.post("/fhir/CarePlan", json=careplan, headers=bearer(token))
    assert response.status_code == 403
    assert not upstream.calls


def test_v1_scopes_are_understood(client: FlaskClient, upstream: Any) -> None:
    upstream.get(f"{UPSTREAM}/Observation", json=searchset(observation("o1", "p1")))
    token = token_for(client, scope="launch patient/Observation.read")
    ok = client.get("/fhir/Observation?patient=p1", headers=bearer(token))
    assert ok.status_code == 200
    created = client.post("/fhir/Observation", json=observation("o2", "p1"), headers=bearer(token))
    assert created.status_code == 403


def test_granular_scope_needs_the_same_search_parameter(client: FlaskClient, upstream: Any) -> None:
    upstream.get(f"{UPSTREAM}/Observation", json=searchset(observation("o1", "p1")))
    token = token_for(client, scope="launch patient/Observation.rs?category=laboratory")
    lab = "/fhir/Observation?patient=p1&category=laboratory"
    assert client.get(lab, headers=bearer(token)).status_code == 200
    assert client.get("/fhir/Observation?patient=p1", headers=bearer(token)).status_code == 403


# -- the patient compartment ---------------------------------------------------------------------


def test_patient_token_cannot_read_another_patient(
    client: FlaskClient, patient_token: dict[str, Any], upstream: Any
) -> None:
    assert client.get("/fhir/Patient/p2", headers=bearer(patient_token)).status_code == 403
    other = client.get("/fhir/Observation?patient=p2", headers=bearer(patient_token))
    assert other.status_code == 403
    unscoped = client.get("/fhir/Observation?code=1234-5", headers=bearer(patient_token))
    assert unscoped.status_code == 403
    both = client.get("/fhir/Observation?patient=p1,p2", headers=bearer(patient_token))
    assert both.status_code == 403
    assert not upstream.calls


def test_patient_token_reads_its_patient(
    client: FlaskClient, patient_token: dict[str, Any], upstream: Any
) -> None:
    upstream.get(f"{UPSTREAM}/Patient/p1", json={"resourceType": "Patient", "id": "p1"})
    upstream.get(f"{UPSTREAM}/Observation", json=searchset(observation("o1", "p1")))
    assert client.get("/fhir/Patient/p1", headers=bearer(patient_token)).status_code == 200
    for query in ("patient=p1", "subject=Patient/p1", f"subject={FHIR_BASE}/Patient/p1"):
        response = client.get(f"/fhir/Observation?{query}", headers=bearer(patient_token))
        assert response.status_code == 200, query


def test_instance_read_of_another_patients_resource_is_403(
    client: FlaskClient, patient_token: dict[str, Any], upstream: Any
) -> None:
    upstream.get(f"{UPSTREAM}/Observation/o9", json=observation("o9", "p2"))
    upstream.get(f"{UPSTREAM}/Observation/o1", json=observation("o1", "p1"))
    assert client.get("/fhir/Observation/o9", headers=bearer(patient_token)).status_code == 403
    assert client.get("/fhir/Observation/o1", headers=bearer(patient_token)).status_code == 200


def test_search_results_outside_the_compartment_are_dropped(
    client: FlaskClient, patient_token: dict[str, Any], upstream: Any
) -> None:
    bundle = searchset(observation("o1", "p1"), observation("o9", "p2"))
    bundle["entry"].append(
        {"resource": {"resourceType": "Condition", "id": "c1"}, "search": {"mode": "include"}}
    )
    upstream.get(f"{UPSTREAM}/Observation", json=bundle)
    body = client.get("/fhir/Observation?patient=p1", headers=bearer(patient_token)).get_json()
    assert [e["resource"]["id"] for e in body["entry"]] == ["o1"]


def test_patient_token_may_read_non_patient_data(client: FlaskClient, upstream: Any) -> None:
    upstream.get(f"{UPSTREAM}/Medication/m1", json={"resourceType": "Medication", "id": "m1"})
    token = token_for(client, scope="launch patient/Medication.rs")
    assert client.get("/fhir/Medication/m1", headers=bearer(token)).status_code == 200
    write = client.put(
        "/fhir/Medication/m1",
        json={"resourceType": "Medication", "id": "m1"},
        headers=bearer(token),
    )
    assert write.status_code == 403


def test_create_must_belong_to_the_patient(
    client: FlaskClient, patient_token: dict[str, Any], upstream: Any
) -> None:
    upstream.post(
        f"{UPSTREAM}/CarePlan",
        status=201,
        json={"resourceType": "CarePlan", "id": "cp1"},
        headers={"Location": f"{UPSTREAM}/CarePlan/cp1/_history/1", "ETag": 'W/"1"'},
        match=[matchers.header_matcher({"Prefer": "return=representation"})],
    )
    mine = {"resourceType": "CarePlan", "subject": {"reference": "Patient/p1"}}
    theirs = {"resourceType": "CarePlan", "subject": {"reference": "Patient/p2"}}
    headers = {**bearer(patient_token), "Prefer": "return=representation"}
    created = client.post("/fhir/CarePlan", json=mine, headers=headers)
    assert created.status_code == 201
    assert created.headers["Location"] == f"{FHIR_BASE}/CarePlan/cp1/_history/1"
    assert created.headers["ETag"] == 'W/"1"'
    assert client.post("/fhir/CarePlan", json=theirs, headers=headers).status_code == 403


def test_update_of_another_patients_resource_is_403(
    client: FlaskClient, patient_token: dict[str, Any], upstream: Any
) -> None:
    upstream.get(
        f"{UPSTREAM}/CarePlan/cp9",
        json={"resourceType": "CarePlan", "id": "cp9", "subject": {"reference": "Patient/p2"}},
    )
    hijack = {"resourceType": "CarePlan", "id": "cp9", "subject": {"reference": "Patient/p1"}}
    response = client.put("/fhir/CarePlan/cp9", json=hijack, headers=bearer(patient_token))
    assert response.status_code == 403
    assert len(upstream.calls) == 1  # only the check


def test_conditional_update_matching_another_patient_is_403(
    client: FlaskClient, patient_token: dict[str, Any], upstream: Any
) -> None:
    theirs = {"resourceType": "CarePlan", "id": "cp9", "subject": {"reference": "Patient/p2"}}
    upstream.get(
        f"{UPSTREAM}/CarePlan",
        json={"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": theirs}]},
    )
    mine = {"resourceType": "CarePlan", "subject": {"reference": "Patient/p1"}}
    response = client.put("/fhir/CarePlan?identifier=x|1", json=mine, headers=bearer(patient_token))
    assert response.status_code == 403


def test_conditional_create_forwards_if_none_exist(
    client: FlaskClient, patient_token: dict[str, Any], upstream: Any
) -> None:
    upstream.get(f"{UPSTREAM}/Task", json={"resourceType": "Bundle", "type": "searchset"})
    upstream.post(
        f"{UPSTREAM}/Task",
        status=201,
        json={"resourceType": "Task", "id": "t1"},
        match=[matchers.header_matcher({"If-None-Exist": "identifier=x|1"})],
    )
    task = {"resourceType": "Task", "for": {"reference": "Patient/p1"}}
    headers = {**bearer(patient_token), "If-None-Exist": "identifier=x|1"}
    assert client.post("/fhir/Task", json=task, headers=headers).status_code == 201


# -- user and system tokens -------------------------------------------------------------------


def test_user_token_reads_any_patient(client: FlaskClient, upstream: Any) -> None:
    upstream.get(f"{UPSTREAM}/Task", json=searchset(observation("o9", "p2")))
    token = token_for(client, launch=None, scope="openid fhirUser user/Task.rs user/Observation.rs")
    assert "patient" not in token
    response = client.get("/fhir/Task?status=requested", headers=bearer(token))
    assert response.status_code == 200
    assert len(response.get_json()["entry"]) == 1


def test_system_token_from_backend_services(
    client: FlaskClient, clock: Clock, upstream: Any
) -> None:
    upstream.get(f"{UPSTREAM}/Patient", json={"resourceType": "Bundle", "type": "searchset"})
    signed = assertion(RS_KEY, "RS384", now=clock())
    token = backend_token(client, signed, "system/Patient.rs").get_json()
    assert client.get("/fhir/Patient", headers=bearer(token)).status_code == 200
    assert client.get("/fhir/Task", headers=bearer(token)).status_code == 403


# -- bundles ------------------------------------------------------------------------------------


def writeback(patient: str = "p1") -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:cp",
                "resource": {
                    "resourceType": "CarePlan",
                    "subject": {"reference": f"Patient/{patient}"},
                },
                "request": {"method": "PUT", "url": "CarePlan?identifier=http://app/careplan|p1"},
            },
            {
                "fullUrl": "urn:uuid:t1",
                "resource": {
                    "resourceType": "Task",
                    "for": {"reference": f"Patient/{patient}"},
                    "basedOn": [{"reference": "urn:uuid:cp"}],
                },
                "request": {"method": "POST", "url": "Task", "ifNoneExist": "identifier=x|1"},
            },
            {
                "fullUrl": "urn:uuid:prov",
                "resource": {
                    "resourceType": "Provenance",
                    "target": [{"reference": "urn:uuid:cp"}, {"reference": "urn:uuid:t1"}],
                },
                "request": {"method": "POST", "url": "Provenance"},
            },
        ],
    }


def test_transaction_entries_are_checked_and_forwarded(client: FlaskClient, upstream: Any) -> None:
    token = token_for(
        client, scope="launch patient/CarePlan.cu patient/Task.cu patient/Provenance.c"
    )
    empty = {"resourceType": "Bundle", "type": "searchset"}
    upstream.get(f"{UPSTREAM}/CarePlan", json=empty)
    upstream.get(f"{UPSTREAM}/Task", json=empty)
    upstream.post(
        UPSTREAM,
        json={
            "resourceType": "Bundle",
            "type": "transaction-response",
            "entry": [{"response": {"status": "201", "location": f"{UPSTREAM}/CarePlan/1"}}],
        },
    )
    response = client.post("/fhir", json=writeback(), headers=bearer(token))
    assert response.status_code == 200, response.get_json()
    location = response.get_json()["entry"][0]["response"]["location"]
    assert location == f"{FHIR_BASE}/CarePlan/1"


def test_transaction_with_one_forbidden_entry_is_refused(
    client: FlaskClient, upstream: Any
) -> None:
    token = token_for(client, scope="launch patient/CarePlan.cu patient/Task.cu")
    upstream.get(f"{UPSTREAM}/CarePlan", json={"resourceType": "Bundle", "type": "searchset"})
    upstream.get(f"{UPSTREAM}/Task", json={"resourceType": "Bundle", "type": "searchset"})
    response = client.post("/fhir", json=writeback(), headers=bearer(token))
    assert response.status_code == 403
    assert "entry 2" in response.get_json()["issue"][0]["diagnostics"]
    assert not any(call.request.method == "POST" for call in upstream.calls)


def test_transaction_for_another_patient_is_refused(client: FlaskClient, upstream: Any) -> None:
    token = token_for(
        client, scope="launch patient/CarePlan.cu patient/Task.cu patient/Provenance.c"
    )
    response = client.post("/fhir", json=writeback("p2"), headers=bearer(token))
    assert response.status_code == 403
    assert "entry 0" in response.get_json()["issue"][0]["diagnostics"]


def test_batch_entries_are_refused_one_by_one(
    client: FlaskClient, patient_token: dict[str, Any], upstream: Any
) -> None:
    def answer(request: Any) -> tuple[int, dict[str, str], str]:
        sent = json.loads(request.body)
        assert [e["request"]["url"] for e in sent["entry"]] == ["Observation?patient=p1"]
        reply = {
            "resourceType": "Bundle",
            "type": "batch-response",
            "entry": [
                {
                    "resource": searchset(observation("o1", "p1"), observation("o9", "p2")),
                    "response": {"status": "200 OK"},
                }
            ],
        }
        return 200, {"Content-Type": "application/fhir+json"}, json.dumps(reply)

    upstream.add_callback(responses.POST, UPSTREAM, callback=answer)
    batch = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"request": {"method": "GET", "url": "Patient?name=smith"}},
            {"request": {"method": "GET", "url": "Observation?patient=p1"}},
            {"request": {"method": "GET", "url": "ImagingStudy?patient=p1"}},
        ],
    }
    body = client.post("/fhir", json=batch, headers=bearer(patient_token)).get_json()
    statuses = [e["response"]["status"] for e in body["entry"]]
    assert statuses == ["403", "200 OK", "403"]
    inner = body["entry"][1]["resource"]
    assert [e["resource"]["id"] for e in inner["entry"]] == ["o1"]


def test_post_to_base_needs_a_bundle(
    client: FlaskClient, patient_token: dict[str, Any], upstream: Any
) -> None:
    response = client.post("/fhir", json={"resourceType": "Patient"}, headers=bearer(patient_token))
    assert response.status_code == 400


# -- paging and URL rewriting --------------------------------------------------------------------


def test_next_links_and_full_urls_are_rewritten_and_paging_works(
    client: FlaskClient, patient_token: dict[str, Any], upstream: Any
) -> None:
    next_url = f"{UPSTREAM}?_getpages=abc&_getpagesoffset=1&_count=1&_bundletype=searchset"
    upstream.get(
        f"{UPSTREAM}/Observation",
        json=searchset(observation("o1", "p1"), next_url=next_url),
        match=[matchers.query_param_matcher({"patient": "p1", "_count": "1"})],
    )
    upstream.get(
        UPSTREAM,
        json=searchset(observation("o2", "p1"), observation("o9", "p2")),
        match=[
            matchers.query_param_matcher(
                {
                    "_getpages": "abc",
                    "_getpagesoffset": "1",
                    "_count": "1",
                    "_bundletype": "searchset",
                }
            )
        ],
    )
    first = client.get("/fhir/Observation?patient=p1&_count=1", headers=bearer(patient_token))
    body = first.get_json()
    links = {link["relation"]: link["url"] for link in body["link"]}
    assert links["next"] == next_url.replace(UPSTREAM, FHIR_BASE)
    assert links["self"] == f"{FHIR_BASE}/Observation?patient=p1"
    assert body["entry"][0]["fullUrl"] == f"{FHIR_BASE}/Observation/o1"
    assert UPSTREAM not in first.get_data(as_text=True)

    page2 = client.get(
        links["next"].replace("http://sandbox.test", ""), headers=bearer(patient_token)
    )
    assert page2.status_code == 200
    assert [e["resource"]["id"] for e in page2.get_json()["entry"]] == ["o2"]


def test_paging_needs_a_token(client: FlaskClient, upstream: Any) -> None:
    assert client.get("/fhir?_getpages=abc").status_code == 401


# -- plumbing ----------------------------------------------------------------------------------


def test_headers_are_forwarded(
    client: FlaskClient, patient_token: dict[str, Any], upstream: Any
) -> None:
    upstream.get(
        f"{UPSTREAM}/Patient/p1",
        json={"resourceType": "Patient", "id": "p1"},
        match=[
            matchers.header_matcher(
                {"Accept": "application/fhir+json", "Cache-Control": "no-cache"}
            )
        ],
    )
    headers = {
        **bearer(patient_token),
        "Accept": "application/fhir+json",
        "Cache-Control": "no-cache",
    }
    response = client.get("/fhir/Patient/p1", headers=headers)
    assert response.status_code == 200
    assert "Authorization" not in upstream.calls[0].request.headers


def test_json_only(client: FlaskClient, patient_token: dict[str, Any], upstream: Any) -> None:
    headers = {**bearer(patient_token), "Accept": "application/fhir+xml"}
    assert client.get("/fhir/Patient/p1", headers=headers).status_code == 406


def test_upstream_down_is_502(
    client: FlaskClient, patient_token: dict[str, Any], upstream: Any
) -> None:
    upstream.get(f"{UPSTREAM}/Patient/p1", body=requests.ConnectionError("refused"))
    response = client.get("/fhir/Patient/p1", headers=bearer(patient_token))
    assert response.status_code == 502
    assert response.get_json()["resourceType"] == "OperationOutcome"


def test_upstream_errors_pass_through(
    client: FlaskClient, patient_token: dict[str, Any], upstream: Any
) -> None:
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "not-found"}],
    }
    upstream.get(f"{UPSTREAM}/Patient/p1", status=404, json=outcome)
    response = client.get("/fhir/Patient/p1", headers=bearer(patient_token))
    assert response.status_code == 404
    assert response.get_json() == outcome


def test_unsupported_operations_are_refused(
    client: FlaskClient, patient_token: dict[str, Any], upstream: Any
) -> None:
    assert client.get("/fhir/Patient/p1/$meta", headers=bearer(patient_token)).status_code == 403
    assert client.get("/fhir/_history", headers=bearer(patient_token)).status_code == 400


def test_everything_is_filtered_by_scopes(make_app: Callable[..., Flask], upstream: Any) -> None:
    client = make_app().test_client()
    token = token_for(client, scope="launch patient/Patient.r patient/Observation.rs")
    bundle = searchset(
        {"resourceType": "Patient", "id": "p1"},
        observation("o1", "p1"),
        {"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/p1"}},
    )
    upstream.get(f"{UPSTREAM}/Patient/p1/$everything", json=bundle)
    body = client.get("/fhir/Patient/p1/$everything", headers=bearer(token)).get_json()
    assert [e["resource"]["id"] for e in body["entry"]] == ["p1", "o1"]
