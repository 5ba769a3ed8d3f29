"""private_key_jwt: SMART Backend Services (client_credentials) and the asymmetric app client."""

from collections.abc import Callable

import pytest
import responses
from flask import Flask
from flask.testing import FlaskClient
from joserfc.jwk import ECKey, KeySet, RSAKey

from tests.sandbox_ehr.conftest import (
    EC_KEY,
    REDIRECT,
    RS_KEY,
    Clock,
    assertion,
    backend_token,
    get_code,
    pkce,
)

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@pytest.mark.parametrize(("key", "alg"), [(RS_KEY, "RS384"), (EC_KEY, "ES384")])
def test_backend_token_with_valid_assertion(
    client: FlaskClient, clock: Clock, key: RSAKey | ECKey, alg: str
) -> None:
    response = backend_token(client, assertion(key, alg, now=clock()), "system/Patient.rs")
    assert response.status_code == 200, response.get_json()
    assert response.headers["Cache-Control"] == "no-store"
    token = response.get_json()
    assert token["token_type"] == "Bearer"
    assert token["scope"] == "system/Patient.rs"
    assert token["expires_in"] == 300
    assert "refresh_token" not in token and "id_token" not in token and "patient" not in token


def test_backend_token_only_gets_system_scopes(client: FlaskClient, clock: Clock) -> None:
    signed = assertion(RS_KEY, "RS384", now=clock())
    response = backend_token(client, signed, "system/Task.rs patient/Patient.r offline_access")
    assert response.get_json()["scope"] == "system/Task.rs"


def test_replayed_jti_is_refused(client: FlaskClient, clock: Clock) -> None:
    signed = assertion(RS_KEY, "RS384", now=clock(), jti="once")
    assert backend_token(client, signed).status_code == 200
    again = backend_token(client, signed)
    assert again.status_code == 400
    assert again.get_json()["error"] == "invalid_client"
    assert "jti" in again.get_json()["error_description"]


def test_assertion_more_than_5_minutes_ahead_is_refused(client: FlaskClient, clock: Clock) -> None:
    response = backend_token(client, assertion(RS_KEY, "RS384", now=clock(), exp_in=600))
    assert response.get_json()["error"] == "invalid_client"
    assert "5 minutes" in response.get_json()["error_description"]


def test_expired_assertion_is_refused(client: FlaskClient, clock: Clock) -> None:
    signed = assertion(RS_KEY, "RS384", now=clock(), exp_in=60)
    clock.advance(120)
    assert backend_token(client, signed).get_json()["error"] == "invalid_client"


def test_wrong_kid_is_refused(client: FlaskClient, clock: Clock) -> None:
    response = backend_token(client, assertion(RS_KEY, "RS384", now=clock(), kid="other"))
    assert response.get_json()["error"] == "invalid_client"
    assert "kid" in response.get_json()["error_description"]


def test_missing_kid_is_refused(client: FlaskClient, clock: Clock) -> None:
    response = backend_token(client, assertion(RS_KEY, "RS384", now=clock(), kid=None))
    assert response.get_json()["error"] == "invalid_client"


def test_kid_of_another_key_type_fails_the_signature(client: FlaskClient, clock: Clock) -> None:
    signed = assertion(RS_KEY, "RS384", now=clock(), kid=EC_KEY.kid)
    assert backend_token(client, signed).get_json()["error"] == "invalid_client"


def test_rs256_is_refused(client: FlaskClient, clock: Clock) -> None:
    response = backend_token(client, assertion(RS_KEY, "RS256", now=clock()))
    assert "RS384" in response.get_json()["error_description"]


def test_wrong_audience_is_refused(client: FlaskClient, clock: Clock) -> None:
    signed = assertion(RS_KEY, "RS384", now=clock(), aud="http://sandbox.test/fhir")
    assert backend_token(client, signed).get_json()["error"] == "invalid_client"


def test_unregistered_key_is_refused(client: FlaskClient, clock: Clock) -> None:
    stranger = RSAKey.generate_key(2048, parameters={"kid": RS_KEY.kid})
    signed = assertion(stranger, "RS384", now=clock())
    assert backend_token(client, signed).get_json()["error"] == "invalid_client"


def test_public_client_cannot_use_client_credentials(client: FlaskClient) -> None:
    response = client.post(
        "/auth/token", data={"grant_type": "client_credentials", "client_id": "smartapp-demo"}
    )
    assert response.get_json()["error"] == "invalid_client"


@responses.activate
def test_jwks_url_is_fetched_and_cached(make_app: Callable[..., Flask], clock: Clock) -> None:
    jwks_url = "http://app.test/.well-known/jwks.json"
    responses.get(jwks_url, json=KeySet([RS_KEY, EC_KEY]).as_dict(private=False))
    client = make_app(client_jwks=None, client_jwks_uri=jwks_url).test_client()
    assert backend_token(client, assertion(RS_KEY, "RS384", now=clock())).status_code == 200
    assert backend_token(client, assertion(EC_KEY, "ES384", now=clock())).status_code == 200
    assert len(responses.calls) == 1


@responses.activate
def test_jwks_url_is_refetched_for_a_new_kid(make_app: Callable[..., Flask], clock: Clock) -> None:
    jwks_url = "http://app.test/.well-known/jwks.json"
    responses.get(jwks_url, json=KeySet([RS_KEY]).as_dict(private=False))
    responses.get(jwks_url, json=KeySet([RS_KEY, EC_KEY]).as_dict(private=False))
    client = make_app(client_jwks=None, client_jwks_uri=jwks_url).test_client()
    assert backend_token(client, assertion(RS_KEY, "RS384", now=clock())).status_code == 200
    assert backend_token(client, assertion(EC_KEY, "ES384", now=clock())).status_code == 200


@responses.activate
def test_unreachable_jwks_url_is_invalid_client(
    make_app: Callable[..., Flask], clock: Clock
) -> None:
    responses.get("http://app.test/jwks", status=500)
    client = make_app(client_jwks=None, client_jwks_uri="http://app.test/jwks").test_client()
    response = backend_token(client, assertion(RS_KEY, "RS384", now=clock()))
    assert response.get_json()["error"] == "invalid_client"


def test_asymmetric_app_client_exchanges_its_code(client: FlaskClient, clock: Clock) -> None:
    verifier, challenge = pkce()
    code = get_code(client, challenge, client_id="smartapp-asymmetric")["code"]
    response = client.post(
        "/auth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion(
                EC_KEY, "ES384", client_id="smartapp-asymmetric", now=clock()
            ),
        },
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["patient"] == "p1"
