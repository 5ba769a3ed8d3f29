"""Open-server mode (/open): no OAuth, allowlisted open servers only, patient in context."""

from __future__ import annotations

from tests.launch.launch_fakes import ISS, OPEN_ISS, context_of
from tests.support.navigation import TYPED


def test_open_server_session_has_full_capabilities_and_no_outbound_call(app, client, rsps):
    response = client.get(
        "/open",
        query_string={"iss": OPEN_ISS, "patient": "example-1"},
        headers=TYPED,
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/patient"
    context = context_of(app, client)
    assert context.open_server is True
    assert context.patient == "example-1"
    assert context.fhir_base == OPEN_ISS
    assert context.can_write_plan is True
    assert context.can_read("Observation")
    assert len(rsps.calls) == 0


def test_open_server_without_patient_goes_to_the_worklist(client):
    response = client.get("/open", query_string={"iss": OPEN_ISS}, headers=TYPED)
    assert response.headers["Location"] == "/worklist"


def test_open_mode_refuses_servers_that_need_sign_in(client, rsps):
    response = client.get("/open", query_string={"iss": ISS, "patient": "1"}, headers=TYPED)
    assert response.status_code == 400
    assert "not configured as an open server" in response.get_data(as_text=True)
    assert len(rsps.calls) == 0


def test_open_mode_refuses_unknown_servers(client, rsps):
    response = client.get(
        "/open",
        query_string={"iss": "http://elsewhere:8080/fhir"},
        headers=TYPED,
    )
    assert response.status_code == 400
    assert len(rsps.calls) == 0


def test_open_mode_refuses_a_malformed_patient_id(client):
    response = client.get(
        "/open",
        query_string={"iss": OPEN_ISS, "patient": "<script>x</script>"},
        headers=TYPED,
    )
    assert response.status_code == 400
    assert "<script>x" not in response.get_data(as_text=True)


def test_oauth_launch_against_an_open_server_is_refused(client, rsps):
    response = client.get("/launch", query_string={"iss": OPEN_ISS, "launch": "x"})
    assert response.status_code == 400
    assert len(rsps.calls) == 0


def test_open_mode_replaces_an_earlier_context(app, client):
    client.get("/open", query_string={"iss": OPEN_ISS, "patient": "a"}, headers=TYPED)
    first = context_of(app, client)
    client.get("/open", query_string={"iss": OPEN_ISS, "patient": "b"}, headers=TYPED)
    second = context_of(app, client)
    assert second.patient == "b"
    assert second.launch_id != first.launch_id


def _csrf(page: str) -> str:
    import re

    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "no CSRF token on the page"
    return match.group(1)


def test_another_site_cannot_open_a_server_without_asking(app, client, rsps):
    """A link or auto-submitting form on another site, or a client that sends no Fetch
    Metadata at all (so where it came from cannot be told): the app asks, nothing changes."""
    for site in ("cross-site", "same-site", None):
        response = client.get(
            "/open",
            query_string={"iss": OPEN_ISS, "patient": "victim-2"},
            headers={"Sec-Fetch-Site": site} if site else {},
        )
        assert response.status_code == 200
        assert 'id="confirm-open"' in response.get_data(as_text=True)
        assert context_of(app, client) is None
    # Confirming on the app's own page (a same-origin POST with the CSRF token) opens it.
    done = client.post(
        "/open",
        data={"iss": OPEN_ISS, "patient": "victim-2", "csrf_token": _csrf(response.text)},
        headers={"Sec-Fetch-Site": "same-origin"},
    )
    assert done.status_code == 303 and done.headers["Location"] == "/patient"
    assert context_of(app, client).patient == "victim-2"


def test_opening_a_server_asks_before_ending_a_live_ehr_launch(app, client, ehr):
    ehr.sign_in(client)
    launched = context_of(app, client)
    for site in ("same-origin", "none", None):
        headers = {"Sec-Fetch-Site": site} if site else {}
        response = client.get(
            "/open", query_string={"iss": OPEN_ISS, "patient": "x"}, headers=headers
        )
        page = response.get_data(as_text=True)
        assert response.status_code == 200 and 'id="replaces-session"' in page
        assert "ehr.example.org" in page  # the EHR's configured name, not request text
    assert context_of(app, client).launch_id == launched.launch_id  # still the EHR launch
    # A forged confirmation from another site is refused by the CSRF check.
    forged = client.post(
        "/open",
        data={"iss": OPEN_ISS, "patient": "x", "csrf_token": _csrf(page)},
        headers={"Sec-Fetch-Site": "cross-site"},
    )
    assert forged.status_code == 400
    assert context_of(app, client).launch_id == launched.launch_id


def test_the_csrf_token_changes_at_sign_in(app, client, ehr):
    """A token an earlier page of the session showed (or leaked) is dead after sign-in."""
    page = client.get(
        "/open", query_string={"iss": OPEN_ISS}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    before = _csrf(page.get_data(as_text=True))
    ehr.sign_in(client)
    with client.session_transaction() as flask_session:
        assert flask_session.get("_csrf") != before
    refused = client.post(
        "/open",
        data={"iss": OPEN_ISS, "csrf_token": before},
        headers={"Sec-Fetch-Site": "same-origin"},
    )
    assert refused.status_code == 400
