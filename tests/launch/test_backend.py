"""Backend Services client_credentials with private_key_jwt, and the app's JWKS."""

from __future__ import annotations

import json
import time
from dataclasses import replace

import pytest
import responses
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey

from smartapp.config import ConfigError
from smartapp.launch.backend import BackendTokenProvider, fetch_backend_token
from smartapp.launch.keys import load_app_key, public_jwks, signing_keys
from smartapp.web import create_app
from tests.launch.launch_fakes import (
    CLIENT_ID,
    DISCOVERY_URL,
    ISS,
    TOKEN_URL,
    form,
    make_config,
    smart_configuration,
)

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@pytest.fixture(scope="module")
def rsa_pem(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("keys") / "app.pem"
    path.write_bytes(RSAKey.generate_key(2048).as_pem(private=True))
    return str(path)


@pytest.fixture(scope="module")
def ec_jwk(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("keys") / "app.jwk.json"
    key = ECKey.generate_key("P-384", parameters={"kid": "ec-1"})
    path.write_text(json.dumps(key.as_dict(private=True)))
    return str(path)


@pytest.fixture
def token_server(rsps):
    rsps.add(responses.GET, DISCOVERY_URL, json=smart_configuration())
    calls: list = []

    def answer(request):
        calls.append(request)
        body = {
            "access_token": f"backend-{len(calls)}",
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": form(request).get("scope"),
        }
        return 200, {"Content-Type": "application/json"}, json.dumps(body)

    rsps.add_callback(responses.POST, TOKEN_URL, callback=answer)
    return calls


def decode(request, key):
    sent = form(request)
    assert sent["client_assertion_type"] == ASSERTION_TYPE
    token = jwt.decode(sent["client_assertion"], key, algorithms=["RS384", "ES384"])
    return sent, token


def test_backend_assertion_follows_the_smart_rules(rsa_pem, token_server):
    app_key = load_app_key(rsa_pem)
    config = make_config(private_key_path=rsa_pem, backend_client_id="backend-client")
    first = fetch_backend_token(config, app_key)
    second = fetch_backend_token(config, app_key)
    assert first["access_token"] == "backend-1" and second["access_token"] == "backend-2"
    assert first["expires_at"] > time.time() + 200
    jtis = []
    for request in token_server:
        sent, token = decode(request, app_key.key)
        assert sent["grant_type"] == "client_credentials"
        assert "system/Patient.rs" in sent["scope"].split()
        assert "client_secret" not in sent
        assert token.header["alg"] == "RS384"
        assert token.header["kid"] == app_key.kid
        assert token.header["typ"] == "JWT"
        claims = token.claims
        assert claims["iss"] == claims["sub"] == "backend-client"
        assert claims["aud"] == TOKEN_URL
        assert 0 < claims["exp"] - claims["iat"] <= 300
        assert claims["exp"] <= time.time() + 300
        jtis.append(claims["jti"])
    assert len(set(jtis)) == 2  # a new jti for every assertion


def test_ec_p384_key_signs_es384_with_its_own_kid(ec_jwk, token_server):
    app_key = load_app_key(ec_jwk)
    assert (app_key.alg, app_key.kid) == ("ES384", "ec-1")
    fetch_backend_token(make_config(private_key_path=ec_jwk), app_key, scope="system/Task.rs")
    sent, token = decode(token_server[0], app_key.key)
    assert token.header["alg"] == "ES384" and token.header["kid"] == "ec-1"
    assert token.claims["iss"] == CLIENT_ID
    assert sent["scope"] == "system/Task.rs"


def test_provider_reuses_a_valid_token_and_reasserts_near_expiry(rsa_pem, token_server):
    app_key = load_app_key(rsa_pem)
    provider = BackendTokenProvider(make_config(), app_key)
    assert provider.access_token() == "backend-1"
    assert provider.access_token() == "backend-1"
    provider._token["expires_at"] = time.time() + 10  # type: ignore[index]
    assert provider.access_token() == "backend-2"
    jtis = {decode(request, app_key.key)[1].claims["jti"] for request in token_server}
    assert len(jtis) == 2


def test_backend_refuses_a_server_not_on_the_allowlist(rsa_pem, rsps):
    from smartapp.launch.errors import IssuerNotAllowed

    with pytest.raises(IssuerNotAllowed):
        fetch_backend_token(
            make_config(), load_app_key(rsa_pem), iss="https://attacker.example/fhir"
        )
    assert len(rsps.calls) == 0


def test_backend_refused_credentials_raise_token_error(rsa_pem, rsps):
    from smartapp.launch.errors import TokenError

    rsps.add(responses.GET, DISCOVERY_URL, json=smart_configuration())
    rsps.add(responses.POST, TOKEN_URL, status=401, json={"error": "invalid_client"})
    with pytest.raises(TokenError):
        fetch_backend_token(make_config(), load_app_key(rsa_pem))


def test_kid_defaults_to_thumbprint_or_configured_id(rsa_pem):
    assert load_app_key(rsa_pem).kid == load_app_key(rsa_pem).key.thumbprint()
    assert load_app_key(rsa_pem, kid="k-2026").kid == "k-2026"


@pytest.mark.parametrize(
    "content",
    [b"not a key", json.dumps({"kty": "RSA", "n": "AQAB", "e": "AQAB"}).encode()],
)
def test_unusable_key_file_is_one_clear_config_error(tmp_path, content):
    path = tmp_path / "bad.pem"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match="SMARTAPP_PRIVATE_KEY"):
        load_app_key(str(path))


def test_p256_key_is_refused(tmp_path):
    path = tmp_path / "p256.pem"
    path.write_bytes(ECKey.generate_key("P-256").as_pem(private=True))
    with pytest.raises(ConfigError, match="P-384"):
        load_app_key(str(path))


def test_jwks_endpoint_serves_the_public_key_only(rsa_pem):
    app = create_app(make_config(private_key_path=rsa_pem))
    response = app.test_client().get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert "max-age" in response.headers["Cache-Control"]
    jwks = response.get_json()
    assert len(jwks["keys"]) == 1
    key = jwks["keys"][0]
    assert key["kty"] == "RSA" and key["alg"] == "RS384" and key["use"] == "sig"
    assert key["kid"] == load_app_key(rsa_pem).kid
    for private in ("d", "p", "q", "dp", "dq", "qi"):
        assert private not in key
    # The published key verifies the app's assertions.
    app_key = load_app_key(rsa_pem)
    signed = jwt.encode(
        {"alg": "RS384", "kid": app_key.kid}, {"x": 1}, app_key.key, algorithms=["RS384"]
    )
    jwt.decode(signed, KeySet.import_key_set(jwks), algorithms=["RS384"])


def test_jwks_is_empty_without_a_key():
    app = create_app(make_config())
    assert app.test_client().get("/.well-known/jwks.json").get_json() == {"keys": []}


def test_private_key_jwt_tenant_without_key_stops_start_up():
    with pytest.raises(ConfigError, match="SMARTAPP_PRIVATE_KEY"):
        create_app(replace(make_config(), client_auth_method="private_key_jwt"))


def test_user_launch_with_private_key_jwt_client_auth(rsa_pem, rsps):
    from tests.launch.launch_fakes import FakeEhr

    app = create_app(make_config(private_key_path=rsa_pem, client_auth_method="private_key_jwt"))
    client = app.test_client()
    ehr = FakeEhr(rsps).install()
    assert ehr.sign_in(client).status_code == 302
    sent, token = decode(ehr.token_requests[0], load_app_key(rsa_pem).key)
    assert sent["grant_type"] == "authorization_code" and sent["code_verifier"]
    assert token.claims["aud"] == TOKEN_URL and token.header["kid"]


# -- what real servers publish and refuse (smartapp/launch/backend.py module doc) ----------


def reference_discovery() -> dict:
    """The SMART reference Bulk Data server's document: no PKCE, no grant types."""
    return {
        "token_endpoint": TOKEN_URL,
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
        "scopes_supported": ["system/*.rs", "system/Patient.rs"],
        "capabilities": ["permission-v2", "permission-v1", "client-confidential-asymmetric"],
    }


def capability(*types: str) -> dict:
    return {
        "resourceType": "CapabilityStatement",
        "rest": [{"mode": "server", "resource": [{"type": t} for t in types]}],
    }


def test_backend_discovery_needs_no_pkce_and_scopes_follow_the_server_types(rsa_pem, rsps):
    rsps.add(responses.GET, DISCOVERY_URL, json=reference_discovery())
    rsps.add(
        responses.GET,
        "https://ehr.example.org/fhir/metadata",
        json=capability("Patient", "Observation", "MedicationRequest", "Group"),
    )
    sent_scopes: list[str] = []

    def answer(request):
        sent_scopes.append(form(request)["scope"])
        body = {"access_token": "t", "token_type": "Bearer", "expires_in": 300}
        return 200, {"Content-Type": "application/json"}, json.dumps(body)

    rsps.add_callback(responses.POST, TOKEN_URL, callback=answer)
    token = fetch_backend_token(make_config(), load_app_key(rsa_pem))
    assert sent_scopes == [
        "system/Patient.rs system/Observation.rs system/MedicationRequest.rs system/Group.rs"
    ]
    assert token["scope"] == sent_scopes[0]  # no `scope` in the answer: as requested


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"grant_types_supported": ["authorization_code"]}, "client_credentials"),
        ({"token_endpoint_auth_methods_supported": ["client_secret_basic"]}, "private_key_jwt"),
        ({"token_endpoint_auth_signing_alg_values_supported": ["RS256"]}, "RS384"),
    ],
)
def test_backend_discovery_is_checked_for_what_client_credentials_needs(
    rsa_pem, rsps, change, message
):
    from smartapp.launch.errors import DiscoveryError

    rsps.add(responses.GET, DISCOVERY_URL, json={**reference_discovery(), **change})
    token = rsps.add(responses.POST, TOKEN_URL, json={"access_token": "t"})
    with pytest.raises(DiscoveryError, match=message):
        fetch_backend_token(make_config(), load_app_key(rsa_pem))
    assert token.call_count == 0


