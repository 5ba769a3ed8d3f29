"""The sandbox as the organisation's identity provider: the `smartapp-login` client."""

from __future__ import annotations

import base64
from typing import Any

from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.sandbox_ehr.conftest import PUBLIC, exchange, get_code, launch, pkce

LOGIN_REDIRECT = "http://127.0.0.1:5000/login/callback"
BASIC = "Basic " + base64.b64encode(b"smartapp-login:sandbox-login-secret").decode()


def _claims(client: FlaskClient, id_token: str) -> dict[str, Any]:
    keys = KeySet.import_key_set(client.get("/jwks").get_json())
    return dict(jwt.decode(id_token, keys).claims)


def _sign_in_code(
    client: FlaskClient, challenge: str, scope: str, **overrides: Any
) -> dict[str, str]:
    """The authorize redirect's params for the sign-in client (no `aud`: it reads no FHIR)."""
    return get_code(
        client,
        challenge,
        **{
            "launch": None,
            "client_id": "smartapp-login",
            "redirect_uri": LOGIN_REDIRECT,
            "scope": scope,
            "aud": None,
            **overrides,
        },
    )


def test_a_sign_in_needs_no_aud_and_gives_identity_and_groups_only(client: FlaskClient) -> None:
    verifier, challenge = pkce()
    params = _sign_in_code(
        client,
        challenge,
        "openid profile email groups patient/*.rs launch/patient fhirUser",
        nonce="n-123",
    )
    assert params["iss"] == PUBLIC  # RFC 9207
    response = client.post(
        "/auth/token",
        data={
            "grant_type": "authorization_code",
            "code": params["code"],
            "redirect_uri": LOGIN_REDIRECT,
            "code_verifier": verifier,
        },
        headers={"Authorization": BASIC},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    token = response.get_json()
    assert token["scope"].split() == ["openid", "profile", "email", "groups"]
    assert "patient" not in token and "refresh_token" not in token
    claims = _claims(client, token["id_token"])
    assert claims["iss"] == PUBLIC and claims["aud"] == "smartapp-login"
    assert claims["sub"] == claims["preferred_username"] == "sandbox-neurologist"
    assert claims["groups"] == ["neurology"] and claims["nonce"] == "n-123"
    assert claims["email_verified"] is True
    assert "fhirUser" not in claims


def test_a_sign_in_client_cannot_take_part_in_a_launch(client: FlaskClient) -> None:
    _, challenge = pkce()
    params = _sign_in_code(client, challenge, "openid launch", launch=launch(client))
    assert params.get("error") == "invalid_request"


def test_the_sign_in_client_needs_its_secret(client: FlaskClient) -> None:
    verifier, challenge = pkce()
    params = _sign_in_code(client, challenge, "openid")
    refused = exchange(
        client, params["code"], verifier, client_id="smartapp-login", redirect_uri=LOGIN_REDIRECT
    )
    assert refused.status_code in (400, 401)
    assert "access_token" not in (refused.get_json() or {})
