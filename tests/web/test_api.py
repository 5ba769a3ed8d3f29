"""`GET /api/patient/<id>`: the CLI's JSON, for the patients the launch may read."""

from __future__ import annotations

from datetime import date

import pytest

from fhir_mappings.site import load_mappings
from smartapp import patient_service
from smartapp.report import summary_json
from smartapp.rules.settings import RuleSettings
from tests.launch.launch_fakes import ISS, OPEN_ISS
from tests.support.fake_fhir import FakeFhir, fail_types
from tests.support.pages import demo

AS_OF = date.today()


def cli_json(resources: list[dict], as_of: date = AS_OF) -> dict:
    """What `smartapp check --bundle` prints for these resources."""
    record = patient_service.record_from_resources(resources, mappings=load_mappings(None))
    return summary_json(patient_service.summarize(record, as_of, RuleSettings()))


@pytest.mark.parametrize(
    "slug", ["all-ok-maintenance", "hbsag-positive", "recurrent-infections", "messy-data"]
)
def test_api_returns_exactly_the_cli_json(client, open_patient, slug):
    resources = demo(slug)
    open_patient(resources, slug)
    response = client.get(f"/api/patient/{slug}")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == cli_json(resources)
    assert "fhir;dur=" in response.headers["Server-Timing"]


def test_as_of_evaluates_another_day_like_the_cli(client, open_patient):
    resources = demo("dose-due-soon")
    open_patient(resources, "dose-due-soon")
    later = date.fromordinal(AS_OF.toordinal() + 30)
    response = client.get(f"/api/patient/dose-due-soon?as_of={later.isoformat()}")
    assert response.get_json() == cli_json(resources, later)
    assert response.get_json()["as_of"] == later.isoformat()


def test_patient_level_launch_reads_its_own_patient_only(client, ehr, rsps):
    ehr.patient = "ig-low"
    ehr.sign_in(client)
    FakeFhir(demo("ig-low") + demo("pml"), base=ISS).install(rsps)
    assert client.get("/api/patient/ig-low").status_code == 200
    response = client.get("/api/patient/pml")
    assert response.status_code == 403
    body = response.get_json()
    assert body["error"] == "Not allowed" and "one patient" in body["message"]


def test_open_server_may_read_any_patient(client, open_patient):
    open_patient(demo("ig-low") + demo("pml"), "ig-low")
    response = client.get("/api/patient/pml")
    assert response.status_code == 200
    assert response.get_json()["patient"]["id"] == "pml"


def test_user_level_launch_may_read_any_patient(client, ehr, rsps):
    ehr.patient = None
    ehr.granted_scope = "openid fhirUser user/Patient.rs user/Observation.rs"
    ehr.launch(client, launch=None)
    callback = ehr.callback(client)
    assert callback.headers["Location"] == "/worklist"
    FakeFhir(demo("pml"), base=ISS).install(rsps)
    response = client.get("/api/patient/pml")
    assert response.status_code == 200
    assert response.get_json()["patient"]["name"] == "Demo PML"


def test_without_a_launch_the_api_answers_401_json(client):
    response = client.get("/api/patient/ig-low")
    assert response.status_code == 401
    body = response.get_json()
    assert body["error"] == "Not launched" and "launch" in body["message"]


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("/api/patient/bad%20id!", "Invalid patient id"),
        ("/api/patient/ig-low?as_of=tomorrow", "Invalid as_of"),
    ],
)
def test_bad_requests_are_json_400(client, open_patient, path, error):
    open_patient(demo("ig-low"), "ig-low")
    response = client.get(path)
    assert response.status_code == 400
    assert response.get_json()["error"] == error


def test_a_failed_search_is_reported_in_the_json_not_as_an_error(client, open_patient):
    open_patient(demo("ig-low"), "ig-low", fail=fail_types(Observation=500))
    response = client.get("/api/patient/ig-low")
    assert response.status_code == 200
    body = response.get_json()
    assert "labs" in body["data"]["incomplete"]
    statuses = {f["check"]: f["status"] for f in body["findings"]}
    assert statuses["hbv-serology"] == "unknown"


def test_an_expired_session_is_a_json_relaunch_error(client, ehr, rsps):
    ehr.patient = "ig-low"
    ehr.sign_in(client)
    FakeFhir(demo("ig-low"), base=ISS, fail_all=401).install(rsps)
    response = client.get("/api/patient/ig-low")
    assert response.status_code == 401
    body = response.get_json()
    assert set(body) == {"error", "message"} and "relaunch" in body["message"].lower()


def test_unknown_api_paths_are_json_404(client):
    response = client.get(f"/api/patients?iss={OPEN_ISS}")
    assert response.status_code == 404
    assert response.is_json
