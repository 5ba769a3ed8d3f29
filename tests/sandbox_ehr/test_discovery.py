from urllib.parse import parse_qs, urlsplit

from flask.testing import FlaskClient
from joserfc.jwk import KeySet

from tests.sandbox_ehr.conftest import FHIR_BASE, PUBLIC, TOKEN_URL


def redirect_params_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def test_smart_configuration_is_absolute_and_s256_only(client: FlaskClient) -> None:
    response = client.get("/fhir/.well-known/smart-configuration")
    assert response.status_code == 200
    config = response.get_json()
    assert config["issuer"] == PUBLIC
    assert config["jwks_uri"] == f"{PUBLIC}/jwks"
    assert config["authorization_endpoint"] == f"{PUBLIC}/auth/authorize"
    assert config["token_endpoint"] == TOKEN_URL
    assert config["code_challenge_methods_supported"] == ["S256"]
    assert config["response_types_supported"] == ["code"]
    assert set(config["grant_types_supported"]) == {
        "authorization_code",
        "refresh_token",
        "client_credentials",
    }
    assert set(config["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "private_key_jwt",
        "none",
    }
    assert {
        "launch-ehr",
        "launch-standalone",
        "client-public",
        "client-confidential-symmetric",
        "client-confidential-asymmetric",
        "sso-openid-connect",
        "context-ehr-patient",
        "context-standalone-patient",
        "context-banner",
        "permission-offline",
        "permission-online",
        "permission-patient",
        "permission-user",
        "permission-v2",
        "permission-v1",
    } <= set(config["capabilities"])
    assert "launch/patient" in config["scopes_supported"]


def test_smart_configuration_needs_no_token_and_is_not_proxied(client: FlaskClient) -> None:
    # No upstream mock: answering proves the document is the sandbox's own.
    assert client.get("/fhir/.well-known/smart-configuration").status_code == 200


def test_openid_configuration_at_the_issuer(client: FlaskClient) -> None:
    config = client.get("/.well-known/openid-configuration").get_json()
    assert config["issuer"] == PUBLIC
    assert config["jwks_uri"] == f"{PUBLIC}/jwks"
    assert config["id_token_signing_alg_values_supported"] == ["RS256"]


def test_jwks_is_public_rs256_key(client: FlaskClient) -> None:
    jwks = client.get("/jwks").get_json()
    (key,) = jwks["keys"]
    assert key["kty"] == "RSA" and key["alg"] == "RS256" and key["use"] == "sig" and key["kid"]
    assert "d" not in key and "p" not in key
    KeySet.import_key_set(jwks)  # well formed


def test_signing_key_file_is_created_then_reused(make_app, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "sandbox-key.pem"
    first = make_app(signing_key_file=str(path)).test_client().get("/jwks").get_json()
    assert path.exists() and oct(path.stat().st_mode & 0o777) == "0o600"
    second = make_app(signing_key_file=str(path)).test_client().get("/jwks").get_json()
    assert first == second


def test_fhir_base_is_the_iss(client: FlaskClient) -> None:
    location = client.get("/launcher", query_string={"app": "http://localhost/launch"}).headers[
        "Location"
    ]
    assert redirect_params_of(location)["iss"] == FHIR_BASE
