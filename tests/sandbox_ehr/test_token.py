"""The token endpoint for apps: codes, PKCE, refresh rotation, id_token, launch context."""

import base64
from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.sandbox_ehr.conftest import (
    FHIR_BASE,
    PUBLIC,
    Clock,
    auth_params,
    click,
    exchange,
    get_code,
    launch,
    pkce,
    redirect_params,
    token_for,
)


def test_code_exchange_returns_smart_context(client: FlaskClient) -> None:
    verifier, challenge = pkce()
    code = get_code(client, challenge, patient="p1")["code"]
    response = exchange(client, code, verifier)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"
    token = response.get_json()
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 3600
    assert token["access_token"] and token["refresh_token"]
    assert token["patient"] == "p1"
    assert token["need_patient_banner"] is True
    assert token["fhirUser"] == f"{FHIR_BASE}/Practitioner/sandbox-neurologist"
    assert set(token["scope"].split()) == set(auth_params("x")["scope"].split())


def test_code_is_single_use(client: FlaskClient) -> None:
    verifier, challenge = pkce()
    code = get_code(client, challenge)["code"]
    first = exchange(client, code, verifier)
    assert first.status_code == 200
    second = exchange(client, code, verifier)
    assert second.status_code == 400
    assert second.get_json()["error"] == "invalid_grant"


def test_reusing_a_code_revokes_the_tokens_it_gave(client: FlaskClient) -> None:
    verifier, challenge = pkce()
    code = get_code(client, challenge)["code"]
    token = exchange(client, code, verifier).get_json()
    exchange(client, code, verifier)
    response = client.get(
        "/fhir/Patient/p1", headers={"Authorization": f"Bearer {token['access_token']}"}
    )
    assert response.status_code == 401


def test_wrong_verifier_is_refused_and_burns_the_code(client: FlaskClient) -> None:
    verifier, challenge = pkce()
    other, _ = pkce()
    code = get_code(client, challenge)["code"]
    response = exchange(client, code, other)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_grant"
    assert exchange(client, code, verifier).get_json()["error"] == "invalid_grant"


def test_missing_verifier_is_refused(client: FlaskClient) -> None:
    _, challenge = pkce()
    code = get_code(client, challenge)["code"]
    response = exchange(client, code, None)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


def test_code_expires_after_60_seconds(client: FlaskClient, clock: Clock) -> None:
    verifier, challenge = pkce()
    code = get_code(client, challenge)["code"]
    clock.advance(61)
    assert exchange(client, code, verifier).get_json()["error"] == "invalid_grant"


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def confidential_exchange(client: FlaskClient, code: str, verifier: str, secret: str):  # type: ignore[no-untyped-def]
    return client.post(
        "/auth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": "http://localhost/callback",
            "code_verifier": verifier,
        },
        headers=basic("smartapp-confidential", secret),
    )


def test_code_is_bound_to_its_redirect_uri(client: FlaskClient) -> None:
    verifier, challenge = pkce()
    code = get_code(client, challenge)["code"]
    wrong = exchange(client, code, verifier, redirect_uri="http://localhost:5000/callback")
    assert wrong.get_json()["error"] == "invalid_grant"


def test_code_is_bound_to_its_client(client: FlaskClient) -> None:
    verifier, challenge = pkce()
    code = get_code(client, challenge)["code"]  # issued to smartapp-demo
    response = confidential_exchange(client, code, verifier, "sandbox-secret")
    assert response.get_json()["error"] == "invalid_grant"


def test_confidential_symmetric_client_uses_basic_auth(client: FlaskClient) -> None:
    verifier, challenge = pkce()
    code = get_code(client, challenge, client_id="smartapp-confidential")["code"]
    response = confidential_exchange(client, code, verifier, "sandbox-secret")
    assert response.status_code == 200, response.get_json()


def test_confidential_client_cannot_skip_authentication(client: FlaskClient) -> None:
    verifier, challenge = pkce()
    code = get_code(client, challenge, client_id="smartapp-confidential")["code"]
    response = exchange(client, code, verifier, client_id="smartapp-confidential")
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"


def test_confidential_client_wrong_secret(client: FlaskClient) -> None:
    verifier, challenge = pkce()
    code = get_code(client, challenge, client_id="smartapp-confidential")["code"]
    response = confidential_exchange(client, code, verifier, "wrong")
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"


def refresh(client: FlaskClient, refresh_token: str, **extra: str) -> dict:  # type: ignore[type-arg]
    response = client.post(
        "/auth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": "smartapp-demo",
            **extra,
        },
    )
    body = response.get_json()
    body["_status"] = response.status_code
    return body  # type: ignore[no-any-return]


def test_refresh_rotates_and_the_old_token_is_refused(client: FlaskClient) -> None:
    token = token_for(client)
    second = refresh(client, token["refresh_token"])
    assert second["_status"] == 200
    assert second["refresh_token"] != token["refresh_token"]
    assert second["access_token"] != token["access_token"]
    assert second["patient"] == "p1"
    assert second["scope"] == token["scope"]

    again = refresh(client, token["refresh_token"])
    assert again["_status"] == 400 and again["error"] == "invalid_grant"


