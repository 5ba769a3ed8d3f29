"""The launcher (EHR side of an EHR launch), the index page, and the test admin endpoint."""

import html as html_lib
import re
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import responses
from flask import Flask
from flask.testing import FlaskClient

from tests.sandbox_ehr.conftest import (
    FHIR_BASE,
    UPSTREAM,
    auth_params,
    launch,
    pkce,
    searchset,
    token_for,
)


def test_launcher_redirects_to_the_app_with_iss_and_launch(client: FlaskClient) -> None:
    response = client.get(
        "/launcher",
        query_string={"app": "http://localhost/launch?tenant=x", "patient": "p1"},
    )
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == "http://localhost/launch"
    params = parse_qs(location.query)
    assert params["iss"] == [FHIR_BASE]
    assert params["tenant"] == ["x"]
    (launch_id,) = params["launch"]
    assert len(launch_id) >= 20 and "p1" not in launch_id  # opaque


def test_launch_carries_patient_and_user_into_the_token(client: FlaskClient) -> None:
    launch_id = launch(client, "p42", "sandbox-coordinator")
    token = token_for(client, launch=launch_id, patient="p42")
    assert token["patient"] == "p42"
    assert token["fhirUser"].endswith("/Practitioner/sandbox-coordinator")


def test_launcher_is_not_an_open_redirector(client: FlaskClient) -> None:
    for app in ("http://evil.test/launch", "javascript:alert(1)", "//evil.test/launch"):
        response = client.get("/launcher", query_string={"app": app})
        assert response.status_code == 400, app
        assert "Location" not in response.headers


def test_launcher_checks_patient_and_user(client: FlaskClient) -> None:
    bad_patient = client.get("/launcher", query_string={"patient": "a/b"})
    assert bad_patient.status_code == 400
    bad_user = client.get("/launcher", query_string={"user": "mallory"})
    assert bad_user.status_code == 400


def test_launcher_defaults_to_the_configured_app(make_app: Callable[..., Flask]) -> None:
    client = make_app(launch_origins=("https://app.example",)).test_client()
    assert client.get("/launcher").headers["Location"].startswith("http://127.0.0.1:5000/launch?")
    response = client.get("/launcher", query_string={"app": "https://app.example/launch"})
    assert response.status_code == 302


@responses.activate
def test_index_lists_patients_with_launch_links(client: FlaskClient) -> None:
    bobby = {
        "resourceType": "Patient",
        "id": "p1",
        "name": [{"text": "<b>Bobby</b> Tables"}],
        "birthDate": "1980-01-01",
    }
    responses.get(f"{UPSTREAM}/Patient", json=searchset(bobby))
    response = client.get("/", query_string={"app": "http://localhost/launch"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "&lt;b&gt;Bobby&lt;/b&gt; Tables" in html and "<b>Bobby" not in html
    (href,) = re.findall(r'class="launch" href="([^"]+)"', html)
    link = urlsplit(html_lib.unescape(href))
    assert link.path == "/launcher"
    assert parse_qs(link.query) == {
        "app": ["http://localhost/launch"],
        "patient": ["p1"],
        "user": ["sandbox-neurologist"],
        "need_patient_banner": ["1"],
    }


@responses.activate
def test_index_survives_an_unreachable_server(client: FlaskClient) -> None:
    responses.get(f"{UPSTREAM}/Patient", status=503)
    response = client.get("/")
    assert response.status_code == 200
    assert "refused to list patients" in response.get_data(as_text=True)


def test_admin_is_off_outside_test_mode(make_app: Callable[..., Flask]) -> None:
    client = make_app(test_mode=False).test_client()
    assert client.post("/_admin/config", json={"access_token_lifetime": 5}).status_code == 404


def test_admin_reads_validates_and_resets(client: FlaskClient) -> None:
    assert client.get("/_admin/config").get_json()["access_token_lifetime"] == 3600
    changed = client.post(
        "/_admin/config",
        json={"grant_scopes_filter": "read-only", "access_token_lifetime": 30, "clock_offset": 5},
    ).get_json()
    assert changed["grant_scopes_filter"] == {"strip": "cud", "drop": []}
    assert changed["access_token_lifetime"] == 30
    for bad in (
        {"nope": 1},
        {"access_token_lifetime": "30"},
        {"access_token_lifetime": 0},
        {"grant_scopes_filter": "nonsense"},
        {"grant_scopes_filter": {"strip": "x"}},
        {"auto_login_user": "mallory"},
    ):
        assert client.post("/_admin/config", json=bad).status_code == 400, bad
    reset = client.post("/_admin/reset").get_json()
    assert reset["access_token_lifetime"] == 3600
    assert reset["grant_scopes_filter"] is None and reset["clock_offset"] == 0


def test_admin_clock_offset_expires_tokens(client: FlaskClient) -> None:
    token = token_for(client)
    client.post("/_admin/config", json={"clock_offset": 3600})
    response = client.get(
        "/fhir/Patient/p1", headers={"Authorization": f"Bearer {token['access_token']}"}
    )
    assert response.status_code == 401


def test_admin_auto_login_and_approve(client: FlaskClient) -> None:
    client.post(
        "/_admin/config", json={"auto_login_user": "sandbox-neurologist", "auto_approve": True}
    )
    _, challenge = pkce()
    response = client.get(
        "/auth/authorize", query_string=auth_params(challenge, scope="user/Task.rs", launch=None)
    )
    assert response.status_code == 302
    assert "code=" in response.headers["Location"]
