"""The web write-back against the real HAPI server (issue 5 "Done means"; SPEC §3, §4, §5).

The app runs in open-server mode against HAPI (SMARTAPP_ISSUERS / SMARTAPP_OPEN_SERVERS =
the HAPI base) and is driven with the Flask test client: `/open?iss=…&patient=…`, the
dashboard, the preview, the confirm POST (CSRF token, launch id, fingerprint), then what
HAPI holds is searched directly. The patient is a copy of the `recurrent-infections` demo
situation (three actionable findings) seeded under its own identifier system next to
`seeded_demo`, so the Tasks written here never change what other tests read.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from fhir_mappings.canonical import CAREPLAN_IDENTIFIER_SYSTEM, TASK_IDENTIFIER_SYSTEM
from smartapp.config import load_config
from smartapp.fhir import FhirClient
from smartapp.web import create_app
from tests.support.navigation import TYPED
from tests.support.pages import article, elements
from tests.support.seeded import SeededCohort, seed_demo
from tests.support.threads import run_together

pytestmark = pytest.mark.integration

SLUG = "recurrent-infections"
ACTIONABLE = {"ig-monitoring", "ig-low", "infection-active"}
ORIGIN = {"Origin": "http://localhost"}


@dataclass(frozen=True)
class WebPatient:
    base: str
    patient_id: str
    app: Flask


@pytest.fixture(scope="module")
def web_patient(seeded_demo: SeededCohort, tmp_path_factory: pytest.TempPathFactory) -> WebPatient:
    with FhirClient(seeded_demo.base) as client:
        ids = seed_demo(client, "wbweb", slugs=[SLUG]).patient_ids
    config = load_config(
        {
            "SMARTAPP_ISSUERS": seeded_demo.base,
            "SMARTAPP_OPEN_SERVERS": seeded_demo.base,
            "SMARTAPP_FHIR_BASE": seeded_demo.base,
            "SMARTAPP_SECRET_KEY": uuid.uuid4().hex,
            "SMARTAPP_INSECURE_COOKIES": "1",
            # Its own database file: never the developer's default one.
            "SMARTAPP_DATA_DIR": str(tmp_path_factory.mktemp("web-data")),
        },
        require_secret=True,
    )
    app = create_app(config)
    app.testing = True
    return WebPatient(seeded_demo.base, ids[SLUG], app)


@pytest.fixture(scope="module")
def browser(web_patient: WebPatient) -> Iterator[FlaskClient]:
    """One browser session on the patient, shared by the steps of this module (in order)."""
    client = web_patient.app.test_client()
    response = client.get(
        "/open",
        query_string={"iss": web_patient.base, "patient": web_patient.patient_id},
        headers=TYPED,
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    assert response.headers["Location"].endswith("/patient")
    yield client


# -- helpers ------------------------------------------------------------------------------


def html_of(client: FlaskClient, path: str) -> str:
    response = client.get(path)
    html = response.get_data(as_text=True)
    assert response.status_code == 200, html[:2000]
    return html


def form_fields(html: str, form_id: str) -> dict[str, str]:
    start = html.rindex("<form", 0, html.index(f'id="{form_id}"') + 1)
    chunk = html[start : html.index("</form>", start)]
    return {
        a["name"]: a.get("value", "") for t, a in elements(chunk) if t == "input" and "name" in a
    }


def preview_rows(html: str) -> list[dict[str, str]]:
    return [a for t, a in elements(html) if t == "tr" and "data-action" in a]


def search(base: str, url: str) -> list[dict[str, Any]]:
    """One page of a search, bypassing HAPI's search cache (the same search within a minute
    may otherwise answer with the ids it found the first time)."""
    response = requests.get(
        f"{base}/{url}",
        headers={"Cache-Control": "no-cache", "Accept": "application/fhir+json"},
        timeout=30,
    )
    response.raise_for_status()
    bundle = response.json()
    assert not any(link.get("relation") == "next" for link in bundle.get("link", []))
    return [entry["resource"] for entry in bundle.get("entry", [])]


def app_tasks(web_patient: WebPatient) -> list[dict[str, Any]]:
    return search(
        web_patient.base,
        f"Task?patient=Patient/{web_patient.patient_id}&identifier={TASK_IDENTIFIER_SYSTEM}|"
        "&_count=100",
    )


def task_checks(tasks: list[dict[str, Any]]) -> list[str]:
    return sorted(
        identifier["value"].split(":")[1]
        for task in tasks
        for identifier in task.get("identifier", [])
        if identifier.get("system") == TASK_IDENTIFIER_SYSTEM
    )


def careplans(web_patient: WebPatient) -> list[dict[str, Any]]:
    return search(
        web_patient.base,
        f"CarePlan?patient=Patient/{web_patient.patient_id}"
        f"&identifier={CAREPLAN_IDENTIFIER_SYSTEM}|",
    )


def provenances(web_patient: WebPatient) -> int:
    """How many Provenances point at the CarePlan (one per write), bypassing HAPI's search
    cache (the same search within a minute would otherwise return the cached id list)."""
    (plan,) = careplans(web_patient)
    return len(search(web_patient.base, f"Provenance?target=CarePlan/{plan['id']}&_count=200"))


# -- the flow, step by step (module-scoped session; pytest runs these in file order) -------


def test_1_preview_lists_the_tasks_and_writes_nothing(browser, web_patient):
    dashboard = html_of(browser, "/patient")
    assert 'id="save-plan"' in dashboard
    html = html_of(browser, "/patient/plan")
    rows = preview_rows(html)
    creates = {r["data-check"] for r in rows if r["data-action"] == "create" and "data-check" in r}
    assert creates == ACTIONABLE
    assert rows[0]["data-resource"] == "CarePlan" and rows[-1]["data-resource"] == "Provenance"
    assert app_tasks(web_patient) == []
    assert careplans(web_patient) == []


def test_2_confirm_writes_the_plan_and_the_dashboard_lists_the_tasks(browser, web_patient):
    fields = form_fields(html_of(browser, "/patient/plan"), "confirm-plan")
    response = browser.post("/patient/plan", data=fields, headers=ORIGIN)
    assert response.status_code == 303, response.get_data(as_text=True)
    assert response.headers["Location"] == "/patient?saved=1"

    tasks = app_tasks(web_patient)
    assert task_checks(tasks) == sorted(ACTIONABLE)
    assert {t["status"] for t in tasks} == {"requested"}
    assert all(t["for"]["reference"] == f"Patient/{web_patient.patient_id}" for t in tasks)
    plans = careplans(web_patient)
    assert len(plans) == 1
    assert all(t["basedOn"][0]["reference"] == f"CarePlan/{plans[0]['id']}" for t in tasks)

    html = html_of(browser, "/patient?saved=1")
    assert "Plan saved: 3 created, 0 updated, 0 completed (Tasks)." in html
    table = html[html.index('id="tasks-h"') : html.index('id="findings"')]
    assert table.count('class="task-open"') == 3
    for task in tasks:
        assert f"Task/{task['id']}" in table


def test_3_an_unchanged_plan_offers_nothing_to_save_and_writes_nothing(browser, web_patient):
    writes_before = provenances(web_patient)
    html = html_of(browser, "/patient/plan")
    assert 'id="preview-unchanged"' in html and 'id="confirm-plan"' not in html
    assert provenances(web_patient) == writes_before


def test_4_double_click_leaves_no_duplicates(browser, web_patient):
    """Someone edits the plan in the EHR; the app's preview now updates it. The same form
    confirmed by four clicks at once, then once more: one write."""
    (plan,) = careplans(web_patient)
    edited = {**plan, "description": "Edited in the EHR by hand."}
    requests.put(
        f"{web_patient.base}/CarePlan/{plan['id']}",
        json=edited,
        headers={"Content-Type": "application/fhir+json"},
        timeout=30,
    ).raise_for_status()
    fields = form_fields(html_of(browser, "/patient/plan"), "confirm-plan")
    writes_before = provenances(web_patient)
    cookie = browser.get_cookie("smartapp")
    assert cookie is not None
    statuses: list[int] = []

    def click() -> None:
        other = web_patient.app.test_client()
        other.set_cookie("smartapp", cookie.value)
        statuses.append(other.post("/patient/plan", data=fields, headers=ORIGIN).status_code)

    run_together([click] * 4, timeout_s=120)
    assert statuses == [303, 303, 303, 303], statuses

    # The same form once more after those writes: still nothing duplicated.
    again = browser.post("/patient/plan", data=fields, headers=ORIGIN)
    assert again.status_code == 303
    # Five posts of one form, one write (each write records one Provenance).
    assert provenances(web_patient) == writes_before + 1
    (saved,) = careplans(web_patient)
    assert saved["description"] != "Edited in the EHR by hand."
    tasks = app_tasks(web_patient)
    assert task_checks(tasks) == sorted(ACTIONABLE)
    html = html_of(browser, "/patient")
    table = html[html.index('id="tasks-h"') : html.index('id="findings"')]
    assert table.count('class="task-open"') == 3


def test_5_acknowledge_closes_the_task_and_the_finding_shows_it(browser, web_patient):
    html = html_of(browser, "/patient")
    fields = form_fields(html, "ack-ig-low-reason-form")
    reason = "IVIG discussed with immunology; recheck in 3 months"
    response = browser.post(
        "/patient/findings/ig-low/acknowledge", data={**fields, "reason": reason}, headers=ORIGIN
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    assert response.headers["Location"] == "/patient#finding-ig-low"

    tasks = {check: t for t in app_tasks(web_patient) for check in task_checks([t])}
    assert tasks["ig-low"]["status"] == "cancelled"
    assert tasks["ig-low"]["statusReason"]["text"] == reason
    assert tasks["ig-monitoring"]["status"] == "requested"

    html = html_of(browser, "/patient")
    card = article(html, "ig-low")
    assert f"on {date.today().isoformat()}: {reason}" in card
    assert "Acknowledged by an unidentified user (open server, no sign-in)" in card
    assert 'class="wb-ack"' not in card
    assert 'class="wb-ack"' in article(html, "ig-monitoring")

    # Saving the plan again neither re-creates nor re-opens the acknowledged Task.
    preview = html_of(browser, "/patient/plan")
    assert "ig-low" not in {r.get("data-check") for r in preview_rows(preview)}
    fields = form_fields(preview, "confirm-plan")
    assert browser.post("/patient/plan", data=fields, headers=ORIGIN).status_code == 303
    tasks = {check: t for t in app_tasks(web_patient) for check in task_checks([t])}
    assert len(tasks) == 3 and tasks["ig-low"]["status"] == "cancelled"


def test_6_empty_reason_writes_nothing(browser, web_patient):
    before = app_tasks(web_patient)
    html = html_of(browser, "/patient")
    fields = form_fields(html, "ack-ig-monitoring-reason-form")
    response = browser.post(
        "/patient/findings/ig-monitoring/acknowledge",
        data={**fields, "reason": "  "},
        headers=ORIGIN,
    )
    assert response.status_code == 400
    assert "Enter the reason" in response.get_data(as_text=True)
    after = app_tasks(web_patient)
    assert [t["meta"]["versionId"] for t in after] == [t["meta"]["versionId"] for t in before]
