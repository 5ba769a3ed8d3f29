"""`/worklist`, `/worklist.csv`, `/worklist/tasks`, `/worklist/open/<id>` in the web app."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import responses
from flask import Flask
from flask.testing import FlaskClient
from joserfc.jwk import RSAKey
from werkzeug.test import TestResponse

from smartapp.fhir import FhirError
from smartapp.launch.session_store import MemorySessionStore
from smartapp.web import create_app
from smartapp.web.worklist.store import refresher_of
from smartapp.worklist import WorklistFilters, read_csv
from tests.launch.launch_fakes import (
    FULL_SCOPES,
    ISS,
    OPEN_ISS,
    PATIENT_ID,
    TOKEN_URL,
    FakeEhr,
    FakeIdp,
    context_of,
    form,
    login_settings,
    make_config,
)
from tests.support.fake_fhir import FakeFhir
from tests.support.navigation import TYPED
from tests.worklist.cohort import (
    AS_OF,
    app_task,
    generated,
    other_drug_patient,
    patient,
    planned_patient,
    subject,
)

COORDINATOR_SCOPES = (
    "openid fhirUser user/Patient.rs user/Observation.rs user/MedicationAdministration.rs "
    "user/MedicationRequest.rs user/Medication.rs user/Immunization.rs user/Condition.rs "
    "user/AllergyIntolerance.rs user/DiagnosticReport.rs user/ImagingStudy.rs "
    "user/Procedure.rs user/CarePlan.rs user/Task.rs"
)
WRITE_SCOPES = " user/CarePlan.cu user/Task.cu user/Provenance.c"
DANGEROUS = '=HYPERLINK("http://evil.example")'


def cohort() -> list[dict[str, Any]]:
    resources = generated(6) + planned_patient() + other_drug_patient()
    resources += [
        {**patient("formula"), "name": [{"text": DANGEROUS}]},
        {
            "resourceType": "MedicationRequest",
            "id": "formula-mrq",
            "status": "active",
            "intent": "order",
            "subject": subject("formula"),
            "authoredOn": "2026-11-01",
            "medicationCodeableConcept": {
                "coding": [{"system": "http://www.whocc.no/atc", "code": "L04AG12"}]
            },
        },
        app_task("gen-3-000001", "ig-monitoring", "2026-12-01", owner="Nurse Kim"),
    ]
    return resources


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """The web app's test client (instead of tests/worklist/conftest.py's FHIR client)."""
    return app.test_client()


@pytest.fixture(autouse=True)
def fixed_day(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("smartapp.web.worklist.reading.today", lambda: AS_OF)


@pytest.fixture
def open_fhir(rsps: responses.RequestsMock) -> FakeFhir:
    return FakeFhir(cohort(), base=OPEN_ISS).install(rsps)


def open_session(client: FlaskClient) -> None:
    response = client.get(f"/open?iss={OPEN_ISS}", headers=TYPED)
    assert response.status_code == 302 and response.headers["Location"] == "/worklist"
    first_read(client)


def first_read(client: FlaskClient) -> None:
    """Open the worklist: the first view starts a background refresh; wait for it."""
    client.get("/worklist")
    refresher_of(client.application).wait(60)


#: A form posted from the app's own page.
SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}


def post_tasks(client: FlaskClient, form: dict[str, Any]) -> TestResponse:
    """Submit the worklist's "create Tasks" form."""
    return client.post("/worklist/tasks", data=form, headers=SAME_ORIGIN)


def read_again(client: FlaskClient, html: str) -> None:
    """Press "Read the server again" and wait for the background refresh."""
    response = client.post(
        "/worklist/refresh",
        data={"csrf_token": csrf(html), "return": ""},
        headers=SAME_ORIGIN,
    )
    assert response.status_code == 303 and response.headers["Location"] == "/worklist"
    refresher_of(client.application).wait(60)


def row_ids(html: str) -> list[str]:
    return re.findall(r'<tr class="wl-row[^"]*" data-patient="([^"]+)"', html)


def hidden(html: str, name: str) -> str:
    """The value of the page's hidden form field `name` (never empty)."""
    match = re.search(rf'name="{name}" value="([^"]+)"', html)
    assert match
    return match.group(1)


def csrf(html: str) -> str:
    return hidden(html, "csrf_token")


def task_form(html: str, **fields: Any) -> dict[str, Any]:
    """The page's "create Tasks" form with its CSRF token and launch id, and `fields`."""
    return {"csrf_token": csrf(html), "launch_id": hidden(html, "launch_id"), **fields}


