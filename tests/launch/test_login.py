"""The app's own OpenID Connect sign-in for population mode (smartapp.launch.login)."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from smartapp.config import AppConfig, ConfigError, load_config
from smartapp.launch.login import LOGIN_KEY, LOGIN_MAX_AGE_S, current_login
from smartapp.launch.session_store import MemorySessionStore
from smartapp.web import create_app
from tests.launch.launch_fakes import (
    IDP,
    IDP_TOKEN,
    LOGIN_CLIENT_ID,
    FakeEhr,
    FakeIdp,
    form,
    login_settings,
    make_config,
    other_key,
)


@pytest.fixture
def config() -> AppConfig:
    """The `app` and `client` of this module have the app's own sign-in configured."""
    return make_config(login=login_settings())


@pytest.fixture
def idp(rsps: Any) -> FakeIdp:
    return FakeIdp(rsps).install()


def _cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie("__Host-smartapp")
    assert cookie is not None
    return cookie.value


def _signed_in(app: Flask, client: FlaskClient) -> bool:
    """Whether the app, on this browser's next request, sees a valid sign-in."""
    with app.test_request_context(
        "/worklist", headers={"Cookie": f"__Host-smartapp={_cookie(client)}"}
    ):
        return current_login() is not None


def _login_record(store: MemorySessionStore, client: FlaskClient) -> dict[str, Any] | None:
    sid = _cookie(client).rsplit(".", 1)[0]
    return store.get(sid, LOGIN_KEY)


# -- configuration ---------------------------------------------------------------------------

BASE_ENV = {
    "SMARTAPP_LOGIN_ISSUER": "https://login.example.org/",
    "SMARTAPP_LOGIN_CLIENT_ID": "ofa-login",
    "SMARTAPP_LOGIN_CLIENT_SECRET": "s3cret",
    "SMARTAPP_LOGIN_ALLOWED_GROUPS": "ms-coordinators, neurology",
}