def test_replayed_refresh_token_revokes_the_family(client: FlaskClient) -> None:
    token = token_for(client)
    second = refresh(client, token["refresh_token"])
    refresh(client, token["refresh_token"])  # an attacker replays the old one
    assert refresh(client, second["refresh_token"])["error"] == "invalid_grant"
    response = client.get(
        "/fhir/Patient/p1", headers={"Authorization": f"Bearer {second['access_token']}"}
    )
    assert response.status_code == 401


def test_no_refresh_token_without_online_or_offline_access(client: FlaskClient) -> None:
    token = token_for(client, scope="launch openid fhirUser patient/Patient.r")
    assert "refresh_token" not in token
    assert refresh(client, "made-up")["error"] == "invalid_grant"


def test_offline_access_gives_a_refresh_token(client: FlaskClient) -> None:
    token = token_for(client, scope="launch offline_access patient/Patient.r")
    assert token["refresh_token"]


def test_refresh_may_narrow_but_not_widen_scopes(client: FlaskClient) -> None:
    token = token_for(client)
    narrower = refresh(client, token["refresh_token"], scope="online_access patient/Patient.r")
    assert narrower["_status"] == 200
    assert narrower["scope"] == "online_access patient/Patient.r"
    wider = refresh(client, narrower["refresh_token"], scope="patient/Observation.rs")
    assert wider["error"] == "invalid_scope"


def test_refresh_token_expires(client: FlaskClient, clock: Clock) -> None:
    token = token_for(client)
    clock.advance(8 * 3600 + 1)
    assert refresh(client, token["refresh_token"])["error"] == "invalid_grant"


def test_id_token_verifies_against_jwks_with_fhir_user(client: FlaskClient) -> None:
    verifier, challenge = pkce()
    code = get_code(client, challenge, nonce="n-123")["code"]
    token = exchange(client, code, verifier).get_json()
    keys = KeySet.import_key_set(client.get("/jwks").get_json())
    decoded = jwt.decode(token["id_token"], keys, algorithms=["RS256"])
    assert decoded.header["alg"] == "RS256"
    claims = decoded.claims
    assert claims["iss"] == PUBLIC
    assert claims["aud"] == "smartapp-demo"
    assert claims["sub"] == "sandbox-neurologist"
    assert claims["nonce"] == "n-123"
    assert claims["fhirUser"] == f"{FHIR_BASE}/Practitioner/sandbox-neurologist"
    assert claims["exp"] > claims["iat"]


def test_no_id_token_without_openid(client: FlaskClient) -> None:
    token = token_for(client, scope="launch fhirUser patient/Patient.r")
    assert "id_token" not in token


def test_scope_downgrade_from_config(make_app: Callable[..., Flask]) -> None:
    client = make_app(grant_scopes_filter="read-only").test_client()
    token = token_for(client)
    granted = set(token["scope"].split())
    assert "patient/CarePlan.cu" not in granted and "patient/Task.cu" not in granted
    assert {"patient/CarePlan.rs", "patient/Task.rs", "patient/Observation.rs"} <= granted


def test_scope_downgrade_with_a_callable(make_app: Callable[..., Flask]) -> None:
    client = make_app(grant_scopes_filter=lambda scopes: [s for s in scopes if s != "openid"])
    token = token_for(client.test_client())
    assert "openid" not in token["scope"].split() and "id_token" not in token


def test_scope_downgrade_per_test_through_admin(client: FlaskClient) -> None:
    response = client.post(
        "/_admin/config",
        json={"grant_scopes_filter": {"strip": "cu", "drop": ["online_access"]}},
    )
    assert response.status_code == 200
    token = token_for(client)
    granted = token["scope"].split()
    assert "online_access" not in granted and "refresh_token" not in token
    assert not any(s.endswith(".cu") for s in granted)


def test_downgrade_is_shown_on_the_consent_page(make_app: Callable[..., Flask]) -> None:
    client = make_app(grant_scopes_filter={"drop": ["patient/Task.*"]}).test_client()
    _, challenge = pkce()
    page = client.get("/auth/authorize", query_string=auth_params(challenge, launch=launch(client)))
    html = page.get_data(as_text=True)
    denied = html.split('id="denied-scopes"')[1]
    assert "patient/Task.rs" in denied and "patient/Task.cu" in denied
    params = redirect_params(click(client, page, "approve"))
    assert params["code"]


def test_short_token_lifetime_through_admin(client: FlaskClient, clock: Clock) -> None:
    client.post("/_admin/config", json={"access_token_lifetime": 5})
    token = token_for(client)
    assert token["expires_in"] == 5


def test_need_patient_banner_comes_from_the_launch(client: FlaskClient) -> None:
    token = token_for(client, launch=launch(client, need_patient_banner="0"))
    assert token["need_patient_banner"] is False
