"""A fake SMART EHR (discovery, token endpoint, JWKS, id_tokens) on `responses`, and fixtures.

Imported by tests/launch/conftest.py and tests/web/conftest.py.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from flask import Flask
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import RSAKey

from smartapp.config import AppConfig, LoginSettings
from smartapp.launch.session_store import MemorySessionStore
from smartapp.web import create_app

ISS = "https://ehr.example.org/fhir"
AUTH = "https://ehr.example.org/auth"
AUTHORIZE_URL = f"{AUTH}/authorize"
TOKEN_URL = f"{AUTH}/token"
JWKS_URL = f"{AUTH}/jwks"
DISCOVERY_URL = f"{ISS}/.well-known/smart-configuration"
OPEN_ISS = "http://hapi.local:8080/fhir"
CLIENT_ID = "ofa-app"
PATIENT_ID = "pat-4711"
ACCESS_TOKEN = "AT-secret-access-token-0001"
REFRESH_TOKEN = "RT-secret-refresh-token-0001"
FHIR_USER = "Practitioner/dr-1"
SECRET_KEY = "test-secret-key-0123456789abcdef"

FULL_SCOPES = (
    "launch openid fhirUser online_access patient/Patient.r patient/Observation.rs "
    "patient/CarePlan.rs patient/CarePlan.cu patient/Task.rs patient/Task.cu"
)


@cache
def ehr_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "ehr-key-1"})


@cache
def other_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "ehr-key-1"})


def merged(*parts: Mapping[str, Any]) -> dict[str, Any]:
    """The mappings merged, later ones winning; a key set to None is left out (how a test
    takes a field away from a fake's document or token)."""
    out: dict[str, Any] = {}
    for part in parts:
        out.update(part)
    return {key: value for key, value in out.items() if value is not None}


def fresh_claims(iss: str, sub: str, aud: str, nonce: str | None) -> dict[str, Any]:
    """The claims every id_token of the fakes starts from: issued now, valid five minutes."""
    now = int(time.time())
    return {"iss": iss, "sub": sub, "aud": aud, "iat": now, "exp": now + 300, "nonce": nonce}


def signed_id_token(claims: dict[str, Any], key: RSAKey | None = None) -> str:
    """An id_token signed as the fakes sign them (RS256, kid `ehr-key-1`, the EHR's key
    unless another is given); claims set to None are left out."""
    return jwt.encode({"alg": "RS256", "kid": "ehr-key-1"}, merged(claims), key or ehr_key())


def endpoints(issuer: str, authorize: str, token: str, jwks: str) -> dict[str, str]:
    """Who a fake authorization server is and where its endpoints are (its discovery)."""
    return {
        "issuer": issuer,
        "jwks_uri": jwks,
        "authorization_endpoint": authorize,
        "token_endpoint": token,
    }


def smart_configuration(**overrides: Any) -> dict[str, Any]:
    doc = {
        **endpoints(AUTH, AUTHORIZE_URL, TOKEN_URL, JWKS_URL),
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "token_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "private_key_jwt",
        ],
        "scopes_supported": ["openid", "fhirUser", "launch", "launch/patient"],
        "response_types_supported": ["code"],
        "capabilities": [
            "launch-ehr",
            "launch-standalone",
            "client-public",
            "client-confidential-symmetric",
            "sso-openid-connect",
            "context-ehr-patient",
            "permission-v2",
            "permission-v1",
            "permission-online",
        ],
        "code_challenge_methods_supported": ["S256"],
    }
    return merged(doc, overrides)


