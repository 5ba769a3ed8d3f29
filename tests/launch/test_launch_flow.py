"""EHR and standalone launch: allowlist, discovery, authorize request, callback, context."""

from __future__ import annotations

import logging
from base64 import b64decode

import pytest
import responses

from tests.launch.launch_fakes import (
    ACCESS_TOKEN,
    AUTHORIZE_URL,
    CLIENT_ID,
    DISCOVERY_URL,
    FHIR_USER,
    ISS,
    PATIENT_ID,
    TOKEN_URL,
    FakeEhr,
    context_of,
    form,
    make_config,
    other_key,
    s256,
    smart_configuration,
)

CALLBACK_ID = "ehr.example.org-fhir"

# -- allowlist ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("/launch?iss=https://attacker.example/fhir&launch=abc", "This FHIR server is not allowed"),
        ("/launch?launch=abc", "iss"),
    ],
    ids=["foreign-iss", "missing-iss-with-launch"],
)
def test_a_launch_from_no_allowed_server_is_refused_without_any_outbound_call(
    client, rsps, url, says
):
    response = client.get(url)
    assert response.status_code == 400
    assert says in response.get_data(as_text=True)
    assert len(rsps.calls) == 0


def test_iss_that_only_looks_like_an_allowed_one_is_refused(client, rsps):
    for iss in (
        f"{ISS}.attacker.example",
        "https://ehr.example.org.attacker.example/fhir",
        f"{ISS}/../other",
        f"{ISS}?x=1",
        "https://ehr.example.org/fhir2",
        "ftp://ehr.example.org/fhir",
    ):
        response = client.get("/launch", query_string={"iss": iss, "launch": "abc"})
        assert response.status_code == 400, iss
    assert len(rsps.calls) == 0


def test_iss_normalisation_accepts_trailing_slash_and_case(client, ehr):
    params = client.get(
        "/launch", query_string={"iss": "HTTPS://EHR.example.org/fhir/", "launch": "abc"}
    )
    assert params.status_code == 302
    assert ehr.rsps.calls[0].request.url == DISCOVERY_URL


def test_launch_without_parameters_lists_the_allowlisted_ehrs(client, rsps):
    response = client.get("/launch")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "ehr.example.org" in page
    assert "hapi.local" not in page  # open servers are launched from launch.html
    assert len(rsps.calls) == 0


