"""The authorization endpoint: SMART checks, the login/patient/consent pages, scope down-grading."""

from collections.abc import Callable
from urllib.parse import urlsplit

import pytest
import responses
from flask import Flask
from flask.testing import FlaskClient

from tests.sandbox_ehr.conftest import (
    REDIRECT,
    UPSTREAM,
    auth_params,
    click,
    launch,
    pkce,
    redirect_params,
    searchset,
)
from tests.support.forms import parse_form


def authorize(client: FlaskClient, **overrides: str | None):  # type: ignore[no-untyped-def]
    _, challenge = pkce()
    return client.get("/auth/authorize", query_string=auth_params(challenge, **overrides))


def test_missing_pkce_is_refused_with_an_error_redirect(client: FlaskClient) -> None:
    response = authorize(client, code_challenge=None, code_challenge_method=None, state="s1")
    params = redirect_params(response)
    assert response.headers["Location"].startswith(REDIRECT)
    assert params["error"] == "invalid_request"
    assert "PKCE" in params["error_description"]
    assert params["state"] == "s1"


def test_pkce_is_required_for_confidential_clients_too(client: FlaskClient) -> None:
    response = authorize(
        client, client_id="smartapp-confidential", code_challenge=None, code_challenge_method=None
    )
    assert redirect_params(response)["error"] == "invalid_request"


def test_plain_pkce_is_refused(client: FlaskClient) -> None:
    verifier, _ = pkce()
    response = authorize(client, code_challenge=verifier, code_challenge_method="plain")
    params = redirect_params(response)
    assert params["error"] == "invalid_request"
    assert "S256" in params["error_description"]


def test_pkce_method_must_be_sent(client: FlaskClient) -> None:
    # authlib would default a missing method to "plain".
    response = authorize(client, code_challenge_method=None)
    assert redirect_params(response)["error"] == "invalid_request"


@pytest.mark.parametrize("aud", [None, "http://other.test/fhir", "http://sandbox.test"])
def test_aud_must_be_the_sandbox_fhir_base(client: FlaskClient, aud: str | None) -> None:
    response = authorize(client, aud=aud, state="s2")
    params = redirect_params(response)
    assert params["error"] == "invalid_request"
    assert "aud" in params["error_description"]
    assert params["state"] == "s2"


def test_aud_with_trailing_slash_is_the_same_base(client: FlaskClient) -> None:
    response = authorize(client, aud="http://sandbox.test/fhir/", launch=launch(client))
    assert response.status_code == 200  # consent page


def test_unknown_redirect_uri_is_not_redirected_to(client: FlaskClient) -> None:
    response = authorize(client, redirect_uri="http://evil.test/callback")
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "invalid_request" in response.get_data(as_text=True)


def test_redirect_uri_must_match_exactly(client: FlaskClient) -> None:
    response = authorize(client, redirect_uri=REDIRECT + "/")
    assert response.status_code == 400


def test_unknown_client_is_refused_without_redirect(client: FlaskClient) -> None:
    response = authorize(client, client_id="nobody")
    assert response.status_code == 400
    assert "invalid_client" in response.get_data(as_text=True)


def test_response_type_must_be_code(client: FlaskClient) -> None:
    response = authorize(client, response_type="token")
    assert redirect_params(response)["error"] == "unsupported_response_type"


def test_malformed_scope_is_refused(client: FlaskClient) -> None:
    response = authorize(client, scope="patient/Observation.dus")
    assert redirect_params(response)["error"] == "invalid_scope"


def test_unknown_launch_is_refused(client: FlaskClient) -> None:
    response = authorize(client, launch="not-a-launch")
    params = redirect_params(response)
    assert params["error"] == "invalid_request"
    assert "launch" in params["error_description"]


def test_expired_launch_is_refused(client: FlaskClient, clock) -> None:  # type: ignore[no-untyped-def]
    launch_id = launch(client)
    clock.advance(3601)
    assert redirect_params(authorize(client, launch=launch_id))["error"] == "invalid_request"


