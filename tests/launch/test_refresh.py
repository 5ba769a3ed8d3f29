"""Token lifetime: refresh ~60 s before expiry, rotation, one refresh at a time, relaunch."""

from __future__ import annotations

import time

import pytest
from flask import Flask

from smartapp.fhir import FhirClient
from smartapp.launch.context import (
    TOKEN_KEY,
    access_token_for,
    fhir_client_for,
    require_context,
)
from smartapp.launch.errors import RelaunchRequired
from tests.launch.launch_fakes import ACCESS_TOKEN, ISS, FakeEhr, context_of, form
from tests.support.threads import run_together

COOKIE = "__Host-smartapp"


def sid_of(client) -> str:
    return client.get_cookie(COOKIE).value.split(".")[0]


def in_request(app: Flask, client, fn):
    cookie = client.get_cookie(COOKIE)
    with app.test_request_context("/patient", headers={"Cookie": f"{COOKIE}={cookie.value}"}):
        return fn()


def expire(store, client, *, in_s: float = 30, **changes) -> None:
    sid = sid_of(client)
    record = store.get(sid, TOKEN_KEY)
    record["expires_at"] = time.time() + in_s
    record.update(changes)
    store.set(sid, TOKEN_KEY, record)


@pytest.fixture
def signed_in(app, client, rsps):
    ehr = FakeEhr(rsps, refresh_token="RT").install()
    assert ehr.sign_in(client).status_code == 302
    return ehr


def test_valid_token_is_used_without_refresh(app, client, signed_in):
    token = in_request(app, client, lambda: access_token_for(require_context()))
    assert token == f"{ACCESS_TOKEN}-1"
    assert len(signed_in.token_requests) == 1


def test_token_near_expiry_is_refreshed_and_the_refresh_token_rotated(
    app, client, store, signed_in
):
    expire(store, client, in_s=30)  # inside the 60 s leeway
    token = in_request(app, client, lambda: access_token_for(require_context()))
    assert token == f"{ACCESS_TOKEN}-2"
    sent = form(signed_in.token_requests[1])
    assert sent["grant_type"] == "refresh_token"
    assert sent["refresh_token"] == "RT-1"
    assert "scope" not in sent  # SMART: a refresh may only narrow; we never resend scope
    stored = store.get(sid_of(client), TOKEN_KEY)
    assert stored["refresh_token"] == "RT-2"
    assert stored["access_token"] == f"{ACCESS_TOKEN}-2"
    # The next refresh uses the rotated token.
    expire(store, client, in_s=-5)
    in_request(app, client, lambda: access_token_for(require_context()))
    assert form(signed_in.token_requests[2])["refresh_token"] == "RT-2"


def test_refresh_without_a_new_refresh_token_keeps_the_old_one(app, client, store, signed_in):
    signed_in.refresh_token = None
    expire(store, client, in_s=-1)
    in_request(app, client, lambda: access_token_for(require_context()))
    assert store.get(sid_of(client), TOKEN_KEY)["refresh_token"] == "RT-1"


def test_concurrent_requests_refresh_once(app, client, store, signed_in):
    expire(store, client, in_s=-1)
    results: list[str | None] = []

    def call() -> None:
        results.append(in_request(app, client, lambda: access_token_for(require_context())))

    run_together([call] * 6)
    assert len(signed_in.token_requests) == 2  # the code exchange + ONE refresh
    assert set(results) == {f"{ACCESS_TOKEN}-2"}


def test_expired_without_refresh_token_requires_relaunch(app, client, store, rsps):
    ehr = FakeEhr(rsps).install()
    ehr.sign_in(client)
    expire(store, client, in_s=-10, refresh_token=None)
    with pytest.raises(RelaunchRequired):
        in_request(app, client, lambda: access_token_for(require_context()))
    assert store.get(sid_of(client), TOKEN_KEY) is None


def test_refused_refresh_requires_relaunch(app, client, store, signed_in):
    expire(store, client, in_s=-10)
    signed_in.token_error = "invalid_grant"
    with pytest.raises(RelaunchRequired):
        in_request(app, client, lambda: access_token_for(require_context()))


def test_relaunch_page_is_a_clear_401(rsps, config):
    from smartapp.web import create_app

    app = create_app(config)
    app.testing = True

    @app.get("/needs-fhir")
    def needs_fhir() -> str:
        fhir_client_for(require_context())
        return "ok"

    client = app.test_client()
    ehr = FakeEhr(rsps).install()
    ehr.sign_in(client)
    assert client.get("/needs-fhir").status_code == 200
    store = app.extensions["smartapp.launch"].store
    expire(store, client, in_s=-10, refresh_token=None)
    response = client.get("/needs-fhir")
    assert response.status_code == 401
    page = response.get_data(as_text=True)
    assert "Your session has expired" in page
    assert "relaunch the app from the EHR" in page
    # Without any launch at all: the same kind of page.
    assert app.test_client().get("/needs-fhir").status_code == 401


def test_refresh_that_narrows_scopes_turns_plan_writes_off(app, client, store, signed_in):
    assert context_of(app, client).can_write_plan
    signed_in.granted_scope = "patient/Observation.rs patient/CarePlan.rs"
    expire(store, client, in_s=-1)
    in_request(app, client, lambda: access_token_for(require_context()))
    assert context_of(app, client).can_write_plan is False


def test_forced_refresh_after_a_401_refreshes_even_a_young_token(app, client, store, signed_in):
    # The server refused a token our clock thinks is fine: believe the server.
    token = in_request(app, client, lambda: access_token_for(require_context(), force_refresh=True))
    assert len(signed_in.token_requests) == 2
    assert token == f"{ACCESS_TOKEN}-2"


def test_fhir_client_for_carries_base_and_token(app, client, signed_in):
    fhir = in_request(app, client, lambda: fhir_client_for(require_context()))
    assert isinstance(fhir, FhirClient)
    assert fhir.base == ISS
    assert fhir.token == f"{ACCESS_TOKEN}-1"
    fhir.close()
