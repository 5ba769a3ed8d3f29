"""Open-server mode (/open): no OAuth, allowlisted open servers only, patient in context."""

from __future__ import annotations

from tests.launch.launch_fakes import ISS, OPEN_ISS, context_of


def test_open_server_session_has_full_capabilities_and_no_outbound_call(app, client, rsps):
    response = client.get("/open", query_string={"iss": OPEN_ISS, "patient": "example-1"})
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
    response = client.get("/open", query_string={"iss": OPEN_ISS})
    assert response.headers["Location"] == "/worklist"


def test_open_mode_refuses_servers_that_need_sign_in(client, rsps):
    response = client.get("/open", query_string={"iss": ISS, "patient": "1"})
    assert response.status_code == 400
    assert "not configured as an open server" in response.get_data(as_text=True)
    assert len(rsps.calls) == 0


def test_open_mode_refuses_unknown_servers(client, rsps):
    response = client.get("/open", query_string={"iss": "http://elsewhere:8080/fhir"})
    assert response.status_code == 400
    assert len(rsps.calls) == 0


def test_open_mode_refuses_a_malformed_patient_id(client):
    response = client.get("/open", query_string={"iss": OPEN_ISS, "patient": "<script>x</script>"})
    assert response.status_code == 400
    assert "<script>x" not in response.get_data(as_text=True)


def test_oauth_launch_against_an_open_server_is_refused(client, rsps):
    response = client.get("/launch", query_string={"iss": OPEN_ISS, "launch": "x"})
    assert response.status_code == 400
    assert len(rsps.calls) == 0


def test_open_mode_replaces_an_earlier_context(app, client):
    client.get("/open", query_string={"iss": OPEN_ISS, "patient": "a"})
    first = context_of(app, client)
    client.get("/open", query_string={"iss": OPEN_ISS, "patient": "b"})
    second = context_of(app, client)
    assert second.patient == "b"
    assert second.launch_id != first.launch_id