def query(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def form(request: requests.PreparedRequest) -> dict[str, str]:
    body = request.body or ""
    text = body.decode() if isinstance(body, bytes) else str(body)
    return {key: values[0] for key, values in parse_qs(text).items()}


@dataclass
class FakeEhr:
    """What the EHR will answer; records what the app sent."""

    rsps: responses.RequestsMock
    discovery: dict[str, Any] = field(default_factory=smart_configuration)
    granted_scope: str | None = FULL_SCOPES
    patient: str | None = PATIENT_ID
    refresh_token: str | None = None
    expires_in: int = 3600
    id_token_claims: dict[str, Any] = field(default_factory=dict)
    id_token_key: RSAKey | None = None
    issue_id_token: bool = True
    extra: dict[str, Any] = field(default_factory=dict)
    token_error: str | None = None
    authorize_params: dict[str, str] = field(default_factory=dict)
    token_requests: list[requests.PreparedRequest] = field(default_factory=list)
    counter: int = 0

    def install(self) -> FakeEhr:
        self.rsps.add(responses.GET, DISCOVERY_URL, json=self.discovery)
        self.rsps.add(responses.GET, JWKS_URL, json={"keys": [ehr_key().as_dict(private=False)]})
        self.rsps.add_callback(responses.POST, TOKEN_URL, callback=self._token)
        return self

    def id_token(self, **overrides: Any) -> str:
        claims = {
            **fresh_claims(AUTH, "dr-1", CLIENT_ID, self.authorize_params.get("nonce")),
            "fhirUser": f"{ISS}/{FHIR_USER}",
            **self.id_token_claims,
            **overrides,
        }
        return signed_id_token(claims, self.id_token_key)

    def _token(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        self.token_requests.append(request)
        headers = {"Content-Type": "application/json", "Cache-Control": "no-store"}
        if self.token_error:
            return 400, headers, json.dumps({"error": self.token_error})
        self.counter += 1
        body: dict[str, Any] = {
            "access_token": f"{ACCESS_TOKEN}-{self.counter}",
            "token_type": "Bearer",
            "expires_in": self.expires_in,
        }
        if form(request).get("grant_type") == "authorization_code":
            body["need_patient_banner"] = False
            if self.patient is not None:
                body["patient"] = self.patient
            if self.issue_id_token:
                body["id_token"] = self.id_token()
        if self.granted_scope is not None:
            body["scope"] = self.granted_scope
        if self.refresh_token:
            body["refresh_token"] = f"{self.refresh_token}-{self.counter}"
        body.update(self.extra)
        return 200, headers, json.dumps(body)

    # -- driving the browser side ----------------------------------------------------
    def launch(self, client: FlaskClient, *, launch: str | None = "xyz-launch") -> dict[str, str]:
        url = f"/launch?iss={ISS}" + (f"&launch={launch}" if launch else "")
        response = client.get(url)
        assert response.status_code == 302, response.get_data(as_text=True)
        location = response.headers["Location"]
        assert location.startswith(AUTHORIZE_URL + "?")
        self.authorize_params = query(location)
        return self.authorize_params

    def callback(self, client: FlaskClient, *, state: str | None = None, code: str = "code-1"):
        state = self.authorize_params["state"] if state is None else state
        return client.get(f"{self.callback_path}?code={code}&state={state}")

    def refuse(
        self,
        client: FlaskClient,
        error: str,
        description: str,
        *,
        state: str | None = None,
        path: str | None = None,
    ):
        """The authorization server's error answer to the last authorize request, at this
        EHR's redirect URI (or `path`), with its `state` (or `state`)."""
        return client.get(
            path or self.callback_path,
            query_string={
                "error": error,
                "error_description": description,
                "state": self.authorize_params["state"] if state is None else state,
            },
        )

    @property
    def callback_path(self) -> str:
        """The path of the redirect URI the app asked for (this EHR's own)."""
        return urlsplit(self.authorize_params["redirect_uri"]).path

    def sign_in(self, client: FlaskClient, *, launch: str | None = "xyz-launch"):
        self.launch(client, launch=launch)
        return self.callback(client)


def context_of(app: Flask, client: FlaskClient, cookie_name: str = "__Host-smartapp"):
    """The LaunchContext the app holds for this browser, as its next request would see it."""
    from smartapp.launch.context import current_context

    cookie = client.get_cookie(cookie_name)
    headers = {"Cookie": f"{cookie_name}={cookie.value}"} if cookie else {}
    with app.test_request_context("/patient", headers=headers):
        return current_context()


def make_config(**overrides: Any) -> AppConfig:
    base = AppConfig(
        issuers=(ISS, OPEN_ISS),
        open_servers=(OPEN_ISS,),
        client_id=CLIENT_ID,
        secret_key=SECRET_KEY,
        scopes=FULL_SCOPES,
        fhir_base=ISS,
    )
    return replace(base, **overrides)


# -- fixtures (a pytest plugin: tests/conftest.py) -------------------------------------------------


@pytest.fixture
def config() -> AppConfig:
    return make_config()


@pytest.fixture
def store() -> MemorySessionStore:
    return MemorySessionStore()


@pytest.fixture
def app(config: AppConfig, store: MemorySessionStore) -> Flask:
    flask_app = create_app(config, store=store)
    flask_app.testing = True
    return flask_app


@pytest.fixture
def ehr(rsps: responses.RequestsMock) -> FakeEhr:
    return FakeEhr(rsps).install()


# -- the organisation's identity provider (the app's own sign-in, population mode) ---------

IDP = "https://login.example.org"
IDP_AUTHORIZE = f"{IDP}/authorize"
IDP_TOKEN = f"{IDP}/token"
IDP_JWKS = f"{IDP}/jwks"
LOGIN_CLIENT_ID = "ofa-login"
LOGIN_SECRET = "login-secret-0123456789"
COORDINATOR = "casey"


def login_settings(**overrides: Any) -> LoginSettings:
    base = LoginSettings(
        issuer=IDP,
        client_id=LOGIN_CLIENT_ID,
        client_secret=LOGIN_SECRET,
        allowed_users=frozenset({COORDINATOR}),
        allowed_groups=frozenset({"ms-coordinators"}),
        user_claim="preferred_username",
    )
    return replace(base, **overrides)


def openid_configuration(**overrides: Any) -> dict[str, Any]:
    doc = {
        **endpoints(IDP, IDP_AUTHORIZE, IDP_TOKEN, IDP_JWKS),
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
    }
    return merged(doc, overrides)


@dataclass
class FakeIdp:
    """An OpenID Connect provider on `responses`: discovery, token endpoint, JWKS."""

    rsps: responses.RequestsMock
    discovery: dict[str, Any] = field(default_factory=openid_configuration)
    claims: dict[str, Any] = field(
        default_factory=lambda: {"preferred_username": COORDINATOR, "name": "Casey Coord"}
    )
    id_token_key: RSAKey | None = None
    authorize_params: dict[str, str] = field(default_factory=dict)
    token_requests: list[requests.PreparedRequest] = field(default_factory=list)

    def install(self) -> FakeIdp:
        self.rsps.add(responses.GET, f"{IDP}/.well-known/openid-configuration", json=self.discovery)
        self.rsps.add(responses.GET, IDP_JWKS, json={"keys": [ehr_key().as_dict(private=False)]})
        self.rsps.add_callback(responses.POST, IDP_TOKEN, callback=self._token)
        return self

    def id_token(self, **overrides: Any) -> str:
        claims = {
            **fresh_claims(IDP, "user-0001", LOGIN_CLIENT_ID, self.authorize_params.get("nonce")),
            **self.claims,
            **overrides,
        }
        return signed_id_token(claims, self.id_token_key)

    def _token(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        self.token_requests.append(request)
        body = {"access_token": "idp-at", "token_type": "Bearer", "id_token": self.id_token()}
        return 200, {"Content-Type": "application/json"}, json.dumps(body)

    def start(self, client: FlaskClient) -> dict[str, str]:
        response = client.get("/login")
        assert response.status_code == 302, response.get_data(as_text=True)
        assert response.headers["Location"].startswith(IDP_AUTHORIZE + "?")
        self.authorize_params = query(response.headers["Location"])
        return self.authorize_params

    def sign_in(self, client: FlaskClient, **extra: str):
        params = self.start(client)
        args = {"code": "idp-code", "state": params["state"], **extra}
        return client.get("/login/callback", query_string=args)