def test_an_invalid_scope_naming_a_type_is_asked_again_without_it(rsa_pem, rsps, caplog):
    from smartapp.launch.errors import TokenError

    rsps.add(responses.GET, DISCOVERY_URL, json=reference_discovery())
    sent_scopes: list[str] = []

    def answer(request):
        scope = form(request)["scope"]
        sent_scopes.append(scope)
        if "Task" in scope:
            body = {
                "error": "invalid_scope",
                "error_description": 'Resources of type "Task" do not exist on this server '
                '(requested by scope "system/Task.rs")',
            }
            return 400, {"Content-Type": "application/json"}, json.dumps(body)
        body = {"access_token": "t", "token_type": "Bearer", "scope": scope}
        return 200, {"Content-Type": "application/json"}, json.dumps(body)

    rsps.add_callback(responses.POST, TOKEN_URL, callback=answer)
    token = fetch_backend_token(
        make_config(), load_app_key(rsa_pem), scope="system/Patient.rs system/Task.rs"
    )
    assert sent_scopes == ["system/Patient.rs system/Task.rs", "system/Patient.rs"]
    assert token["scope"] == "system/Patient.rs"
    assert "invalid_scope" in caplog.text and "do not exist" in caplog.text

    with pytest.raises(TokenError, match=r"\(EHR code: invalid_scope\)"):
        fetch_backend_token(make_config(), load_app_key(rsa_pem), scope="system/Task.rs")