def test_ehr_launch_goes_straight_to_consent_and_echoes_state(client: FlaskClient) -> None:
    page = authorize(client, launch=launch(client, patient="p7"), state="xyz")
    form = parse_form(page.get_data(as_text=True))
    assert "approve" in form.buttons and "login-submit" not in form.buttons
    html = page.get_data(as_text=True)
    assert "p7" in html and "patient/CarePlan.cu" in html
    params = redirect_params(click(client, page, "approve"))
    assert params["state"] == "xyz"
    assert params["code"]


def test_deny_returns_access_denied(client: FlaskClient) -> None:
    page = authorize(client, launch=launch(client), state="s3")
    params = redirect_params(click(client, page, "deny"))
    assert params["error"] == "access_denied"
    assert params["state"] == "s3"
    assert "code" not in params


def test_approve_without_the_consent_page_is_ignored(client: FlaskClient) -> None:
    _, challenge = pkce()
    data = {**auth_params(challenge, launch=launch(client)), "action": "approve"}
    response = client.post("/auth/authorize", data=data)
    assert response.status_code == 200  # the consent page, not a code
    assert "approve" in parse_form(response.get_data(as_text=True)).buttons


@responses.activate
def test_standalone_launch_logs_in_then_picks_a_patient(client: FlaskClient) -> None:
    ada = {
        "resourceType": "Patient",
        "id": "p9",
        "name": [{"given": ["Ada"], "family": "Lovelace"}],
    }
    responses.get(f"{UPSTREAM}/Patient", json=searchset(ada))
    page = authorize(client, launch=None, scope="launch/patient openid fhirUser patient/*.rs")
    form = parse_form(page.get_data(as_text=True))
    assert "login-submit" in form.buttons
    assert form.selects["user"] == ["sandbox-neurologist", "sandbox-coordinator"]

    page = click(client, page, "login-submit", user="sandbox-coordinator")
    form = parse_form(page.get_data(as_text=True))
    assert form.selects["patient"] == ["p9"]
    assert "Ada Lovelace" in page.get_data(as_text=True)

    page = click(client, page, "patient-submit", patient="p9")
    html = page.get_data(as_text=True)
    assert "Casey Coord" in html and "p9" in html
    assert redirect_params(click(client, page, "approve"))["code"]


@responses.activate
def test_patient_picker_falls_back_to_typing_an_id(client: FlaskClient) -> None:
    responses.get(f"{UPSTREAM}/Patient", status=500)
    page = authorize(client, launch=None, scope="launch/patient patient/Patient.r")
    page = click(client, page, "login-submit", user="sandbox-neurologist")
    assert "could not list patients" in page.get_data(as_text=True)
    page = click(client, page, "patient-submit", patient_id="typed-1")
    assert "typed-1" in page.get_data(as_text=True)


def test_tampered_form_state_restarts_the_flow(client: FlaskClient) -> None:
    page = authorize(client, launch=None, scope="openid fhirUser user/Task.rs")
    page = click(client, page, "login-submit", user="sandbox-neurologist")
    assert "approve" in parse_form(page.get_data(as_text=True)).buttons
    forged = click(client, page, "approve", _txn="forged")
    assert "login-submit" in parse_form(forged.get_data(as_text=True)).buttons


def test_changed_request_does_not_reuse_earlier_choices(client: FlaskClient) -> None:
    page = authorize(client, launch=None, scope="openid fhirUser user/Task.rs")
    page = click(client, page, "login-submit", user="sandbox-neurologist")
    changed = click(client, page, "approve", scope="openid fhirUser user/*.cruds")
    assert "login-submit" in parse_form(changed.get_data(as_text=True)).buttons


def test_auto_login_and_auto_approve(make_app: Callable[..., Flask]) -> None:
    client = make_app(auto_login_user="sandbox-neurologist", auto_approve=True).test_client()
    response = authorize(client, launch=None, scope="openid fhirUser user/Task.rs")
    assert redirect_params(response)["code"]


