"""Save the plan from a real Chromium against a real HAPI server (issue 5 "Done means").

The app is served by `live_server` in open-server mode against `hapi_base`; a copy of the
`recurrent-infections` demo situation (three actionable findings) is seeded under its own
identifier system. The user clicks "Save plan", reviews the preview, confirms, reloads
and sees the Tasks on the dashboard; then acknowledges a finding with a reason. No console
or CSP error, nothing wider than the 1024x700 frame.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from fhir_mappings.canonical import TASK_IDENTIFIER_SYSTEM
from smartapp.config import load_config
from smartapp.fhir import FhirClient
from smartapp.web import create_app
from tests.e2e.conftest import ARTIFACTS
from tests.support.seeded import seed_demo

pytestmark = pytest.mark.e2e

SLUG = "recurrent-infections"


@pytest.fixture
def seeded_patient(hapi_base: str) -> str:
    with FhirClient(hapi_base) as client:
        return seed_demo(client, "wbe2e", slugs=[SLUG]).patient_ids[SLUG]


@pytest.fixture
def app_base(hapi_base: str, live_server: Any, tmp_path: Path) -> str:
    config = load_config(
        {
            "SMARTAPP_ISSUERS": hapi_base,
            "SMARTAPP_OPEN_SERVERS": hapi_base,
            "SMARTAPP_FHIR_BASE": hapi_base,
            "SMARTAPP_SECRET_KEY": uuid.uuid4().hex,
            "SMARTAPP_INSECURE_COOKIES": "1",
            # Its own database file: never the developer's default one.
            "SMARTAPP_DATA_DIR": str(tmp_path),
        },
        require_secret=True,
    )
    return str(live_server(create_app(config)))


def app_tasks(base: str, patient_id: str) -> list[dict[str, Any]]:
    with FhirClient(base) as client:
        found = client.search_all(
            f"Task?patient=Patient/{patient_id}&identifier={TASK_IDENTIFIER_SYSTEM}|"
        )
    assert found.complete, found.problem
    return list(found.resources)


def fits_the_frame(page: Any) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 1024, f"horizontal scrolling: scrollWidth {width}"


def test_save_plan_preview_confirm_reload_and_acknowledge(
    browser_page: Any,
    browser_errors: list[str],
    app_base: str,
    hapi_base: str,
    seeded_patient: str,
) -> None:
    page = browser_page
    query = urlencode({"iss": hapi_base, "patient": seeded_patient})
    response = page.goto(f"{app_base}/open?{query}")
    assert response is not None and response.ok
    assert page.url.endswith("/patient")
    assert page.locator("#tasks-h + p.empty").count() == 1  # no Task yet

    # Save plan -> the preview.
    page.get_by_role("link", name="Save plan").click()
    page.wait_for_url("**/patient/plan")
    rows = page.locator("#preview-items tbody tr")
    creates = page.locator('#preview-items tr[data-action="create"][data-resource="Task"]')
    assert creates.count() == 3
    assert rows.first.get_attribute("data-resource") == "CarePlan"
    assert "Create" in creates.first.locator(".wb-action").inner_text()
    assert creates.first.locator(".wb-action svg").count() == 1  # icon and word
    fits_the_frame(page)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "plan-preview.png"))
    assert app_tasks(hapi_base, seeded_patient) == []  # the preview wrote nothing

    # Confirm -> back on the dashboard with the confirmation banner.
    page.get_by_role("button", name="Confirm and save to the EHR").click()
    page.wait_for_url("**/patient?saved=1")
    banner = page.locator("#plan-saved")
    assert banner.is_visible()
    assert "Plan saved: 3 created, 0 updated, 0 completed" in banner.inner_text()
    assert len(app_tasks(hapi_base, seeded_patient)) == 3

    # Reload: the Tasks are listed on the dashboard (the banner is shown once).
    page.reload()
    assert page.locator("#plan-saved").count() == 0
    task_rows = page.locator("table.tasks-table tbody tr.task-open")
    assert task_rows.count() == 3
    page.locator("#plan").scroll_into_view_if_needed()
    fits_the_frame(page)
    page.screenshot(path=str(ARTIFACTS / "plan-saved.png"))

    # Acknowledge a finding with a reason, by keyboard-reachable controls only.
    card = page.locator("#finding-infection-active")
    card.locator("details.wb-ack > summary").click()
    card.get_by_label("Reason").fill("Treated by GP; resolved on review")
    card.get_by_role("button", name="Acknowledge").click()
    page.wait_for_url("**/patient#finding-infection-active")
    card = page.locator("#finding-infection-active")
    ack = card.locator(".finding-ack")
    assert ack.is_visible()
    assert "Treated by GP; resolved on review" in ack.inner_text()
    assert card.locator("details.wb-ack").count() == 0
    assert page.locator("#ack-saved").count() == 1
    page.screenshot(path=str(ARTIFACTS / "finding-acknowledged.png"))

    statuses = sorted(task["status"] for task in app_tasks(hapi_base, seeded_patient))
    assert statuses == ["cancelled", "requested", "requested"]
    assert browser_errors == []