def test_open_server_worklist_lists_the_patients_on_ofatumumab(client, open_fhir) -> None:
    open_session(client)
    response = client.get("/worklist")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert set(row_ids(html)) == {f"gen-3-{i:06d}" for i in range(6)} | {"planned-start", "formula"}
    assert "not-on-kesimpta" not in html
    # Status is an icon and a word, never colour alone.
    assert re.search(r'class="wl-status wl-status-\w+"><svg[^>]*aria-hidden="true"', html)
    assert "Overdue</span>" in html or "Alert</span>" in html
    assert 'href="/worklist/open/gen-3-000001"' in html
    assert "Nurse Kim" in html and "ig-monitoring" in html
    assert 'id="request-count"' in html
    assert response.headers["Cache-Control"] == "no-store"


def test_a_population_that_cannot_be_read_is_an_error_page_not_an_empty_list(
    client, rsps, monkeypatch
) -> None:
    monkeypatch.setattr("time.sleep", lambda _s: None)
    rsps.add(responses.POST, OPEN_ISS, status=503)
    open_session(client)
    response = client.get("/worklist")
    assert response.status_code == 502
    html = response.get_data(as_text=True)
    assert "The worklist could not be read" in html
    assert "HTTP 503" in html
    assert 'class="wl-row' not in html


def test_fhir_text_is_escaped(client, open_fhir) -> None:
    open_session(client)
    html = client.get("/worklist").get_data(as_text=True)
    assert "=HYPERLINK(&#34;http://evil.example&#34;)" in html
    assert 'HYPERLINK("' not in html


def test_filters_in_the_url_reproduce_the_view(app, client, open_fhir) -> None:
    open_session(client)
    query = "status=overdue&status=alert&phase=maintenance&sort=name&dir=desc"
    html = client.get(f"/worklist?{query}").get_data(as_text=True)
    shown = row_ids(html)
    assert 'id="permalink" href="/worklist?' + query.replace("&", "&amp;") + '"' in html
    # The same link in another browser (a new session) shows the same rows in the same order.
    other = app.test_client()
    open_session(other)
    assert row_ids(other.get(f"/worklist?{query}").get_data(as_text=True)) == shown
    # …and they are what the filters select, in their order.
    everything = row_ids(client.get("/worklist?sort=name&dir=desc").get_data(as_text=True))
    assert set(shown) <= set(everything) and shown == [pid for pid in everything if pid in shown]
    assert 'value="overdue" checked' in html and 'value="maintenance" selected' in html


def test_sorting_and_filtering_do_not_read_the_server_again(client, open_fhir) -> None:
    open_session(client)
    client.get("/worklist")
    before = len(open_fhir.requests)
    client.get("/worklist?sort=name")
    client.get("/worklist.csv?status=overdue")
    client.get("/worklist?page=2&size=25")
    assert len(open_fhir.requests) == before
    read_again(client, client.get("/worklist").get_data(as_text=True))
    assert len(open_fhir.requests) > before


def test_csv_export_uses_the_same_filters_and_escapes_formulas(client, open_fhir) -> None:
    open_session(client)
    response = client.get("/worklist.csv?q=hyperlink")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert (
        'filename="ofatumumab-worklist-2026-11-24.csv"' in response.headers["Content-Disposition"]
    )
    text = response.get_data(as_text=True)
    assert "'" + DANGEROUS.replace('"', '""') in text
    rows = read_csv(text)
    assert [row["patient_id"] for row in rows] == ["formula"]
    assert rows[0]["name"] == DANGEROUS


def test_csv_rows_match_the_page(client, open_fhir) -> None:
    open_session(client)
    html = client.get("/worklist?status=overdue").get_data(as_text=True)
    rows = read_csv(client.get("/worklist.csv?status=overdue").get_data(as_text=True))
    assert [row["patient_id"] for row in rows] == row_ids(html)


def test_no_launch_gets_a_clear_403(client) -> None:
    response = client.get("/worklist")
    assert response.status_code == 403
    assert "no launch in this browser session" in response.get_data(as_text=True)


def test_a_patient_level_launch_cannot_list_patients(client, rsps) -> None:
    FakeEhr(rsps).install().sign_in(client)
    response = client.get("/worklist")
    assert response.status_code == 403
    assert "patient-level access" in response.get_data(as_text=True)
    assert client.get("/worklist/open/someone-else").status_code == 403