def test_pages_escape_text(make_app: Callable[..., Flask]) -> None:
    from sandbox_ehr import SandboxUser

    client = make_app(users=(SandboxUser("u1", "<script>alert(1)</script>"),)).test_client()
    page = authorize(client, launch=None, scope="user/Task.rs")
    html = page.get_data(as_text=True)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert page.headers["Content-Security-Policy"].startswith("default-src 'none'")


def test_launch_scope_without_launch_is_not_granted(client: FlaskClient) -> None:
    page = authorize(client, launch=None, scope="launch user/Task.rs")
    page = click(client, page, "login-submit", user="sandbox-neurologist")
    form = parse_form(page.get_data(as_text=True))
    assert "approve" in form.buttons
    html = page.get_data(as_text=True)
    assert 'id="denied-scopes"' in html and "<code>launch</code>" in html


def test_authorize_accepts_post(client: FlaskClient) -> None:
    _, challenge = pkce()
    response = client.post("/auth/authorize", data=auth_params(challenge, launch=launch(client)))
    assert "approve" in parse_form(response.get_data(as_text=True)).buttons


def test_code_goes_to_the_registered_uri(client: FlaskClient) -> None:
    page = authorize(client, launch=launch(client), state="s4")
    response = click(client, page, "approve")
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    params = redirect_params(response)
    assert set(params) == {"code", "state", "iss"}
    assert params["iss"] == "http://sandbox.test"  # RFC 9207: the server names itself


@pytest.mark.parametrize(
    "overrides", [{"redirect_uri": 'http://x.test/"a'}, {"response_type": 'co"de'}]
)
def test_malformed_parameters_are_a_400_page(client: FlaskClient, overrides: dict) -> None:  # type: ignore[type-arg]
    response = authorize(client, **overrides)
    assert response.status_code == 400
    assert "Location" not in response.headers


def test_ehr_launch_without_patient_shows_the_picker(client: FlaskClient) -> None:
    response = client.get("/launcher", query_string={"app": "http://localhost/launch"})
    launch_id = redirect_params(response)["launch"]
    with responses.RequestsMock() as upstream:
        upstream.get(f"{UPSTREAM}/Patient", json={"resourceType": "Bundle", "type": "searchset"})
        page = authorize(client, launch=launch_id)
    form = parse_form(page.get_data(as_text=True))
    assert "patient-submit" in form.buttons and "login-submit" not in form.buttons


@pytest.mark.parametrize(
    ("refuse", "scope", "refused"),
    [
        ("writes", "launch patient/Observation.rs patient/Task.cu", "patient/Task.cu"),
        ("writes", "launch patient/Observation.read patient/Task.write", "patient/Task.write"),
        ("v2", "launch patient/Observation.rs", "patient/Observation.rs"),
        ({"patterns": ["*/MedicationDispense.*"]}, "patient/MedicationDispense.rs", None),
    ],
)
def test_a_registration_for_less_refuses_with_invalid_scope(
    make_app: Callable[..., Flask], refuse: object, scope: str, refused: str | None
) -> None:
    client = make_app(refuse_scopes=refuse).test_client()
    response = authorize(client, scope=scope, state="s2")
    params = redirect_params(response)
    assert params["error"] == "invalid_scope"
    assert params["state"] == "s2"
    assert (refused or scope) in params["error_description"]


def test_a_read_only_registration_accepts_the_read_scopes(make_app: Callable[..., Flask]) -> None:
    client = make_app(refuse_scopes="writes").test_client()
    response = authorize(client, scope="launch/patient patient/Observation.rs patient/Task.rs")
    assert response.status_code == 200  # on to the sign-in page, no error redirect
    assert 'id="login-submit"' in response.get_data(as_text=True)


def test_refusal_is_a_runtime_setting(client: FlaskClient) -> None:
    set_config = client.post("/_admin/config", json={"refuse_scopes": {"writes": True}})
    assert set_config.status_code == 200
    assert set_config.get_json()["refuse_scopes"]["writes"] is True
    response = authorize(client, scope="launch/patient patient/Task.cu")
    assert redirect_params(response)["error"] == "invalid_scope"
    bad = client.post("/_admin/config", json={"refuse_scopes": "everything"})
    assert bad.status_code == 400