def test_a_v1_only_server_gets_v1_backend_scopes(rsa_pem, rsps):
    rsps.add(
        responses.GET,
        DISCOVERY_URL,
        json={**reference_discovery(), "capabilities": ["permission-v1"]},
    )
    token = rsps.add(responses.POST, TOKEN_URL, json={"access_token": "t", "token_type": "Bearer"})
    fetch_backend_token(make_config(), load_app_key(rsa_pem), scope="system/Patient.rs")
    assert form(token.calls[0].request)["scope"] == "system/Patient.read"


def test_refused_backend_credentials_are_one_cli_line_with_the_ehr_code(rsa_pem, rsps, caplog):
    """Epic before the organisation maps the client to a user: `invalid_client`."""
    from smartapp.cli.common import CliError, backend_access

    rsps.add(responses.GET, DISCOVERY_URL, json=reference_discovery())
    rsps.add(
        responses.POST,
        TOKEN_URL,
        status=400,
        json={"error": "invalid_client", "error_description": "Client user mapping missing"},
    )
    config = make_config(private_key_path=rsa_pem)
    with pytest.raises(CliError) as refused:
        backend_access(config, ISS)
    assert str(refused.value) == (
        "backend services: The FHIR server refused the app's backend credentials. "
        "The EHR did not recognise the app's credentials. (EHR code: invalid_client)"
    )
    assert "Client user mapping missing" in caplog.text


ORACLE_LIKE_TOKEN_URL = "https://authorization.example.com/tenants/t-1/protocols/oauth2/token"


def test_a_token_endpoint_on_another_host_is_used_only_when_the_tenant_lists_it(rsa_pem, rsps):
    """Oracle Health: the FHIR server's discovery names `authorization.cerner.com`."""
    from smartapp.cli.common import CliError, backend_access
    from smartapp.config import Tenant

    rsps.add(
        responses.GET,
        DISCOVERY_URL,
        json=reference_discovery() | {"token_endpoint": ORACLE_LIKE_TOKEN_URL},
    )
    token_calls = rsps.add(
        responses.POST,
        ORACLE_LIKE_TOKEN_URL,
        json={"access_token": "oracle-like", "token_type": "Bearer", "scope": "system/Patient.rs"},
    )
    plain = make_config(private_key_path=rsa_pem)
    with pytest.raises(CliError, match="'auth_origins' in the tenants file"):
        backend_access(plain, ISS)
    assert token_calls.call_count == 0

    tenant = Tenant(
        iss=ISS, client_id=CLIENT_ID, auth_origins=("https://authorization.example.com",)
    )
    listed = replace(plain, tenants={ISS: tenant})
    assert backend_access(listed, ISS)[0] == "oracle-like"
    _sent, token = decode(rsps.calls[-1].request, signing_keys(public_jwks(load_app_key(rsa_pem))))
    claims = token.claims
    assert claims["aud"] == ORACLE_LIKE_TOKEN_URL