def coordinator(client: FlaskClient, rsps: responses.RequestsMock, scopes: str) -> FakeEhr:
    ehr = FakeEhr(rsps, granted_scope=scopes, patient=None).install()
    response = ehr.sign_in(client, launch=None)
    assert response.headers["Location"] == "/worklist"
    first_read(client)
    return ehr


def test_a_coordinators_standalone_launch_reads_with_its_token(client, rsps) -> None:
    fhir = FakeFhir(cohort(), base=ISS).install(rsps)
    coordinator(client, rsps, COORDINATOR_SCOPES)
    html = client.get("/worklist").get_data(as_text=True)
    assert len(row_ids(html)) == 8
    batch_calls = [c for c in rsps.calls if c.request.url == ISS and c.request.method == "POST"]
    assert batch_calls and all(
        c.request.headers["Authorization"].startswith("Bearer ") for c in batch_calls
    )
    # No write scopes: read-only, no selection boxes, and it says why.
    assert 'name="patient"' not in html
    assert "read-only" in html
    assert fhir.count("POST") >= 4


def test_a_read_only_launch_cannot_create_tasks(client, rsps) -> None:
    FakeFhir(cohort(), base=ISS).install(rsps)
    coordinator(client, rsps, COORDINATOR_SCOPES)
    html = client.get("/worklist").get_data(as_text=True)
    response = post_tasks(client, task_form(html, patient="gen-3-000001"))
    assert response.status_code == 403


def test_creating_tasks_needs_the_csrf_token(client, open_fhir) -> None:
    open_session(client)
    html = client.get("/worklist").get_data(as_text=True)
    response = post_tasks(
        client, {"launch_id": hidden(html, "launch_id"), "patient": "gen-3-000001"}
    )
    assert response.status_code == 400
    assert not open_fhir.transactions


def test_creating_tasks_for_selected_patients(client, open_fhir) -> None:
    open_session(client)
    html = client.get("/worklist?status=overdue").get_data(as_text=True)
    selected = row_ids(client.get("/worklist?sort=name").get_data(as_text=True))[:2]
    form_data = task_form(html, patient=selected, **{"return": "status=overdue"})
    response = post_tasks(client, form_data)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert len(open_fhir.transactions) == 2  # one atomic transaction per patient
    created = int(re.search(r"(\d+) Tasks? created", page).group(1))  # type: ignore[union-attr]
    assert created >= 2
    assert 'href="/worklist?status=overdue"' in page
    # The new Tasks show on the worklist once the background refresh has read the changes,
    # and are not duplicated.
    assert 'id="tasks-refresh"' in page
    refresher_of(client.application).wait(60)
    html = client.get("/worklist?tasks=open").get_data(as_text=True)
    assert set(selected) <= set(row_ids(html))
    again = post_tasks(client, {**form_data, "csrf_token": csrf(html)}).get_data(as_text=True)
    assert re.search(r"0 Tasks created, \d+ already existed", again)


def test_a_form_from_an_earlier_launch_writes_nothing(client, open_fhir) -> None:
    open_session(client)
    html = client.get("/worklist").get_data(as_text=True)
    open_session(client)  # launched again: a new launch id
    response = post_tasks(client, task_form(html, patient="gen-3-000001"))
    assert response.status_code == 400
    assert not open_fhir.transactions


def test_a_bad_selection_is_refused(client, open_fhir) -> None:
    open_session(client)
    html = client.get("/worklist").get_data(as_text=True)
    base = task_form(html)
    assert post_tasks(client, base).status_code == 400
    bad = {**base, "patient": "a,b"}
    assert post_tasks(client, bad).status_code == 400


def test_opening_a_patient_puts_them_in_context(app, client, open_fhir) -> None:
    open_session(client)
    response = client.get("/worklist/open/gen-3-000002", headers=SAME_ORIGIN)
    assert response.status_code == 303 and response.headers["Location"] == "/patient"
    context = context_of(app, client, "__Host-smartapp")
    assert context is not None and context.patient == "gen-3-000002"
    assert not context.patient_locked  # still the coordinator's session
    assert client.get("/worklist/open/bad%2Cid", headers=SAME_ORIGIN).status_code == 400


def test_a_request_without_fetch_metadata_cannot_switch_the_patient(app, client, open_fhir) -> None:
    open_session(client)
    response = client.get("/worklist/open/gen-3-000002")  # no Sec-Fetch-Site at all
    assert response.status_code == 403
    assert "did not come from the worklist page" in response.get_data(as_text=True)
    context = context_of(app, client, "__Host-smartapp")
    assert context is not None and context.patient is None


