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
