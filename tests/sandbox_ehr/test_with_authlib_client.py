"""The app side's likely client, authlib's OAuth2Session, against the sandbox over `requests`.

`responses` routes the sandbox's URLs into the Flask test client, as an end-to-end test
of the app would; the FHIR upstream is mocked in the same way.
"""

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from authlib.oauth2.rfc7523.assertion import private_key_jwt_sign
from flask import Flask

from tests.sandbox_ehr.conftest import PUBLIC, REDIRECT, RS_KEY, UPSTREAM
from tests.support.forms import parse_form


@pytest.fixture
def routed(app: Flask) -> Any:
    browser = app.test_client()

    def forward(request: requests.PreparedRequest) -> tuple[int, dict[str, str], bytes]:
        url = urlsplit(request.url or "")
        response = browser.open(
            url.path,
            method=request.method or "GET",
            query_string=url.query,
            data=request.body,
            headers=dict(request.headers),
        )
        return response.status_code, dict(response.headers), response.get_data()

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        for method in (responses.GET, responses.POST):
            mock.add_callback(method, re.compile(re.escape(PUBLIC) + r"/.*"), callback=forward)
        yield mock


def test_ehr_launch_with_oauth2session(routed: Any) -> None:
    routed.get(f"{UPSTREAM}/Patient/p1", json={"resourceType": "Patient", "id": "p1"})
    web = requests.Session()
    launched = web.get(
        f"{PUBLIC}/launcher",
        params={"app": "http://localhost/launch", "patient": "p1"},
        allow_redirects=False,
    )
    query = parse_qs(urlsplit(launched.headers["Location"]).query)
    iss, launch = query["iss"][0], query["launch"][0]
    config = requests.get(f"{iss}/.well-known/smart-configuration").json()

    oauth = OAuth2Session(
        "smartapp-demo",
        scope="launch openid fhirUser online_access patient/Patient.r",
        redirect_uri=REDIRECT,
        code_challenge_method="S256",
        token_endpoint_auth_method="none",
    )
    verifier = generate_token(48)
    url, _ = oauth.create_authorization_url(
        config["authorization_endpoint"], code_verifier=verifier, aud=iss, launch=launch
    )
    consent = web.get(url)
    form = parse_form(consent.text)
    decision = web.post(
        f"{PUBLIC}/auth/authorize", data={**form.fields, "action": "approve"}, allow_redirects=False
    )
    token = oauth.fetch_token(
        config["token_endpoint"],
        authorization_response=decision.headers["Location"],
        code_verifier=verifier,
    )
    assert token["patient"] == "p1" and token["refresh_token"]
    assert oauth.get(f"{iss}/Patient/p1").status_code == 200
    assert oauth.get(f"{iss}/Patient/p2").status_code == 403


class SmartPrivateKeyJWT(PrivateKeyJWT):  # type: ignore[misc]
    """What the notes prescribe: `kid` in the header and `exp` at most 300 s ahead."""

    def sign(self, auth: Any, token_endpoint: str) -> str:
        return private_key_jwt_sign(  # type: ignore[no-any-return]
            auth.client_secret,
            client_id=auth.client_id,
            token_endpoint=token_endpoint,
            alg=self.alg,
            header={"kid": RS_KEY.kid},
            expires_in=300,
        )


@pytest.mark.usefixtures("routed")
def test_backend_services_with_authlib_private_key_jwt() -> None:
    token_url = f"{PUBLIC}/auth/token"

    def session(auth: PrivateKeyJWT) -> OAuth2Session:
        return OAuth2Session(
            "smartapp-backend", RS_KEY, token_endpoint_auth_method=auth, scope="system/Task.rs"
        )

    # authlib's defaults (no kid, exp an hour ahead) are refused, as SMART requires
    with pytest.raises(Exception, match="kid"):
        session(PrivateKeyJWT(token_url, alg="RS384")).fetch_token(
            token_url, grant_type="client_credentials"
        )
    token = session(SmartPrivateKeyJWT(token_url, alg="RS384")).fetch_token(
        token_url, grant_type="client_credentials"
    )
    assert token["scope"] == "system/Task.rs"
    assert token["expires_in"] == 300