def test_login_settings_are_read_from_the_environment() -> None:
    login = load_config(BASE_ENV).login
    assert login is not None
    assert login.issuer == "https://login.example.org"
    assert login.allowed_groups == {"ms-coordinators", "neurology"}
    assert login.allowed_users == frozenset()
    assert login.user_claim == "sub" and login.groups_claim == "groups"
    assert load_config({}).login is None


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"SMARTAPP_LOGIN_CLIENT_ID": ""}, "SMARTAPP_LOGIN_CLIENT_ID"),
        ({"SMARTAPP_LOGIN_CLIENT_SECRET": ""}, "SMARTAPP_LOGIN_CLIENT_SECRET"),
        ({"SMARTAPP_LOGIN_ALLOWED_GROUPS": ""}, "SMARTAPP_LOGIN_ALLOWED_USERS"),
        ({"SMARTAPP_LOGIN_ISSUER": "http://login.example.org"}, "SMARTAPP_LOGIN_ISSUER"),
        ({"SMARTAPP_LOGIN_ISSUER": "file:///etc/passwd"}, "SMARTAPP_LOGIN_ISSUER"),
        ({"SMARTAPP_LOGIN_ISSUER": ""}, "SMARTAPP_LOGIN_CLIENT_ID"),
        ({"SMARTAPP_LOGIN_SCOPES": "profile email"}, "SMARTAPP_LOGIN_SCOPES"),
    ],
)
def test_a_bad_login_setting_stops_start_up_naming_it(change: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config({**BASE_ENV, **change})
    assert str(err.value).startswith(named)
    assert "\n" not in str(err.value)


# -- signing in ------------------------------------------------------------------------------


def test_sign_in_uses_pkce_state_and_nonce_and_rotates_session_and_csrf(
    client: FlaskClient, idp: FakeIdp, store: MemorySessionStore
) -> None:
    page = client.get("/launch")  # any page that starts a session with a CSRF token
    assert page.status_code == 200
    client.get("/login")  # a session exists now
    before_cookie = _cookie(client)
    with client.session_transaction() as flask_session:
        flask_session["_csrf"] = "csrf-before-login"
    params = idp.start(client)
    assert params["client_id"] == LOGIN_CLIENT_ID
    assert params["redirect_uri"] == "http://localhost/login/callback"
    assert params["code_challenge_method"] == "S256" and len(params["code_challenge"]) == 43
    assert len(params["state"]) >= 43 and len(params["nonce"]) >= 43
    assert params["scope"].split() == ["openid", "profile", "email"]
    assert "aud" not in params  # a plain OpenID Connect sign-in, not a SMART launch
    response = client.get("/login/callback", query_string={"code": "c", "state": params["state"]})
    assert response.status_code == 302 and response.headers["Location"] == "/worklist"
    sent = form(idp.token_requests[0])
    assert sent["code_verifier"] and sent["grant_type"] == "authorization_code"
    assert idp.token_requests[0].headers["Authorization"].startswith("Basic ")
    assert _cookie(client) != before_cookie
    with client.session_transaction() as flask_session:
        assert flask_session.get("_csrf") != "csrf-before-login"
    record = _login_record(store, client)
    assert record is not None and record["user"] == "casey" and record["name"] == "Casey Coord"


def test_sign_in_ends_an_ehr_launch_in_the_same_browser(
    client: FlaskClient, idp: FakeIdp, rsps: Any
) -> None:
    ehr = FakeEhr(rsps).install()
    ehr.sign_in(client)
    assert client.get("/api/patient/pat-4711").status_code != 401
    idp.sign_in(client)
    assert client.get("/api/patient/pat-4711").status_code == 401  # no launch any more


def test_a_member_of_an_allowed_group_may_sign_in(client: FlaskClient, idp: FakeIdp) -> None:
    idp.claims = {"preferred_username": "robin", "groups": ["staff", "ms-coordinators"]}
    assert idp.sign_in(client).status_code == 302


@pytest.mark.parametrize(
    "claims",
    [
        {"preferred_username": "mallory"},
        {"preferred_username": "mallory", "groups": ["staff"]},
        {"preferred_username": "mallory", "groups": "ms-coordinators-2"},
        {"preferred_username": "mallory", "groups": {"ms-coordinators": True}},
        {},  # no user claim at all
    ],
)
def test_someone_not_on_the_allowlist_is_refused(
    client: FlaskClient, idp: FakeIdp, store: MemorySessionStore, claims: dict[str, Any]
) -> None:
    idp.claims = claims
    params = idp.start(client)
    response = client.get("/login/callback", query_string={"code": "c", "state": params["state"]})
    assert response.status_code == 403
    assert _login_record(store, client) is None
    assert client.get("/worklist").status_code != 200


def test_an_unverified_email_names_nobody(
    store: MemorySessionStore, idp: FakeIdp, rsps: Any
) -> None:
    settings = login_settings(user_claim="email", allowed_users=frozenset({"c@example.org"}))
    app = create_app(make_config(login=settings), store=store)
    client = app.test_client()
    idp.claims = {"email": "c@example.org", "email_verified": False}
    assert idp.sign_in(client).status_code == 403
    idp.claims = {"email": "c@example.org", "email_verified": True}
    assert idp.sign_in(client).status_code == 302


@pytest.mark.parametrize(
    "override",
    [
        {"nonce": "another-nonce"},
        {"aud": "another-client"},
        {"iss": "https://evil.example.org"},
        {"exp": int(time.time()) - 3600},
    ],
)
def test_an_id_token_that_fails_a_check_signs_no_one_in(
    client: FlaskClient, idp: FakeIdp, store: MemorySessionStore, override: dict[str, Any]
) -> None:
    idp.claims = {**idp.claims, **override}
    response = idp.sign_in(client)
    assert response.status_code == 401
    assert _login_record(store, client) is None


def test_an_id_token_signed_by_another_key_signs_no_one_in(
    client: FlaskClient, idp: FakeIdp, store: MemorySessionStore
) -> None:
    idp.id_token_key = other_key()
    assert idp.sign_in(client).status_code == 401
    assert _login_record(store, client) is None


def test_state_is_single_use_and_bound_to_the_browser(
    app: Flask, client: FlaskClient, idp: FakeIdp
) -> None:
    params = idp.start(client)
    args = {"code": "c", "state": params["state"]}
    other = app.test_client()
    other.get("/login")
    assert other.get("/login/callback", query_string=args).status_code == 400
    assert client.get("/login/callback", query_string=args).status_code == 302
    assert client.get("/login/callback", query_string=args).status_code == 400
    assert len(idp.token_requests) == 1


def test_an_ehr_launch_state_cannot_complete_a_sign_in(
    client: FlaskClient, idp: FakeIdp, rsps: Any
) -> None:
    ehr = FakeEhr(rsps).install()
    params = ehr.launch(client)
    response = client.get("/login/callback", query_string={"code": "c", "state": params["state"]})
    assert response.status_code == 400
    assert not idp.token_requests and not ehr.token_requests


def test_an_answer_naming_another_issuer_is_refused_before_the_code_is_used(
    client: FlaskClient, idp: FakeIdp
) -> None:
    """RFC 9207: an `iss` on the authorization response must be our identity provider."""
    params = idp.start(client)
    args = {"code": "c", "state": params["state"], "iss": "https://evil.example.org"}
    response = client.get("/login/callback", query_string=args)
    assert response.status_code == 400
    assert not idp.token_requests


def test_a_provider_that_promises_iss_must_send_it(store: MemorySessionStore, rsps: Any) -> None:
    idp = FakeIdp(rsps)
    idp.discovery["authorization_response_iss_parameter_supported"] = True
    idp.install()
    client = create_app(make_config(login=login_settings()), store=store).test_client()
    params = idp.start(client)
    missing = client.get("/login/callback", query_string={"code": "c", "state": params["state"]})
    assert missing.status_code == 400
    params = idp.start(client)
    args = {"code": "c", "state": params["state"], "iss": IDP}
    assert client.get("/login/callback", query_string=args).status_code == 302


def test_an_error_answer_shows_a_fixed_message_never_its_text(
    client: FlaskClient, idp: FakeIdp
) -> None:
    params = idp.start(client)
    bait = "Call 555-0100 to unlock your account"
    for error in ("access_denied", "evil_code_" + bait):
        response = client.get(
            "/login/callback",
            query_string={"error": error, "error_description": bait, "state": params["state"]},
        )
        page = response.get_data(as_text=True)
        assert response.status_code == 403
        assert "555-0100" not in page and "evil_code" not in page


@pytest.mark.parametrize(
    ("field", "value"),
    [
        # A discovery document naming another issuer.
        ("issuer", "https://evil.example.org"),
        # An https provider with a plain http endpoint.
        ("token_endpoint", "http://127.0.0.1:9/token"),
    ],
    ids=["another-issuer", "plain-http-endpoint"],
)
def test_an_untrustworthy_discovery_document_is_refused(
    store: MemorySessionStore, rsps: Any, field: str, value: str
) -> None:
    idp = FakeIdp(rsps)
    idp.discovery[field] = value
    idp.install()
    client = create_app(make_config(login=login_settings()), store=store).test_client()
    assert client.get("/login").status_code == 502


def test_a_sign_in_expires_after_a_working_day(
    app: Flask, client: FlaskClient, idp: FakeIdp, monkeypatch: Any
) -> None:
    idp.sign_in(client)
    assert _signed_in(app, client)
    later = time.time() + LOGIN_MAX_AGE_S + 1
    monkeypatch.setattr("smartapp.launch.login.time.time", lambda: later)
    assert not _signed_in(app, client)


def test_removing_someone_from_the_allowlist_ends_their_sign_in(
    idp: FakeIdp, store: MemorySessionStore
) -> None:
    app = create_app(make_config(login=login_settings()), store=store)
    client = app.test_client()
    idp.sign_in(client)
    narrower = replace(
        app.extensions["smartapp.launch"].config,
        login=login_settings(allowed_users=frozenset(), allowed_groups=frozenset({"x"})),
    )
    assert _signed_in(app, client)
    app.extensions["smartapp.launch"] = replace(app.extensions["smartapp.launch"], config=narrower)
    assert not _signed_in(app, client)


def test_sign_out_needs_the_csrf_token(client: FlaskClient, idp: FakeIdp, store: Any) -> None:
    idp.sign_in(client)
    refused = client.post("/logout", headers={"Sec-Fetch-Site": "cross-site"})
    assert refused.status_code == 400
    assert _login_record(store, client) is not None
    assert IDP_TOKEN and IDP
