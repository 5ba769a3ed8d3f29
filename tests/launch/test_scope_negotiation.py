"""When the EHR refuses the scopes: ask once more for reads only, run read-only, say why.

Also: the EHR's error codes are shown with our own sentence, its free text only logged
(cleaned), and the granted scopes are what the app goes by (smartapp/launch/flow.py doc).
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import pytest

from smartapp.config import Tenant
from smartapp.launch.oauth_errors import explain, loggable
from smartapp.launch.scopes import read_only
from smartapp.quirks import TenantQuirks
from tests.launch.launch_fakes import (
    AUTHORIZE_URL,
    FULL_SCOPES,
    ISS,
    FakeEhr,
    context_of,
    make_config,
    query,
    smart_configuration,
)


def refuse(client, params: dict[str, str], description: str = "Not registered: patient/Task.cu"):
    return client.get(
        urlsplit(params["redirect_uri"]).path,
        query_string={
            "error": "invalid_scope",
            "error_description": description,
            "state": params["state"],
        },
    )


def test_invalid_scope_at_authorization_asks_once_more_for_reads_only(client, ehr, app, caplog):
    caplog.set_level(logging.INFO)
    first = ehr.launch(client)
    assert "patient/Task.cu" in first["scope"].split()
    response = refuse(client, first)
    assert response.status_code == 302
    again = query(response.headers["Location"])
    assert response.headers["Location"].startswith(AUTHORIZE_URL + "?")
    assert again["scope"] == read_only(first["scope"])
    assert "patient/Task.cu" not in again["scope"] and "patient/Task.rs" in again["scope"]
    assert "online_access" not in again["scope"].split()
    assert again["launch"] == first["launch"] and again["aud"] == ISS
    assert again["state"] != first["state"] and again["code_challenge"] != first["code_challenge"]

    ehr.granted_scope = again["scope"]
    ehr.authorize_params = again
    assert ehr.callback(client).status_code == 302
    context = context_of(app, client)
    assert context.scope_negotiated == "invalid_scope"
    assert not context.can_write_plan
    assert "invalid_scope (Not registered: patient/Task.cu)" in caplog.text


def test_a_refusal_at_another_ehrs_redirect_uri_is_not_retried(client, ehr, caplog):
    ehr.launch(client)
    response = ehr.refuse(client, "invalid_scope", "forged <text>", path="/callback/not-this-ehr")
    assert response.status_code in (403, 404)
    assert "forged" not in caplog.text


def test_a_second_refusal_ends_the_launch_with_the_ehr_code(client, ehr, caplog):
    response = refuse(client, ehr.launch(client))
    second = query(response.headers["Location"])
    final = refuse(client, second, description="still <b>no</b> for Observation")
    html = final.get_data(as_text=True)
    assert final.status_code == 403
    assert "did not accept the permissions" in html and "EHR code: invalid_scope" in html
    assert "still" not in html  # the EHR's free text is never shown
    assert ehr.token_requests == []


def test_invalid_scope_at_the_token_step_asks_again_too(client, rsps, app):
    ehr = FakeEhr(rsps, token_error="invalid_scope").install()
    ehr.launch(client)
    response = ehr.callback(client)
    assert response.status_code == 302
    again = query(response.headers["Location"])
    assert "patient/CarePlan.cu" not in again["scope"]
    ehr.token_error = None
    ehr.granted_scope = again["scope"]
    ehr.authorize_params = again
    assert ehr.callback(client).status_code == 302
    assert context_of(app, client).scope_negotiated == "invalid_scope"


def test_other_refusals_are_not_retried_and_show_only_our_sentence(client, ehr):
    ehr.launch(client)
    response = ehr.refuse(client, "access_denied", "x")
    html = response.get_data(as_text=True)
    assert response.status_code == 403
    assert "Access was denied" in html and "EHR code: access_denied" in html


def test_a_forged_error_code_is_not_echoed(client):
    response = client.get("/callback", query_string={"error": "<script>x</script>", "state": "x"})
    html = response.get_data(as_text=True)
    assert response.status_code == 403
    assert "<script>x" not in html and "EHR code: unrecognised" in html


def test_a_token_response_without_scope_is_read_only(client, rsps, app, caplog):
    ehr = FakeEhr(rsps, granted_scope=None).install()
    assert ehr.sign_in(client).status_code == 302
    context = context_of(app, client)
    assert not context.can_write_plan  # never the writes it asked for
    assert context.can_read("Observation")
    assert "has no scope: running read-only" in caplog.text


def test_the_ehr_description_is_cleaned_before_it_is_logged():
    secretish = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    text = loggable(f"bad\nscope {secretish} " + "x" * 300)
    assert "\n" not in text and secretish not in text and len(text) <= 201
    assert explain("invalid_scope").endswith("(EHR code: invalid_scope)")


# -- tenant quirks on the launch --------------------------------------------------------------


def tenant_app(rsps, quirks: TenantQuirks, discovery: dict | None = None):
    from smartapp.launch.session_store import MemorySessionStore
    from smartapp.web import create_app

    tenant = Tenant(iss=ISS, client_id="ofa-app", scopes=FULL_SCOPES, quirks=quirks)
    config = make_config(tenants={ISS: tenant})
    app = create_app(config, store=MemorySessionStore())
    app.testing = True
    ehr = FakeEhr(rsps, discovery=discovery or smart_configuration()).install()
    return app.test_client(), ehr


def test_v1_quirk_asks_in_v1_whatever_discovery_says(rsps):
    client, ehr = tenant_app(rsps, TenantQuirks(scope_version="v1"))
    scopes = ehr.launch(client)["scope"].split()
    assert "patient/Observation.read" in scopes and "patient/CarePlan.write" in scopes
    assert not any(s.endswith((".rs", ".cu")) for s in scopes)


def test_pkce_is_assumed_only_when_the_tenant_says_so(rsps):
    no_methods = smart_configuration(code_challenge_methods_supported=None)
    strict, _ = tenant_app(rsps, TenantQuirks(), no_methods)
    assert strict.get(f"/launch?iss={ISS}&launch=l1").status_code == 502
    rsps.reset()
    lenient, ehr = tenant_app(rsps, TenantQuirks(assume_pkce=True), no_methods)
    params = ehr.launch(lenient)
    assert params["code_challenge_method"] == "S256" and params["code_challenge"]


def test_pkce_is_never_assumed_when_discovery_lists_other_methods(rsps):
    plain = smart_configuration(code_challenge_methods_supported=["plain"])
    client, _ = tenant_app(rsps, TenantQuirks(assume_pkce=True), plain)
    assert client.get(f"/launch?iss={ISS}&launch=l1").status_code == 502


@pytest.mark.parametrize(
    ("refresh", "expected"),
    [("offline_access", "offline_access"), ("none", None), (None, "online_access")],
)
def test_refresh_scope_quirk(rsps, refresh, expected):
    client, ehr = tenant_app(rsps, TenantQuirks(refresh_scope=refresh))
    scopes = set(ehr.launch(client)["scope"].split())
    asked = scopes & {"online_access", "offline_access"}
    assert asked == ({expected} if expected else set())


def test_offline_access_not_granted_still_launches_without_a_refresh_token(rsps, monkeypatch):
    from smartapp.launch.context import access_token_for
    from smartapp.launch.errors import RelaunchRequired
    from smartapp.launch.session_store import TOKEN_KEY
    from smartapp.launch.state import launch_state

    client, ehr = tenant_app(rsps, TenantQuirks(refresh_scope="offline_access"))
    ehr.granted_scope = FULL_SCOPES.replace("online_access ", "")  # the EHR dropped it
    assert ehr.sign_in(client).status_code == 302
    app = client.application
    context = context_of(app, client)
    with app.test_request_context("/patient"):
        record = launch_state().store.get(context.session_id, TOKEN_KEY)
        assert record["refresh_token"] is None
        launch_state().store.set(context.session_id, TOKEN_KEY, {**record, "expires_at": 1.0})
        with pytest.raises(RelaunchRequired):
            access_token_for(context)
    assert len(ehr.token_requests) == 1  # no refresh attempted without a refresh token
