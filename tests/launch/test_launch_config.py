"""The launch-related settings added to smartapp.config."""

from __future__ import annotations

import json

import pytest

from smartapp.config import DEFAULT_BACKEND_SCOPES, ConfigError, load_config

ENV = {"SMARTAPP_ISSUERS": "https://ehr.example.org/fhir,http://localhost:8080/fhir"}


def test_defaults():
    config = load_config(ENV)
    assert config.open_servers == ()
    assert config.insecure_cookies is False
    assert config.client_auth_method == "auto"
    assert config.backend_scopes == DEFAULT_BACKEND_SCOPES
    assert config.frame_ancestors == ()
    tenant = config.tenant("https://ehr.example.org/fhir/")
    assert tenant is not None and tenant.open_server is False and tenant.auth_method is None


def test_open_servers_must_be_allowlisted():
    config = load_config({**ENV, "SMARTAPP_OPEN_SERVERS": "http://localhost:8080/fhir/"})
    assert config.tenant("http://localhost:8080/fhir").open_server is True
    assert config.tenant("https://ehr.example.org/fhir").open_server is False
    with pytest.raises(ConfigError, match="SMARTAPP_OPEN_SERVERS"):
        load_config({**ENV, "SMARTAPP_OPEN_SERVERS": "http://hapi.other:8080/fhir"})


def test_insecure_cookies_flag():
    assert load_config({**ENV, "SMARTAPP_INSECURE_COOKIES": "1"}).insecure_cookies is True
    with pytest.raises(ConfigError, match="SMARTAPP_INSECURE_COOKIES"):
        load_config({**ENV, "SMARTAPP_INSECURE_COOKIES": "maybe"})


def test_client_auth_method_is_checked():
    with pytest.raises(ConfigError, match="SMARTAPP_CLIENT_AUTH"):
        load_config({**ENV, "SMARTAPP_CLIENT_AUTH": "magic"})
    with pytest.raises(ConfigError, match="SMARTAPP_CLIENT_SECRET"):
        load_config({**ENV, "SMARTAPP_CLIENT_AUTH": "client_secret_basic"})
    with pytest.raises(ConfigError, match="SMARTAPP_PRIVATE_KEY"):
        load_config({**ENV, "SMARTAPP_CLIENT_AUTH": "private_key_jwt"})
    config = load_config(
        {**ENV, "SMARTAPP_CLIENT_AUTH": "client_secret_post", "SMARTAPP_CLIENT_SECRET": "s"}
    )
    assert config.tenant("https://ehr.example.org/fhir").auth_method == "client_secret_post"


def test_frame_ancestors_must_be_origins():
    config = load_config({**ENV, "SMARTAPP_FRAME_ANCESTORS": "https://ui.ehr.example.org"})
    assert config.frame_ancestors == ("https://ui.ehr.example.org",)
    with pytest.raises(ConfigError, match="SMARTAPP_FRAME_ANCESTORS"):
        load_config({**ENV, "SMARTAPP_FRAME_ANCESTORS": "https://ui.example.org/path"})


def test_tenants_file_adds_auth_method_and_frame_ancestors(tmp_path):
    path = tmp_path / "tenants.json"
    path.write_text(
        json.dumps(
            [
                {
                    "iss": "https://ehr.example.org/fhir",
                    "client_id": "c",
                    "auth_method": "private_key_jwt",
                    "frame_ancestors": ["https://ui.ehr.example.org"],
                    "label": "Example EHR",
                },
                {"iss": "http://localhost:8080/fhir", "open_server": True},
            ]
        )
    )
    config = load_config({"SMARTAPP_TENANTS": str(path)})
    tenant = config.tenant("https://ehr.example.org/fhir")
    assert tenant.auth_method == "private_key_jwt"
    assert tenant.frame_ancestors == ("https://ui.ehr.example.org",)
    assert tenant.display_name == "Example EHR"
    assert [t.iss for t in config.all_tenants()] == [
        "https://ehr.example.org/fhir",
        "http://localhost:8080/fhir",
    ]
    path.write_text(json.dumps([{"iss": "https://x.example/fhir", "auth_method": "magic"}]))
    with pytest.raises(ConfigError, match="auth_method"):
        load_config({"SMARTAPP_TENANTS": str(path)})


def test_sandbox_ehr_is_an_origin():
    assert load_config({}).sandbox_ehr is None
    assert load_config({"SMARTAPP_SANDBOX_EHR": "http://127.0.0.1:9191"}).sandbox_ehr == (
        "http://127.0.0.1:9191"
    )
    with pytest.raises(ConfigError, match="SMARTAPP_SANDBOX_EHR"):
        load_config({"SMARTAPP_SANDBOX_EHR": "http://127.0.0.1:9191/fhir"})


def test_tenants_file_quirks_and_bulk_origins(tmp_path):
    path = tmp_path / "tenants.json"
    path.write_text(
        json.dumps(
            [
                {
                    "iss": "https://epic.example.org/api/FHIR/R4",
                    "client_id": "c",
                    "quirks": {
                        "observation_categories": ["laboratory", "social-history"],
                        "assume_pkce": True,
                        "scope_version": "v2",
                        "refresh_scope": "none",
                    },
                    "bulk_file_origins": ["https://files.example.net"],
                    "bulk_token_origins": ["https://bulk.example.org:8443/"],
                }
            ]
        )
    )
    config = load_config({"SMARTAPP_TENANTS": str(path)})
    tenant = config.tenant("https://epic.example.org/api/FHIR/R4")
    assert tenant.quirks.observation_categories == ("laboratory", "social-history")
    assert tenant.quirks.assume_pkce and tenant.quirks.scope_version == "v2"
    assert tenant.quirks.refresh_scope == "none"
    assert tenant.bulk_file_origins == ("https://files.example.net",)
    assert tenant.bulk_token_origins == ("https://bulk.example.org:8443",)
    assert config.dialect_for("https://epic.example.org/api/FHIR/R4").expand("Observation") == [
        "Observation?category=laboratory",
        "Observation?category=social-history",
    ]
    assert not config.dialect_for("https://other.example/fhir")
    assert len(tenant.quirks.describe()) == 4


@pytest.mark.parametrize(
    ("quirks", "message"),
    [
        ({"observation_category": ["laboratory"]}, "unknown quirk"),
        ({"observation_categories": "laboratory"}, "list of category codes"),
        ({"observation_categories": ["laboratory,vital-signs"]}, "list of category codes"),
        ({"assume_pkce": "yes"}, "true or false"),
        ({"scope_version": "v3"}, "scope_version"),
        ({"refresh_scope": "always"}, "refresh_scope"),
        ("laboratory", "must be an object"),
    ],
)
def test_malformed_quirks_stop_start_up_with_one_line(tmp_path, quirks, message):
    path = tmp_path / "tenants.json"
    path.write_text(json.dumps([{"iss": "https://x.example/fhir", "quirks": quirks}]))
    with pytest.raises(ConfigError, match=message):
        load_config({"SMARTAPP_TENANTS": str(path)})


def test_bulk_origins_must_be_origins(tmp_path):
    path = tmp_path / "tenants.json"
    path.write_text(
        json.dumps([{"iss": "https://x.example/fhir", "bulk_file_origins": ["https://a/b"]}])
    )
    with pytest.raises(ConfigError, match="bulk_file_origins"):
        load_config({"SMARTAPP_TENANTS": str(path)})