def test_a_refused_iss_is_not_repeated_on_the_error_page(client, rsps):
    """The page names no request text: a refusal showing `evil.example` in the app's own
    frame would lend the attacker's address the app's authority."""
    response = client.get(
        "/launch", query_string={"iss": "https://x.example/<script>alert(1)</script>"}
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "not allowed to launch the app" in page
    assert "x.example" not in page and "alert(1)" not in page


# -- discovery ----------------------------------------------------------------------


def test_discovery_without_s256_is_refused(client, rsps):
    rsps.add(
        responses.GET,
        DISCOVERY_URL,
        json=smart_configuration(code_challenge_methods_supported=["plain"]),
    )
    response = client.get(f"/launch?iss={ISS}&launch=abc")
    assert response.status_code == 502
    assert "S256" in response.get_data(as_text=True)
    assert "Location" not in response.headers


def test_discovery_without_pkce_methods_is_refused(client, rsps):
    rsps.add(
        responses.GET,
        DISCOVERY_URL,
        json=smart_configuration(code_challenge_methods_supported=None),
    )
    assert client.get(f"/launch?iss={ISS}&launch=abc").status_code == 502


def test_discovery_with_http_endpoint_is_refused(client, rsps):
    rsps.add(
        responses.GET,
        DISCOVERY_URL,
        json=smart_configuration(token_endpoint="http://ehr.example.org/auth/token"),
    )
    response = client.get(f"/launch?iss={ISS}&launch=abc")
    assert response.status_code == 502
    assert "HTTPS" in response.get_data(as_text=True)


def test_plain_http_issuer_is_refused_before_any_call(rsps):
    app = _app(make_config(issuers=("http://ehr.example.org/fhir",), open_servers=()))
    response = app.test_client().get("/launch?iss=http://ehr.example.org/fhir&launch=a")
    assert response.status_code == 502
    assert len(rsps.calls) == 0


def test_loopback_issuer_may_use_http(rsps):
    base = "http://127.0.0.1:5001/fhir"
    rsps.add(
        responses.GET,
        f"{base}/.well-known/smart-configuration",
        json=smart_configuration(
            authorization_endpoint="http://127.0.0.1:5001/authorize",
            token_endpoint="http://127.0.0.1:5001/token",
            jwks_uri=None,
            issuer=None,
        ),
    )
    app = _app(make_config(issuers=(base,), open_servers=()))
    response = app.test_client().get(f"/launch?iss={base}&launch=a")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("http://127.0.0.1:5001/authorize?")


def test_unreachable_discovery_gives_a_clear_page(client, rsps):
    import requests

    rsps.add(responses.GET, DISCOVERY_URL, body=requests.ConnectTimeout("slow"))
    response = client.get(f"/launch?iss={ISS}&launch=abc")
    assert response.status_code == 502
    assert "could not be reached" in response.get_data(as_text=True)


def test_discovery_redirect_is_not_followed(client, rsps):
    rsps.add(
        responses.GET, DISCOVERY_URL, status=302, headers={"Location": "https://attacker.example/"}
    )
    assert client.get(f"/launch?iss={ISS}&launch=abc").status_code == 502
    assert len(rsps.calls) == 1


# -- authorize request --------------------------------------------------------------


def test_ehr_authorize_url_has_pkce_state_aud_launch_and_v2_scopes(client, ehr):
    params = ehr.launch(client, launch="opaque-launch-123")
    assert params["response_type"] == "code"
    assert params["client_id"] == CLIENT_ID
    assert params["redirect_uri"] == f"http://localhost/callback/{CALLBACK_ID}"
    assert params["code_challenge_method"] == "S256"
    assert len(params["code_challenge"]) == 43
    assert params["aud"] == ISS
    assert params["launch"] == "opaque-launch-123"
    scopes = params["scope"].split()
    assert "launch" in scopes and "launch/patient" not in scopes
    assert "patient/Observation.rs" in scopes and "patient/CarePlan.cu" in scopes
    # >= 122 bits of entropy: URL-safe base64 carries 6 bits per character.
    assert len(params["state"]) * 6 >= 122
    assert params["nonce"]


def test_state_and_verifier_are_fresh_per_launch(client, ehr):
    first = ehr.launch(client)
    second = ehr.launch(client)
    assert first["state"] != second["state"]
    assert first["code_challenge"] != second["code_challenge"]


def test_standalone_launch_asks_for_a_patient_instead_of_launch(client, ehr):
    params = ehr.launch(client, launch=None)
    scopes = params["scope"].split()
    assert "launch/patient" in scopes
    assert "launch" not in scopes
    assert "launch" not in params
    assert params["aud"] == ISS


def test_v1_only_server_gets_v1_scopes(client, rsps):
    doc = smart_configuration(
        capabilities=["launch-ehr", "client-public", "permission-v1", "sso-openid-connect"]
    )
    ehr = FakeEhr(rsps, discovery=doc).install()
    scopes = ehr.launch(client)["scope"].split()
    assert "patient/Observation.read" in scopes
    assert "patient/CarePlan.read" in scopes and "patient/CarePlan.write" in scopes
    assert "patient/Task.write" in scopes
    assert not [scope for scope in scopes if scope.endswith((".rs", ".cu", ".r"))]


def test_launch_does_not_put_the_verifier_in_the_cookie_or_url(client, ehr, store):
    params = ehr.launch(client)
    cookie = client.get_cookie("__Host-smartapp")
    assert cookie is not None
    sid = cookie.value.split(".")[0]
    pending = store.take_pending(sid, params["state"])
    assert pending is not None
    assert pending["code_verifier"] not in cookie.value
    assert "code_verifier" not in params
    assert s256(pending["code_verifier"]) == params["code_challenge"]


# -- callback -----------------------------------------------------------------------


def test_callback_exchanges_the_code_with_the_pkce_verifier(app, client, ehr):
    params = ehr.launch(client)
    response = ehr.callback(client, code="the-code")
    assert response.status_code == 302
    assert response.headers["Location"] == "/patient"
    sent = form(ehr.token_requests[0])
    assert sent["grant_type"] == "authorization_code"
    assert sent["code"] == "the-code"
    assert sent["redirect_uri"] == f"http://localhost/callback/{CALLBACK_ID}"
    assert s256(sent["code_verifier"]) == params["code_challenge"]
    assert sent["client_id"] == CLIENT_ID  # public client: client_id in the body
    assert "Authorization" not in ehr.token_requests[0].headers
    assert ehr.token_requests[0].url == TOKEN_URL


def test_confidential_client_uses_basic_auth(rsps):
    app = _app(make_config(client_secret="s3cret"))
    client = app.test_client()
    ehr = FakeEhr(rsps).install()
    assert ehr.sign_in(client).status_code == 302
    header = ehr.token_requests[0].headers["Authorization"]
    assert header.startswith("Basic ")
    assert b64decode(header[6:]).decode() == f"{CLIENT_ID}:s3cret"
    assert "client_secret" not in form(ehr.token_requests[0])


def test_callback_sets_the_launch_context(app, client, ehr):
    assert ehr.sign_in(client).status_code == 302
    context = context_of(app, client)
    assert context is not None
    assert context.patient == PATIENT_ID
    assert context.fhir_base == ISS
    assert context.fhir_user == f"{ISS}/{FHIR_USER}"
    assert context.need_patient_banner is False
    assert context.open_server is False
    assert context.can_write_plan is True
    assert context.scopes.can_read("Observation")


def test_reduced_scopes_make_the_launch_read_only(app, client, rsps):
    ehr = FakeEhr(
        rsps,
        granted_scope="launch openid fhirUser patient/Observation.rs patient/CarePlan.rs "
        "patient/Task.rs patient/Task.cu",
    ).install()
    assert ehr.sign_in(client).status_code == 302
    context = context_of(app, client)
    assert context.scopes.can_read("CarePlan")
    assert context.scopes.can_write("Task")
    assert context.can_write_plan is False


def test_v1_write_scopes_allow_plan_writes(app, client, rsps):
    ehr = FakeEhr(
        rsps, granted_scope="launch patient/*.read patient/CarePlan.write patient/Task.write"
    ).install()
    ehr.sign_in(client)
    assert context_of(app, client).can_write_plan is True


def test_user_level_standalone_launch_without_patient_goes_to_the_worklist(rsps):
    app = _app(make_config(scopes="openid fhirUser user/Task.rs user/Task.cu user/Patient.rs"))
    client = app.test_client()
    ehr = FakeEhr(rsps, patient=None, granted_scope="openid fhirUser user/Task.rs user/Task.cu")
    ehr.install()
    params = ehr.launch(client, launch=None)
    assert "launch/patient" not in params["scope"].split()
    response = ehr.callback(client)
    assert response.headers["Location"] == "/worklist"


def test_patient_scopes_without_a_patient_are_refused(client, rsps):
    ehr = FakeEhr(rsps, patient=None).install()
    response = ehr.sign_in(client)
    assert response.status_code == 400
    assert "did not say which patient" in response.get_data(as_text=True)


def test_malformed_patient_id_is_refused(client, rsps):
    ehr = FakeEhr(rsps, patient="../Patient/x?").install()
    assert ehr.sign_in(client).status_code == 400


def test_state_replay_is_refused(client, ehr):
    ehr.launch(client)
    assert ehr.callback(client).status_code == 302
    replay = ehr.callback(client)
    assert replay.status_code == 400
    assert "already used" in replay.get_data(as_text=True)
    assert len(ehr.token_requests) == 1


def test_state_mismatch_is_refused(client, ehr):
    ehr.launch(client)
    response = ehr.callback(client, state="not-the-state-we-sent")
    assert response.status_code == 400
    assert ehr.token_requests == []


def test_missing_state_is_refused(client, ehr):
    ehr.launch(client)
    response = client.get("/callback?code=abc")
    assert response.status_code == 400
    assert "state" in response.get_data(as_text=True)
    assert ehr.token_requests == []


def test_state_from_another_browser_session_is_refused(app, client, ehr):
    params = ehr.launch(client)
    other = app.test_client()
    response = other.get(f"/callback?code=abc&state={params['state']}")
    assert response.status_code == 400
    assert ehr.token_requests == []
    # ...and the legitimate browser can still finish its launch.
    assert ehr.callback(client).status_code == 302


def test_expired_state_is_refused(client, ehr, store, monkeypatch):
    ehr.launch(client)
    clock = store._clock
    monkeypatch.setattr(store, "_clock", lambda: clock() + 601)
    monkeypatch.setattr(store, "_ttl", 10_000)
    assert ehr.callback(client).status_code == 400


def test_error_from_the_authorization_server_is_shown_clearly(client, ehr):
    ehr.launch(client)
    response = ehr.refuse(client, "access_denied", "User said no", path="/callback")
    assert response.status_code == 403
    assert "Access was denied" in response.get_data(as_text=True)
    assert ehr.token_requests == []
    # The state was consumed: it cannot be used afterwards.
    assert ehr.callback(client).status_code == 400


def test_error_answers_never_show_their_own_text(client, ehr):
    """Even tied to this session's launch: the text is attacker-controlled (a hostile
    allowlisted server, or anyone who read the state) and reads like the app speaking."""
    bait = "Call 555-0100 now"
    for state in ("x", None):
        ehr.launch(client)
        for error in ("weird_" + bait, "access_denied"):
            response = ehr.refuse(client, error, bait, state=state)
            page = response.get_data(as_text=True)
            assert response.status_code == 403
            assert "555-0100" not in page and "weird" not in page
    assert ehr.token_requests == []


def test_token_endpoint_refusal_gives_a_clear_page(client, rsps):
    ehr = FakeEhr(rsps, token_error="invalid_grant").install()
    response = ehr.sign_in(client)
    assert response.status_code == 502
    assert "refused to issue an access token" in response.get_data(as_text=True)


def test_session_id_is_rotated_at_sign_in(client, ehr):
    ehr.launch(client)
    before = client.get_cookie("__Host-smartapp").value
    ehr.callback(client)
    after = client.get_cookie("__Host-smartapp").value
    assert before != after


def test_several_pending_launches_in_one_session_each_complete_once(client, ehr):
    first = ehr.launch(client)
    second = ehr.launch(client)
    ehr.authorize_params = first
    assert ehr.callback(client).status_code == 302
    ehr.authorize_params = second
    assert ehr.callback(client).status_code == 302


# -- id_token -----------------------------------------------------------------------


def test_id_token_with_bad_signature_rejects_the_launch(app, client, rsps, caplog):
    ehr = FakeEhr(rsps, id_token_key=other_key()).install()
    with caplog.at_level(logging.WARNING):
        response = ehr.sign_in(client)
    assert response.status_code == 401
    assert "could not be verified" in response.get_data(as_text=True)
    assert context_of(app, client) is None
    assert "id_token rejected" in caplog.text
    assert "eyJ" not in caplog.text  # no token content in the log


@pytest.mark.parametrize(
    "claims",
    [
        {"aud": "someone-else"},
        {"iss": "https://attacker.example/auth"},
        {"exp": 1_000_000},
        {"nonce": "replayed-nonce"},
    ],
)
def test_id_token_with_wrong_claims_rejects_the_launch(app, client, rsps, claims):
    ehr = FakeEhr(rsps, id_token_claims=claims).install()
    assert ehr.sign_in(client).status_code == 401
    assert context_of(app, client) is None


def test_id_token_without_nonce_is_rejected(client, rsps):
    ehr = FakeEhr(rsps).install()
    ehr.launch(client)
    ehr.authorize_params = {**ehr.authorize_params, "nonce": None}  # type: ignore[dict-item]
    assert ehr.callback(client).status_code == 401


def test_id_token_found_through_openid_configuration(app, client, rsps):
    doc = smart_configuration(issuer=None, jwks_uri=None)
    ehr = FakeEhr(rsps, discovery=doc).install()
    rsps.add(
        responses.GET,
        "https://ehr.example.org/auth/.well-known/openid-configuration",
        json={
            "issuer": "https://ehr.example.org/auth",
            "jwks_uri": "https://ehr.example.org/auth/jwks",
        },
    )
    assert ehr.sign_in(client).status_code == 302
    assert context_of(app, client).fhir_user == f"{ISS}/{FHIR_USER}"


def test_id_token_issuer_on_a_foreign_host_is_never_fetched(client, rsps):
    doc = smart_configuration(issuer=None, jwks_uri=None)
    ehr = FakeEhr(rsps, discovery=doc, id_token_claims={"iss": "https://attacker.example"})
    ehr.install()
    assert ehr.sign_in(client).status_code == 401
    assert not [call for call in rsps.calls if "attacker" in call.request.url]


def test_relative_fhir_user_is_resolved_against_the_fhir_base(app, client, rsps):
    ehr = FakeEhr(rsps, id_token_claims={"fhirUser": "Practitioner/abc"}).install()
    ehr.sign_in(client)
    assert context_of(app, client).fhir_user == f"{ISS}/Practitioner/abc"


def test_no_id_token_means_no_fhir_user(app, client, rsps):
    ehr = FakeEhr(rsps, issue_id_token=False).install()
    assert ehr.sign_in(client).status_code == 302
    assert context_of(app, client).fhir_user is None


# -- logging ------------------------------------------------------------------------


def test_info_logs_hold_no_tokens_codes_or_patient_ids(client, rsps, caplog):
    ehr = FakeEhr(rsps, refresh_token="RT-secret").install()
    with caplog.at_level(logging.INFO):
        params = ehr.launch(client)
        ehr.callback(client, code="AUTH-CODE-secret")
    text = caplog.text
    assert "launch started for tenant" in text
    assert "launch completed for tenant" in text
    for secret in (
        ACCESS_TOKEN,
        "RT-secret",
        "AUTH-CODE-secret",
        PATIENT_ID,
        params["state"],
        params["code_challenge"],
        "xyz-launch",
        "eyJ",
    ):
        assert secret not in text, secret


def test_authorize_url_is_the_discovered_one(client, ehr):
    ehr.launch(client)
    assert ehr.rsps.calls[0].request.url == DISCOVERY_URL
    assert AUTHORIZE_URL.startswith("https://")


def _app(config):
    from smartapp.web import create_app

    app = create_app(config)
    app.testing = True
    return app