def test_another_site_cannot_switch_the_patient(app, client, open_fhir) -> None:
    open_session(client)
    cross = client.get("/worklist/open/gen-3-000002", headers={"Sec-Fetch-Site": "cross-site"})
    assert cross.status_code == 403
    context = context_of(app, client, "__Host-smartapp")
    assert context is not None and context.patient is None
    typed = client.get("/worklist/open/gen-3-000002", headers=TYPED)
    assert typed.status_code == 303


@pytest.fixture
def backend_key(tmp_path: Path) -> str:
    path = tmp_path / "app.pem"
    path.write_bytes(RSAKey.generate_key(2048).as_pem(private=True))
    return str(path)


def _backend_app(backend_key: str, **overrides: Any) -> Flask:
    config = replace(make_config(), backend_iss=ISS, private_key_path=backend_key, **overrides)
    return create_app(config, store=MemorySessionStore())


def test_backend_services_mode_needs_the_apps_own_sign_in(backend_key: str, rsps) -> None:
    ehr = FakeEhr(rsps, granted_scope="system/*.rs").install()
    fhir = FakeFhir(cohort(), base=ISS).install(rsps)
    idp = FakeIdp(rsps).install()
    flask_app = _backend_app(backend_key, login=login_settings())
    browser = flask_app.test_client()
    # Not signed in: off to the identity provider, nothing read with the system token.
    first = browser.get("/worklist")
    assert first.status_code == 302 and first.headers["Location"] == "/login"
    for path in ("/worklist.csv", "/worklist/open/gen-3-000003"):
        refused = browser.get(path, headers=SAME_ORIGIN)
        assert refused.status_code == 401, path
        assert 'id="sign-in"' in refused.get_data(as_text=True)
    assert browser.get("/api/patient/gen-3-000003").status_code == 401
    assert not ehr.token_requests and fhir.count("POST") == 0

    signed_in = idp.sign_in(browser)
    assert signed_in.status_code == 302 and signed_in.headers["Location"] == "/worklist"
    first_read(browser)
    html = browser.get("/worklist").get_data(as_text=True)
    assert len(row_ids(html)) == 8
    assert "App&#39;s backend access" in html or "App's backend access" in html
    assert "Signed in as Casey Coord (casey)" in html
    assert "read-only" in html  # system/*.rs: no write scopes
    token_calls = [
        r for r in ehr.token_requests if form(r).get("grant_type") == "client_credentials"
    ]
    assert len(token_calls) == 1
    sent = form(token_calls[0])
    assert sent["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    posts = fhir.count("POST")
    read_again(browser, html)  # the token is reused until it nears expiry
    assert (
        len([r for r in ehr.token_requests if form(r).get("grant_type") == "client_credentials"])
        == 1
    )
    assert fhir.count("POST") == posts + 1  # nothing changed: one batch asked what did
    # Opening a patient starts a dashboard session that borrows the app's token: no token
    # is copied into the session, so signing out ends that access as well.
    assert browser.get("/worklist/open/gen-3-000003", headers=SAME_ORIGIN).status_code == 303
    context = context_of(flask_app, browser)
    assert context is not None and context.patient == "gen-3-000003"
    assert context.population and not context.patient_locked
    assert not context.open_server and context.fhir_base == ISS
    assert browser.get("/api/patient/gen-3-000004").status_code == 200
    store = flask_app.extensions["smartapp.launch"].store
    assert store.get(context.session_id, "token") is None

    csrf_value = csrf(html)
    out = browser.post("/logout", data={"csrf_token": csrf_value}, headers=SAME_ORIGIN)
    assert out.status_code == 200 and "signed out" in out.get_data(as_text=True)
    assert browser.get("/api/patient/gen-3-000004").status_code == 401
    assert browser.get("/worklist").status_code == 302
    assert TOKEN_URL


def test_without_login_settings_backend_mode_serves_no_one(backend_key: str, rsps, caplog) -> None:
    ehr = FakeEhr(rsps, granted_scope="system/*.rs").install()
    fhir = FakeFhir(cohort(), base=ISS).install(rsps)
    with caplog.at_level("WARNING", logger="smartapp"):
        flask_app = _backend_app(backend_key)
    assert "population worklist is served to no one" in caplog.text
    browser = flask_app.test_client()
    for path in ("/worklist", "/worklist.csv", "/worklist/open/gen-3-000003"):
        response = browser.get(path, headers=SAME_ORIGIN)
        assert response.status_code == 403, path
        assert "needs the app&#39;s own sign-in" in response.get_data(as_text=True), path
    assert browser.get("/login").status_code == 403  # no sign-in to start
    assert not ehr.token_requests and fhir.count("POST") == 0


def test_a_patient_level_ehr_session_never_reaches_the_backend_token(
    backend_key: str, rsps
) -> None:
    """Even with the app's sign-in configured, an EHR launch for one patient (here with an
    extra `user/` scope) cannot list, open or read other patients."""
    ehr = FakeEhr(
        rsps, granted_scope=FULL_SCOPES + " user/Practitioner.rs system/Patient.rs"
    ).install()
    fhir = FakeFhir(cohort(), base=ISS).install(rsps)
    flask_app = _backend_app(backend_key, login=login_settings())
    browser = flask_app.test_client()
    ehr.sign_in(browser)
    before = len(ehr.token_requests)
    for path in ("/worklist", "/worklist.csv", "/worklist/open/gen-3-000003"):
        response = browser.get(path, headers=SAME_ORIGIN)
        assert response.status_code == 403, path
        assert "patient-level access" in response.get_data(as_text=True)
    assert browser.get("/api/patient/gen-3-000003").status_code == 403
    context = context_of(flask_app, browser)
    assert context is not None and context.patient == PATIENT_ID and context.patient_locked
    assert not [r for r in ehr.token_requests[before:] if "client_credentials" in str(r.body)]
    assert fhir.count("POST") == 0


def test_filters_parse_like_the_page() -> None:
    filters = WorklistFilters.from_query({"status": "overdue", "check": "ig-monitoring"})
    assert filters.query_string() == "status=overdue&check=ig-monitoring"


def test_the_tasks_result_says_when_alert_tasks_were_reopened(client) -> None:
    from flask import render_template

    from smartapp.worklist.tasks import PatientTasksResult

    results = [PatientTasksResult("p1", "Test Patient", True, reopened=1, message="ok")]
    with client.application.test_request_context("/worklist/tasks"):
        html = render_template(
            "worklist/tasks_result.html",
            results=results,
            back="/worklist",
            created=0,
            existed=0,
            reopened=1,
            failed=0,
        )
    assert "1 alert Task reopened for new evidence" in html


def _post_tasks(client: FlaskClient, patients: list[str]) -> Any:
    html = client.get("/worklist?status=overdue").get_data(as_text=True)
    return post_tasks(client, task_form(html, patient=patients, **{"return": "status=overdue"}))


@pytest.mark.parametrize(
    ("patients", "title", "message"),
    [
        ([], "No patient selected", "Select at least one patient."),
        (["not an id!"], "The selection cannot be used", "Choose at most"),
    ],
)
def test_an_unusable_selection_writes_nothing_and_leads_back(
    client, open_fhir, patients, title, message
) -> None:
    open_session(client)
    response = _post_tasks(client, patients)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert f"</span> {title}</h1>" in html and message in html
    assert 'href="/worklist?status=overdue">Back to the worklist' in html
    assert not open_fhir.transactions


def test_a_fhir_failure_while_creating_tasks_is_a_page(client, open_fhir, monkeypatch) -> None:
    open_session(client)

    def failing(*args: Any, **kwargs: Any) -> Any:
        raise FhirError("HTTP 500: database is down", status=500)

    monkeypatch.setattr("smartapp.web.worklist.routes.create_tasks", failing)
    response = _post_tasks(client, ["gen-3-000001"])
    html = response.get_data(as_text=True)
    assert response.status_code == 502
    assert "</span> Nothing could be written</h1>" in html
    assert "The FHIR server failed: HTTP 500: database is down" in html
    assert 'href="/worklist?status=overdue">Back to the worklist' in html


def test_a_fhir_failure_elsewhere_stays_a_server_error(app, client, open_fhir, monkeypatch):
    open_session(client)

    def failing(*args: Any, **kwargs: Any) -> Any:
        raise FhirError("HTTP 500: database is down", status=500)

    monkeypatch.setattr("smartapp.web.worklist.routes.stored_state", failing)
    app.testing = False  # the production error page, not the test client's exception
    response = client.get("/worklist/refresh-status")
    assert response.status_code == 500
    assert "database is down" not in response.get_data(as_text=True)


def test_opening_a_broken_patient_link_is_refused(client, open_fhir) -> None:
    open_session(client)
    response = client.get("/worklist/open/not%20an%20id", headers={"Sec-Fetch-Site": "none"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "</span> Not a patient id</h1>" in html and "This link is broken." in html
    assert 'href="/worklist">Back to the worklist' in html
