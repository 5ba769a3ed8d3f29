"""OAuth mix-up defence (RFC 9700 §4.4): one redirect URI per EHR, RFC 9207 `iss`, the token
endpoint on the EHR's origin, https endpoints for https issuers, `aud` = configured base."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import responses
from flask.testing import FlaskClient

from smartapp.config import ConfigError, Tenant, default_callback_id, load_config
from smartapp.launch.session_store import MemorySessionStore
from smartapp.web import create_app
from tests.launch.launch_fakes import (
    AUTH,
    DISCOVERY_URL,
    ISS,
    FakeEhr,
    query,
    smart_configuration,
)

OTHER_ISS = "https://other-ehr.example.net/fhir"


def test_each_ehr_has_its_own_redirect_uri(client: FlaskClient, ehr: FakeEhr) -> None:
    params = ehr.launch(client)
    assert params["redirect_uri"] == "http://localhost/callback/ehr.example.org-fhir"
    assert default_callback_id("https://EHR.example.org:8443/api/FHIR/R4/") == (
        "ehr.example.org-8443-api-fhir-r4"
    )
    long = default_callback_id("https://ehr.example.org/" + "x" * 200)
    assert len(long) <= 60 and long != default_callback_id("https://ehr.example.org/" + "y" * 200)


@pytest.mark.parametrize("path", ["/callback", "/callback/other-ehr.example.net-fhir"])
def test_an_answer_at_another_ehrs_redirect_uri_is_not_used(
    client: FlaskClient, ehr: FakeEhr, path: str
) -> None:
    """A hostile allowlisted server relays the user to EHR B with B's redirect URI: the
    answer (B's code) arrives at B's address with the state of the launch sent to A."""
    params = ehr.launch(client)
    response = client.get(path, query_string={"code": "stolen", "state": params["state"]})
    assert response.status_code == 400
    assert "address of another EHR" in response.get_data(as_text=True)
    assert ehr.token_requests == []  # neither the code nor the PKCE verifier went anywhere


def test_an_answer_naming_another_server_is_refused_rfc9207(client: FlaskClient, rsps) -> None:
    ehr = FakeEhr(rsps).install()
    params = ehr.launch(client)
    bad = {"code": "c", "state": params["state"], "iss": "https://evil.example"}
    assert client.get(ehr.callback_path, query_string=bad).status_code == 400
    assert ehr.token_requests == []
    params = ehr.launch(client)
    good = {"code": "c", "state": params["state"], "iss": AUTH}
    assert client.get(ehr.callback_path, query_string=good).status_code == 302


def test_a_server_that_promises_iss_must_send_it(client: FlaskClient, rsps) -> None:
    ehr = FakeEhr(
        rsps, discovery=smart_configuration(authorization_response_iss_parameter_supported=True)
    ).install()
    ehr.launch(client)
    assert ehr.callback(client).status_code == 400
    assert ehr.token_requests == []


def _tenants_app(tmp_path: Path, **tenant: Any) -> FlaskClient:
    path = tmp_path / "tenants.json"
    path.write_text(json.dumps([{"iss": ISS, "client_id": "ofa", **tenant}]))
    config = load_config(
        {"SMARTAPP_TENANTS": str(path), "SMARTAPP_SECRET_KEY": "k" * 32}, require_secret=True
    )
    # A private in-memory database, not the default file of the machine.
    config = replace(config, database_url=None)
    return create_app(config, store=MemorySessionStore()).test_client()


def test_a_token_endpoint_on_another_origin_is_refused_unless_allowlisted(
    client: FlaskClient, rsps, tmp_path: Path
) -> None:
    elsewhere = "https://auth.elsewhere.example"
    rsps.add(
        responses.GET,
        DISCOVERY_URL,
        json=smart_configuration(token_endpoint=f"{elsewhere}/token"),
    )
    refused = client.get(f"/launch?iss={ISS}&launch=l")
    assert refused.status_code == 502
    assert "token endpoint is on another server" in refused.get_data(as_text=True)
    allowed = _tenants_app(tmp_path, auth_origins=[elsewhere])
    started = allowed.get(f"/launch?iss={ISS}&launch=l")
    assert started.status_code == 302, started.get_data(as_text=True)


@pytest.mark.parametrize("field", ["token_endpoint", "authorization_endpoint", "jwks_uri"])
def test_an_https_issuer_never_gets_a_plain_http_endpoint(
    client: FlaskClient, rsps, field: str
) -> None:
    """Plain http is allowed on loopback for local sandboxes, but not for an https issuer:
    its discovery document naming `http://127.0.0.1:…` is a downgrade, not a sandbox."""
    rsps.add(
        responses.GET, DISCOVERY_URL, json=smart_configuration(**{field: "http://127.0.0.1:9/x"})
    )
    response = client.get(f"/launch?iss={ISS}&launch=l")
    assert response.status_code == 502
    assert "does not use HTTPS" in response.get_data(as_text=True)


def test_aud_is_the_configured_base_not_the_request_text(client: FlaskClient, ehr: FakeEhr) -> None:
    response = client.get(
        "/launch", query_string={"iss": "HTTPS://EHR.example.org/fhir/", "launch": "l"}
    )
    assert response.status_code == 302
    assert query(response.headers["Location"])["aud"] == ISS


def test_two_tenants_may_not_share_a_redirect_uri(tmp_path: Path) -> None:
    path = tmp_path / "tenants.json"
    path.write_text(
        json.dumps(
            [
                {"iss": ISS, "client_id": "a", "callback_id": "ehr"},
                {"iss": OTHER_ISS, "client_id": "b", "callback_id": "ehr"},
            ]
        )
    )
    with pytest.raises(ConfigError, match="share the redirect URI"):
        load_config({"SMARTAPP_TENANTS": str(path)})
    path.write_text(json.dumps([{"iss": ISS, "client_id": "a", "callback_id": "Bad/Id"}]))
    with pytest.raises(ConfigError, match="callback_id"):
        load_config({"SMARTAPP_TENANTS": str(path)})


def test_a_tenant_may_name_its_redirect_uri(tmp_path: Path, rsps) -> None:
    FakeEhr(rsps).install()
    browser = _tenants_app(tmp_path, callback_id="epic-prod")
    response = browser.get(f"/launch?iss={ISS}&launch=l")
    assert query(response.headers["Location"])["redirect_uri"].endswith("/callback/epic-prod")
    assert Tenant(iss=ISS, client_id=None).callback_id == "ehr.example.org-fhir"
