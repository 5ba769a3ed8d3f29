"""Fixtures for the sandbox EHR: a fake clock, an app factory, a tiny "browser", client keys."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey
from werkzeug.test import TestResponse

from sandbox_ehr import SandboxConfig, create_sandbox
from tests.support.clock import Clock
from tests.support.forms import parse_form

PUBLIC = "http://sandbox.test"
FHIR_BASE = f"{PUBLIC}/fhir"
TOKEN_URL = f"{PUBLIC}/auth/token"
UPSTREAM = "http://hapi.test/fhir"
REDIRECT = "http://localhost/callback"
APP_SCOPES = (
    "launch openid fhirUser online_access patient/Patient.r patient/Observation.rs "
    "patient/CarePlan.rs patient/CarePlan.cu patient/Task.rs patient/Task.cu"
)

# Generated once per test session: RSA generation is slow.
RS_KEY = RSAKey.generate_key(2048, parameters={"kid": "app-rs384"})
EC_KEY = ECKey.generate_key("P-384", parameters={"kid": "app-es384"})
CLIENT_JWKS = KeySet([RS_KEY, EC_KEY]).as_dict(private=False)


@pytest.fixture
def clock() -> Clock:
    return Clock(int(time.time()))


@pytest.fixture(scope="session")
def signing_key_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One sandbox key for the session (a new RSA key per app would slow the tests)."""
    path = tmp_path_factory.mktemp("sandbox") / "signing-key.pem"
    path.write_bytes(RSAKey.generate_key(2048).as_pem(private=True))
    return str(path)


@pytest.fixture
def make_app(clock: Clock, signing_key_file: str) -> Callable[..., Flask]:
    def make(**overrides: Any) -> Flask:
        settings: dict[str, Any] = {
            "signing_key_file": signing_key_file,
            "public_url": PUBLIC,
            "fhir_upstream": UPSTREAM,
            "client_jwks": CLIENT_JWKS,
            "test_mode": True,
            "now": clock,
            "secret_key": "test-secret",
        }
        settings.update(overrides)
        return create_sandbox(SandboxConfig(**settings))

    return make


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def auth_params(challenge: str, **overrides: Any) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": "smartapp-demo",
        "redirect_uri": REDIRECT,
        "scope": APP_SCOPES,
        "state": secrets.token_urlsafe(24),
        "aud": FHIR_BASE,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


def searchset(*resources: dict[str, Any], next_url: str | None = None) -> dict[str, Any]:
    """A searchset Bundle as the upstream FHIR server answers (its self link is never read)."""
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "link": [{"relation": "self", "url": f"{UPSTREAM}/Observation?patient=p1"}],
        "entry": [
            {
                "fullUrl": f"{UPSTREAM}/{r['resourceType']}/{r['id']}",
                "resource": r,
                "search": {"mode": "match"},
            }
            for r in resources
        ],
    }
    if next_url:
        bundle["link"].append({"relation": "next", "url": next_url})
    return bundle


def click(client: FlaskClient, page: TestResponse, button_id: str, **fields: str) -> TestResponse:
    """Submit the page's form with the button `#button_id`, like a browser would."""
    assert page.status_code == 200, page.get_data(as_text=True)
    form = parse_form(page.get_data(as_text=True))
    assert button_id in form.buttons, f"no #{button_id} in {sorted(form.buttons)}"
    name, value = form.buttons[button_id]
    data = {**form.fields, name: value, **fields}
    return client.post(form.action or "/auth/authorize", data=data)


def redirect_params(response: TestResponse) -> dict[str, str]:
    assert response.status_code == 302, response.get_data(as_text=True)
    location = response.headers["Location"]
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def launch(
    client: FlaskClient, patient: str = "p1", user: str = "sandbox-neurologist", **extra: str
) -> str:
    """The launch id the EHR's launcher gives the app for this patient and user (`extra`:
    more launcher parameters, e.g. need_patient_banner)."""
    response = client.get(
        "/launcher",
        query_string={"app": "http://localhost/launch", "patient": patient, "user": user, **extra},
    )
    return redirect_params(response)["launch"]


def get_code(
    client: FlaskClient,
    challenge: str,
    *,
    patient: str = "p1",
    user_clicks: bool = False,
    **overrides: Any,
) -> dict[str, str]:
    """Run an EHR launch (or standalone when launch=None) to the redirect; returns its params."""
    if "launch" not in overrides:
        overrides["launch"] = launch(client, patient)
    response = client.get("/auth/authorize", query_string=auth_params(challenge, **overrides))
    while response.status_code == 200:
        form = parse_form(response.get_data(as_text=True))
        if "login-submit" in form.buttons:
            response = click(client, response, "login-submit", user="sandbox-neurologist")
        elif "patient-submit" in form.buttons:
            response = click(client, response, "patient-submit", patient=patient)
        else:
            response = click(client, response, "approve")
    return redirect_params(response)


def exchange(
    client: FlaskClient, code: str, verifier: str | None, **overrides: Any
) -> TestResponse:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "client_id": "smartapp-demo",
        "code_verifier": verifier,
    }
    data.update(overrides)
    return client.post("/auth/token", data={k: v for k, v in data.items() if v is not None})


def token_for(client: FlaskClient, **overrides: Any) -> dict[str, Any]:
    verifier, challenge = pkce()
    params = get_code(client, challenge, **overrides)
    response = exchange(client, params["code"], verifier)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()  # type: ignore[no-any-return]


def assertion(
    key: RSAKey | ECKey,
    alg: str,
    *,
    client_id: str = "smartapp-backend",
    aud: str = TOKEN_URL,
    exp_in: float = 240,
    jti: str | None = None,
    kid: str | None = "default",
    now: float | None = None,
    extra_header: dict[str, Any] | None = None,
) -> str:
    now = time.time() if now is None else now
    header: dict[str, Any] = {"alg": alg, "typ": "JWT"}
    if kid == "default":
        header["kid"] = key.kid
    elif kid is not None:
        header["kid"] = kid
    header.update(extra_header or {})
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": aud,
        "exp": int(now + exp_in),
        "iat": int(now),
        "jti": jti or secrets.token_urlsafe(16),
    }
    return jwt.encode(header, claims, key, algorithms=[alg])


def backend_token(
    client: FlaskClient, signed: str, scope: str = "system/Patient.rs"
) -> TestResponse:
    return client.post(
        "/auth/token",
        data={
            "grant_type": "client_credentials",
            "scope": scope,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": signed,
        },
    )
